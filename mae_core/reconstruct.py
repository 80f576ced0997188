"""Reconstruction: image + mask -> the four canonical panels, per-patch error, metrics, costs.

Data flows one way: config -> mask -> model -> result. Nothing here mutates the model.
Metrics (mae_core.metrics) are in [0, 1] RGB units; the classical baselines are in mae_core.baselines.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
import torch

from . import compiled, cost
from .assets import DEMO_IMAGES
from .baselines import BASELINE_GIVEN, baseline_errors
from .cost import FlopEstimate
from .errors import ConfigError
from .geometry import SequenceLengths, sequence_lengths
from .images import IMAGENET_MEAN, PAD_NOTE, check_fit, denormalise, fit_image, image_notes, load_image, normalise
from .masking import Mask, make_mask, mask_from_array, pixel_mask
from .metrics import masked_mse, psnr
from .model import adapt_model, patchify, unpatchify
from .precision import forward_context

DENORM_MODES = ("visible", "ground-truth", "raw")
LEAK_NOTE = ("norm-pix output de-normalised with the ground-truth statistics of each removed patch: this leaks "
             "information about the removed pixels (its mean colour and contrast) into the reconstruction")


@functools.lru_cache(maxsize=16)
def _prepare_cached(model, img_size, patch_size):
    new, notes = adapt_model(model, img_size, patch_size)
    return new, tuple(notes)


def prepare(model, image_size=None, patch_size: int | None = None):
    """The model at another image size / patch size, cached (a new model; the given one is never touched).

    Returns (model, notes) where notes lists the approximations made."""
    from .geometry import as_hw

    size = as_hw(image_size) if image_size is not None else model.cfg.img_size
    p = int(patch_size) if patch_size is not None else model.cfg.patch_size
    new, notes = _prepare_cached(model, size, p)
    return new, list(notes)


@dataclass
class ReconResult:
    """Everything one reconstruction shows. Images are HxWx3 float32 in [0, 1]."""

    original: np.ndarray
    masked: np.ndarray  # removed patches shown in ImageNet-mean grey, as in the official demo
    reconstruction: np.ndarray  # the model output for every patch (visible ones too), clipped
    pasted: np.ndarray  # reconstruction in removed patches, original elsewhere
    mask: np.ndarray  # (gh, gw), 1 = removed
    error_map: np.ndarray  # (gh, gw) per-patch MSE of the reconstruction
    masked_mse: float
    psnr: float
    visible_mse: float
    lengths: SequenceLengths
    flops: FlopEstimate
    mask_obj: Mask
    patch_size: int
    mask_unit: int
    seed: int | None
    denorm: str | None
    baselines: dict = field(default_factory=dict)  # name -> masked MSE
    baseline_notes: dict = field(default_factory=dict)  # name -> what that baseline is given (BASELINE_GIVEN)
    notes: list = field(default_factory=list)
    fit: str = "stretch"  # how a non-square photo was fitted (mae_core.images.FIT_MODES)
    valid: np.ndarray | None = None  # (H, W) bool, False on padding (fit='pad'); None = every pixel is the photo
    target: str = "pixels"  # what the model predicts: "pixels" | "normalised pixels"
    precision: str = "fp32"  # the model's linear layers (mae_core.precision); everything after it is float32

    @property
    def effective_ratio(self) -> float:
        return self.mask_obj.effective_ratio

    def metrics(self) -> dict:
        """Flat dict of the numbers, for tables and CSV export."""
        gh, gw = self.lengths.grid
        out = {"image_size": f"{gh * self.patch_size}x{gw * self.patch_size}", "patch_size": self.patch_size,
               "mask_unit": self.mask_unit, "mask_ratio_effective": round(self.effective_ratio, 4),
               "seed": self.seed, "fit": self.fit, "target": self.target, "precision": self.precision,
               "L": self.lengths.L,
               "Le": self.lengths.Le, "Ld": self.lengths.Ld,
               "masked_mse": self.masked_mse, "psnr_db": self.psnr, "visible_mse": self.visible_mse,
               "gflops_encoder": self.flops.encoder / 1e9, "gflops_decoder": self.flops.decoder / 1e9}
        out.update({f"{k}_mse": v for k, v in self.baselines.items()})
        return out

    def to_npz(self, path):
        np.savez_compressed(path, original=self.original, masked=self.masked, reconstruction=self.reconstruction,
                            pasted=self.pasted, mask=self.mask.astype(np.float32), error_map=self.error_map,
                            precision=np.array(self.precision))


def reconstruct(model, image, *, mask=None, mask_unit: int = 1, mask_ratio: float = 0.75, seed: int = 0,
                keep: str = "blocks", denorm: str = "visible", amp: str | None = None, fit: str = "stretch",
                with_baselines: bool = True, precision: str | None = None,
                compile: bool | None = None) -> ReconResult:
    """Mask `image` and reconstruct it with `model` (already at the wanted image/patch size: see `prepare`).

    image: anything mae_core.images.load_image accepts; fitted to model.cfg.img_size as `fit` says ('stretch',
    'crop' or 'pad' with ImageNet-mean grey, which is never scored; see mae_core.images.FIT_MODES).
    mask: None (random: mask_unit, mask_ratio, seed, keep), a Mask, or a (gh, gw) 0/1 grid (1 = removed).
    denorm (norm-pix checkpoints only): 'visible' (statistics of visible neighbours), 'ground-truth' (leaks,
    labelled) or 'raw' (the normalised output shown as an image).
    precision: 'auto' | 'fp32' | 'tf32' | 'bf16' (None = auto: tf32 on CUDA, fp32 on CPU) for the model's forward;
    the prediction is taken to float32 before any loss-space arithmetic. ``amp`` (bf16 | fp16, CUDA only) is the
    older switch, used when precision is None.
    compile: on CUDA, the forward through the model's cached torch.compile (CUDA graphs; mae_core.compiled); None =
    MAE_COMPILE. Never on a CPU. The first call's compile time is in the notes."""
    cfg = model.cfg
    _check_request(cfg, denorm)
    fit = check_fit(fit)
    mask = _mask_for(cfg.grid, mask, mask_unit, mask_ratio, seed, keep)

    device = next(model.parameters()).device
    pil = load_image(image)
    arr, valid = fit_image(pil, cfg.img_size, fit)
    x = normalise(arr).to(device)
    ctx, precision = forward_context(device, precision, amp)
    pred, compile_info = _forward(model, x, mask, ctx, compile)
    notes = _run_notes(model, pil, fit, precision, compile_info)

    pred, stats_mean, denorm_note = _denormalise(pred, x, mask, cfg, denorm)
    if denorm_note:
        notes.append(denorm_note)
    used_denorm = denorm if cfg.norm_pix_loss else None
    recon = denormalise(unpatchify(pred, cfg.pred_grid, cfg.pred_patch_size, cfg.in_chans))

    p = cfg.patch_size
    pm = pixel_mask(mask, p)
    masked_img, pasted = _panels(arr, recon, pm)
    err, scored = _patch_errors(recon, arr, pm, valid, cfg.grid, p)
    mse = masked_mse(recon, arr, pm * scored)
    vis_mse = masked_mse(recon, arr, (1 - pm) * scored)
    lengths = sequence_lengths(cfg.img_size, p, n_keep=mask.n_keep, decoder_downsampling=cfg.decoder_downsampling)
    baselines, baseline_notes = (_baselines(arr, pm, scored, stats_mean, cfg, used_denorm) if with_baselines
                                 else ({}, {}))
    return ReconResult(original=arr, masked=masked_img, reconstruction=recon, pasted=pasted,
                       mask=mask.mask.numpy().copy(), error_map=err, masked_mse=mse, psnr=psnr(mse),
                       visible_mse=vis_mse, lengths=lengths, flops=cost.flops(cfg, mask.n_keep), mask_obj=mask,
                       patch_size=p, mask_unit=mask.mask_unit,
                       seed=seed if mask.requested_ratio is not None else None,
                       denorm=used_denorm, baselines=baselines, baseline_notes=baseline_notes, notes=notes, fit=fit,
                       valid=None if valid.all() else valid,
                       target="normalised pixels" if cfg.norm_pix_loss else "pixels", precision=precision)


