"""Attention & receptive field: per-layer/head attention maps, rollout, and mean attention distance."""
import numpy as np
import plotly.graph_objects as go
import streamlit as st

from mae_core import assets
from mae_core.errors import MAEError
from mae_core.images import fit_image, image_notes
from ui import limits, pickers, progress, receptive, render, resources, state
from ui.state import Param

st.title("Attention & receptive field")
st.caption("The encoder on the full, unmasked image. Mean attention distance (MAD) is the attention-weighted "
           "pixel distance between a query patch and the patches it attends to, averaged over queries: the "
           "'receptive field' of a head (ViT paper, Fig. 7), drawn against the level uniform attention would give. "
           "The effective receptive field below measures it through gradients instead. Encoder-only checkpoints "
           "work here.")

ck = pickers.pick_checkpoint(with_target=False)  # the encoder's attention does not depend on the target
picked = pickers.pick_image()
fit = pickers.image_fit()
g = pickers.pick_geometry(ck, with_mask=False, compare=True)

sb = st.sidebar
sb.subheader("Analysis")
depth = ck.cfg.depth if ck else 1
heads = ck.cfg.num_heads if ck else 1
try:
    gh, gw = ck.cfg.replace(img_size=(g.image_size, g.image_size), patch_size=g.patch_size).grid if ck else (1, 1)
except MAEError:
    gh, gw = 1, 1
