"""Reconstruction metrics in [0, 1] RGB units: masked MSE is the mean squared error over removed pixels and
channels, PSNR is 10 log10(1 / masked MSE). Plain numpy: no torch."""
from __future__ import annotations

import numpy as np


def masked_mse(a: np.ndarray, b: np.ndarray, pixmask: np.ndarray) -> float:
    """Mean squared error over removed pixels (pixmask 1) and channels."""
    m = pixmask.astype(bool)
    if not m.any():
        return float("nan")
    return float(((a[m] - b[m]) ** 2).mean())


def psnr(mse: float) -> float:
    return float("inf") if mse == 0 else float(10.0 * np.log10(1.0 / mse))
