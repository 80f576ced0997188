"""The named architectures, as MAEConfigs: MAE's ViT-B/L/H (facebookresearch/mae models_mae.py: a 512-wide,
8-block, 16-head decoder) and the embedded family's tiny one. Torch-free.

The checkpoint readers take head counts the weights do not store from here, the Home calculator and the Lesson
draw their costs from here, and nothing else spells these numbers.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from . import assets
from .config import MAEConfig

_MAE_DECODER = dict(decoder_embed_dim=512, decoder_depth=8, decoder_num_heads=16)
ARCHITECTURES: dict[str, MAEConfig] = {
    "ViT-B": MAEConfig(embed_dim=768, depth=12, num_heads=12, **_MAE_DECODER, name="ViT-B"),
    "ViT-L": MAEConfig(embed_dim=1024, depth=24, num_heads=16, **_MAE_DECODER, name="ViT-L"),
    "ViT-H": MAEConfig(patch_size=14, embed_dim=1280, depth=32, num_heads=16, **_MAE_DECODER, name="ViT-H"),
}
# The embedded family's architecture as trained (scripts/train_family.sh); read from a member's header when present.
EMBEDDED = MAEConfig(img_size=(128, 128), patch_size=8, embed_dim=192, depth=6, num_heads=3, decoder_embed_dim=128,
                     decoder_depth=2, decoder_num_heads=4, name="embedded tiny")


def encoder_names() -> dict:
    """(width, depth) -> (name, heads) of the named encoders: what a checkpoint's tensor shapes can be matched to."""
    return {(c.embed_dim, c.depth): (name, c.num_heads) for name, c in ARCHITECTURES.items()}


@lru_cache(maxsize=16)
def _header_config(path: str, mtime_ns: int) -> dict:
    from safetensors import safe_open

    with safe_open(path, framework="numpy") as f:
        return json.loads((f.metadata() or {}).get("config", "{}"))


def embedded(name: str | None = None) -> MAEConfig:
    """The config of an embedded member (default: the family's default) from its safetensors header, without
    torch; EMBEDDED when the file is missing or unreadable."""
    path = assets.family().get(name or assets.DEFAULT_NAME)
    if path is not None:
        try:
            c = _header_config(str(path), Path(path).stat().st_mtime_ns)
            return MAEConfig.from_dict({k: v for k, v in c.items() if k != "extra"}).replace(name="embedded tiny")
        except (OSError, ValueError, TypeError, KeyError):
            pass
    return EMBEDDED


def calculator_choices() -> dict[str, MAEConfig]:
    """The architectures the cost calculator offers: the embedded one first, then ViT-B/L/H."""
    return {"embedded tiny": embedded(), **ARCHITECTURES}
