"""Representations: what the encoders learned, measured with layer similarity (linear CKA) and probes on frozen
features, beside the two later studies that measured the mask unit. A thin view over mae_core.representations."""
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from mae_core import ablations as ab
from mae_core import assets
from mae_core.errors import MAEError
from mae_core.representations import results as R
from ui import progress, render, resources, state
from mae_core import colours
from ui.state import Param

DEFAULT_PAIR = ("p16-m1", "p8-m2")
PHOTOS = "17 bundled photographs"


# ------------------------------------------------------------------ cached computations (shared across sessions)
@st.cache_data(show_spinner=False)
def stored_rows(stamp) -> list:
    return R.load()


def _stamp():
    p = R.default_path()
    return (str(p), p.stat().st_mtime_ns) if p.is_file() else (str(p), 0)


@st.cache_data(show_spinner=False)
def published_rows(stamp) -> list:
    return ab.load_all(skip_bad=True, problems=[])


@st.cache_data(show_spinner=False, max_entries=64)
def photo_cka(path_a: str, sha_a: str, path_b: str, sha_b: str, kind: str) -> np.ndarray:
    """Layer x layer CKA of two checkpoints on the bundled photographs (unbiased HSIC: 17 images)."""
    from mae_core.representations import analysis, imagesets
    from mae_core.representations.features import features_for

    images = imagesets.bundled_photos()
    sa = features_for(path_a, images)[0]
    sb = features_for(path_b, images)[0]
    return analysis.cka_between(sa, sb, kind, unbiased=True)


@st.cache_data(show_spinner=False, max_entries=32)
def folder_probes(store_root: str, sha: str, probes: tuple, kinds: tuple) -> list:
    from mae_core.representations import analysis
    from mae_core.representations.features import FeatureStore

    return [s.to_dict() for s in analysis.probe_table(FeatureStore.open(store_root), probes, kinds)]


# ------------------------------------------------------------------ figures
def cka_figure(mat: np.ndarray, a: str, b: str, metric: str) -> go.Figure:
    n, m = mat.shape
    fig = go.Figure(go.Heatmap(z=np.asarray(mat).tolist(), x=list(range(m)), y=list(range(n)), colorscale="Viridis", zmin=0, zmax=1,
                               colorbar=dict(title="CKA"),
                               hovertemplate=f"{a} layer %{{y}}<br>{b} layer %{{x}}<br>CKA %{{z:.3f}}<extra></extra>"))
    fig.update_yaxes(title=f"{a} layer", range=[n - 0.5, -0.5], scaleanchor="x", dtick=1, zeroline=False,
                     showgrid=False, constrain="domain")
    fig.update_xaxes(title=f"{b} layer", range=[-0.5, m - 0.5], dtick=1, side="bottom", zeroline=False, showgrid=False,
                     constrain="domain")
    fig.update_layout(title=dict(text=metric, font_size=13), height=420, margin=dict(l=60, r=10, t=40, b=50))
    return fig


def per_layer_figure(recs: list, probe: str, kind: str) -> go.Figure:
    fig = go.Figure()
    names = list(dict.fromkeys(r["checkpoint"] for r in recs))
    for i, name in enumerate(names):
        rs = sorted((r for r in recs if r["checkpoint"] == name and r["probe"] == probe and r["kind"] == kind),
                    key=lambda r: r["layer"])
        if not rs:
            continue
        fig.add_trace(go.Scatter(x=[r["layer"] for r in rs], y=[r["top1"] for r in rs], mode="lines+markers",
                                 name=name, line=dict(color=colours.checkpoint(name)), marker=dict(color=colours.checkpoint(name)),
                                 error_y=dict(type="data", array=[r["std"] for r in rs], visible=True),
                                 hovertemplate=name + " layer %{x}: %{y:.1f}%<extra></extra>"))
    fig.update_layout(xaxis_title="layer (0 = patch embedding)", yaxis_title=f"{probe} top-1 (%)", height=380,
                      legend=dict(orientation="h", y=-0.25), margin=dict(t=20))
    fig.update_xaxes(dtick=1)
    return fig


