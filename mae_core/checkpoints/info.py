"""What a checkpoint is: format and class names, and CheckpointInfo (the loader's answer)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ..errors import ConfigError
from ..model import MAEConfig

# names of the formats (detected from the content, not the file name) and classes
FORMAT_OURS = "mae_core .safetensors"
FORMAT_SIDECAR = "safetensors + sidecar .json"
FORMAT_SAFETENSORS = "safetensors (MAE key names)"
FORMAT_MAE = "facebookresearch/mae .pth"
FORMAT_LONGSEQ = "facebookresearch/long_seq_mae .pth"
FORMAT_HF = "transformers ViTMAE"

KINDS = ("encoder-only", "pixel-target", "norm-pix-target", "long-seq")
TARGET_PIXELS = "pixels"
TARGET_NORM = "normalised pixels"
# what a user may ask for (CLI --target, the app's Target control): auto = what the file records, else the probe
TARGET_CHOICES = ("auto", "pixels", "norm-pix")
_CHOICE_TO_TARGET = {"pixels": TARGET_PIXELS, "norm-pix": TARGET_NORM}


def target_for_choice(choice: str | None) -> str | None:
    """A user's target choice -> TARGET_PIXELS | TARGET_NORM, or None for auto."""

    if choice in (None, "", "auto"):
        return None
    if choice not in _CHOICE_TO_TARGET:
        raise ConfigError(f"target must be one of {', '.join(TARGET_CHOICES)}, got {choice!r}")
    return _CHOICE_TO_TARGET[choice]

@dataclass
class CheckpointInfo:
    """What a checkpoint is. ``config`` is the native architecture (image size, patch size, heads, target)."""

    path: str
    format: str
    kind: str  # one of KINDS
    target: str | None  # "pixels" | "normalised pixels" | None (encoder only)
    arch_name: str
    config: MAEConfig
    n_params: int
    training: dict = field(default_factory=dict)
    mask_unit: int = 1
    notes: list = field(default_factory=list)
    can_reconstruct: bool = True
    sha256: str = ""
    # where the target came from: metadata | config.json | stored args | file name | probe | your choice | assumed
    target_source: str = ""
    probe: dict | None = None  # the probe's evidence (ProbeEvidence.to_dict()) when it ran

    @property
    def img_size(self) -> tuple[int, int]:
        return self.config.img_size

    @property
    def patch_size(self) -> int:
        return self.config.patch_size

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["config"] = self.config.to_dict()
        d["config"].pop("extra", None)
        d["native_image_size"] = list(self.config.img_size)
        d["native_patch_size"] = self.config.patch_size
        d["L"] = self.config.num_patches
        return d

def jsonable(v):
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    return str(v)



@dataclass
class Described:
    """What one format module makes of a file: MAE-named tensors (or shapes) and the metadata that came with them.

    hints are MAEConfig fields known from metadata; training holds recorded facts; mask_unit is the training mask
    unit when something records it."""

    format: str
    sd: dict
    origin: dict  # MAE name -> name in the file
    hints: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)
    mask_unit: int | None = None
    notes: list = field(default_factory=list)
