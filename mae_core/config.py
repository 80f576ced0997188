"""MAEConfig: the architecture and geometry of one MAE, as one object passed whole (torch-free).

The model (mae_core.model), the cost model (mae_core.cost), the named architectures (mae_core.architectures) and the
checkpoint readers all take it; importing it imports no torch, so the light pages and the calculator can use it.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from .errors import ConfigError
from .geometry import as_hw, grid_shape


@dataclass(frozen=True)
class MAEConfig:
    """Architecture + geometry of one MAE. Head counts are here because they are not in the weights."""

    img_size: tuple[int, int] = (224, 224)
    patch_size: int = 16
    in_chans: int = 3
    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    decoder_embed_dim: int = 512
    decoder_depth: int = 8
    decoder_num_heads: int = 16
    mlp_ratio: float = 4.0
    decoder_mlp_ratio: float | None = None  # None = the encoder's (transformers allows the decoder its own)
    norm_eps: float = 1e-6
    has_decoder: bool = True
    norm_pix_loss: bool = False  # target: per-patch normalised pixels (True) or pixels (False)
    decoder_downsampling: int = 1  # long_seq_mae: k x k stride-k conv before the decoder
    pred_downsampling: int = 1  # long_seq_mae: predict (p*k) x (p*k) target patches
    learned_pos_embed: bool = False  # MAE's tables are fixed sin-cos; learned ones are resampled, not regenerated
    name: str = ""
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self):
        object.__setattr__(self, "img_size", as_hw(self.img_size))
        grid_shape(self.img_size, self.patch_size)  # raises on a non-divisible size
        for dim, heads, what in ((self.embed_dim, self.num_heads, "encoder"),
                                 (self.decoder_embed_dim, self.decoder_num_heads, "decoder")):
            if what == "decoder" and not self.has_decoder:
                continue
            if heads < 1 or dim % heads:
                raise ConfigError(f"{what} width {dim} is not divisible by its {heads} heads")
        k, kp = self.decoder_downsampling, self.pred_downsampling
        if k < 1 or kp < 1 or k % kp:
            raise ConfigError(f"decoder_downsampling {k} must be a multiple of pred_downsampling {kp}")
        gh, gw = self.grid
        if self.has_decoder and (gh % k or gw % k):
            raise ConfigError(f"patch grid {gh}x{gw} is not divisible by the decoder downsampling {k}")

    @property
    def grid(self) -> tuple[int, int]:
        return grid_shape(self.img_size, self.patch_size)

    @property
    def dec_mlp_ratio(self) -> float:
        """The decoder blocks' MLP ratio (decoder_mlp_ratio, else the encoder's)."""
        return self.mlp_ratio if self.decoder_mlp_ratio is None else self.decoder_mlp_ratio

    @property
    def num_patches(self) -> int:
        gh, gw = self.grid
        return gh * gw

    @property
    def decoder_grid(self) -> tuple[int, int]:
        gh, gw = self.grid
        return gh // self.decoder_downsampling, gw // self.decoder_downsampling

    @property
    def pred_patch_size(self) -> int:
        return self.patch_size * self.pred_downsampling

    @property
    def pred_grid(self) -> tuple[int, int]:
        gh, gw = self.grid
        return gh // self.pred_downsampling, gw // self.pred_downsampling

    def replace(self, **kw) -> "MAEConfig":
        return dataclasses.replace(self, **kw)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["img_size"] = list(self.img_size)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "MAEConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ConfigError(f"unknown MAE config fields: {sorted(unknown)}")
        d = dict(d)
        if "img_size" in d:
            d["img_size"] = tuple(d["img_size"]) if isinstance(d["img_size"], (list, tuple)) else d["img_size"]
        return cls(**d)