def family_figure(recs: list, probe: str, kind: str, axis: str) -> go.Figure:
    """Top-1 at the last layer of each checkpoint against L or m."""
    fig = go.Figure()
    last = {}
    for r in recs:
        if r["probe"] == probe and r["kind"] == kind:
            if r["checkpoint"] not in last or r["layer"] > last[r["checkpoint"]]["layer"]:
                last[r["checkpoint"]] = r
    key = "L" if axis == "L" else "mask_unit"
    for i, (name, r) in enumerate(last.items()):
        if r.get(key) is None:
            continue
        fig.add_trace(go.Scatter(x=[r[key]], y=[r["top1"]], mode="markers+text", text=[name],
                                 textposition="middle right", name=name, showlegend=False, cliponaxis=False,
                                 marker=dict(size=12, color=colours.checkpoint(name)),
                                 error_y=dict(type="data", array=[r["std"]], visible=True),
                                 hovertemplate=f"{name}: L={r.get('L')}, m={r.get('mask_unit')}<br>"
                                               "%{y:.1f}%<extra></extra>"))
    title = "sequence length L (log)" if axis == "L" else "mask unit m (m×m patches)"
    fig.update_xaxes(title=title, type="log" if axis == "L" else "linear",
                     tickvals=sorted({r[key] for r in last.values() if r.get(key)}))
    fig.update_layout(yaxis_title=f"{probe} top-1 (%), last layer", height=330, margin=dict(t=20, r=60))
    return fig


def published_figure(rows: list) -> go.Figure | None:
    """Kong et al. 2023 (linear probe against the mask unit) and Pixio 2025 §4.5 (k-NN change 1x1 -> 2x2)."""
    from plotly.subplots import make_subplots

    kong = sorted((r for r in rows if r["study"].startswith("Kong") and r["setting"] == "mask unit (px)"
                   and r["metric"] == "IN-1K linear probe top-1 (%)"), key=lambda r: r["mask_unit"])
    pix = [r for r in rows if r["study"].startswith("Pixio") and r["table"] == "§4.5" and "change" in r["metric"]]
    if not kong and not pix:
        return None
    fig = make_subplots(rows=1, cols=2, subplot_titles=(
        "Kong et al. 2023, IN-1K linear probe (%)", "Pixio 2025 §4.5: change from 1×1 to 2×2 (points)"))
    if kong:
        fig.add_trace(go.Scatter(x=[r["mask_unit"] for r in kong], y=[r["value"] for r in kong],
                                 mode="lines+markers", line=dict(color="#555555"), showlegend=False,
                                 hovertemplate="mask unit %{x}×%{x} patches of 8 px: %{y}%<extra></extra>"), 1, 1)
        fig.update_xaxes(title="mask unit m (ViT-B/8)", tickvals=[r["mask_unit"] for r in kong], row=1, col=1)
    if pix:
        fig.add_trace(go.Bar(x=[r["metric"].split(" change")[0] for r in pix], y=[r["value"] for r in pix],
                             marker_color="#888888", text=[f"+{r['value']:g}" for r in pix], textposition="outside",
                             showlegend=False, cliponaxis=False), 1, 2)
    fig.update_yaxes(rangemode="tozero")
    fig.update_layout(height=330, margin=dict(t=50))
    return fig


# ------------------------------------------------------------------ page
def draw_intro():
    st.title("Representations: what the encoders learned")
    st.caption("Hu et al.'s claim is about representations: a longer sequence with a decoupled mask unit transfers "
               "better. The other pages measure pixels and attention; this one measures the encoders' features. "
               "**Linear CKA** (Kornblith et al. 2019) says how similar two layers' features are on the same images "
               "(1 = the same up to rotation and scale). **Probes** on frozen features say how much of a label a "
               "simple classifier can read from them: k-NN as DINO does it (k = 20, T = 0.07), a linear probe "
               "(standardised features, logistic regression) and, at the last layer on the photographs, an "
               "attentive probe over the patch tokens, each over 5 stratified folds.")