params = [Param("layer", int, depth - 1, lo=0, hi=max(0, depth - 1)),
          Param("head", str, "mean", choices=("mean",) + tuple(str(h) for h in range(heads))),
          Param("qr", int, gh // 2, lo=0, hi=max(0, gh - 1)), Param("qc", int, gw // 2, lo=0, hi=max(0, gw - 1)),
          Param("fusion", str, "mean", choices=("mean", "max", "min")),
          Param("mad_unit", str, "fraction", choices=tuple(receptive.MAD_UNITS)),
          Param("mad_over", str, "image", choices=("image", "set")),
          Param("erf", str, "image", choices=("off", "image", "set")),
          Param("cmp", str, "none", choices=("none", "patch", "checkpoint")),
          Param("p_b", int, 16 if g.patch_size != 16 else 8, choices=pickers.PATCH_CHOICES)]
VIEW_PARAMS = params[:4]  # layer, head, query row and column: the controls of analysis_view() below
state.init(params)
analysis_box = sb.container()  # layer, head and query, right here in the sidebar, drawn by analysis_view()
fusion = sb.selectbox("Rollout head fusion", ("mean", "max", "min"), key="fusion")
mad_unit = sb.radio("MAD in", tuple(receptive.MAD_UNITS), key="mad_unit", horizontal=True,
                    format_func=receptive.MAD_UNIT_LABELS.get,
                    help="Compare across sequence lengths as a fraction of the image width, or as a ratio to "
                         "uniform attention on the same grid (1 = no more local than uniform).")
image_set = assets.image_set()  # name -> path; looked up once per run
n_set = len(image_set)
mad_over = sb.radio("MAD over", ("image", "set"), key="mad_over", horizontal=True,
                    format_func={"image": "this image", "set": f"{n_set} bundled photos"}.get,
                    help="ViT's Fig. 7 averages MAD over many images; the set is the two held-out demo images and "
                         "the scikit-image photographs the embedded family was trained on. Error bars: std over "
                         "the images.")
erf_over = sb.radio("Effective receptive field over", ("off", "image", "set"), key="erf", horizontal=True,
                    format_func={"off": "off", "image": "this image", "set": f"{n_set} photos"}.get,
                    help="|gradient| of the query patch's token after each layer with respect to the input pixels. "
                         f"Over the {n_set} photos it takes about a second per photo and model on a CPU.")
sb.subheader("Compare with")
cmp = sb.radio("Compare", ("none", "patch", "checkpoint"), key="cmp", label_visibility="collapsed",
               format_func={"none": "nothing", "patch": "another patch size (same checkpoint)",
                            "checkpoint": "another checkpoint"}.get)
p_b = sb.selectbox("Patch size of the comparison", pickers.PATCH_CHOICES, key="p_b") if cmp == "patch" else None
state.publish(params[4:])
ck_b = pickers.pick_checkpoint(prefix="b_", title="Comparison checkpoint", reset_geometry=False,
                               with_target=False, other_than=ck) if cmp == "checkpoint" else None
state.show_notices()

pickers.require(ck, picked, hint="Choose a checkpoint and an image in the sidebar.")
img, img_hash, img_label = picked
for n in image_notes(img) + ([f"non-square photo ({img.width}x{img.height}) fitted to a square: {fit}"
                               + (" (ImageNet-mean grey padding)" if fit == "pad" else "")]
                             if img.width != img.height else []):
    st.caption("Note: " + n)


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


def view_controls():
    """Layer, head and query (sidebar), into the module's globals that the drawing functions read."""
    global layer, head, qr, qc
    apply_click()
    state.init(VIEW_PARAMS)
    with analysis_box:
        if depth > 1:
            layer = st.slider("Layer", 0, depth - 1, key="layer")
        else:
            layer = 0
            st.session_state["layer"] = 0
        head = st.selectbox("Head", params[1].choices, key="head",
                            format_func=lambda h: "mean over heads" if h == "mean" else f"head {h}")
        c1, c2 = st.columns(2)
        qr = c1.slider("Query row", 0, max(1, gh - 1), key="qr", disabled=gh <= 1)
        qc = c2.slider("Query col", 0, max(1, gw - 1), key="qc", disabled=gw <= 1)
    state.publish(VIEW_PARAMS)
    qr, qc = min(int(qr), gh - 1), min(int(qc), gw - 1)


def analyse(c, I, p, query):
    limits.check_inference(c.cfg.replace(img_size=(I, I), patch_size=p))
    with progress.computing(f"Attention of {c.label} at I={I}, p={p}..."):
        res = resources.attention(resources.AttentionRequest(str(c.path), c.sha, img_hash, I, p, query, fusion,
                                                             fit=fit, precision=c.precision), img)
    return res, resources.prepared(c.model, I, p)[1]


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
    # a click reruns analysis_view(), whose apply_click() reads the selection
    st.plotly_chart(fig, key=key, on_select="rerun", selection_mode="points",
                    config={"displaylogo": False, "displayModeBar": False})


def show_maps(res, title, key, qrc):
    st.markdown(f"**{title}** · L = {res.grid[0] * res.grid[1]:,} · {res.precision} · layer {layer}, "
                + ("mean over heads" if head == "mean" else f"head {head}")
                + " · colour: each map from its lowest weight (dark) to its 99th percentile (bright)")
    arr_img = fit_image(img, res.img_size, fit)[0]  # what the model saw
    li = res.layers.index(layer) if layer in res.layers else len(res.layers) - 1
    cls_map = res.cls_attention[li].mean(0) if head == "mean" else res.cls_attention[li][int(head)]
    maps = [("CLS attention", cls_map, None)]
    if res.query_attention is not None:
        q_map = res.query_attention[li].mean(0) if head == "mean" else res.query_attention[li][int(head)]
        maps.append((f"query ({qrc[0]}, {qrc[1]})", q_map, qrc))
    maps.append((f"rollout ({fusion} fusion, layers 0-{max(res.layers)})", res.rollout, None))
    cols = st.columns(len(maps))
    for col, (name, m, marker) in zip(cols, maps):
        im = render.overlay(arr_img, m, marker=marker, patch_size=res.patch_size)
        if marker is not None and key == "a":
            with col:
                clickable(im, res.grid, "query_click")
                st.caption(name + " · click to move")
        else:
            col.image(im, caption=name, width="stretch")
        head_txt = "mean over heads" if head == "mean" else f"head {head}"
        slide = render.deferred_slide(im, f"{name} · {title}", f"image {img_label} · L = "
                                      f"{res.grid[0] * res.grid[1]:,} · layer {layer}, {head_txt} · "
                                      f"{res.precision} · colour: lowest weight (dark) to 99th percentile "
                                      "(bright)")  # drawn when clicked
        col.download_button("PNG", slide, file_name=render.safe_name(
            name.split()[0], title.split()[0], img_label, f"p{res.patch_size}", f"layer{layer}",
            "headmean" if head == "mean" else f"head{head}") + ".png",
            mime="image/png", key=f"dl_{key}_{name.split()[0]}", icon=":material/download:", width="stretch")
    return arr_img, li


@st.fragment
def analysis_view():
    """Everything layer, head and query decide: their controls, the maps, the heads, the comparison, the MAD chart
    and the receptive field. A change of one of them (a click on the query map too) reruns only this; the pickers,
    the other controls and the page frame stay as they are."""
    view_controls()
    results = []
    with render.guard():
        res_a, notes_a = analyse(ck, g.image_size, g.patch_size, (qr, qc))
        label_a = f"{ck.label} (p={g.patch_size})"
        results.append((label_a, res_a, ck, g.image_size, g.patch_size))
        for n in notes_a:
            if "approximation" in n or "not trained on" in n:
                st.warning(n, icon=":material/warning:")
        arr_img, li = show_maps(res_a, label_a, "a", (qr, qc))

        with st.expander(f"All {res_a.num_heads} heads of layer {layer} (CLS attention)"):
            hc = st.columns(min(6, res_a.num_heads))
            head_imgs = []
            for h in range(res_a.num_heads):
                im = render.overlay(arr_img, res_a.cls_attention[li][h], target=160)
                head_imgs.append(im)
                hc[h % len(hc)].image(im, caption=f"head {h} · MAD {res_a.mean_attention_distance[li][h]:.1f} px",
                                      width="stretch")
            st.download_button("All heads (PNG)", render.deferred_slide(render.montage(
                head_imgs, [f"head {h}: MAD {res_a.mean_attention_distance[li][h]:.1f} px" for h in
                            range(res_a.num_heads)], target=160),
                f"CLS attention of every head, layer {layer} · {label_a}",
                f"image {img_label} · L = {res_a.grid[0] * res_a.grid[1]:,} · uniform attention's MAD "
                f"{res_a.uniform_mad:.1f} px"),
                file_name=render.safe_name("heads", ck.label, img_label, f"p{g.patch_size}", f"layer{layer}") + ".png",
                mime="image/png", key="dl_heads", icon=":material/download:")

    if cmp != "none":
        with render.guard():
            if cmp == "patch":
                ck_b_, I_b, pb = ck, g.image_size, int(p_b)
            elif ck_b is not None:
                ck_b_, I_b, pb = ck_b, ck_b.native_size, ck_b.native_patch
            else:
                ck_b_ = None
                st.info("Choose the comparison checkpoint in the sidebar.")
            if ck_b_ is not None:
                gb = ck_b_.cfg.replace(img_size=(I_b, I_b), patch_size=pb).grid
                # the same pixel as the query of A, on B's grid
                qb = (min(gb[0] - 1, int((qr + 0.5) / gh * gb[0])), min(gb[1] - 1, int((qc + 0.5) / gw * gb[1])))
                if layer < ck_b_.cfg.depth:
                    res_b, notes_b = analyse(ck_b_, I_b, pb, qb)
                    label_b = f"{ck_b_.label} (p={pb})"
                    results.append((label_b, res_b, ck_b_, I_b, pb))
                    for n in notes_b:
                        if "approximation" in n or "not trained on" in n:
                            st.warning(f"{label_b}: {n}", icon=":material/warning:")
                    show_maps(res_b, label_b, "b", qb)
                else:
                    st.error(f"{ck_b_.label} has only {ck_b_.cfg.depth} layers; pick a layer below that.")


    def mad_of(c, I, p, res):
        """(MAD (n, H) px, std over images (n, H) or None, image names) for the plot: this image, or the bundled set."""
        if mad_over == "image":
            return res.mean_attention_distance, None, [img_label]
        names = list(image_set)
        bar = st.progress(0.0, text=f"MAD of {c.label} over {len(names)} images...")
        vals = []
        for k, name in enumerate(names):
            im, h = resources.demo_image(name)
            vals.append(resources.attention(resources.AttentionRequest(str(c.path), c.sha, h, I, p, None, fusion,
                                                                       fit=fit, precision=c.precision),
                                            im).mean_attention_distance)
            bar.progress((k + 1) / len(names), text=f"MAD of {c.label}: image {k + 1} of {len(names)}")
        bar.empty()
        v = np.stack(vals)
        return v.mean(0), v.std(0), names


    if results:
        st.subheader("Mean attention distance per head"
                     + ("" if mad_over == "image" else f" · mean over {n_set} images"))
        series, rows_csv = [], []
        for label, res, c, I, p in results:
            with render.guard():
                mad_px, std_px, names = mad_of(c, I, p, res)
                s_ = receptive.MADSeries(label, tuple(res.layers), mad_px, std_px, float(res.uniform_mad),
                                         int(res.img_size[1]), res.grid[0] * res.grid[1])
                series.append(s_)
                rows_csv += receptive.mad_rows(s_, len(names), fit=fit, precision=res.precision)
        if series:
            img_tag = img_label if mad_over == "image" else f"{n_set}_photos"
            models = [s_.label for s_ in series]
            over = img_label if mad_over == "image" else f"mean over {n_set} photos"
            fig = receptive.mad_figure(series, mad_unit,
                                       title=f"Mean attention distance per head · {' vs '.join(models)} · {over}")
            st.plotly_chart(fig, key="mad_scatter", config=render.plotly_config("_".join(["mad"] + models + [img_tag])))
            ref_txt = "; ".join(f"{s_.label}: {s_.uniform_px:.1f} px = {s_.uniform_px / s_.width:.3f} of the width"
                                for s_ in series)
            st.caption("Dashed: the exact MAD of uniform attention on the same grid (the mean distance between all "
                       f"pairs of patch centres, each patch with itself included): {ref_txt}. A head is local only "
                       "when its dots sit clearly below its line; near the line it attends about as far as uniform "
                       "attention would, whatever the image.")
        with st.expander("Conventions"):
            for label, res, *_ in results:
                st.caption(f"**{label}**: {res.convention}")
            if mad_over == "set":
                st.caption("Images: " + ", ".join(image_set) + f". Each is fitted to the model's I x I ({fit}); the "
                           "dots are the mean over images, the bars one standard deviation.")
        render.csv_download(rows_csv, render.safe_name("mad", *[s_.label for s_ in series],
                                                       img_label if mad_over == "image" else "image_set") + ".csv",
                            "dl_mad", "MAD per layer and head (CSV)")

    if results and erf_over != "off":
        st.subheader("Effective receptive field (gradient)")
        st.caption("For the query patch's token after each encoder layer: how strongly each input pixel moves it, "
                   "|∂ token / ∂ pixel| summed over the token's features and the colour channels (Luo et al. "
                   "2016), normalised per image and averaged"
                   + ("" if erf_over == "image" else f" over the {n_set} photos")
                   + ". The lines give the radius around the patch centre that holds 50 % (dashed) and 90 % "
                   "(solid) of that mass; the references are the patch itself (dotted) and the whole image with the "
                   "mass spread evenly (grey). Move the query to pick another token.")
        erf_series, erf_csv, erf_maps = [], [], []
        images = ({img_label: (img, img_hash)} if erf_over == "image"
                  else {n: resources.demo_image(n) for n in image_set})
        for label, res, c, I, p in results:
            token = res.query if res.query is not None else (res.grid[0] // 2, res.grid[1] // 2)
            with render.guard():
                erf = receptive.compute(c, I, p, token, images, label, fit=fit)
                erf_series.append(receptive.erf_series(label, erf))
                erf_csv += receptive.erf_rows(label, erf)
                erf_maps.append((label, erf))
        if erf_series:
            models = [s_.label for s_ in erf_series]
            tag = img_label if erf_over == "image" else f"{n_set}_photos"
            over = img_label if erf_over == "image" else f"mean over {n_set} photos"
            st.plotly_chart(receptive.erf_figure(erf_series,
                                                 title=f"Effective receptive field · {' vs '.join(models)} · {over}"),
                            key="erf_radius", config=render.plotly_config("_".join(["erf"] + models + [tag])))
            for k, (label, erf) in enumerate(erf_maps):
                ims = receptive.erf_map_images(erf, None if erf_over == "set" else fit_image(img, erf.img_size, fit)[0])
                st.markdown(f"**{label}** · token ({erf.token[0]}, {erf.token[1]}) · gradient mass per pixel, log "
                            "colour over 3 decades (bright = more), one map per layer")
                cols = st.columns(len(ims))
                for col, lay, im in zip(cols, erf.layers, ims):
                    col.image(im, caption=f"layer {lay} · 90 % within {erf.radius[list(erf.layers).index(lay), 1]:.0f}"
                              " px", width="stretch")
                fname = f"erf_maps_{label.split()[0]}_{tag}_token{erf.token[0]}-{erf.token[1]}.png"
                st.download_button("ERF maps (PNG)", render.deferred_slide(
                    render.montage(ims, [f"layer {lay}: r90 {erf.radius[i, 1]:.0f} px" for i, lay in
                                         enumerate(erf.layers)], target=160),
                    f"Effective receptive field of {label}, token ({erf.token[0]}, {erf.token[1]})",
                    f"{'image ' + img_label if erf_over == 'image' else f'mean over {n_set} photos'} · |d token / d "
                    "pixel|, log colour over 3 decades"), file_name=fname, mime="image/png", key=f"dl_erf_{k}",
                    icon=":material/download:")
            render.csv_download(erf_csv, render.safe_name("erf", *models, tag) + ".csv", "dl_erf",
                                "ERF radii per layer (CSV)")


analysis_view()
