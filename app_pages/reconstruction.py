"""Reconstruction: mask an image, reconstruct it, and measure the result."""
import numpy as np
import streamlit as st

from mae_core.checkpoints import arch_words
from mae_core.masking import make_mask
from mae_core.reconstruct import DENORM_MODES, LEAK_NOTE
from ui import limits, paint, pickers, presets, progress, render, state, views
from ui.state import Param

DENORM_LABELS = {"visible": "statistics of visible neighbours", "ground-truth": "ground-truth patch statistics (leaks)",
                 "raw": "nothing (raw output)"}


def display_controls(ck):
    """Sidebar 'Display': random or painted mask, and (norm-pix checkpoints) how the output is de-normalised."""
    sb = st.sidebar
    sb.subheader("Display")
    extra = [Param("mask_src", str, "random", choices=("random", "custom"))]
    norm_pix = ck is not None and bool(ck.cfg.norm_pix_loss)
    if norm_pix:
        extra.append(Param("denorm", str, "visible", choices=DENORM_MODES))
    state.init(extra)
    mask_src = sb.radio("Mask", ("random", "custom"), key="mask_src", horizontal=True,
                        format_func={"random": "random (seed)", "custom": "paint your own"}.get)
    denorm = "visible"
    if norm_pix:
        denorm = sb.radio("De-normalise norm-pix output with", DENORM_MODES, key="denorm",
                          format_func=DENORM_LABELS.get,
                          help="A norm-pix model predicts each patch with zero mean and unit variance; colours need "
                               "per-patch statistics (facebookresearch/mae#197, MAE-pytorch#40).")
    state.publish(extra)
    return mask_src, denorm


KEEP_WORDS = {"blocks": "whole mask units", "exact": "exactly r of the patches"}
FIT_WORDS = {"stretch": "stretched to a square", "crop": "centre-cropped", "pad": "padded with grey"}


def settings_caption(ck, img_label, g, fit):
    """One line in words: the checkpoint and its architecture, the image, the geometry and the mask."""
    target_txt = f" · target {ck.info.target}" + (" (your choice)" if ck.target != "auto" else "") \
        if ck.can_reconstruct else ""
    st.caption(f"**{ck.label}** ({arch_words(ck.cfg)}) · image **{img_label}**, {FIT_WORDS.get(fit, fit)} · "
               f"I={g.image_size} p={g.patch_size} m={g.mask_unit} r={g.mask_ratio:.2f} seed={g.seed}, "
               f"{KEEP_WORDS.get(g.keep, g.keep)}, precision={ck.precision}" + target_txt)


def baseline_delta(model_mse: float, baseline: float) -> tuple[str, str]:
    """(delta text, delta_color) for a baseline tile: the comparison in words, green when the model does better."""
    d = model_mse - baseline
    if abs(d) < 5e-5:
        return "model about the same", "off"
    return (f"model better by {-d:.4f}", "normal") if d < 0 else (f"model worse by {d:.4f}", "inverse")


def encoder_only_stop():
    st.warning("This checkpoint is encoder-only (no decoder weights), so it cannot reconstruct. Its attention "
               "can still be explored.", icon=":material/info:")
    st.page_link("app_pages/attention.py", label="Attention & receptive field", icon=":material/visibility:")
    st.stop()


def geometry_note(ck, g):
    """Which image sizes work with p; or that the checkpoint runs resampled away from its native geometry (naming the
    preset only when one was clicked and the geometry is still what it set)."""
    if g.image_size % g.patch_size:
        lo = g.image_size - g.image_size % g.patch_size
        st.caption(f"Image sizes that work with p = {g.patch_size}: {lo} or {lo + g.patch_size} (I must be a whole "
                   "number of patches).")
    elif (g.image_size, g.patch_size) != (ck.native_size, ck.native_patch):
        pr = presets.clicked(g.image_size, g.patch_size, g.mask_unit)
        st.warning((f"Preset **{pr.label}**: " if pr else "")
                   + f"{ck.label} was trained at I={ck.native_size}, p={ck.native_patch}; it runs here resampled at "
                     f"I={g.image_size}, p={g.patch_size}, outside what it was trained on (see the notes below).",
                   icon=":material/swap_horiz:")


def off_distribution_check(ck, g, res):
    """A resampled model that reconstructs worse than a classical fill is off its training distribution: say so
    with the figures, so the view is not read as what the model can do."""
    gauss = res.baselines.get("gaussian_fill")
    resampled = (g.image_size, g.patch_size) != (ck.native_size, ck.native_patch)
    if resampled and gauss is not None and np.isfinite(res.masked_mse) and res.masked_mse > gauss:
        st.warning(f"At I={g.image_size}, p={g.patch_size}, {ck.label} reconstructs worse than a Gaussian fill of the "
                   f"visible patches (masked MSE {res.masked_mse:.4f} against {gauss:.4f}): resampled this far, it is "
                   f"off its training distribution. Its own geometry is {ck.native_size}/{ck.native_patch} "
                   "(Presets → checkpoint native).", icon=":material/warning:")