def draw_pair_controls(names: list) -> tuple[str, str, str]:
    """The sidebar's pair of checkpoints and their features -> (A, B, kind); stops the page without a family."""
    sb = st.sidebar
    sb.subheader("Compare")
    a_def = DEFAULT_PAIR[0] if DEFAULT_PAIR[0] in names else (names[0] if names else "")
    b_def = DEFAULT_PAIR[1] if DEFAULT_PAIR[1] in names else (names[-1] if names else "")
    params = [Param("cka_a", str, a_def, choices=tuple(names) or ("",)),
              Param("cka_b", str, b_def, choices=tuple(names) or ("",)),
              Param("cka_kind", str, "mean", choices=("mean", "cls"))]
    state.init(params)
    if not names:
        st.error("No embedded checkpoints were found: this page compares the embedded family.")
        st.stop()
    a = sb.selectbox("Checkpoint A (rows)", names, key="cka_a")
    b = sb.selectbox("Checkpoint B (columns)", names, key="cka_b")
    kind = sb.radio("Features", ("mean", "cls"), key="cka_kind", horizontal=True,
                    format_func={"mean": "mean-pooled patch tokens", "cls": "CLS token"}.get)
    state.publish(params)
    return a, b, kind


def draw_cka(fam: dict, a: str, b: str, kind: str):
    """Layer x layer similarity of A and B on the bundled photographs, and how to read it."""
    st.subheader(f"Layer similarity: {a} against {b}")
    try:
        with progress.computing(f"Features of the {PHOTOS} for {a} and {b} (once per server)..."):
            mat = photo_cka(str(fam[a]), resources.file_sha256(fam[a]), str(fam[b]), resources.file_sha256(fam[b]),
                            kind)
        left, right = st.columns([3, 2], gap="medium")
        metric = f"linear CKA, {R.KIND_NAMES[kind]}, {PHOTOS} (unbiased HSIC)"
        left.plotly_chart(cka_figure(mat, a, b, metric), theme=None, key="cka_heatmap",
                          config=render.plotly_config(f"cka_{a}_{b}_{kind}"))
        diag = np.diagonal(mat)
        right.markdown(
            f"Each cell compares one layer of **{a}** (row) with one layer of **{b}** (column), on the same "
            f"{PHOTOS}, the encoders run on full, unmasked images at their own geometry. Layer 0 is the patch "
            f"embedding; the last layer is after the final LayerNorm.\n\n"
            f"Same-depth similarity: " + ", ".join(f"{v:.2f}" for v in diag)
            + f" (layers 0 to {len(diag) - 1}).\n\n"
            "With 17 images and 192 features per layer the plain CKA estimate is biased upwards, so this map uses "
            "the unbiased HSIC estimator (Nguyen et al. 2021); values can then dip slightly below 0 for unrelated "
            "layers.")
        if a == b:
            right.info("The same checkpoint on both sides: the diagonal is 1 by definition.")
    except MAEError as e:
        st.error(str(e).splitlines()[0])


def draw_probe_controls(probe_sets: list) -> tuple[str, str, str]:
    """Labelled set, probe and features, in a row above the chart -> (data, probe, kind)."""
    c1, c2, c3 = st.columns(3)
    more = [Param("probe_set", str, probe_sets[0], choices=tuple(probe_sets)),
            Param("probe", str, "k-NN", choices=("k-NN", "linear")),
            Param("probe_kind", str, R.KIND_NAMES["mean"], choices=tuple(R.KIND_NAMES.values()))]
    state.init(more)
    data = c1.selectbox("Labelled set", probe_sets, key="probe_set")
    probe = c2.radio("Probe", ("k-NN", "linear"), key="probe", horizontal=True)
    pkind = c3.radio("Features", tuple(R.KIND_NAMES.values()), key="probe_kind", horizontal=True)
    state.publish(more)
    return data, probe, pkind


