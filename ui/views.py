"""Rendered views of results, built once per result and shared by every session that shows it.

A page view whose result is cached should cost little more than sending what is already encoded, so everything a
page draws from a result that takes real work (PNG encoding of the panels, the mask-grid overlay, the error-map
figures) is built here once; the slide-ready downloads are drawn and encoded only when first clicked
(render.Deferred). All of it is keyed like the result itself (checkpoint sha, image hash,
configuration, seed), and kept with st.cache_resource: the view objects are shared, never mutated, and unlike
st.cache_data are not unpickled again on every rerun.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st
from PIL import Image

from mae_core import assets

from . import render, resources


@dataclass(frozen=True)
class Panel:
    shown: bytes  # PNG as displayed (nearest-upscaled so small patches stay crisp)
    download: render.Deferred  # the slide PNG offered for download (a header saying what, checkpoint, image,
    # values), drawn and encoded on the first click: () -> bytes


@dataclass(frozen=True)
class ReconstructionView:
    result: object  # mae_core.reconstruct.ReconResult (shared: read only)
    panels: dict  # name -> Panel: original, masked, reconstruction, pasted
    montage: render.Deferred  # the four panels side by side (slide PNG, made on the first click): () -> bytes
    error_figures: dict  # removed_only (bool) -> plotly Figure of the per-patch error

    def error_figure(self, removed_only: bool):
        return self.error_figures[bool(removed_only)]


def _png(img) -> bytes:
    return render.png_bytes(img)


@st.cache_resource(max_entries=32, show_spinner=False)
def _reconstruction_view(req: resources.ReconRequest, _img, label: str, img_label: str) -> ReconstructionView:
    res = resources.reconstruction(req, _img)
    patch_size, mask_unit = req.patch_size, req.mask_unit
    about = (f"{label} · image {img_label}" + ("" if req.fit == "stretch" else f" ({req.fit})")
             + f" · I={req.image_size}, p={patch_size} (L={res.lengths.L:,}), {mask_unit}×{mask_unit} mask "
             f"units, {res.effective_ratio:.0%} removed, seed {req.seed}, {res.precision}")
    scores = (f"masked MSE {res.masked_mse:.4f}, PSNR {res.psnr:.2f} dB" if np.isfinite(res.masked_mse) else
              "nothing masked: no masked error to score")
    masked = render.grid_overlay(res.masked, patch_size, mask_unit)

    def panel(img, slide_title: str) -> Panel:
        shown = img if isinstance(img, Image.Image) else render.upscale(img)
        return Panel(_png(shown), render.deferred_slide(img, slide_title, about))

    panels = {
        "original": panel(res.original, "Original"),
        "masked": panel(masked, "Masked: what the encoder sees (grey = removed)"),
        "reconstruction": panel(res.reconstruction, f"Reconstruction · {scores}"),
        "pasted": panel(res.pasted, f"Reconstruction + visible patches · {scores}"),
    }
    montage = render.Deferred(lambda: render.slide_png(render.montage(
        [res.original, masked, res.reconstruction, res.pasted],
        ["original", "masked", "reconstruction", "reconstruction + visible"]),
        f"MAE reconstruction · {scores}", about))
    status = np.where(res.mask > 0, "removed", "visible")
    title = f"Per-patch MSE · {label} · {img_label} · {scores.split(',')[0]}"
    figs = {flag: render.heatmap(np.where(res.mask > 0, res.error_map, np.nan) if flag else res.error_map,
                                 zlabel="MSE", hover_extra=status, colorscale=render.ERROR_SCALE,
                                 nan_colour=render.NOT_SCORED, title=title)
            for flag in (True, False)}
    return ReconstructionView(res, panels, montage, figs)


def reconstruction(ck, img, img_key: str, img_label: str, g, denorm: str = "visible", mask_grid: tuple | None = None,
                   fit: str = "stretch") -> ReconstructionView:
    """The Reconstruction page's view of (checkpoint ck, image, geometry g, denorm, mask, fit): computed (one
    inference slot, ui.resources) and rendered once, then shared."""
    req = resources.ReconRequest(str(ck.path), ck.sha, img_key, int(g.image_size), int(g.patch_size),
                                 int(g.mask_unit), float(g.mask_ratio), int(g.seed), str(g.keep), str(denorm),
                                 mask_grid, str(ck.target), str(fit), str(ck.precision))
    return _reconstruction_view(req, img, str(ck.label), str(img_label))


def _default_checkpoint():
    """(Checkpoint, Geometry) of the default embedded checkpoint at the Reconstruction page's defaults, or None."""

    from . import pickers

    fam = assets.family()
    path = fam.get(assets.DEFAULT_NAME) or next(iter(fam.values()), None)
    if path is None:
        return None
    model, info, sha = resources.load(path)
    from . import precision

    ck = pickers.Checkpoint(path=path, sha=sha, label=path.stem, source="embedded", model=model, info=info,
                            precision=precision.resolve_precision(precision.param().default,
                                                                  precision.device_of(model)))
    d = {p.name: p.default for p in pickers.geometry_params(ck)}
    return ck, pickers.Geometry(d["I"], d["p"], d["m"], d["r"], d["seed"], d["keep"])


def default_reconstruction() -> tuple | None:
    """(Checkpoint, Geometry, ReconstructionView) of the Reconstruction page's default view (the default checkpoint
    on the default demo image), built by the warm-up, or None when there is no embedded checkpoint to show."""

    got = _default_checkpoint()
    if got is None:
        return None
    ck, g = got
    if not ck.can_reconstruct or g.image_size % g.patch_size:
        return None
    img, img_key = resources.demo_image(assets.DEFAULT_IMAGE)
    return ck, g, reconstruction(ck, img, img_key, assets.DEFAULT_IMAGE, g)


def warm_defaults() -> None:
    """Load the embedded checkpoints and build the Reconstruction page's default view and the Attention page's
    default analysis and receptive field, exactly as the pages ask for them (ui.warmup calls this once per server
    process): the first visitors of a fresh server then find them in the caches."""

    got = _default_checkpoint()
    if got is None:
        return
    ck, g = got
    resources.inspect(ck.path)
    default_reconstruction()
    img, img_key = resources.demo_image(assets.DEFAULT_IMAGE)
    gh, gw = ck.cfg.replace(img_size=(g.image_size, g.image_size), patch_size=g.patch_size).grid
    resources.attention(resources.AttentionRequest(str(ck.path), ck.sha, img_key, g.image_size, g.patch_size,
                                                   (gh // 2, gw // 2), "mean", fit="stretch",
                                                   precision=ck.precision), img)
    from . import receptive

    receptive.receptive_field(str(ck.path), ck.sha, g.image_size, g.patch_size, (gh // 2, gw // 2), img_key, img,
                              fit="stretch")
    for other in assets.family().values():  # a class following links to the other members: no model load
        if other != ck.path:
            resources.load(other)
            resources.inspect(other)