def painted_mask(grid, g):
    """The painted mask for this grid (session, else URL, else the seeded random mask) as a tuple of rows; it is
    written to the link (`cmask`)."""
    seed_mask = make_mask(grid, g.mask_unit, g.mask_ratio, g.seed, g.keep).mask.numpy()
    cm = paint.current(grid, seed_mask)
    if not (cm == 0).any():
        cm = seed_mask
        paint.set_mask(cm)
    state.publish_value("cmask", paint.encode(cm))
    return tuple(tuple(int(v) for v in row) for row in cm)


def result_notes(res):
    for note in res.notes:
        if note == LEAK_NOTE:
            st.warning("Information leak: " + note, icon=":material/warning:")
        elif "approximation" in note or "not trained on" in note:
            st.warning(note, icon=":material/warning:")
        else:
            st.caption("Note: " + note)


def panels(view, g, tag):
    """The four canonical panels (downloads carry a header: what, checkpoint, image, settings, values), encoded
    once per result (ui.views)."""
    res = view.result
    cols = st.columns(4)
    captions = {"original": "original", "masked": f"masked ({res.effective_ratio:.0%}, {g.mask_unit}×{g.mask_unit} "
                "units)", "reconstruction": "reconstruction", "pasted": "reconstruction + visible"}
    keys = {"original": "dl_orig", "masked": "dl_masked", "reconstruction": "dl_recon", "pasted": "dl_pasted"}
    for col, (name, pan) in zip(cols, view.panels.items()):
        render.png_panel(col, pan.shown, pan.download, captions[name], f"{name}_{tag}.png", keys[name])
    st.download_button("All four panels (PNG)", view.montage, file_name=f"panels_{tag}.png", mime="image/png",
                       key="dl_all", icon=":material/download:")


@st.fragment
def error_map(view, tag):
    """The per-patch error; the toggle reruns only this part of the page."""
    st.subheader("Per-patch error")
    only_removed = st.toggle("removed patches only", value=True, key="err_removed_only")
    st.plotly_chart(view.error_figure(only_removed), key="err_map", config=render.plotly_config(f"error_{tag}"),
                    theme=None)
    st.caption("Mean squared error per patch in [0, 1] RGB units: bright = high error (the same colours as "
               "the grid page); light grey = visible patches, not scored. Visible patches are not trained on "
               "(the loss covers removed ones only), so they can look worse (facebookresearch/mae#146); seams "
               "at patch borders are expected (mae#153).")


def metrics_panel(ck, res, g, est, img_label, mask_grid, tag):
    st.subheader("Metrics")
    with render.tiles():  # tiles sized to their values: they wrap, never truncate
        st.metric("masked MSE", f"{res.masked_mse:.4f}", width="content")
        st.metric("PSNR (removed)", f"{res.psnr:.2f} dB", width="content")
    shown = [(k, label) for k, label in (("mean_fill", "mean-fill MSE"), ("gaussian_fill", "Gaussian-fill MSE"),
                                         ("stats_fill", "statistics-fill MSE")) if k in res.baselines]
    with render.tiles():
        for k, label in shown:
            v = res.baselines[k]
            delta, colour = baseline_delta(res.masked_mse, v)
            st.metric(label, f"{v:.4f}", delta=delta, delta_color=colour, delta_arrow="off", width="content",
                      help=f"Given {res.baseline_notes.get(k, '')}. Below it: how the model's masked MSE compares "
                           "(lower is better): green = the model does better than this fill.")
    st.caption("Each baseline is given: " + "; ".join(
        f"**{label.removesuffix(' MSE')}**: {res.baseline_notes.get(k, '')}" for k, label in shown)
        + (". Compare the model with the statistics fill: both get the same statistics." if
           "stats_fill" in res.baselines else "."))
    with render.tiles():
        st.metric("L", f"{res.lengths.L:,}", width="content")
        st.metric("Le", f"{res.lengths.Le:,}", width="content")
        st.metric("Ld", f"{res.lengths.Ld:,}", width="content")
        st.metric("GFLOPs", f"{res.flops.total / 1e9:.3f}", width="content")
        st.metric("eff. ratio", f"{res.effective_ratio:.3f}", width="content")
        st.metric("mem. est.", f"{est.peak_mb:,.1f} MB" if est.peak_mb < 10 else f"{est.peak_mb:,.0f} MB",
                  width="content")
    metrics = {"checkpoint": ck.label, "checkpoint_sha256": ck.sha[:16], "image": img_label,
               "mask": "custom" if mask_grid is not None else f"random (seed {g.seed}, {g.keep})",
               "denorm": res.denorm or "", "target_choice": ck.target, **res.metrics()}
    with st.expander("All metrics"):
        st.dataframe([{"metric": k, "value": str(v)} for k, v in metrics.items()], hide_index=True,
                     width="stretch")
    render.csv_download([metrics], f"metrics_{tag}.csv", "dl_metrics")


