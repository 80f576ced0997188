"""Reference forms of the attention statistics over full (H, T, T) matrices, for small T: what
mae_core.attention's chunked, one-pass engine is checked against. Written from the definitions, independently of
the engine's code, in float64."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from mae_core.errors import ConfigError
from mae_core.geometry import patch_centers

FUSE = {"mean": lambda a: a.mean(0), "max": lambda a: a.amax(0), "min": lambda a: a.amin(0)}


def distance_matrix(grid, patch_size: int, positions=None) -> torch.Tensor:
    """(K, K) Euclidean pixel distance between the centres of the patches `positions` (raster ids; default all),
    from geometry.patch_centers via torch.cdist (float64)."""
    c = torch.from_numpy(patch_centers(grid, patch_size))
    if positions is not None:
        c = c[torch.as_tensor(np.asarray(positions), dtype=torch.long)]
    return torch.cdist(c, c)


def mean_attention_distance(attn, grid, patch_size: int, *, positions=None, has_cls: bool = True,
                            renormalise: bool = True, include_cls: bool = False) -> np.ndarray:
    """Mean attention distance of one layer's full attention, in pixels.

    attn: (H, T, T) or (T, T) post-softmax attention; with ``has_cls`` token 0 is CLS and T = 1 + K, else T = K.
    positions: (K,) raster id of each patch token (default 0..K-1, i.e. the full grid in raster order).
    Returns (H,) (or a scalar array for 2-D input): mean over the K patch queries of sum_j A_ij d(i, j) over the
    patch keys j, d the pixel distance between patch centres. The CLS row is never a query. The CLS key is dropped;
    with ``renormalise`` each row is divided by its patch-key mass (the default), without it not (Kornblith /
    keras-io probing_vits); ``include_cls`` counts the CLS key as a key at distance 0 (so it stays in the mass).
    """
    a = torch.as_tensor(np.asarray(attn) if not isinstance(attn, torch.Tensor) else attn).double()
    squeeze = a.ndim == 2
    if squeeze:
        a = a[None]
    if a.ndim != 3 or a.shape[-1] != a.shape[-2]:
        raise ConfigError(f"attention must be (H, T, T) or (T, T), got {tuple(a.shape)}")
    o = 1 if has_cls else 0
    K = a.shape[-1] - o
    gh, gw = grid
    if positions is None:
        if K != gh * gw:
            raise ConfigError(f"{K} patch tokens do not fill the {gh}x{gw} grid; pass their positions")
        positions = np.arange(K)
    d = distance_matrix(grid, patch_size, positions)
    a_patch = a[:, o:, o:]  # (H, K, K): patch queries to patch keys
    rows = (a_patch * d).sum(-1)
    if renormalise:
        mass = a_patch.sum(-1)
        if include_cls and has_cls:
            mass = mass + a[:, o:, 0]
        rows = rows / mass.clamp_min(torch.finfo(mass.dtype).tiny)
    out = rows.mean(-1).numpy()
    return out[0] if squeeze else out


def attention_rollout(attentions: Sequence, head_fusion: str = "mean") -> torch.Tensor:
    """Attention rollout (Abnar & Zuidema 2020) over full matrices.

    attentions: per block in forward order, (H, T, T) post-softmax. Per block: fuse heads, A' = 0.5 A + 0.5 I,
    divide each row by its sum (keepdim: vit-explain issue #16 divides columns), then R = A'_n ... A'_1.
    Returns R (T, T) float64; R[0] is the rollout from CLS; every row sums to 1."""
    result = None
    for a in attentions:
        fused = FUSE[head_fusion](torch.as_tensor(a).double())
        t = fused.shape[-1]
        fused = 0.5 * fused + 0.5 * torch.eye(t, dtype=fused.dtype)
        fused = fused / fused.sum(-1, keepdim=True)
        result = fused if result is None else fused @ result
    if result is None:
        raise ConfigError("attention rollout needs at least one layer")
    return result
