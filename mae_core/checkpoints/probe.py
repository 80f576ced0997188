"""Which target a decoder was trained on, when nothing records it: an output-statistics probe on a real photograph.

A norm-pix decoder predicts patches with mean ~0 (and std ~1); a pixel decoder reproduces the image's patch means.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import torch

from ..assets import default_image
from ..model import MaskedAutoencoderViT
from .info import TARGET_NORM, TARGET_PIXELS


def target_statistic(pred: torch.Tensor) -> float:
    """rms of per-patch means over rms of all values, for predicted patches (N, L, p*p*C); in [0, 1].

    A norm-pix decoder predicts patches with mean ~0 (and std ~1), so the statistic is ~0; a pixel decoder
    reproduces the image's patch means, which carry most of a photograph's energy (0.5-0.95 on scikit-image's
    photographs in ImageNet-normalised units, lower only on flat textures such as brick or grass)."""
    pred = pred.float().reshape(-1, pred.shape[-1])
    return float(pred.mean(-1).pow(2).mean().sqrt() / pred.pow(2).mean().sqrt().clamp_min(1e-8))


PROBE_NORM_BELOW, PROBE_PIXELS_ABOVE = 0.25, 0.4


def _probe_image(size) -> torch.Tensor:
    """A real photograph, (1, 3, H, W) ImageNet-normalised (the demo image, else scikit-image's astronaut)."""
    from ..images import load_image, to_tensor

    try:

        path = default_image()
        if Path(path).is_file():
            return to_tensor(path, size)
    except Exception:  # assets not there yet: fall back to a photograph shipped with scikit-image
        pass
    import skimage.data

    return to_tensor(load_image(skimage.data.astronaut()), size)


@dataclass(frozen=True)
class ProbeEvidence:
    """What the target probe measured and decided: shown beside its verdict (app, ``info``, CheckpointInfo.probe)."""

    statistic: float  # target_statistic of the predicted removed patches
    norm_below: float  # PROBE_NORM_BELOW
    pixels_above: float  # PROBE_PIXELS_ABOVE
    mse_pixels: float  # MSE of the prediction to the image's pixels (ImageNet-normalised units)
    mse_norm: float  # ... to the per-patch normalised pixels
    verdict: str  # TARGET_PIXELS | TARGET_NORM
    decided_by: str  # "statistic" | "MSE" (the statistic fell between the thresholds)

    def describe(self) -> str:
        text = (f"rms(patch mean)/rms(output) = {self.statistic:.2f} (norm-pix < {self.norm_below}, pixels > "
                f"{self.pixels_above}); MSE to pixels {self.mse_pixels:.3f}, to normalised pixels {self.mse_norm:.3f}")
        return text + (" - statistic inconclusive, decided by MSE" if self.decided_by == "MSE" else "")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def probe_evidence(model: MaskedAutoencoderViT) -> ProbeEvidence:
    """The model's predictions for the removed patches of a real photograph, measured against both targets.

    Decided by target_statistic; when that falls between the thresholds, by which target (pixels or per-patch
    normalised pixels) the prediction is closer to."""
    from ..masking import make_mask
    from ..model import patchify

    cfg = model.cfg
    device = next(model.parameters()).device
    x = _probe_image(cfg.img_size).to(device)
    mask = make_mask(cfg.grid, 1, 0.75, seed=0)
    ids_keep, ids_restore = mask.batch(1, device)
    with torch.inference_mode():
        pred = model(x, ids_keep, ids_restore).float().cpu()
    pix = patchify(x.float().cpu(), cfg.pred_patch_size)
    if cfg.pred_downsampling == 1:
        removed = mask.mask.reshape(-1) > 0
        pred, pix = pred[:, removed], pix[:, removed]
    norm = (pix - pix.mean(-1, keepdim=True)) / (pix.var(-1, keepdim=True) + 1e-6) ** 0.5
    s = target_statistic(pred)
    mse_pix, mse_norm = float((pred - pix).pow(2).mean()), float((pred - norm).pow(2).mean())
    if s < PROBE_NORM_BELOW:
        verdict, by = TARGET_NORM, "statistic"
    elif s > PROBE_PIXELS_ABOVE:
        verdict, by = TARGET_PIXELS, "statistic"
    else:
        verdict, by = (TARGET_NORM if mse_norm < mse_pix else TARGET_PIXELS), "MSE"
    return ProbeEvidence(round(s, 4), PROBE_NORM_BELOW, PROBE_PIXELS_ABOVE, round(mse_pix, 4), round(mse_norm, 4),
                         verdict, by)


def probe_target(model: MaskedAutoencoderViT) -> tuple[str, str]:
    """(target, how): probe_evidence's verdict and a one-line account of it."""
    ev = probe_evidence(model)
    return ev.verdict, "output-statistics probe on a real photograph: " + ev.describe()
