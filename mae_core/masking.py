"""Masking as a pure, seeded function of (grid, mask unit m, mask ratio r, seed).

The mask unit decouples *what is masked together* from the patch size (long-seq MAE's ``--mask_downsampling``):
the grid is tiled into m x m cells of patches and whole cells are kept or removed.

Edge cells. When grid_h or grid_w is not divisible by m, the last row/column of cells is cut off at the grid
edge (as long_seq_mae's ``_clip_by_grid`` does), so those cells hold fewer than m*m patches.

Keep count. ``keep="blocks"`` (default) keeps ``int(n_cells * (1 - r))`` whole cells, so no cell is ever partly
visible; with edge cells or a fractional count the effective ratio differs from r and is reported.
``keep="exact"`` reproduces the papers: ``int(L * (1 - r))`` patches are kept, taking cells in random order and
cutting the last one, exactly as long_seq_mae's loader (util/long_seq_patch_loader.py) does: inside a cell the
patches are taken column by column (its ``for rx ... for ry ...`` stacking), so a partly kept 2x2 cell keeps its
left column first. Then one cell may be partly visible. With m = 1 both modes are
the original MAE's ``int(L * (1 - r))``.

Kept ids are returned in raster order (the model does not depend on token order; raster order makes every
map from tokens back to grid positions trivial to read).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .errors import ConfigError
from .geometry import as_hw

KEEP_MODES = ("blocks", "exact")


@dataclass(frozen=True, eq=False)
class Mask:
    """One mask over a (grid_h, grid_w) patch grid.

    ids_keep:    (Le,)  long, raster indices of visible patches, ascending
    ids_restore: (L,)   long, position of each raster patch in cat(ids_keep, ids_removed) (MAE's convention)
    mask:        (grid_h, grid_w) float32, 1 = removed, 0 = visible (MAE's convention)
    """

    ids_keep: torch.Tensor
    ids_restore: torch.Tensor
    mask: torch.Tensor
    grid: tuple[int, int]
    mask_unit: int
    requested_ratio: float | None  # None for a user-drawn mask

    @property
    def L(self) -> int:
        return self.grid[0] * self.grid[1]

    @property
    def n_keep(self) -> int:
        return int(self.ids_keep.numel())

    @property
    def effective_ratio(self) -> float:
        return 1.0 - self.n_keep / self.L

    def batch(self, n: int = 1, device=None) -> tuple[torch.Tensor, torch.Tensor]:
        """(ids_keep, ids_restore) expanded to a batch of n on a device."""
        return (self.ids_keep.to(device).unsqueeze(0).expand(n, -1),
                self.ids_restore.to(device).unsqueeze(0).expand(n, -1))


def _from_keep_flags(keep: np.ndarray, grid, mask_unit: int, ratio: float | None) -> Mask:
    gh, gw = grid
    keep = keep.reshape(-1).astype(bool)
    ids_keep = np.flatnonzero(keep)
    ids_remove = np.flatnonzero(~keep)
    ids_shuffle = np.concatenate([ids_keep, ids_remove])
    ids_restore = np.argsort(ids_shuffle, kind="stable")
    mask = (~keep).astype(np.float32).reshape(gh, gw)
    return Mask(ids_keep=torch.from_numpy(ids_keep.astype(np.int64)),
                ids_restore=torch.from_numpy(ids_restore.astype(np.int64)),
                mask=torch.from_numpy(mask), grid=(gh, gw), mask_unit=mask_unit, requested_ratio=ratio)


def cell_index(grid, mask_unit: int) -> np.ndarray:
    """(grid_h, grid_w) array giving each patch's cell number in raster order of cells."""
    gh, gw = as_hw(grid)
    m = int(mask_unit)
    rows = np.arange(gh) // m
    cols = np.arange(gw) // m
    n_cols = -(-gw // m)
    return rows[:, None] * n_cols + cols[None, :]


def cell_permutation(grid, mask_unit: int, seed: int) -> np.ndarray:
    """The seeded random order of the mask cells (raster cell numbers, see cell_index); the first ones are kept.

    A CPU torch generator, so the same seed gives the same order on every machine."""
    gh, gw = as_hw(grid)
    m = int(mask_unit)
    n_cells = (-(-gh // m)) * (-(-gw // m))
    gen = torch.Generator().manual_seed(int(seed))
    return torch.argsort(torch.rand(n_cells, generator=gen)).numpy()


DEFAULT_SEED = 2  # the official MAE demo's seed: the app's and the reconstruct command's default, so they agree


def make_mask(grid, mask_unit: int = 1, mask_ratio: float = 0.75, seed: int = 0, keep: str = "blocks") -> Mask:
    """Random mask of whole m x m cells; the same arguments always give the same mask (CPU generator)."""
    gh, gw = as_hw(grid)
    m = int(mask_unit)
    if m < 1:
        raise ConfigError(f"mask unit must be >= 1, got {mask_unit}")
    if m > max(gh, gw):
        raise ConfigError(f"mask unit {m} is larger than the {gh}x{gw} patch grid")
    r = float(mask_ratio)
    if not 0.0 <= r < 1.0:
        raise ConfigError(f"mask ratio must be in [0, 1), got {mask_ratio}")
    if keep not in KEEP_MODES:
        raise ConfigError(f"keep must be one of {KEEP_MODES}, got {keep!r}")
    L = gh * gw
    cells = cell_index((gh, gw), m).reshape(-1)
    n_cells = int(cells.max()) + 1
    order = cell_permutation((gh, gw), m, seed)  # cells in random order, first ones kept
    if keep == "blocks" or m == 1:
        n_keep_cells = int(n_cells * (1 - r)) if m > 1 else int(L * (1 - r))
        if n_keep_cells < 1:
            raise ConfigError(f"mask ratio {r} keeps no {m}x{m} mask unit of the {gh}x{gw} grid "
                              f"({n_cells} units); lower the ratio or the mask unit")
        keep_flags = np.isin(cells, order[:n_keep_cells])
    else:
        n_keep = int(L * (1 - r))
        if n_keep < 1:
            raise ConfigError(f"mask ratio {r} keeps no patch of the {gh}x{gw} grid")
        rank = np.empty(n_cells, dtype=np.int64)
        rank[order] = np.arange(n_cells)
        # patches in order of (cell rank, column, row), as long_seq_mae's loader stacks them
        # (``for rx in range(m) for ry in range(m)``): a partly kept cell is filled column by column
        rows, cols = np.divmod(np.arange(L), gw)
        patch_order = np.lexsort((rows, cols, rank[cells]))
        keep_flags = np.zeros(L, dtype=bool)
        keep_flags[patch_order[:n_keep]] = True
    return _from_keep_flags(keep_flags, (gh, gw), m, r)


def mask_from_array(mask: np.ndarray | torch.Tensor, grid=None) -> Mask:
    """A user-given binary grid (1 = removed, 0 = visible) as a Mask."""
    arr = mask.detach().cpu().numpy() if isinstance(mask, torch.Tensor) else np.asarray(mask)
    if arr.ndim != 2:
        raise ConfigError(f"a mask must be a 2-D grid of 0/1, got shape {arr.shape}")
    if grid is not None and tuple(arr.shape) != as_hw(grid):
        raise ConfigError(f"mask grid {arr.shape[0]}x{arr.shape[1]} does not match the patch grid "
                          f"{as_hw(grid)[0]}x{as_hw(grid)[1]}")
    if arr.size == 0 or not np.isin(arr, (0, 1)).all():
        raise ConfigError("a mask must contain only 0 (visible) and 1 (removed)")
    keep = arr == 0
    if not keep.any():
        raise ConfigError("the mask removes every patch; keep at least one visible")
    return _from_keep_flags(keep, arr.shape, 1, None)


def full_mask(grid) -> Mask:
    """Nothing removed: the encoder sees the whole image (used for attention analysis)."""
    gh, gw = as_hw(grid)
    return _from_keep_flags(np.ones(gh * gw, dtype=bool), (gh, gw), 1, 0.0)


def pixel_mask(mask: Mask, patch_size: int) -> np.ndarray:
    """(H, W) float32 pixel mask, 1 = removed."""
    return np.kron(mask.mask.numpy(), np.ones((patch_size, patch_size), dtype=np.float32))


@dataclass(frozen=True, eq=False)
class MaskSteps:
    """make_mask taken apart into facebookresearch/mae's random_masking steps, for teaching (numpy arrays).

    noise_cells: (n_cells,) one uniform draw per m x m cell (m = 1: per patch), the same draw make_mask uses;
    cell: (L,) each patch's cell; noise: (L,) each patch's cell noise, so a cell's patches sort together;
    ids_shuffle: (L,) argsort(noise) (within a cell, column by column) - patches from 'keep first' to 'drop';
    len_keep: patches kept; ids_keep: ids_shuffle[:len_keep] in shuffled order (MAE keeps this order);
    ids_restore: (L,) argsort(ids_shuffle) - where each raster patch sits in the shuffled sequence, which is what
    un-shuffles the decoder's [kept tokens, mask tokens] back to raster order; mask: (gh, gw) 1 = removed.
    """

    grid: tuple[int, int]
    mask_unit: int
    noise_cells: np.ndarray
    cell: np.ndarray
    noise: np.ndarray
    ids_shuffle: np.ndarray
    len_keep: int
    ids_keep: np.ndarray
    ids_restore: np.ndarray
    mask: np.ndarray


def shuffle_steps(grid, mask_unit: int = 1, mask_ratio: float = 0.75, seed: int = 0, keep: str = "blocks") -> MaskSteps:
    """The noise -> argsort (shuffle) -> keep the first len_keep -> argsort again (ids_restore) steps of MAE's
    random_masking, drawn exactly as make_mask draws them: the resulting mask equals make_mask's (a test checks it).

    With m = 1 this is MAE's random_masking itself (noise = rand(L), ids_shuffle = argsort(noise)). With m > 1
    the noise is drawn per m x m cell and every patch takes its cell's value, so the sort moves whole cells: the
    long-seq 'mask unit'. keep='blocks' keeps whole cells, keep='exact' int(L(1-r)) patches (see make_mask)."""
    ref = make_mask(grid, mask_unit, mask_ratio, seed, keep)  # validates the arguments
    gh, gw = ref.grid
    m = int(mask_unit)
    cell = cell_index((gh, gw), m).reshape(-1)
    n_cells = int(cell.max()) + 1
    gen = torch.Generator().manual_seed(int(seed))
    noise_cells = torch.rand(n_cells, generator=gen).numpy().astype(np.float64)
    noise = noise_cells[cell]
    rows, cols = np.divmod(np.arange(gh * gw), gw)
    # by noise; within a cell column by column, as make_mask (long_seq_mae's loader) fills a partly kept cell
    ids_shuffle = np.lexsort((rows, cols, noise))
    len_keep = ref.n_keep
    ids_restore = np.argsort(ids_shuffle, kind="stable")
    mask = np.ones(gh * gw, dtype=np.float32)
    mask[ids_shuffle[:len_keep]] = 0.0
    return MaskSteps(grid=(gh, gw), mask_unit=m, noise_cells=noise_cells, cell=cell, noise=noise,
                     ids_shuffle=ids_shuffle, len_keep=len_keep, ids_keep=ids_shuffle[:len_keep].copy(),
                     ids_restore=ids_restore, mask=mask.reshape(gh, gw))