def draw_probe_notes(fam: dict, recs: list, data: str, probe: str, pkind: str):
    """Checkpoints on disk that differ from those measured, and what the labelled set is."""
    shas = {n: resources.file_sha256(p)[:12] for n, p in fam.items()}
    stale = sorted(r["checkpoint"] for r in recs if r["layer"] == 0 and r["probe"] == probe and r["kind"] == pkind
                   and shas.get(r["checkpoint"]) not in (None, r["sha256"]))
    if stale:
        st.warning(f"Stored results are for the shipped family; {', '.join(stale)} on disk differ from the "
                   "checkpoints measured (sha256 differs).")
    if "sanity probe" in data:
        st.caption(f"**{data}**: a labelled set that ships inside an installed package, not natural photographs: "
                   "it checks that the probes and features work; it is not evidence about the sequence length or "
                   "the mask unit.")
    elif data.startswith("gcompris"):
        st.caption(f"**{data}**: natural photographs from GCompris's sorting game (Debian gcompris-qt-data; "
                   "public-domain and CC0 sources). Fewer than 300 images, so read the spread over the folds; the "
                   "family was trained on other GCompris photographs, monuments among them.")


def draw_probe_table(recs: list, data: str, probe: str, pkind: str):
    """Each checkpoint's last-layer and best score, and the scores as CSV."""
    last = {r["checkpoint"]: r for r in sorted(recs, key=lambda r: r["layer"])
            if r["probe"] == probe and r["kind"] == pkind}
    best = {}
    for r in recs:
        if r["probe"] == probe and r["kind"] == pkind and r["top1"] > best.get(r["checkpoint"], {"top1": -1})["top1"]:
            best[r["checkpoint"]] = r
    st.dataframe([{"checkpoint": n, "last layer %": f"{r['top1']:.1f} ± {r['std']:.1f}",
                   "best": f"{best[n]['top1']:.1f} (layer {best[n]['layer']})"} for n, r in last.items()],
                 hide_index=True, width="stretch")
    st.caption("Top-1 accuracy, mean ± standard deviation over the folds.")
    render.csv_download(recs, f"probes_{render.safe_name(data)}.csv", key="dl_probes", label="Probe scores (CSV)")


def draw_family_probes(recs: list, probe: str, pkind: str):
    """The last layer's score of each member against L and against m."""
    st.subheader("Across the family, beside the studies that measured the mask unit")
    c1, c2 = st.columns(2)
    c1.plotly_chart(family_figure(recs, probe, pkind, "L"), theme=None, key="fam_L",
                    config=render.plotly_config(f"family_L_{probe}"))
    c2.plotly_chart(family_figure(recs, probe, pkind, "m"), theme=None, key="fam_m",
                    config=render.plotly_config(f"family_m_{probe}"))
    st.caption("Ours, above: the embedded family at the last layer (p16-m1 and p8-m1 differ only in L; p8-m1 and "
               "p8-m2 only in m; p4-m4 masks the same 16-px cells as p16-m1 and p8-m2 with four times the tokens).")


def draw_probes(fam: dict):
    """The stored probe results: per layer for one labelled set, then across the family."""
    rows = stored_rows(_stamp())
    probe_sets = sorted(R.probe_data_sets(rows), key=lambda d: "sanity probe" in d)  # natural photographs first
    st.subheader("Probes per layer")
    if not probe_sets:
        st.info(f"No stored probe results ({R.FILE_NAME} is absent); `python scripts/representations.py` measures "
                "the embedded family.")
        return
    data, probe, pkind = draw_probe_controls(probe_sets)
    recs = R.probe_records(rows, data)
    draw_probe_notes(fam, recs, data, probe, pkind)
    left, right = st.columns([3, 2], gap="medium")
    left.plotly_chart(per_layer_figure(recs, probe, pkind), theme=None, key="probe_layers",
                      config=render.plotly_config(f"probes_{data}_{probe}_{pkind}"))
    with right:
        draw_probe_table(recs, data, probe, pkind)
    draw_three_probes(recs, data)
    draw_family_probes(recs, probe, pkind)


def draw_three_probes(recs: list, data: str):
    """Where the attentive probe was measured: the three probes side by side at each checkpoint's last layer."""
    if not any(r["probe"] == "attentive" for r in recs):
        return
    st.markdown(f"**Three probes at the last layer, {data}**")
    st.dataframe(R.last_layer_table(recs), hide_index=True, width="stretch")
    st.caption("k-NN and linear read the mean-pooled patch tokens; the attentive probe reads every patch token "
               "through a small learned cross-attention pooler (4 queries), trained per fold. Psomas et al. "
               "(ICLR 2026) find that attentive probes rank MAE encoders far better than linear or k-NN ones "
               "(MAE ViT-S/16 on ImageNet-1K: k-NN 18.0, linear 47.1, attentive 64.6). Top-1 %, mean ± "
               "standard deviation over the folds.")


