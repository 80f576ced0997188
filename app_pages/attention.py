"""Attention & receptive field: per-layer/head attention maps, rollout, and mean attention distance.

The page is a list of draw_* functions called in screen order by main() at the bottom. The pickers and the sidebar
controls outside the analysis decide a Page; layer, head and query decide a View, inside the fragment
analysis_view(), which reruns alone when one of them changes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from PIL import Image

from mae_core import assets
from mae_core.errors import MAEError
from mae_core.images import fit_image, image_notes
from ui import limits, pickers, progress, receptive, render, resources, state
from ui.state import Param


@dataclass(frozen=True)
class Page:
    """What the pickers and the sidebar controls outside the analysis decided: the same for every rerun of the
    analysis fragment."""
    ck: pickers.Checkpoint
    img: Image.Image
    img_hash: str
    img_label: str
    fit: str
    g: pickers.Geometry
    grid: tuple[int, int]  # the query grid of A (gh, gw)
    depth: int
    head_choices: tuple[str, ...]
    view_params: list  # layer, head, query row and column: the controls of draw_controls()
    analysis_box: st.delta_generator.DeltaGenerator  # where draw_controls() draws them, in the sidebar
    fusion: str
    mad_unit: str
    mad_over: str
    erf_over: str
    cmp: str
    p_b: int | None
    ck_b: pickers.Checkpoint | None
    image_set: dict  # name -> path of the bundled photos

    @property
    def n_set(self) -> int:
        return len(self.image_set)


@dataclass(frozen=True)
class View:
    """What the analysis fragment's controls decided."""
    layer: int
    head: str  # "mean" or a head's number
    query: tuple[int, int]  # row, column on A's grid

    @property
    def head_text(self) -> str:
        return "mean over heads" if self.head == "mean" else f"head {self.head}"


@dataclass(frozen=True)
class Analysed:
    """One analysed checkpoint (A, or the comparison B)."""
    label: str
    res: object  # mae_core.attention's result
    ck: pickers.Checkpoint
    image_size: int
    patch_size: int
    query: tuple[int, int]  # on its own grid


# ------------------------------------------------------------------ the frame and the sidebar
def draw_intro():
    st.title("Attention & receptive field")
    st.caption("The encoder on the full, unmasked image. Mean attention distance (MAD) is the attention-weighted "
               "pixel distance between a query patch and the patches it attends to, averaged over queries: the "
               "'receptive field' of a head (ViT paper, Fig. 7), drawn against the level uniform attention would "
               "give. The effective receptive field below measures it through gradients instead. Encoder-only "
               "checkpoints work here.")


def query_grid(ck, g) -> tuple[int, int]:
    """A's patch grid at the chosen I and p ((1, 1) without a checkpoint or for an invalid geometry)."""
    try:
        return ck.cfg.replace(img_size=(g.image_size, g.image_size), patch_size=g.patch_size).grid if ck else (1, 1)
    except MAEError:
        return 1, 1


