"""Our ``.safetensors`` format, its writer and its reader; the reader also takes any weights file with a sidecar
``<stem>.json`` (``{"config": {...}, "training": {...}}``), and plain safetensors of MAE-named weights.

Our format: one .safetensors file whose header metadata carries the architecture and training facts.
Header metadata (all strings, as safetensors requires):
  format   = "mae_core/1"
  config   = JSON of MAEConfig.to_dict()            (architecture, native image/patch size, target)
  training = JSON of training facts (mask unit, ratio, steps, images seen, wall time, device, final loss,
             training-data list, code revision, ...)   -- optional
  dtype    = the stored floating-point dtype
A sidecar ``<name>.json`` with the same keys is accepted when the header has none (for files written by others).
Tensor names are facebookresearch/mae's state-dict names.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch
from safetensors.torch import save_file

from ..errors import CheckpointError
from ..model import MAEConfig
from .architecture import check_limits
from .containers import Raw
from .info import FORMAT_OURS, FORMAT_SAFETENSORS, FORMAT_SIDECAR, Described

FORMAT_FAMILY = "mae_core/"  # every version of our format; the reader claims them all
FORMAT_TAG = FORMAT_FAMILY + "1"  # the version the writer writes


def save_checkpoint(model, path, training: dict | None = None, dtype: torch.dtype = torch.float16) -> Path:
    """Write model weights (fp16 by default: our shipped checkpoints stay a few MB) and metadata."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu", dtype if v.is_floating_point() else v.dtype).contiguous()
               for k, v in model.state_dict().items()}
    meta = {"format": FORMAT_TAG, "config": json.dumps(model.cfg.to_dict()),
            "training": json.dumps(training or {}), "dtype": str(dtype).replace("torch.", "")}
    tmp = path.with_suffix(path.suffix + ".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    tmp.replace(path)
    return path


def _config_from_meta(obj, what: str) -> dict:
    if isinstance(obj, str):
        try:
            obj = json.loads(obj)
        except json.JSONDecodeError:
            raise CheckpointError(f"{what} is not valid JSON") from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"{what} must be a JSON object")
    return obj


def claims(raw: Raw) -> bool:
    return raw.header.get("format", "").startswith(FORMAT_FAMILY) or raw.sidecar is not None \
        or raw.container == "safetensors"


def describe(raw: Raw) -> Described:
    if raw.header.get("format", "").startswith(FORMAT_FAMILY):
        fmt, meta = FORMAT_OURS, raw.header
    elif raw.sidecar is not None:
        fmt, meta = FORMAT_SIDECAR, raw.sidecar
    else:
        fmt, meta = FORMAT_SAFETENSORS, None
    d = Described(fmt, raw.sd, {k: k for k in raw.sd})
    if meta is None:
        return d
    if "config" not in meta:
        raise CheckpointError(f"{raw.source.name}: metadata has no 'config'")
    c = _config_from_meta(meta["config"], "metadata config")
    unknown = set(c) - {f.name for f in dataclasses.fields(MAEConfig)}
    if unknown:
        raise CheckpointError(f"metadata config has unknown fields {sorted(unknown)}")
    check_limits(c)
    d.hints = {k: v for k, v in c.items() if k not in ("extra",)}
    if "training" in meta:
        d.training.update(_config_from_meta(meta["training"], "metadata training"))
    if isinstance(d.training.get("mask_unit"), int):
        d.mask_unit = d.training["mask_unit"]
    if "norm_pix_loss" in d.hints:
        d.notes.append(f"target from the checkpoint metadata (norm_pix_loss={d.hints['norm_pix_loss']})")
    return d
