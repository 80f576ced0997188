"""Geometry of a ViT MAE: image size I, patch size p, grids, sequence lengths, sin-cos tables, FLOPs.

Conventions: sizes are (height, width); token order is raster (row-major) over a (grid_h, grid_w) grid;
a CLS token, when present, is token 0 and sits in front of the patch tokens.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import ConfigError


def as_hw(size: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    """An int or an (h, w) pair -> (h, w)."""
    if isinstance(size, (tuple, list)):
        if len(size) != 2:
            raise ConfigError(f"size must be an int or (height, width), got {size!r}")
        h, w = int(size[0]), int(size[1])
    else:
        h = w = int(size)
    if h <= 0 or w <= 0:
        raise ConfigError(f"size must be positive, got {size!r}")
    return h, w


def grid_shape(img_size, patch_size: int) -> tuple[int, int]:
    """(grid_h, grid_w) = (H/p, W/p); the image must be a whole number of patches."""
    h, w = as_hw(img_size)
    p = int(patch_size)
    if p <= 0:
        raise ConfigError(f"patch size must be positive, got {patch_size}")
    if h % p or w % p:
        raise ConfigError(f"image size {h}x{w} is not divisible by patch size {p}")
    return h // p, w // p


@dataclass(frozen=True)
class SequenceLengths:
    """Token counts of one MAE configuration (CLS not counted)."""

    grid: tuple[int, int]
    L: int  # patches in the image = (H/p)(W/p)
    Le: int  # tokens the encoder sees = L(1-r) (after block rounding)
    Ld: int  # tokens the decoder sees = L (or L/k^2 with a long-seq decoder downsampling k)


def sequence_lengths(img_size, patch_size: int, n_keep: int | None = None, mask_ratio: float = 0.75,
                     decoder_downsampling: int = 1) -> SequenceLengths:
    gh, gw = grid_shape(img_size, patch_size)
    L = gh * gw
    Le = int(n_keep) if n_keep is not None else int(L * (1 - mask_ratio))
    k = int(decoder_downsampling)
    return SequenceLengths(grid=(gh, gw), L=L, Le=Le, Ld=L // (k * k))


STANDARD_PATCH = 16  # a standard ViT's patch (ViT-B/16, MAE's): the reference for "a long sequence"


def sequence_class(img_size, patch_size: int) -> str:
    """'long' or 'standard': the app's definition of a long sequence (the paper's axis), by the sequence alone.

    At a given image size, a sequence is long when its patches are smaller than a standard ViT's 16 px, so it has
    more tokens than the ViT/16 of that image (L > (I/16)^2); how the patches are masked (the mask unit) is a
    separate fact."""
    h, w = as_hw(img_size)
    return "long" if (h // patch_size) * (w // patch_size) > (h // STANDARD_PATCH) * (w // STANDARD_PATCH) \
        else "standard"


def sequence_words(img_size, patch_size: int) -> str:
    """sequence_class in words, e.g. 'long: L=256, 4x a 16-px-patch ViT at this image size'."""
    h, w = as_hw(img_size)
    L, L16 = (h // patch_size) * (w // patch_size), max(1, (h // STANDARD_PATCH) * (w // STANDARD_PATCH))
    ratio = f"{L / L16:g}\u00d7" if L != L16 else "as many tokens as"
    return (f"{sequence_class(img_size, patch_size)}: L={L:,}, {ratio} a {STANDARD_PATCH}-px-patch ViT at this "
            "image size")


def _sincos_1d(dim: int, pos: np.ndarray) -> np.ndarray:
    """MAE's get_1d_sincos_pos_embed_from_grid: (M,) positions -> (M, dim) as [sin | cos]."""
    omega = np.arange(dim // 2, dtype=np.float64) / (dim / 2.0)
    omega = 1.0 / 10000**omega
    out = np.einsum("m,d->md", pos.reshape(-1).astype(np.float64), omega)
    return np.concatenate([np.sin(out), np.cos(out)], axis=1)


def sincos_pos_embed_2d(dim: int, grid: tuple[int, int] | int, cls_token: bool = True) -> np.ndarray:
    """Fixed 2-D sin-cos table in facebookresearch/mae's exact layout, for any (grid_h, grid_w).

    MAE builds ``np.meshgrid(grid_w, grid_h)`` so the first dim/2 channels encode the *column* index and the
    last dim/2 the *row* index: [sin_col | cos_col | sin_row | cos_row]. The CLS row is all zeros.
    Returns float32 (grid_h*grid_w [+1], dim).
    """
    gh, gw = as_hw(grid)
    if dim % 4:
        raise ConfigError(f"sin-cos embedding needs a dim divisible by 4, got {dim}")
    cols, rows = np.meshgrid(np.arange(gw, dtype=np.float64), np.arange(gh, dtype=np.float64))  # (gh, gw) each
    emb = np.concatenate([_sincos_1d(dim // 2, cols), _sincos_1d(dim // 2, rows)], axis=1)
    if cls_token:
        emb = np.concatenate([np.zeros([1, dim]), emb], axis=0)
    return emb.astype(np.float32)


def patch_centers(grid: tuple[int, int], patch_size: int) -> np.ndarray:
    """Pixel coordinates (y, x) of each patch centre in raster order: (grid_h*grid_w, 2)."""
    gh, gw = as_hw(grid)
    ys, xs = np.meshgrid(np.arange(gh), np.arange(gw), indexing="ij")
    return (np.stack([ys.reshape(-1), xs.reshape(-1)], axis=1).astype(np.float64) + 0.5) * patch_size


def uniform_mad(grid, patch_size: float = 1.0, positions=None, *, cls_share: float = 0.0) -> float:
    """Mean attention distance that uniform attention would give: the exact reference level for a MAD chart.

    Uniform attention spreads each query's weight evenly over the keys, so its MAD (CLS key dropped and rows
    renormalised, our default) is the mean Euclidean distance between ALL pairs of patch centres, self pairs
    included: in patch units 3.609 on a 7x7 grid, 7.281 on 14x14, 14.59 on 28x28, 29.19 on 56x56 (about 0.52 of
    the grid width). A measured MAD near it means "no more local than uniform"; only a clearly lower MAD is
    evidence of locality.

    grid: (gh, gw); patch_size: pixels per cell (1 = patch units); positions: raster ids of the tokens present
    (e.g. a mask's ids_keep: the visible subset the encoder attends over), default the whole grid.
    cls_share: the weight uniform attention puts on the CLS key when it is NOT renormalised away (1/T for the
    Kornblith convention, 0 for ours); the reference is then scaled by (1 - cls_share).
    Whole grid: summed over the (2gh-1)(2gw-1) offsets, each counted (gh-|dy|)(gw-|dx|) times (exact, O(gh gw));
    a subset: pairwise distances in chunks (float64)."""
    gh, gw = as_hw(grid)
    if positions is None:
        dy = np.arange(-(gh - 1), gh)
        dx = np.arange(-(gw - 1), gw)
        count = np.outer(gh - np.abs(dy), gw - np.abs(dx)).astype(np.float64)
        mean = float((count * np.hypot(dy[:, None], dx[None, :])).sum() / float(gh * gw) ** 2)
    else:
        pos = np.asarray(positions, dtype=np.int64).reshape(-1)
        if pos.size == 0:
            raise ConfigError("uniform_mad needs at least one position")
        if pos.min() < 0 or pos.max() >= gh * gw:
            raise ConfigError(f"positions must be raster ids of the {gh}x{gw} grid")
        c = np.stack([pos // gw, pos % gw], axis=1).astype(np.float64)
        total = 0.0
        for s in range(0, len(c), 512):  # 512 x K distances at a time
            d = c[s:s + 512, None, :] - c[None, :, :]
            total += float(np.hypot(d[..., 0], d[..., 1]).sum())
        mean = total / float(len(c)) ** 2
    return mean * float(patch_size) * (1.0 - float(cls_share))