def url_params(g, depth: int, heads: int, grid: tuple[int, int]) -> list:
    """The page's URL parameters; the first four (layer, head, query row and column) belong to the fragment."""
    gh, gw = grid
    return [Param("layer", int, depth - 1, lo=0, hi=max(0, depth - 1)),
            Param("head", str, "mean", choices=("mean",) + tuple(str(h) for h in range(heads))),
            Param("qr", int, gh // 2, lo=0, hi=max(0, gh - 1)), Param("qc", int, gw // 2, lo=0, hi=max(0, gw - 1)),
            Param("fusion", str, "mean", choices=("mean", "max", "min")),
            Param("mad_unit", str, "fraction", choices=tuple(receptive.MAD_UNITS)),
            Param("mad_over", str, "image", choices=("image", "set")),
            Param("erf", str, "image", choices=("off", "image", "set")),
            Param("cmp", str, "none", choices=("none", "patch", "checkpoint")),
            Param("p_b", int, 16 if g.patch_size != 16 else 8, choices=pickers.PATCH_CHOICES)]


def draw_sidebar(ck, params: list) -> dict:
    """The analysis controls outside the fragment (a container is kept for layer, head and query), the comparison
    and its checkpoint -> the Page fields they decide."""
    sb = st.sidebar
    sb.subheader("Analysis")
    state.init(params)
    analysis_box = sb.container()  # layer, head and query, right here in the sidebar, drawn by draw_controls()
    fusion = sb.selectbox("Rollout head fusion", ("mean", "max", "min"), key="fusion")
    mad_unit = sb.radio("MAD in", tuple(receptive.MAD_UNITS), key="mad_unit", horizontal=True,
                        format_func=receptive.MAD_UNIT_LABELS.get,
                        help="Compare across sequence lengths as a fraction of the image width, or as a ratio to "
                             "uniform attention on the same grid (1 = no more local than uniform).")
    image_set = assets.image_set()  # name -> path; looked up once per run
    n_set = len(image_set)
    mad_over = sb.radio("MAD over", ("image", "set"), key="mad_over", horizontal=True,
                        format_func={"image": "this image", "set": f"{n_set} bundled photos"}.get,
                        help="ViT's Fig. 7 averages MAD over many images; the set is the two held-out demo images "
                             "and the scikit-image photographs the embedded family was trained on. Error bars: std "
                             "over the images.")
    erf_over = sb.radio("Effective receptive field over", ("off", "image", "set"), key="erf", horizontal=True,
                        format_func={"off": "off", "image": "this image", "set": f"{n_set} photos"}.get,
                        help="|gradient| of the query patch's token after each layer with respect to the input "
                             f"pixels. Over the {n_set} photos it takes about a second per photo and model on a "
                             "CPU.")
    sb.subheader("Compare with")
    cmp = sb.radio("Compare", ("none", "patch", "checkpoint"), key="cmp", label_visibility="collapsed",
                   format_func={"none": "nothing", "patch": "another patch size (same checkpoint)",
                                "checkpoint": "another checkpoint"}.get)
    p_b = sb.selectbox("Patch size of the comparison", pickers.PATCH_CHOICES, key="p_b") if cmp == "patch" else None
    state.publish(params[4:])
    ck_b = pickers.pick_checkpoint(prefix="b_", title="Comparison checkpoint", reset_geometry=False,
                                   with_target=False, other_than=ck) if cmp == "checkpoint" else None
    return dict(analysis_box=analysis_box, fusion=fusion, mad_unit=mad_unit, mad_over=mad_over, erf_over=erf_over,
                cmp=cmp, p_b=p_b, ck_b=ck_b, image_set=image_set)


def draw_image_notes(img, fit: str):
    for n in image_notes(img) + ([f"non-square photo ({img.width}x{img.height}) fitted to a square: {fit}"
                                   + (" (ImageNet-mean grey padding)" if fit == "pad" else "")]
                                 if img.width != img.height else []):
        st.caption("Note: " + n)


# ------------------------------------------------------------------ the analysis fragment: layer, head and query
def apply_click():
    """A click on the query map (its selection, kept in session state under the chart's key) moves the query
    before the sliders are drawn, so the rerun it triggers already shows the new query."""
    ev = st.session_state.get("query_click")
    try:
        pts = [p for p in ev["selection"]["points"] if p.get("curve_number") == 1]
    except (KeyError, TypeError):
        pts = []
    if pts:
        new = (int(round(pts[-1]["y"])), int(round(pts[-1]["x"])))
        if st.session_state.get("_last_click") != new:
            st.session_state["_last_click"] = new
            state.set_value("qr", new[0])
            state.set_value("qc", new[1])


def draw_controls(page: Page) -> View:
    """Layer, head and query, in the sidebar container kept for them."""
    apply_click()
    state.init(page.view_params)
    gh, gw = page.grid
    with page.analysis_box:
        if page.depth > 1:
            layer = st.slider("Layer", 0, page.depth - 1, key="layer")
        else:
            layer = 0
            st.session_state["layer"] = 0
        head = st.selectbox("Head", page.head_choices, key="head",
                            format_func=lambda h: "mean over heads" if h == "mean" else f"head {h}")
        c1, c2 = st.columns(2)
        qr = c1.slider("Query row", 0, max(1, gh - 1), key="qr", disabled=gh <= 1)
        qc = c2.slider("Query col", 0, max(1, gw - 1), key="qc", disabled=gw <= 1)
    state.publish(page.view_params)
    return View(layer, head, (min(int(qr), gh - 1), min(int(qc), gw - 1)))


def analyse(page: Page, c, I, p, query) -> tuple[Analysed, list[str]]:
    """The attention of checkpoint c at I and p for the query patch, and the notes on that geometry."""
    limits.check_inference(c.cfg.replace(img_size=(I, I), patch_size=p))
    with progress.computing(f"Attention of {c.label} at I={I}, p={p}..."):
        res = resources.attention(resources.AttentionRequest(str(c.path), c.sha, page.img_hash, I, p, query,
                                                             page.fusion, fit=page.fit, precision=c.precision),
                                  page.img)
    notes = resources.prepared(c.model, I, p)[1]
    return Analysed(f"{c.label} (p={p})", res, c, I, p, query), notes


def draw_warnings(notes, prefix: str = ""):
    for n in notes:
        if "approximation" in n or "not trained on" in n:
            st.warning(prefix + n, icon=":material/warning:")


def clickable(im, grid, key):
    """The image as a plotly figure with one invisible point per patch: clicking a patch picks the query."""
    gh_, gw_ = grid
    W, H = im.size
    ys, xs = np.mgrid[0:gh_, 0:gw_]
    fig = go.Figure(go.Image(z=np.asarray(im), dx=gw_ / W, dy=gh_ / H, x0=-0.5 + gw_ / W / 2, y0=-0.5 + gh_ / H / 2,
                             hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=xs.reshape(-1), y=ys.reshape(-1), mode="markers", showlegend=False,
                             marker=dict(symbol="square", size=max(6, int(300 / max(gh_, gw_) * 0.7)),
                                         color="rgba(255,255,255,0.01)"),
                             hovertemplate="click: query row %{y}, col %{x}<extra></extra>"))
    fig.update_xaxes(visible=False, range=[-0.5, gw_ - 0.5])
    fig.update_yaxes(visible=False, autorange=None, range=[gh_ - 0.5, -0.5], scaleanchor="x")
    fig.update_layout(margin=dict(l=0, r=0, t=0, b=0), height=300, dragmode=False, clickmode="event+select")
    # a click reruns analysis_view(), whose draw_controls() reads the selection (apply_click)
    st.plotly_chart(fig, key=key, on_select="rerun", selection_mode="points",
                    config={"displaylogo": False, "displayModeBar": False})


def draw_maps(page: Page, view: View, a: Analysed, key: str) -> tuple:
    """CLS attention, the query's attention (clickable for A) and the rollout, each with its PNG download ->
    (the image the model saw, the index of the layer in the result)."""
    res, title, qrc, layer, head = a.res, a.label, a.query, view.layer, view.head
    st.markdown(f"**{title}** · L = {res.grid[0] * res.grid[1]:,} · {res.precision} · layer {layer}, "
                + view.head_text
                + " · colour: each map from its lowest weight (dark) to its 99th percentile (bright)")
    arr_img = fit_image(page.img, res.img_size, page.fit)[0]  # what the model saw
    li = res.layers.index(layer) if layer in res.layers else len(res.layers) - 1
    cls_map = res.cls_attention[li].mean(0) if head == "mean" else res.cls_attention[li][int(head)]
    maps = [("CLS attention", cls_map, None)]
    if res.query_attention is not None:
        q_map = res.query_attention[li].mean(0) if head == "mean" else res.query_attention[li][int(head)]
        maps.append((f"query ({qrc[0]}, {qrc[1]})", q_map, qrc))
    maps.append((f"rollout ({page.fusion} fusion, layers 0-{max(res.layers)})", res.rollout, None))
    cols = st.columns(len(maps))
    for col, (name, m, marker) in zip(cols, maps):
        im = render.overlay(arr_img, m, marker=marker, patch_size=res.patch_size)
        if marker is not None and key == "a":
            with col:
                clickable(im, res.grid, "query_click")
                st.caption(name + " · click to move")
        else:
            col.image(im, caption=name, width="stretch")
        slide = render.deferred_slide(im, f"{name} · {title}", f"image {page.img_label} · L = "
                                      f"{res.grid[0] * res.grid[1]:,} · layer {layer}, {view.head_text} · "
                                      f"{res.precision} · colour: lowest weight (dark) to 99th percentile "
                                      "(bright)")  # drawn when clicked
        col.download_button("PNG", slide, file_name=render.safe_name(
            name.split()[0], title.split()[0], page.img_label, f"p{res.patch_size}", f"layer{layer}",
            "headmean" if head == "mean" else f"head{head}") + ".png",
            mime="image/png", key=f"dl_{key}_{name.split()[0]}", icon=":material/download:", width="stretch")
    return arr_img, li


def draw_heads(page: Page, view: View, a: Analysed, arr_img, li: int):
    """Every head's CLS attention at the layer (an expander), with its MAD, and one PNG of them all."""
    res = a.res
    with st.expander(f"All {res.num_heads} heads of layer {view.layer} (CLS attention)"):
        hc = st.columns(min(6, res.num_heads))
        head_imgs = []
        for h in range(res.num_heads):
            im = render.overlay(arr_img, res.cls_attention[li][h], target=160)
            head_imgs.append(im)
            hc[h % len(hc)].image(im, caption=f"head {h} · MAD {res.mean_attention_distance[li][h]:.1f} px",
                                  width="stretch")
        st.download_button("All heads (PNG)", render.deferred_slide(render.montage(
            head_imgs, [f"head {h}: MAD {res.mean_attention_distance[li][h]:.1f} px" for h in
                        range(res.num_heads)], target=160),
            f"CLS attention of every head, layer {view.layer} · {a.label}",
            f"image {page.img_label} · L = {res.grid[0] * res.grid[1]:,} · uniform attention's MAD "
            f"{res.uniform_mad:.1f} px"),
            file_name=render.safe_name("heads", page.ck.label, page.img_label, f"p{page.g.patch_size}",
                                       f"layer{view.layer}") + ".png",
            mime="image/png", key="dl_heads", icon=":material/download:")


def comparison(page: Page, view: View) -> Analysed | None:
    """B (another patch size of A, or another checkpoint at its own size) at the same pixel as A's query, with
    its warnings; None (and why) when there is none to draw."""
    if page.cmp == "patch":
        c, I, p = page.ck, page.g.image_size, int(page.p_b)
    elif page.ck_b is not None:
        c, I, p = page.ck_b, page.ck_b.native_size, page.ck_b.native_patch
    else:
        st.info("Choose the comparison checkpoint in the sidebar.")
        return None
    gb = c.cfg.replace(img_size=(I, I), patch_size=p).grid
    (qr, qc), (gh, gw) = view.query, page.grid
    qb = (min(gb[0] - 1, int((qr + 0.5) / gh * gb[0])), min(gb[1] - 1, int((qc + 0.5) / gw * gb[1])))
    if view.layer >= c.cfg.depth:
        st.error(f"{c.label} has only {c.cfg.depth} layers; pick a layer below that.")
        return None
    b, notes = analyse(page, c, I, p, qb)
    draw_warnings(notes, prefix=f"{b.label}: ")
    return b


# ------------------------------------------------------------------ mean attention distance
def mad_of(page: Page, a: Analysed):
    """(MAD (n, H) px, std over images (n, H) or None, image names) for the plot: this image, or the bundled set."""
    if page.mad_over == "image":
        return a.res.mean_attention_distance, None, [page.img_label]
    c, names = a.ck, list(page.image_set)
    bar = st.progress(0.0, text=f"MAD of {c.label} over {len(names)} images...")
    vals = []
    for k, name in enumerate(names):
        im, h = resources.demo_image(name)
        vals.append(resources.attention(resources.AttentionRequest(str(c.path), c.sha, h, a.image_size,
                                                                   a.patch_size, None, page.fusion, fit=page.fit,
                                                                   precision=c.precision),
                                        im).mean_attention_distance)
        bar.progress((k + 1) / len(names), text=f"MAD of {c.label}: image {k + 1} of {len(names)}")
    bar.empty()
    v = np.stack(vals)
    return v.mean(0), v.std(0), names


def mad_series(page: Page, results: list[Analysed]) -> tuple[list, list]:
    """(receptive.MADSeries per analysed checkpoint, the CSV rows); a failure is said in place."""
    series, rows_csv = [], []
    for a in results:
        with render.guard():
            mad_px, std_px, names = mad_of(page, a)
            s_ = receptive.MADSeries(a.label, tuple(a.res.layers), mad_px, std_px, float(a.res.uniform_mad),
                                     int(a.res.img_size[1]), a.res.grid[0] * a.res.grid[1])
            series.append(s_)
            rows_csv += receptive.mad_rows(s_, len(names), fit=page.fit, precision=a.res.precision)
    return series, rows_csv


def draw_mad_chart(page: Page, series: list):
    """MAD per layer and head against uniform attention's, and the caption that reads it."""
    img_tag = page.img_label if page.mad_over == "image" else f"{page.n_set}_photos"
    models = [s_.label for s_ in series]
    over = page.img_label if page.mad_over == "image" else f"mean over {page.n_set} photos"
    fig = receptive.mad_figure(series, page.mad_unit,
                               title=f"Mean attention distance per head · {' vs '.join(models)} · {over}")
    st.plotly_chart(fig, key="mad_scatter", config=render.plotly_config("_".join(["mad"] + models + [img_tag])))
    ref_txt = "; ".join(f"{s_.label}: {s_.uniform_px:.1f} px = {s_.uniform_px / s_.width:.3f} of the width"
                        for s_ in series)
    st.caption("Dashed: the exact MAD of uniform attention on the same grid (the mean distance between all "
               f"pairs of patch centres, each patch with itself included): {ref_txt}. A head is local only "
               "when its dots sit clearly below its line; near the line it attends about as far as uniform "
               "attention would, whatever the image.")


def draw_conventions(page: Page, results: list[Analysed]):
    with st.expander("Conventions"):
        for a in results:
            st.caption(f"**{a.label}**: {a.res.convention}")
        if page.mad_over == "set":
            st.caption("Images: " + ", ".join(page.image_set) + f". Each is fitted to the model's I x I ({page.fit}); "
                       "the dots are the mean over images, the bars one standard deviation.")


def draw_mad(page: Page, results: list[Analysed]):
    st.subheader("Mean attention distance per head"
                 + ("" if page.mad_over == "image" else f" · mean over {page.n_set} images"))
    series, rows_csv = mad_series(page, results)
    if series:
        draw_mad_chart(page, series)
    draw_conventions(page, results)
    render.csv_download(rows_csv, render.safe_name("mad", *[s_.label for s_ in series],
                                                   page.img_label if page.mad_over == "image" else "image_set")
                        + ".csv", "dl_mad", "MAD per layer and head (CSV)")


# ------------------------------------------------------------------ effective receptive field
def draw_erf_maps(page: Page, k: int, label: str, erf, tag: str):
    """One model's gradient-mass maps, one per layer, and their PNG."""
    ims = receptive.erf_map_images(erf, None if page.erf_over == "set"
                                   else fit_image(page.img, erf.img_size, page.fit)[0])
    st.markdown(f"**{label}** · token ({erf.token[0]}, {erf.token[1]}) · gradient mass per pixel, log "
                "colour over 3 decades (bright = more), one map per layer")
    cols = st.columns(len(ims))
    for col, lay, im in zip(cols, erf.layers, ims):
        col.image(im, caption=f"layer {lay} · 90 % within {erf.radius[list(erf.layers).index(lay), 1]:.0f}"
                  " px", width="stretch")
    fname = f"erf_maps_{label.split()[0]}_{tag}_token{erf.token[0]}-{erf.token[1]}.png"
    over = f"image {page.img_label}" if page.erf_over == "image" else f"mean over {page.n_set} photos"
    st.download_button("ERF maps (PNG)", render.deferred_slide(
        render.montage(ims, [f"layer {lay}: r90 {erf.radius[i, 1]:.0f} px" for i, lay in
                             enumerate(erf.layers)], target=160),
        f"Effective receptive field of {label}, token ({erf.token[0]}, {erf.token[1]})",
        f"{over} · |d token / d pixel|, log colour over 3 decades"), file_name=fname, mime="image/png",
        key=f"dl_erf_{k}", icon=":material/download:")


def draw_receptive_field(page: Page, results: list[Analysed]):
    """The gradient receptive field of each analysed checkpoint's query token: radii per layer (chart and CSV)
    and the maps."""
    st.subheader("Effective receptive field (gradient)")
    st.caption("For the query patch's token after each encoder layer: how strongly each input pixel moves it, "
               "|∂ token / ∂ pixel| summed over the token's features and the colour channels (Luo et al. "
               "2016), normalised per image and averaged"
               + ("" if page.erf_over == "image" else f" over the {page.n_set} photos")
               + ". The lines give the radius around the patch centre that holds 50 % (dashed) and 90 % "
               "(solid) of that mass; the references are the patch itself (dotted) and the whole image with the "
               "mass spread evenly (grey). Move the query to pick another token.")
    erf_series, erf_csv, erf_maps = [], [], []
    images = ({page.img_label: (page.img, page.img_hash)} if page.erf_over == "image"
              else {n: resources.demo_image(n) for n in page.image_set})
    for a in results:
        res = a.res
        token = res.query if res.query is not None else (res.grid[0] // 2, res.grid[1] // 2)
        with render.guard():
            erf = receptive.compute(a.ck, a.image_size, a.patch_size, token, images, a.label, fit=page.fit)
            erf_series.append(receptive.erf_series(a.label, erf))
            erf_csv += receptive.erf_rows(a.label, erf)
            erf_maps.append((a.label, erf))
    if not erf_series:
        return
    models = [s_.label for s_ in erf_series]
    tag = page.img_label if page.erf_over == "image" else f"{page.n_set}_photos"
    over = page.img_label if page.erf_over == "image" else f"mean over {page.n_set} photos"
    st.plotly_chart(receptive.erf_figure(erf_series,
                                         title=f"Effective receptive field · {' vs '.join(models)} · {over}"),
                    key="erf_radius", config=render.plotly_config("_".join(["erf"] + models + [tag])))
    for k, (label, erf) in enumerate(erf_maps):
        draw_erf_maps(page, k, label, erf, tag)
    render.csv_download(erf_csv, render.safe_name("erf", *models, tag) + ".csv", "dl_erf",
                        "ERF radii per layer (CSV)")


@st.fragment
def analysis_view(page: Page):
    """Everything layer, head and query decide: their controls, the maps, the heads, the comparison, the MAD chart
    and the receptive field. A change of one of them (a click on the query map too) reruns only this; the pickers,
    the other controls and the page frame stay as they are."""
    view = draw_controls(page)
    results = []
    with render.guard():
        a, notes = analyse(page, page.ck, page.g.image_size, page.g.patch_size, view.query)
        results.append(a)
        draw_warnings(notes)
        arr_img, li = draw_maps(page, view, a, "a")
        draw_heads(page, view, a, arr_img, li)
    if page.cmp != "none":
        with render.guard():
            b = comparison(page, view)
            if b is not None:
                results.append(b)
                draw_maps(page, view, b, "b")
    if results:
        draw_mad(page, results)
    if results and page.erf_over != "off":
        draw_receptive_field(page, results)


def main():
    draw_intro()
    ck = pickers.pick_checkpoint(with_target=False)  # the encoder's attention does not depend on the target
    picked = pickers.pick_image()
    fit = pickers.image_fit()
    g = pickers.pick_geometry(ck, with_mask=False, compare=True)
    depth = ck.cfg.depth if ck else 1
    heads = ck.cfg.num_heads if ck else 1
    grid = query_grid(ck, g)
    params = url_params(g, depth, heads, grid)
    sidebar = draw_sidebar(ck, params)
    state.show_notices()
    pickers.require(ck, picked, hint="Choose a checkpoint and an image in the sidebar.")
    img, img_hash, img_label = picked
    draw_image_notes(img, fit)
    analysis_view(Page(ck, img, img_hash, img_label, fit, g, grid, depth, params[1].choices, params[:4],
                       **sidebar))


main()
