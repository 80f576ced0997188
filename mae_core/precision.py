"""Devices and numeric precision: which device a command runs on and in which precision its matmuls run.

One home for both, so the CLI, the app and the benchmark resolve "auto" the same way.
"""
from __future__ import annotations

import torch

from .errors import ConfigError


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("CUDA was requested but no GPU is available; use --device cpu or auto")
    return dev


def autocast(device: torch.device, amp: str | None):
    """bf16/fp16 autocast on CUDA when asked; a no-op otherwise (CPU runs in float32)."""
    if amp in (None, "", "none", "fp32", "float32") or device.type != "cuda":
        return torch.autocast(device.type, enabled=False)
    dtype = {"bf16": torch.bfloat16, "bfloat16": torch.bfloat16, "fp16": torch.float16, "float16": torch.float16}.get(amp)
    if dtype is None:
        raise ConfigError(f"amp must be bf16, fp16 or none, got {amp!r}")
    return torch.autocast("cuda", dtype=dtype)