def draw_published():
    """Kong et al. and Pixio, the two studies that measured the mask unit's effect on probes."""
    pub = published_figure(published_rows(None))
    if pub is None:
        return
    st.plotly_chart(pub, theme=None, key="published_probes", config=render.plotly_config("kong_pixio_probes"))
    st.caption(f"**{ab.NOT_FROM_HU}** Kong et al. (CVPR 2023) ran Hu et al.'s code on ViT-B/8 with IN-1K (their "
               "text contradicts the 4×4 value of their own table); Pixio (2025) §4.5 changed only the masking "
               "granularity at MAE's own decoder (the figures are changes, as the text gives them). Both trained "
               "large models on large data: our family is 6 blocks of width 192 trained on 197 photographs.")


# ------------------------------------------------------------------ your folder (local paths only)
def probe_folder(fam: dict, folder: str, picked: list) -> list:
    """Features of the folder's images for each picked checkpoint (with a progress bar each), probed -> score
    records; MAEError for a folder that cannot be read."""
    from mae_core.representations import imagesets
    from mae_core.representations.features import features_for

    images = imagesets.labelled_folder(Path(folder))
    out = []
    for n in picked:
        bar = st.progress(0.0, text=f"{n}: features of {len(images)} images")
        with progress.computing(f"{n}: features", spinner=False):
            store = features_for(fam[n], images, on_batch=lambda d, t, bar=bar, n=n: bar.progress(
                d / t, text=f"{n}: features {d}/{t}"))[0]
        bar.empty()
        if store.skipped:
            st.warning(f"{n}: {len(store.skipped)} unreadable image(s) skipped, e.g. "
                       f"{next(iter(store.skipped))}")
        for s in folder_probes(str(store.root), resources.file_sha256(fam[n]), ("knn", "linear"),
                               ("cls", "mean")):
            out.append(dict(checkpoint=n, probe=s["probe"], kind=R.KIND_NAMES[s["kind"]], layer=s["layer"],
                            top1=100 * s["mean"], std=100 * s["std"]))
    return out


def draw_folder_probes(fam: dict, names: list):
    """A labelled folder on this machine, probed with the picked checkpoints (kept for the session)."""
    st.subheader("Probe your own labelled folder")
    st.caption("A folder on this machine with one subfolder per class (e.g. Imagenette). Features are cached on "
               "disk per checkpoint and folder, so a second run is instant.")
    folder = st.text_input("Folder", key="rep_folder", placeholder="/data/imagenette2-160/val")
    picked = st.multiselect("Checkpoints", names, default=[n for n in DEFAULT_PAIR if n in names], key="rep_ckpts")
    if st.button("Run the probes", key="rep_run", disabled=not folder or not picked):
        try:
            st.session_state["rep_results"] = (folder, probe_folder(fam, folder, picked))
        except MAEError as e:
            st.error(str(e).splitlines()[0])
    res = st.session_state.get("rep_results")
    if res and res[0] == folder:
        recs_user = res[1]
        c1, c2 = st.columns(2)
        for col, pname in ((c1, "k-NN"), (c2, "linear")):
            col.plotly_chart(per_layer_figure(recs_user, pname, R.KIND_NAMES["mean"]), theme=None,
                             key=f"user_{pname}", config=render.plotly_config(f"probes_folder_{pname}"))
        render.csv_download(recs_user, "probes_folder.csv", key="dl_user", label="Your folder's scores (CSV)")


def main():
    draw_intro()
    fam = assets.family()
    names = list(fam)
    a, b, kind = draw_pair_controls(names)
    draw_cka(fam, a, b, kind)
    draw_probes(fam)
    draw_published()
    if resources.local_paths_allowed():
        draw_folder_probes(fam, names)


main()