# ------------------------------------------------------------------ the steps of reconstruct, in order
def _check_request(cfg, denorm: str) -> None:
    if not cfg.has_decoder:
        raise ConfigError("this checkpoint is encoder-only (no decoder weights): it cannot reconstruct; "
                          "attention analysis still works")
    if denorm not in DENORM_MODES:
        raise ConfigError(f"denorm must be one of {DENORM_MODES}, got {denorm!r}")


def _mask_for(grid, mask, mask_unit: int, mask_ratio: float, seed: int, keep: str) -> Mask:
    """The Mask reconstruct was asked for: a random one (None), the given Mask, or one from a 0/1 grid."""
    if mask is None:
        mask = make_mask(grid, mask_unit, mask_ratio, seed, keep)
    elif not isinstance(mask, Mask):
        mask = mask_from_array(mask, grid)
    if mask.grid != grid:
        raise ConfigError(f"mask grid {mask.grid} does not match the model's patch grid {grid}")
    return mask


def _forward(model, x, mask: Mask, ctx, compile: bool | None):
    """(the prediction in float32, the compile report or None). Loss-space arithmetic (de-normalisation, errors)
    is float32 whatever the forward ran in."""
    ids_keep, ids_restore = mask.batch(1, x.device)
    compile_info = None
    if compiled.wanted(x.device, compile) and hasattr(ctx, "precision"):  # the precision policy's context, not amp
        with torch.inference_mode():
            pred, compile_info = compiled.forward(model, x, ids_keep, ids_restore, ctx)
    else:
        with torch.inference_mode(), ctx:
            pred = model(x, ids_keep, ids_restore)
    return pred.float(), compile_info


