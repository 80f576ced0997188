"""The receptive field, drawn two ways: mean attention distance against its uniform-attention reference, and the
gradient-based effective receptive field (mae_core.receptive_field), with its cached computation.

Shared by the Attention page and the Lesson (which draws the same figures from precomputed numbers).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

from mae_core import colours



SYMBOLS = ("circle", "diamond", "square", "triangle-up")
MAD_UNITS = {"fraction": "MAD / image width", "px": "MAD (pixels)", "ratio": "MAD / uniform attention"}
MAD_UNIT_LABELS = {"fraction": "fraction of image width", "px": "pixels", "ratio": "× uniform attention"}


@dataclass(frozen=True)
class MADSeries:
    """One model's mean attention distance for the chart: (n, H) pixels, optional std over images (n, H)."""

    label: str
    layers: tuple
    mad_px: np.ndarray
    std_px: np.ndarray | None
    uniform_px: float
    width: int  # image width in pixels
    L: int


def mad_scale(s: MADSeries, unit: str) -> float:
    """Multiplier from pixels to `unit` for one series."""
    return {"fraction": 1.0 / s.width, "px": 1.0, "ratio": 1.0 / s.uniform_px}[unit]


def _legend_below(fig, height: int, title: str | None) -> None:
    """Two legend entries a line in the bottom margin, under the x-axis title: the panel keeps `height` pixels
    however many series there are (a legend inside the figure's height squeezed the panel to nothing)."""
    entries = sum(1 for t in fig.data if t.showlegend is not False)
    legend_px = 20 * -(-entries // 2)
    top = 40 if title else 30
    fig.update_layout(height=height + legend_px, title=title, margin=dict(l=10, r=10, t=top, b=50 + legend_px),
                      legend=dict(orientation="h", x=0, xanchor="left", y=0, yref="container", yanchor="bottom",
                                  entrywidth=0.5, entrywidthmode="fraction", font_size=11))


def mad_figure(series: list[MADSeries], unit: str = "fraction", title: str | None = None, height: int = 420):
    """ViT Fig. 7 style: one dot per head per layer, the head mean as a dotted line, and a dashed line at the
    uniform-attention level of each model (its grid), in the model's colour; y axis from 0."""
    import plotly.graph_objects as go

    fig = go.Figure()
    palette = colours.checkpoints([s.label for s in series])  # a checkpoint's colour on every page
    for k, s in enumerate(series):
        colour = palette[k]
        sc = mad_scale(s, unit)
        y = s.mad_px * sc
        n, H = y.shape
        xs = np.repeat(np.asarray(s.layers, dtype=float), H) + (k - (len(series) - 1) / 2) * 0.18
        err = None if s.std_px is None else dict(type="data", array=(s.std_px * sc).reshape(-1), thickness=1,
                                                 width=2)
        fig.add_trace(go.Scatter(x=xs, y=y.reshape(-1), mode="markers", name=s.label, error_y=err,
                                 marker=dict(symbol=SYMBOLS[k % len(SYMBOLS)], size=9, opacity=0.8, color=colour),
                                 customdata=np.tile(np.arange(H), n),
                                 hovertemplate="layer %{x:.0f}, head %{customdata}<br>MAD %{y:.3g}<extra>" + s.label
                                 + "</extra>"))
        fig.add_trace(go.Scatter(x=np.asarray(s.layers, dtype=float), y=y.mean(1), mode="lines",
                                 name=f"{s.label}: mean over heads", line=dict(dash="dot", color=colour)))
        ref = s.uniform_px * sc
        fig.add_trace(go.Scatter(x=[min(s.layers) - 0.4, max(s.layers) + 0.4], y=[ref, ref], mode="lines",
                                 name=f"uniform attention, L={s.L:,}: {ref:.3g}", line=dict(dash="dash", width=1.5,
                                                                                             color=colour),
                                 hovertemplate=f"uniform attention on the L={s.L:,} grid: {ref:.4g}<extra></extra>"))
    _legend_below(fig, height, title)
    fig.update_layout(xaxis_title="encoder layer", yaxis_title=MAD_UNITS[unit])
    fig.update_xaxes(dtick=1)
    fig.update_yaxes(rangemode="tozero")
    return fig


def mad_rows(s: MADSeries, images: int, **extra) -> list[dict]:
    """CSV rows of one series: per layer and head, MAD in px, fraction and ratio, with the uniform reference
    (`extra` columns, e.g. fit, after the image count)."""
    out = []
    for i, lay in enumerate(s.layers):
        for h in range(s.mad_px.shape[1]):
            v = float(s.mad_px[i, h])
            row = {"model": s.label, "images": images, **extra, "L": s.L, "layer": lay, "head": h, "mad_px": v,
                   "mad_fraction": v / s.width, "uniform_mad_px": s.uniform_px,
                   "uniform_mad_fraction": s.uniform_px / s.width, "mad_ratio_to_uniform": v / s.uniform_px}
            if s.std_px is not None:
                row["mad_px_std"] = float(s.std_px[i, h])
            out.append(row)
    return out


# ------------------------------------------------------------------ effective receptive field
@dataclass(frozen=True)
class ERFSeries:
    """One model's ERF radii for the chart (pixels): radius (n, 2) for 50 % / 90 %, std (n, 2) or None."""

    label: str
    layers: tuple
    radius: np.ndarray
    radius_std: np.ndarray | None
    patch_radius: np.ndarray  # (2,)
    image_radius: np.ndarray  # (2,)
    width: int
    L: int


def erf_series(label: str, erf) -> ERFSeries:
    return ERFSeries(label, tuple(erf.layers), np.asarray(erf.radius), np.asarray(erf.radius_std),
                     np.asarray(erf.patch_radius), np.asarray(erf.image_radius), int(erf.img_size[1]),
                     int(erf.grid[0] * erf.grid[1]))


def erf_figure(series: list[ERFSeries], title: str | None = None, height: int = 400):
    """Radius holding 50 % (dashed) and 90 % (solid) of the gradient mass per layer, as a fraction of the image
    width; references: each model's own patch (thin, its colour) and the whole image (grey dotted); y from 0."""
    import plotly.graph_objects as go

    fig = go.Figure()
    x_all = [lay for s in series for lay in s.layers] or [0]
    x0, x1 = min(x_all) - 0.4, max(x_all) + 0.4
    palette = colours.checkpoints([s.label for s in series])  # a checkpoint's colour on every page
    for k, s in enumerate(series):
        colour = palette[k]
        for qi, (q, dash) in enumerate(((50, "dash"), (90, "solid"))):
            err = None
            if s.radius_std is not None and np.any(s.radius_std[:, qi] > 0):
                err = dict(type="data", array=s.radius_std[:, qi] / s.width, thickness=1, width=3)
            fig.add_trace(go.Scatter(x=list(s.layers), y=s.radius[:, qi] / s.width, mode="lines+markers",
                                     name=f"{s.label}: {q} % of the mass", error_y=err,
                                     line=dict(dash=dash, color=colour), marker=dict(symbol=SYMBOLS[k % 4], size=8),
                                     hovertemplate=f"{s.label}<br>layer %{{x}}: {q} % within %{{y:.3f}} of the width"
                                     "<extra></extra>"))
        fig.add_trace(go.Scatter(x=[x0, x1], y=[s.patch_radius[1] / s.width] * 2, mode="lines",
                                 name=f"{s.label}: own patch, 90 %", line=dict(width=1, color=colour,
                                                                                    dash="dot")))
    if series:
        s0 = series[0]
        for qi, q in enumerate((50, 90)):
            fig.add_trace(go.Scatter(x=[x0, x1], y=[s0.image_radius[qi] / s0.width] * 2, mode="lines",
                                     name=f"whole image (even), {q} %",
                                     line=dict(width=1.5, color=colours.REFERENCE,
                                               dash="dash" if q == 50 else "longdash")))
    _legend_below(fig, height, title)
    fig.update_layout(xaxis_title="encoder layer (output of the block)", yaxis_title="radius / image width")
    fig.update_xaxes(dtick=1)
    fig.update_yaxes(rangemode="tozero")
    return fig


def erf_rows(label: str, erf) -> list[dict]:
    """CSV rows: per layer, the 50 % / 90 % radii (px and fraction) with both references."""
    out = []
    W = erf.img_size[1]
    for i, lay in enumerate(erf.layers):
        out.append({"model": label, "images": erf.n_images, "token_row": erf.token[0], "token_col": erf.token[1],
                    "layer": lay, "r50_px": float(erf.radius[i, 0]), "r90_px": float(erf.radius[i, 1]),
                    "r50_fraction": float(erf.radius[i, 0] / W), "r90_fraction": float(erf.radius[i, 1] / W),
                    "r50_std_px": float(erf.radius_std[i, 0]), "r90_std_px": float(erf.radius_std[i, 1]),
                    "own_patch_r50_px": float(erf.patch_radius[0]), "own_patch_r90_px": float(erf.patch_radius[1]),
                    "whole_image_r50_px": float(erf.image_radius[0]),
                    "whole_image_r90_px": float(erf.image_radius[1])})
    return out


@st.cache_data(max_entries=256, show_spinner=False)
def receptive_field(path: str, sha: str, image_size: int, patch_size: int, token: tuple, image_key: str, _image,
                    attention: str = "model", fit: str = "stretch"):
    """mae_core.receptive_field.effective_receptive_field of ONE image, cached on (checkpoint sha, I, p, token, image
    hash, fit): the page combines images itself, so a set is cached per image and shows progress between them."""
    from mae_core.receptive_field import effective_receptive_field

    from .limits import LIMITER, REMEDY_NO_MASK, check_budget
    from .resources import load, prepared

    model, _, _ = load(path)
    model, _ = prepared(model, image_size, patch_size)
    check_budget(_estimate(model.cfg), f"the receptive field at I={image_size}, p={patch_size}",
                 remedy=REMEDY_NO_MASK)
    with LIMITER.slot():
        return effective_receptive_field(model, [_image], token=token, attention=attention, batch_size=1, fit=fit)


def _estimate(cfg):
    from mae_core.cost import erf_estimate

    return erf_estimate(cfg, 1)


def compute(c, I: int, p: int, token: tuple, images: dict, label: str, fit: str = "stretch"):
    """The ERF of checkpoint `c` (a ui.pickers.Checkpoint) at (I, p) for `token`, over `images` (name -> (PIL image,
    hash)), one cached image at a time with an st.progress bar. Raises MAEError (shown by render.guard)."""
    from mae_core.receptive_field import combine

    names = list(images)
    bar = st.progress(0.0, text=f"Effective receptive field of {label}: {len(names)} image(s)...")
    parts = []
    try:
        for k, name in enumerate(names):
            im, h = images[name]
            parts.append(receptive_field(str(c.path), c.sha, int(I), int(p), tuple(int(t) for t in token), h, im,
                                         fit=fit))
            bar.progress((k + 1) / len(names), text=f"Effective receptive field of {label}: image {k + 1} of "
                                                     f"{len(names)}")
    finally:
        bar.empty()
    return combine(parts)


def erf_map_images(erf, image=None, decades: float = 3.0, target: int = 160) -> list:
    """One PIL image per layer: the mean gradient mass per pixel on a log colour scale over `decades` (bright =
    more), blended over `image` (a PIL image, resized to the model's input) when given; the token's patch
    outlined in cyan."""
    from PIL import Image

    from . import render

    H, W = erf.img_size
    base = None
    if isinstance(image, np.ndarray):  # already what the model saw (e.g. mae_core.images.fit_image)
        base = image
    elif image is not None:
        base = np.asarray(image.convert("RGB").resize((W, H), Image.BILINEAR), dtype=np.float32) / 255.0
    out = []
    for m in erf.maps:
        top = float(m.max())
        if not top > 0:
            v = np.zeros_like(m)
        else:
            v = np.log10(np.maximum(m, top * 10 ** -decades))
        lo, hi = (np.log10(top) - decades, np.log10(top)) if top > 0 else (0.0, 1.0)
        if base is not None:
            im = render.overlay(base, v, alpha=0.65, target=target, marker=erf.token, patch_size=erf.patch_size,
                                clip_pct=100.0, quantity=colours.GRADIENT)
        else:
            im = render.colorize(v, quantity=colours.GRADIENT, vmin=lo, vmax=hi)
            s_ = im.width // W
            from PIL import ImageDraw

            r, c = erf.token
            ps = erf.patch_size * s_
            ImageDraw.Draw(im).rectangle([c * ps, r * ps, (c + 1) * ps - 1, (r + 1) * ps - 1], outline=(0, 255, 255),
                                         width=max(1, s_))
        out.append(im)
    return out