def _paint_reset(shape, g):
    paint.set_mask(make_mask(shape, g.mask_unit, g.mask_ratio, g.seed, g.keep).mask.numpy())


def _paint_invert():
    inv = 1.0 - st.session_state[paint.KEY]
    if (inv == 0).any():  # never everything removed: the encoder needs at least one patch
        paint.set_mask(inv)


def paint_section(res, g):
    """Paint your own mask on the model's input, at the top of the results: the canvas, and beside it what a drag
    does and the whole-mask buttons."""
    cm = st.session_state.get(paint.KEY)
    if cm is None or cm.shape != res.mask.shape:
        return
    st.subheader("Paint your own mask")
    canvas, controls = st.columns([3, 2], gap="medium")
    with controls:
        tool = st.radio("Tool", tuple(paint.TOOLS), horizontal=True, key="paint_tool", format_func=paint.TOOLS.get)
        if tool == "click":
            mode = "removed"
            st.caption(f"Click a patch to toggle its {g.mask_unit}×{g.mask_unit} mask unit (removed ↔ visible).")
        else:
            mode = st.radio("Units the drag touches become", ("removed", "visible"), horizontal=True,
                            key="paint_mode")
            st.caption(f"Drag a {tool} over the image: every {g.mask_unit}×{g.mask_unit} mask unit it touches "
                       f"becomes {mode}.")
        st.caption("The mask is stored in the link (`cmask`).")
        st.button("Start from the random mask", key="paint_reset", on_click=_paint_reset,
                  args=(res.mask.shape, g), width="stretch")
        st.button("Reveal all", key="paint_clear", on_click=paint.set_mask, args=(np.zeros_like(cm),),
                  width="stretch")
        st.button("Invert", key="paint_invert", on_click=_paint_invert, width="stretch")
    with canvas:
        paint.editor(res.original, cm, g.patch_size, g.mask_unit, mode=mode, tool=tool)


def nothing_masked(res) -> bool:
    return not bool((res.mask > 0).any())


@st.fragment
def result(ck, picked, fit, size, mask_src, denorm, mask_box):
    """Everything the mask decides: its controls (m, keep, r, seed, in the sidebar's `mask_box`), the settings line,
    the reconstruction, panels, error map and metrics. A mask control reruns only this; the checkpoint and image
    pickers, I, p and the page frame stay as they are."""
    g = pickers.pick_mask(ck, *size, where=mask_box)
    state.show_notices()
    pickers.require(ck, picked, hint="Choose a checkpoint and an image in the sidebar to see a reconstruction.")
    img, img_hash, img_label = picked
    settings_caption(ck, img_label, g, fit)
    if not ck.can_reconstruct:
        encoder_only_stop()
    geometry_note(ck, g)

    with render.guard():
        cfg = ck.cfg.replace(img_size=(g.image_size, g.image_size), patch_size=g.patch_size)
        est = limits.check_inference(cfg, g.mask_ratio)
        mask_grid = painted_mask(cfg.grid, g) if mask_src == "custom" else None
        state.show_notices()  # a painted mask in the link that does not fit this grid
        with progress.computing("Reconstructing..."):
            view = views.reconstruction(ck, img, img_hash, img_label, g, denorm, mask_grid, fit)
        res = view.result
        result_notes(res)
        off_distribution_check(ck, g, res)
        tag = render.safe_name(ck.label, img_label, f"I{g.image_size}", f"p{g.patch_size}", f"m{g.mask_unit}",
                               f"r{g.mask_ratio:.2f}", f"s{g.seed}", "" if fit == "stretch" else fit)
        if mask_src == "custom":
            paint_section(res, g)
        if nothing_masked(res):
            st.info("Nothing is masked: no masked error to score. Click patches on the canvas to remove them, or "
                    "start from the random mask.", icon=":material/info:")
        panels(view, g, tag)
        if not nothing_masked(res):
            left, right = st.columns([3, 2], gap="large")
            with left:
                error_map(view, tag)
            with right:
                metrics_panel(ck, res, g, est, img_label, mask_grid, tag)


def main():
    st.title("Reconstruction")
    ck = pickers.pick_checkpoint()
    picked = pickers.pick_image()
    fit = pickers.image_fit()
    size = pickers.pick_size(ck)
    mask_box = st.sidebar.container()  # the mask controls, right below I and p, drawn by result()
    mask_src, denorm = display_controls(ck)
    result(ck, picked, fit, size, mask_src, denorm, mask_box)


main()