def _run_notes(model, pil, fit: str, precision: str, compile_info) -> list:
    """What the reader should know about this run: the model's approximations, the image, the compiled forward,
    the precision and how a non-square photo was fitted."""
    notes = list(getattr(model, "approximations", ())) + image_notes(pil)
    if compile_info is not None:
        notes.append(f"compiled forward (CUDA graphs): first call {compile_info['first_call_s']:.1f} s"
                     if compile_info["compiled"] else f"compiling failed, ran eager: {compile_info['fallback']}")
    if precision != "fp32":
        notes.append(f"the model ran in {precision} (its linear layers); the errors and the de-normalisation are "
                     f"computed in float32")
    H, W = model.cfg.img_size
    if pil.width * H != pil.height * W:
        notes.append({"stretch": f"non-square photo ({pil.width}x{pil.height}) stretched to {W}x{H}: shapes are "
                                 f"distorted (fit: crop or pad keep them)",
                      "crop": f"non-square photo ({pil.width}x{pil.height}) centre-cropped to the model's aspect "
                              f"ratio: its edges are not shown",
                      "pad": PAD_NOTE}[fit])
    return notes


def _denormalise(pred: torch.Tensor, x: torch.Tensor, mask: Mask, cfg, denorm: str):
    """Norm-pix output back in the image's normalised space: (prediction, the per-patch means it was de-normalised
    with or None, the note that says how or None). Pixel-target predictions pass through unchanged."""
    if not cfg.norm_pix_loss:
        return pred, None, None
    t = patchify(x.float(), cfg.pred_patch_size)[0]
    mean, std = t.mean(-1, keepdim=True), (t.var(-1, keepdim=True) + 1e-6) ** 0.5
    if denorm == "ground-truth":
        return pred * std + mean, mean, LEAK_NOTE
    if denorm == "visible":
        k = cfg.pred_downsampling
        vis = torch.from_numpy(1 - mask.mask.numpy()).float()
        if k > 1:
            vis = torch.nn.functional.avg_pool2d(vis[None, None], k, k)[0, 0]
        visible = (vis.reshape(-1) >= 1.0).to(x.device)
        if not visible.any():
            raise ConfigError("no whole prediction patch is visible: use ground-truth or raw de-normalisation")
        sigma = 1.5 * max(1.0, mask.mask_unit / k)
        m_hat, s_hat = _visible_patch_stats(mean.cpu(), std.cpu(), visible.cpu(), cfg.pred_grid, sigma)
        return (pred * s_hat.to(x.device) + m_hat.to(x.device), m_hat,
                "norm-pix output de-normalised with statistics interpolated from visible patches (no leak)")
    return pred, None, ("raw norm-pix output: every patch shown with zero mean and unit variance (colours are not "
                        "recoverable without statistics)")


