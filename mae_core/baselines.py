"""Classical baselines for a reconstruction: what a model must beat, each scored on the same removed pixels.

Every fill takes an HxWx3 image in [0, 1] and a (H, W) pixel mask (1 = unknown: removed, or padding) and returns the
image with the unknown pixels filled. Plain numpy and scipy: no torch."""
from __future__ import annotations

import numpy as np

from .metrics import masked_mse


def mean_fill(arr01: np.ndarray, pixmask: np.ndarray) -> np.ndarray:
    """Removed pixels filled with the mean colour of the visible ones."""
    vis = ~pixmask.astype(bool)
    out = arr01.copy()
    out[~vis] = arr01[vis].mean(axis=0)
    return out


def gaussian_fill(arr01: np.ndarray, pixmask: np.ndarray, sigma: float | None = None) -> np.ndarray:
    """Normalised Gaussian interpolation of the visible pixels (normalised convolution, Knutsson & Westin 1993):
    blur(image * visible) / blur(visible).

    The scale comes from the mask alone (sigma=None): each removed pixel is interpolated at sigma ~ half its
    distance to the nearest visible pixel (scipy's Euclidean distance transform), on a ladder of 1, 2, 4, ... px,
    so the same removed area gives the same fill however the mask was made (seeded or painted). Where the visible
    weight is too small the scale doubles until every removed pixel is covered. A given `sigma` is used as the
    single starting scale instead (the older rule)."""
    from scipy.ndimage import distance_transform_edt, gaussian_filter

    removed = pixmask.astype(bool)
    vis = (~removed).astype(np.float64)
    out = arr01.astype(np.float64).copy()
    todo = removed.copy()
    if not todo.any():
        return out.astype(np.float32)
    if sigma is None:
        wanted = np.maximum(1.0, 0.5 * distance_transform_edt(removed))  # per pixel
        s = 1.0
    else:
        wanted = np.zeros(removed.shape)
        s = float(sigma)
    limit = 4 * max(arr01.shape[:2])
    while todo.any() and s < limit:
        w = gaussian_filter(vis, s, mode="reflect")
        ok = todo & (w > 1e-3) & (wanted <= s * np.sqrt(2))  # the ladder's nearest scale (in log terms) or above
        if ok.any():
            for c in range(arr01.shape[2]):
                num = gaussian_filter(arr01[..., c] * vis, s, mode="reflect")
                out[..., c][ok] = num[ok] / w[ok]
        todo &= ~ok
        s *= 2
    if todo.any():
        out[todo] = arr01[~removed].mean(axis=0)
    return out.astype(np.float32)


# What each baseline is given (shown next to its number): compare the model with the one given what it was given.
BASELINE_GIVEN = {
    "mean_fill": "the visible pixels' mean colour, in every removed pixel",
    "gaussian_fill": "the visible pixels, interpolated into the removed ones (normalised Gaussian convolution at a "
                     "scale set by the mask's geometry)",
    "stats_fill": "the same per-patch statistics the norm-pix output was de-normalised with, and no structure: "
                  "each removed patch filled with its {source} mean",
}


def baseline_errors(arr01: np.ndarray, removed: np.ndarray, scored: np.ndarray) -> dict:
    """name -> masked MSE of each fill over the removed pixels that are scored (padding is never scored and is
    never a source for a fill)."""
    unknown = np.maximum(removed, 1 - scored)
    return {"mean_fill": masked_mse(mean_fill(arr01, unknown), arr01, removed * scored),
            "gaussian_fill": masked_mse(gaussian_fill(arr01, unknown), arr01, removed * scored)}
