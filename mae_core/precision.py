"""Devices and numeric precision: which device a command runs on and in which precision its matmuls run.

One home for both, so the CLI, the app and the benchmark resolve "auto" the same way.
"""
from __future__ import annotations

import os

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


# ---------------------------------------------------------------------------------------------- precision policy
PRECISIONS = ("auto", "fp32", "tf32", "bf16")
PRECISION_HELP = ("auto: tf32 on CUDA, fp32 on CPU; fp32: plain float32 (TF32 off); tf32: float32 with TF32 "
                  "tensor-core matmuls (CUDA; fp32 elsewhere); bf16: bfloat16 autocast for the linear layers and the "
                  "fused forwards. Softmax, every statistic and the loss-space arithmetic stay float32")
# auto on CUDA: TF32 keeps the maps within 1 % of their peak where bf16 moves them by several % on a random ViT-B
# (docs/precision-and-speed.md); bf16 is one flag away and the GPU check measures both.
AUTO_CUDA = "tf32"
ENV_PRECISION = "MAE_PRECISION"


def resolve_precision(precision: str | None, device: torch.device | str) -> str:
    """The precision a run actually uses: 'fp32', 'tf32' or 'bf16' (what results record).

    auto -> AUTO_CUDA (tf32) on a CUDA device, else fp32; tf32 is a CUDA tensor-core mode, so on any other device
    it runs (and is recorded) as fp32."""
    p = "auto" if precision in (None, "") else str(precision).strip().lower()
    p = {"float32": "fp32", "none": "fp32", "bfloat16": "bf16"}.get(p, p)
    if p not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    dev = torch.device(device)
    if p == "auto":
        return AUTO_CUDA if dev.type == "cuda" else "fp32"
    if p == "tf32" and dev.type != "cuda":
        return "fp32"
    return p


def precision_from_env(default: str = "auto") -> str:
    """MAE_PRECISION (read at call time) for a hosted server: auto | fp32 | tf32 | bf16; a bad value is an error."""

    raw = os.environ.get(ENV_PRECISION, "").strip()
    if not raw:
        return default
    if raw.lower() not in PRECISIONS:
        raise ConfigError(f"{ENV_PRECISION} must be one of {', '.join(PRECISIONS)}, got {raw!r}")
    return raw.lower()


def compute_dtype(precision: str) -> torch.dtype:
    """The dtype the linear layers run in under a resolved precision."""
    return torch.bfloat16 if precision == "bf16" else torch.float32


class _Compute:
    """Context for one run in a resolved precision: bf16 -> autocast; tf32 -> TF32 matmuls (CUDA); fp32 -> TF32 off.

    TF32 is a process-wide torch switch, so runs that set it are serialised by a lock and the previous setting is
    restored on exit (a fp32 run next to a tf32 one never sees TF32)."""

    _lock = __import__("threading").RLock()

    def __init__(self, device: torch.device, precision: str):
        self.device, self.precision = torch.device(device), precision

    def __enter__(self):
        self._ac = torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16")
        self._locked = self.device.type == "cuda"
        if self._locked:
            self._lock.acquire()
            self._old = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
            tf32 = self.precision == "tf32"
            torch.backends.cuda.matmul.allow_tf32 = tf32
            torch.backends.cudnn.allow_tf32 = tf32
        self._ac.__enter__()
        return self

    def __exit__(self, *exc):
        try:
            self._ac.__exit__(*exc)
        finally:
            if self._locked:
                torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = self._old
                self._lock.release()
        return False


def compute(device: torch.device | str, precision: str) -> _Compute:
    """``with compute(device, resolve_precision(p, device)):`` runs the model's linear layers in that precision."""
    return _Compute(device, precision)


def forward_context(device: torch.device, precision: str | None, amp: str | None = None):
    """(the context a forward runs in, the precision's name): the precision policy (``compute``), or the older amp
    switch (bf16 | fp16 autocast on CUDA only; fp32 elsewhere) when precision is None and amp names one."""
    if precision is None and amp not in (None, "", "none", "fp32", "float32"):
        return autocast(device, amp), (str(amp) if device.type == "cuda" else "fp32")
    precision = resolve_precision(precision, device)
    return compute(device, precision), precision


def legacy_amp(amp: str | None, precision: str | None) -> str | None:
    """The precision asked for, from the newer ``precision`` or the older ``amp`` argument (bf16 | fp16 | none)."""
    if precision not in (None, ""):
        return precision
    if amp in (None, "", "none", "fp32", "float32"):
        return None
    return amp
