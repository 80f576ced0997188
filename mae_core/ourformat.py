"""Our checkpoint format: one .safetensors file whose header metadata carries the architecture and training facts.

Header metadata (all strings, as safetensors requires):
  format   = "mae_core/1"
  config   = JSON of MAEConfig.to_dict()            (architecture, native image/patch size, target)
  training = JSON of training facts (mask unit, ratio, steps, images seen, wall time, device, final loss,
             training-data list, code revision, ...)   -- optional
A sidecar ``<name>.json`` with the same keys is accepted when the header has none (for files written by others).
Tensor names are facebookresearch/mae's state-dict names.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file

FORMAT_TAG = "mae_core/1"


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
