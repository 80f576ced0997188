"""Drawing helpers: image panels with PNG downloads, the mask-unit grid overlay, plotly figures, the error boundary."""
from __future__ import annotations

import io
import re
import threading
from contextlib import contextmanager

import numpy as np
import streamlit as st
from PIL import Image, ImageDraw

from mae_core import colours
from mae_core.errors import MAEError

DISPLAY_MIN = 256  # panels are upscaled (nearest) to at least this many pixels so small patches stay crisp
# One colour direction for error everywhere (mae_core.colours): dark = low error, bright = high (the per-patch map,
# the grid's error cells and its MSE heatmap). Patches that are not scored (visible ones) are light grey everywhere.
ERROR_SCALE = colours.colorscale(colours.ERROR)
NOT_SCORED_RGB = colours.NOT_SCORED_RGB
NOT_SCORED = colours.css(NOT_SCORED_RGB)


@contextmanager
def guard(where: st.delta_generator.DeltaGenerator | None = None):
    """Show a user error (MAEError) in place as st.error; the rest of the page still renders."""
    try:
        yield
    except MAEError as e:
        (where or st).error(str(e), icon=":material/error:")


def to_uint8(arr01: np.ndarray) -> np.ndarray:
    return (np.clip(arr01, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def scale_for(h: int, w: int, target: int = DISPLAY_MIN) -> int:
    return max(1, int(np.ceil(target / max(1, min(h, w)))))


def upscale(arr01: np.ndarray, target: int = DISPLAY_MIN) -> Image.Image:
    img = Image.fromarray(to_uint8(arr01))
    s = scale_for(img.height, img.width, target)
    return img.resize((img.width * s, img.height * s), Image.NEAREST) if s > 1 else img


def png_bytes(img) -> bytes:
    """PNG of a PIL image or an HxWx3 float array in [0, 1] (encoded with PIL). zlib level 1: 4x faster than
    PIL's default 6 on these panels, for files about 15 % larger (encoding was the largest cost of a new view)."""
    if not isinstance(img, Image.Image):
        img = Image.fromarray(to_uint8(img))
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False, compress_level=1)
    return buf.getvalue()


class Deferred:
    """Bytes made on the first call and then kept: the `data` of a download button, so a slide PNG is drawn and
    encoded only when someone clicks it (Streamlit runs a callable's data on click), once for every session
    sharing the view. Thread-safe."""

    def __init__(self, make, *args):

        self._make, self._args, self._lock, self._data = make, args, threading.Lock(), None

    def __call__(self) -> bytes:
        with self._lock:
            if self._data is None:
                self._data = self._make(*self._args)
                self._make = self._args = None  # what it was made from can go
            return self._data


def slide_png(img, title: str, subtitle: str = "") -> bytes:
    """PNG of `slide(img, title, subtitle)`."""
    return png_bytes(slide(img, title, subtitle))


def deferred_slide(img, title: str, subtitle: str = "") -> Deferred:
    """A download's data: the slide PNG, made when first clicked."""
    return Deferred(slide_png, img, title, subtitle)


def grid_overlay(arr01: np.ndarray, patch_size: int, mask_unit: int, target: int = DISPLAY_MIN) -> Image.Image:
    """The image upscaled, with mask-unit boundaries (every m*p pixels) drawn as lines, patch boundaries fainter."""
    img = upscale(arr01, target).convert("RGBA")
    s = img.width // arr01.shape[1]
    over = Image.new("RGBA", img.size, (0, 0, 0, 0))
    d = ImageDraw.Draw(over)
    H, W = arr01.shape[:2]
    cell = patch_size * mask_unit
    if mask_unit > 1 and patch_size * s >= 4:
        for x in range(patch_size, W, patch_size):
            if x % cell:
                d.line([(x * s, 0), (x * s, H * s)], fill=(255, 255, 255, 55), width=1)
        for y in range(patch_size, H, patch_size):
            if y % cell:
                d.line([(0, y * s), (W * s, y * s)], fill=(255, 255, 255, 55), width=1)
    if cell * s >= 3:
        for x in range(cell, W, cell):
            d.line([(x * s, 0), (x * s, H * s)], fill=(255, 255, 255, 170), width=1)
        for y in range(cell, H, cell):
            d.line([(0, y * s), (W * s, y * s)], fill=(255, 255, 255, 170), width=1)
    return Image.alpha_composite(img, over).convert("RGB")


def panel(col, img, caption: str, filename: str, key: str, download_full=None, slide_title: str | None = None,
          slide_subtitle: str = ""):
    """One image panel with a PNG download (the download is at the image's own resolution unless given; with
    slide_title it carries a header: what it is, checkpoint, image, settings and values)."""
    shown = img if isinstance(img, Image.Image) else upscale(img)
    col.image(shown, caption=caption, width="stretch")
    full = download_full if download_full is not None else img
    data = png_bytes(slide(full, slide_title, slide_subtitle) if slide_title else full)
    col.download_button("PNG", data, file_name=filename, mime="image/png", key=key, icon=":material/download:",
                        width="stretch")


def png_panel(col, shown: bytes, download, caption: str, filename: str, key: str):
    """An image panel from PNG bytes encoded once (ui.views), with its PNG download (bytes, or a callable such as
    Deferred that makes them on click). output_format="PNG" keeps the bytes as they are (Streamlit's "auto" would
    re-encode an RGB PNG as JPEG on every rerun)."""
    col.image(shown, caption=caption, width="stretch", output_format="PNG")
    col.download_button("PNG", download, file_name=filename, mime="image/png", key=key, icon=":material/download:",
                        width="stretch")


def montage(images, labels=None, pad: int = 4, target: int = DISPLAY_MIN) -> Image.Image:
    """Side-by-side PNG of several panels (for a one-click download of a whole figure row)."""
    ims = [im if isinstance(im, Image.Image) else upscale(im, target) for im in images]
    h = max(i.height for i in ims)
    label_h = 20 if labels else 0
    out = Image.new("RGB", (sum(i.width for i in ims) + pad * (len(ims) - 1), h + label_h), (255, 255, 255))
    x = 0
    d = ImageDraw.Draw(out)
    for i, im in enumerate(ims):
        out.paste(im, (x, label_h))
        if labels:
            d.text((x + 2, 3), plain(labels[i]), fill=(0, 0, 0), font=font(13))
        x += im.width + pad
    return out


def grid_montage(cells, pad: int = 4, target: int = 160) -> Image.Image:
    """A rows x cols grid of images (None = blank cell) as one PIL image."""
    ims = [[None if c is None else (c if isinstance(c, Image.Image) else upscale(c, target)) for c in row]
           for row in cells]
    ref = next(i for row in ims for i in row if i is not None)
    cw, ch = ref.width, ref.height
    nr, nc = len(ims), max(len(r) for r in ims)
    out = Image.new("RGB", (nc * cw + pad * (nc - 1), nr * ch + pad * (nr - 1)), (255, 255, 255))
    for r, row in enumerate(ims):
        for c, im in enumerate(row):
            if im is not None:
                out.paste(im.resize((cw, ch), Image.NEAREST), (c * (cw + pad), r * (ch + pad)))
    return out


def heatmap(values: np.ndarray, *, title: str = "", colorscale=ERROR_SCALE, zlabel: str = "value",
            hover_extra: np.ndarray | None = None, height: int = 340, zmin=None, zmax=None, background=None,
            nan_colour: str | None = None):
    """A plotly heatmap of a (gh, gw) grid, row 0 at the top, square cells; NaN cells left blank (or drawn in
    nan_colour, e.g. NOT_SCORED for visible patches of an error map).

    background: optional HxWx3 image in [0,1] drawn under a semi-transparent heatmap."""
    import plotly.graph_objects as go

    gh, gw = values.shape
    z = np.where(np.isfinite(values), values, np.nan)
    kw = {}
    if hover_extra is not None:
        kw = dict(customdata=hover_extra, hovertemplate="row %{y}, col %{x}<br>" + zlabel
                  + " %{z:.4g}<br>%{customdata}<extra></extra>")
    else:
        kw = dict(hovertemplate="row %{y}, col %{x}<br>" + zlabel + " %{z:.4g}<extra></extra>")
    fig = go.Figure()
    if background is not None:
        H, W = background.shape[:2]
        fig.add_trace(go.Image(z=to_uint8(background), dx=gw / W, dy=gh / H, x0=-0.5 + gw / W / 2,
                               y0=-0.5 + gh / H / 2, hoverinfo="skip"))
    fig.add_trace(go.Heatmap(z=z, colorscale=colorscale, zmin=zmin, zmax=zmax, colorbar=dict(title=zlabel),
                             opacity=0.6 if background is not None else 1.0, hoverongaps=False, **kw))
    fig.update_yaxes(scaleanchor="x", constrain="domain", showgrid=False, zeroline=False, showline=False,
                     title=None, range=[gh - 0.5, -0.5], ticks="")
    fig.update_xaxes(showgrid=False, zeroline=False, showline=False, constrain="domain", title=None,
                     range=[-0.5, gw - 0.5], ticks="", side="top")
    # room on the left for two-digit row ticks (a narrow page cut "10" to ".0")
    fig.update_layout(title=title or None, height=height, margin=dict(l=34, r=10, t=40 if title else 10, b=10))
    if nan_colour and background is None:
        fig.update_layout(plot_bgcolor=nan_colour)
    return fig


def csv_download(rows, filename: str, key: str, label: str = "Metrics (CSV)"):
    """A download button for a list of dicts or a DataFrame as CSV."""
    import pandas as pd

    df = rows if hasattr(rows, "to_csv") else pd.DataFrame(rows)
    st.download_button(label, df.to_csv(index=False).encode(), file_name=filename, mime="text/csv", key=key,
                       icon=":material/download:")


def colorize(values: np.ndarray, size=None, quantity: str = colours.ERROR, vmin: float | None = None,
             vmax: float | None = None) -> Image.Image:
    """A (gh, gw) grid -> RGB PIL image through the quantity's colour scale (mae_core.colours; NaN -> light grey),
    nearest-upscaled: the same colours as the plotly charts of that quantity.

    vmin/vmax fix the colour range (to compare several maps); by default each map spans its own min..max."""
    v = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(v)
    lo, hi = (float(v[ok].min()), float(v[ok].max())) if ok.any() else (0.0, 1.0)
    lo = lo if vmin is None else float(vmin)
    hi = hi if vmax is None else float(vmax)
    v = np.clip(v, lo, hi)
    t = np.where(ok, (v - lo) / (hi - lo if hi > lo else 1.0), 0.0)
    rgb = colours.lut(quantity)[(t * 255).round().astype(int)]
    rgb[~ok] = NOT_SCORED_RGB
    img = Image.fromarray(rgb.astype(np.uint8))
    if size is not None:
        h, w = size
        img = img.resize((w, h), Image.NEAREST)
    s = scale_for(img.height, img.width, DISPLAY_MIN)
    return img.resize((img.width * s, img.height * s), Image.NEAREST) if s > 1 else img


def overlay(image01: np.ndarray, values: np.ndarray, alpha: float = 0.6, quantity: str = colours.ATTENTION,
            target: int = DISPLAY_MIN, marker: tuple | None = None, patch_size: int | None = None,
            clip_pct: float = 99.0) -> Image.Image:
    """A (gh, gw) map colour-coded and blended over the image (upscaled); NaN cells show the image only.

    The colour range is the map's minimum to its `clip_pct` percentile, so one or two very hot patches do not
    turn the rest of an attention map black. marker: optional (row, col) cell outlined in cyan (the query)."""
    H, W = image01.shape[:2]
    base = upscale(image01, target)
    s = base.width // W
    v = np.asarray(values, dtype=np.float64)
    vmax = float(np.nanpercentile(v, clip_pct)) if np.isfinite(v).any() else None
    cmap = colorize(values, (H * s, W * s), quantity, vmax=vmax)
    cmap = cmap.resize(base.size, Image.NEAREST)
    ok = np.isfinite(np.asarray(values, dtype=np.float64))
    a = np.kron(ok.astype(np.float32), np.ones((H * s // ok.shape[0], W * s // ok.shape[1]), np.float32))
    a = Image.fromarray((a * alpha * 255).astype(np.uint8)).resize(base.size, Image.NEAREST)
    out = Image.composite(cmap, base, a)
    if marker is not None:
        ps = (patch_size or H // ok.shape[0]) * s
        r, c = marker
        ImageDraw.Draw(out).rectangle([c * ps, r * ps, (c + 1) * ps - 1, (r + 1) * ps - 1], outline=(0, 255, 255),
                                      width=max(2, s))
    return out


def tiles(gap: str = "medium"):
    """A row of metric tiles that wraps instead of truncating: use with st.metric(..., width="content").

    st.metric in equal columns cuts long values ("0.0…") when the page is narrow; a horizontal flex container
    sizes each tile to its value and moves tiles to the next line when they do not fit."""
    return st.container(horizontal=True, wrap=True, gap=gap)


# ------------------------------------------------------------------ slide-ready downloads
def safe_name(*parts) -> str:
    """A file name from parts ('p8-m2', 'flower', 'I128') -> 'p8-m2_flower_I128' (only [A-Za-z0-9._-])."""

    text = "_".join(str(p) for p in parts if str(p))
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-_")[:180] or "figure"


SLIDE_WIDTH = 1600  # every slide PNG (camera button, panel and grid downloads) is at least this wide
EXPORT_WIDTH = 960  # the camera button lays a chart out this wide (CSS px) and saves it at 2x: 1920 px


def plotly_config(filename: str) -> dict:
    """st.plotly_chart config whose camera button saves a slide-sized PNG (EXPORT_WIDTH laid out, at 2x: wider than
    SLIDE_WIDTH whatever the window) named `filename` (checkpoint and image in it)."""
    return {"displaylogo": False, "toImageButtonOptions": {"format": "png", "filename": safe_name(filename),
                                                           "width": EXPORT_WIDTH, "scale": 2}}


def font(size: int = 14):
    from PIL import ImageFont

    return ImageFont.load_default(size=size)


_GLYPHS = str.maketrans({"\u00d7": "x", "\u2192": "->", "\u2264": "<=", "\u2265": ">=", "\u00b2": "^2",
                         "\u2202": "d", "\u2248": "~"})


def plain(text: str) -> str:
    """Text for PIL's built-in font, which has no glyph for x-sign, arrows or superscripts (they print as boxes)."""
    return str(text).translate(_GLYPHS)


def _text_width(d, text, f) -> int:
    b = d.textbbox((0, 0), text, font=f)
    return b[2] - b[0]


def _wrap(d, text: str, f, width: int) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        trial = f"{line} {word}".strip()
        if line and _text_width(d, trial, f) > width:
            lines.append(line)
            line = word
        else:
            line = trial
    return lines + ([line] if line else [])


def slide(img, title: str, subtitle: str = "", pad: int = 8, min_width: int = SLIDE_WIDTH) -> Image.Image:
    """The figure with a white header: a title line (what it shows) and a smaller subtitle (checkpoint, image,
    settings, values), wrapped to the figure's width, for a slide: at least min_width pixels wide (the figure
    enlarged by a whole factor, nearest, so patches stay crisp; the header's type grows with it)."""
    im = img if isinstance(img, Image.Image) else upscale(img)
    im = im.convert("RGB")
    k = max(1, -(-min_width // im.width))
    if k > 1:
        im = im.resize((im.width * k, im.height * k), Image.NEAREST)
    k = max(1, im.width // 800)  # type size: 16 / 12 px per 800 px of width
    pad *= k
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    ft, fs = font(16 * k), font(12 * k)
    width = max(im.width, 360)
    tl = _wrap(probe, plain(title), ft, width - 2 * pad)
    sl = _wrap(probe, plain(subtitle), fs, width - 2 * pad) if subtitle else []
    head = pad + 20 * k * len(tl) + 15 * k * len(sl) + pad
    out = Image.new("RGB", (width, head + im.height), (255, 255, 255))
    d = ImageDraw.Draw(out)
    y = pad
    for line in tl:
        d.text((pad, y), line, fill=(0, 0, 0), font=ft)
        y += 20 * k
    for line in sl:
        d.text((pad, y), line, fill=(70, 70, 70), font=fs)
        y += 15 * k
    out.paste(im, ((width - im.width) // 2, head))
    return out


def labelled_grid(cells, row_labels, col_labels, cell_texts=None, title: str = "", subtitle: str = "",
                  pad: int = 6, target: int = 160) -> Image.Image:
    """A rows x cols figure of images with row labels on the left, column labels on top and a value line under
    every cell (e.g. masked MSE); None cells are left blank with their text. Title and subtitle above, for a slide."""
    ims = [[None if c is None else (c if isinstance(c, Image.Image) else upscale(c, target)) for c in row]
           for row in cells]
    ref = next((i for row in ims for i in row if i is not None), None)
    cw, ch = (ref.width, ref.height) if ref is not None else (target, target)
    nr, nc = len(ims), max((len(r) for r in ims), default=0)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    fl, fv = font(14), font(12)
    row_labels = [plain(x) for x in row_labels]
    col_labels = [plain(x) for x in col_labels]
    cell_texts = [[plain(t) for t in row] for row in cell_texts] if cell_texts else None
    widths = [_text_width(probe, line, fl) for lab in row_labels for line in str(lab).split("\n")]
    label_w = max(widths + [40]) + 2 * pad
    text_h = 16 if cell_texts else 0
    head_h = 22
    grid = Image.new("RGB", (label_w + nc * (cw + pad), head_h + nr * (ch + text_h + pad)), (255, 255, 255))
    d = ImageDraw.Draw(grid)
    for j, lab in enumerate(col_labels):
        x = label_w + j * (cw + pad)
        d.text((x + (cw - _text_width(d, str(lab), fl)) // 2, 3), str(lab), fill=(0, 0, 0), font=fl)
    for i, row in enumerate(ims):
        y = head_h + i * (ch + text_h + pad)
        for k, line in enumerate(str(row_labels[i]).split("\n")):
            d.text((pad, y + ch // 2 - 10 + 16 * k), line, fill=(0, 0, 0), font=fl if k == 0 else fv)
        for j, im in enumerate(row):
            x = label_w + j * (cw + pad)
            if im is not None:
                grid.paste(im.convert("RGB").resize((cw, ch), Image.NEAREST), (x, y))
            else:
                d.rectangle([x, y, x + cw - 1, y + ch - 1], outline=(200, 200, 200))
            if cell_texts:
                t = str(cell_texts[i][j])
                d.text((x + (cw - _text_width(d, t, fv)) // 2, y + ch + 1), t, fill=(40, 40, 40), font=fv)
    return slide(grid, title, subtitle) if title else grid