def _visible_patch_stats(mean: torch.Tensor, std: torch.Tensor, visible: torch.Tensor, grid, sigma: float):
    """Stats for every patch from its visible neighbours (Gaussian-weighted over grid distance).

    Visible patches keep their own statistics (they are not hidden); removed ones get a weighted average of
    the visible patches' mean and std (the suggestion in facebookresearch/hiera#17: no ground-truth leak)."""
    gh, gw = grid
    ys, xs = torch.meshgrid(torch.arange(gh), torch.arange(gw), indexing="ij")
    pos = torch.stack([ys.reshape(-1), xs.reshape(-1)], 1).float()
    vis_idx = visible.nonzero().squeeze(1)
    d2 = torch.cdist(pos, pos[vis_idx]) ** 2  # (L, V)
    w = torch.exp(-d2 / (2 * sigma**2)) + 1e-12
    w = w / w.sum(1, keepdim=True)
    m_hat = w @ mean[vis_idx]
    s_hat = w @ std[vis_idx]
    m_out = torch.where(visible[:, None], mean, m_hat)
    s_out = torch.where(visible[:, None], std, s_hat)
    return m_out, s_out


def _panels(arr: np.ndarray, recon: np.ndarray, pm: np.ndarray):
    """(the masked input, removed patches in ImageNet-mean grey; the reconstruction pasted into the removed
    patches, the original elsewhere)."""
    grey = np.broadcast_to(IMAGENET_MEAN, arr.shape)
    masked_img = np.where(pm[..., None] > 0, grey, arr).astype(np.float32)
    pasted = (arr * (1 - pm[..., None]) + recon * pm[..., None]).astype(np.float32)
    return masked_img, pasted


def _patch_errors(recon: np.ndarray, arr: np.ndarray, pm: np.ndarray, valid: np.ndarray, grid, p: int):
    """(per-patch MSE of the reconstruction (gh, gw), the pixels that are scored (1) in pm's shape). Padding is
    never scored: with padding, the per-patch error is over photo pixels, NaN for patches of padding only."""
    gh, gw = grid
    sq = ((recon - arr) ** 2).mean(-1)
    if valid.all():
        return sq.reshape(gh, p, gw, p).mean((1, 3)).astype(np.float32), np.ones_like(pm)
    scored = valid.astype(np.float32)
    n = scored.reshape(gh, p, gw, p).sum((1, 3))
    err = np.where(n > 0, (sq * scored).reshape(gh, p, gw, p).sum((1, 3)) / np.maximum(n, 1), np.nan)
    return err.astype(np.float32), scored


def _baselines(arr: np.ndarray, pm: np.ndarray, scored: np.ndarray, stats_mean, cfg, used_denorm):
    """(name -> masked MSE of each baseline, name -> what it is given). With norm-pix statistics, also the
    statistics alone with zero predicted structure (like with like)."""
    baselines = baseline_errors(arr, pm, scored)
    if stats_mean is not None:
        pp = cfg.pred_patch_size
        flat = stats_mean.float().cpu().expand(-1, pp * pp * cfg.in_chans)[None]
        stats_img = denormalise(unpatchify(flat, cfg.pred_grid, pp, cfg.in_chans))
        baselines["stats_fill"] = masked_mse(stats_img, arr, pm * scored)
    source = "interpolated (from visible patches)" if used_denorm == "visible" else "ground-truth (leaks)"
    return baselines, {k: BASELINE_GIVEN[k].format(source=source) for k in baselines}


def held_out_quality(model, mask_unit: int, images=None, seeds: int = 5, mask_ratio: float = 0.75) -> dict:
    """The embedded family's quality bar: masked MSE and its baselines (mean fill, normalised-Gaussian fill) on the
    same masks, averaged over images (default: the held-out demo images) x seeds 0..seeds-1.

    Returns dict(model=, mean_fill=, gaussian_fill=) in [0, 1] RGB MSE units."""

    rows = []
    for img in (DEMO_IMAGES.values() if images is None else images):
        for seed in range(seeds):
            r = reconstruct(model, img, mask_unit=mask_unit, mask_ratio=mask_ratio, seed=seed, precision="fp32")
            rows.append((r.masked_mse, r.baselines["mean_fill"], r.baselines["gaussian_fill"]))
    mse, mean_fill, gauss = np.mean(rows, axis=0)
    return dict(model=float(mse), mean_fill=float(mean_fill), gaussian_fill=float(gauss))
