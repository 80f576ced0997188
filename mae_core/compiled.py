"""Fewer kernel launches at a fixed shape: the reconstruction forward through torch.compile(mode="reduce-overhead")
(CUDA graphs), on CUDA only and only when asked (``compile=True`` or MAE_COMPILE=1), cached with the model so every
session that shares the model shares its compiled forward. Eager is the fallback for anything that fails to compile,
and the first call's compile-and-capture time is reported, never hidden.
"""
from __future__ import annotations

import threading
import time
import weakref

import torch

from . import settings

ENV_COMPILE = "MAE_COMPILE"
_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # model -> {precision: _Compiled}
_LOCK = threading.Lock()


def wanted(device, asked: bool | None = None) -> bool:
    """Compile this run? Never on a CPU; on CUDA when asked, else when MAE_COMPILE=1 (read at call time)."""
    if torch.device(device).type != "cuda":
        return False
    if asked is not None:
        return bool(asked)
    return bool(settings.get(ENV_COMPILE))


class _Compiled:
    def __init__(self, model):
        self.fn = torch.compile(model, mode="reduce-overhead", dynamic=False)
        self.first_call_s: float | None = None  # compile + capture time of the first call (per new shape: more)
        self.fallback: str | None = None  # why eager is used instead, once compiling failed


def forward(model, x, ids_keep, ids_restore, precision_ctx) -> tuple[torch.Tensor, dict]:
    """model(x, ids_keep, ids_restore) through the model's cached compiled forward; -> (prediction, info).

    info: compiled (bool), first_call_s (the first call's compile-and-capture seconds, or None), fallback (the
    reason eager ran, or None). The output is cloned: a CUDA graph reuses its output memory on the next replay."""
    key = str(precision_ctx.precision)
    with _LOCK:
        per = _CACHE.setdefault(model, {})
        entry = per.get(key)
        if entry is None:
            try:
                entry = per[key] = _Compiled(model)
            except Exception as e:  # torch.compile itself unavailable (e.g. no compiler backend)
                entry = per[key] = _Compiled.__new__(_Compiled)
                entry.fn, entry.first_call_s, entry.fallback = None, None, f"{type(e).__name__}: {e}"
    if entry.fallback is None:
        first = entry.first_call_s is None
        t0 = time.perf_counter()
        try:
            with precision_ctx:
                out = entry.fn(x, ids_keep, ids_restore).clone()
            if first:
                if x.device.type == "cuda":
                    torch.cuda.synchronize(x.device)
                entry.first_call_s = time.perf_counter() - t0
            return out, dict(compiled=True, first_call_s=entry.first_call_s, fallback=None)
        except Exception as e:  # a model torch.compile cannot handle: eager from now on, and say why
            entry.fallback = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    with precision_ctx:
        out = model(x, ids_keep, ids_restore)
    return out, dict(compiled=False, first_call_s=entry.first_call_s, fallback=entry.fallback)
