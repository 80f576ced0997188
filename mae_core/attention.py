"""Attention analysis of a MaskedAutoencoderViT: per-head CLS and query maps, attention rollout, mean attention
distance - with the model's fused SDPA left on and the model never mutated.

How. One pass, nothing registered and nothing changed on the (shared, cached) model. The stack's first block input
comes from ``model.encoder_tokens`` / ``decoder_tokens``; every block up to the last analysed one then runs as
timm's Block.forward does, except that its attention is computed once, explicitly, from the module's own ``qkv``,
``q_norm``, ``k_norm``, ``scale``, ``num_heads``, ``head_dim``, ``norm`` and ``proj`` (timm's eager path): softmax
in float32, ``chunk`` query rows at a time, each chunk multiplied into v for the block's output AND reduced at once
to what is shown (maps, mean attention distance, the head-fused rollout rows), then dropped. Blocks that nothing
needs run their own forward (fused SDPA); the forward stops after the last analysed block's attention. So
hooks a user put on an analysed Block, its Attention or qkv do not fire (norm1, proj, norm2, mlp hooks do). No layer's
full per-head T x T map is ever kept. The rollout needs the CLS row of A'_n ... A'_1, a vector-matrix chain taken
last block first: the head-fused matrices (depth x T^2 floats) are kept when that is at most ROLLOUT_STORE_BYTES,
otherwise each block's normed input (T x C) is kept and only its q/k scores are recomputed for the chain.
Hand-written because timm's AttentionExtract needs ``fused_attn=False`` (a mutation) and keeps every full map, and
because computing the attention once for both the output and the analysis is what makes it cost ~a plain forward.

Token conventions. T = 1 + K tokens, token 0 is CLS. In the encoder, token 1+i is patch ``ids_keep[i]`` (raster
id), so every map goes back to the grid THROUGH ids_keep; positions the encoder did not see are NaN. In the decoder
every raster position (mask tokens included) is a token, on ``cfg.decoder_grid``.

Shapes: n layers analysed, H heads, (gh, gw) the grid of the analysed stack, K patch tokens.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .attention_conventions import analysis_convention, summary_convention
from .cost import ROLLOUT_STORE_BYTES
from .errors import ConfigError
from .geometry import patch_centers, uniform_mad
from .masking import Mask, full_mask, mask_from_array
from .precision import forward_context

HEAD_FUSIONS = ("mean", "max", "min")
STACKS = ("encoder", "decoder")


# ---------------------------------------------------------------------------------------------- result types
@dataclass(frozen=True, eq=False)
class AttentionResult:
    """Attention of one image through one stack (encoder or decoder). Arrays are float32 numpy.

    cls_attention:   (n, H, gh, gw) CLS -> patch attention per layer and head (NaN where no token)
    cls_to_cls:      (n, H)         CLS -> CLS weight; cls_attention summed over the grid + this = 1
    query_attention: (n, H, gh, gw) query patch -> patch attention, or None
    query_to_cls:    (n, H)         query -> CLS weight, or None
    rollout:         (gh, gw)       CLS row of the attention rollout without its CLS entry
    rollout_cls:     float          the rollout's CLS -> CLS entry (rollout summed + this = 1)
    mean_attention_distance: (n, H) pixels of the input image
    mad_fraction:    (n, H)         MAD / image width
    mad_patches:     (n, H)         MAD / patch_size (token cells)
    """

    cls_attention: np.ndarray
    cls_to_cls: np.ndarray
    query_attention: np.ndarray | None
    query_to_cls: np.ndarray | None
    rollout: np.ndarray
    rollout_cls: float
    mean_attention_distance: np.ndarray
    mad_fraction: np.ndarray
    mad_patches: np.ndarray
    layers: tuple[int, ...]  # block indices of the stack, one per leading entry of the per-layer arrays
    stack: str  # "encoder" | "decoder"
    grid: tuple[int, int]  # (gh, gw) of the analysed stack
    patch_size: int  # pixel side of one grid cell (p, or p * decoder_downsampling in the decoder)
    img_size: tuple[int, int]
    n_tokens: int  # T: tokens in the attended sequence, CLS included
    ids_keep: np.ndarray  # (K,) raster id of patch token 1+i
    mask: np.ndarray | None  # (gh, gw) 1 = removed (fraction removed per cell in a downsampled decoder); None = full
    query: tuple[int, int] | None  # (row, col) of the query on `grid`
    head_fusion: str
    convention: str
    uniform_mad: float = float("nan")  # px: the MAD uniform attention over the same tokens would give (reference)
    precision: str = "fp32"  # the linear layers' precision (mae_core.precision): fp32 | tf32 | bf16

    @property
    def num_heads(self) -> int:
        return int(self.cls_attention.shape[1])

    @property
    def mad_ratio(self) -> np.ndarray:
        """(n, H) mean attention distance / the uniform-attention reference (1 = no more local than uniform)."""
        return self.mean_attention_distance / np.float32(self.uniform_mad)

    def to_npz(self, path, **extra: np.ndarray) -> None:
        """Save every array (and ``extra`` ones, e.g. a MAD over an image set) to one compressed .npz."""
        arrays = dict(mean_attention_distance=self.mean_attention_distance, mad_fraction=self.mad_fraction,
                      mad_patches=self.mad_patches, cls_attention=self.cls_attention, cls_to_cls=self.cls_to_cls,
                      rollout=self.rollout, rollout_cls=np.float32(self.rollout_cls),
                      layers=np.asarray(self.layers, dtype=np.int64), grid=np.asarray(self.grid, dtype=np.int64),
                      patch_size=np.int64(self.patch_size), img_size=np.asarray(self.img_size, dtype=np.int64),
                      ids_keep=self.ids_keep, stack=np.array(self.stack), convention=np.array(self.convention),
                      uniform_mad=np.float64(self.uniform_mad), uniform_mad_fraction=np.float64(
                          self.uniform_mad / self.img_size[1]), mad_ratio=self.mad_ratio,
                      precision=np.array(self.precision))
        if self.query_attention is not None:
            arrays.update(query_attention=self.query_attention, query_to_cls=self.query_to_cls,
                          query=np.asarray(self.query, dtype=np.int64))
        if self.mask is not None:
            arrays["mask"] = self.mask
        np.savez_compressed(path, **arrays, **extra)


@dataclass(frozen=True, eq=False)
class MADSummary:
    """Mean attention distance over several images (ViT Fig. 7: one dot per head per layer).

    mean_attention_distance: (n, H) pixels, mean over images; std (n, H); per_image (N, n, H);
    mad_fraction = MAD / image width; mad_patches = MAD / patch size; uniform_mad: the uniform-attention
    reference in pixels (see uniform_mad), mad_ratio = MAD / uniform_mad.
    """

    mean_attention_distance: np.ndarray
    std: np.ndarray
    per_image: np.ndarray
    mad_fraction: np.ndarray
    mad_patches: np.ndarray
    layers: tuple[int, ...]
    stack: str
    patch_size: int
    img_size: tuple[int, int]
    n_images: int
    convention: str
    uniform_mad: float = float("nan")
    precision: str = "fp32"

    @property
    def mad_ratio(self) -> np.ndarray:
        return self.mean_attention_distance / np.float32(self.uniform_mad)


# ---------------------------------------------------------------------------------------------- pure helpers
def _fuse(a: torch.Tensor, head_fusion: str) -> torch.Tensor:
    """(H, ..., T) -> (..., T) over the head axis."""
    if head_fusion == "mean":
        return a.mean(0)
    if head_fusion == "max":
        return a.amax(0)
    if head_fusion == "min":
        return a.amin(0)
    raise ConfigError(f"head_fusion must be one of {HEAD_FUSIONS}, got {head_fusion!r}")


def _mad_rows(a_patch: torch.Tensor, a_cls: torch.Tensor | None, dist: torch.Tensor, renormalise: bool,
              include_cls: bool) -> torch.Tensor:
    """Attention-weighted distance of some query rows.

    a_patch (H, c, K) attention to the patch keys; a_cls (H, c) attention to CLS or None; dist (c, K) pixels.
    Returns (H, c): sum_j a_ij d_ij, divided by the row mass over the counted keys when `renormalise`
    (patch keys, plus the CLS key at distance 0 when `include_cls`)."""
    num = (a_patch * dist.to(a_patch.dtype)).sum(-1)
    if not renormalise:
        return num
    den = a_patch.sum(-1)
    if include_cls and a_cls is not None:
        den = den + a_cls
    return num / den.clamp_min(torch.finfo(den.dtype).tiny)


# ---------------------------------------------------------------------------------------------- one analysed block


def _check_block(blk) -> None:
    a = getattr(blk, "attn", None)
    parts = ("norm1", "ls1", "drop_path1", "norm2", "mlp", "ls2", "drop_path2")
    if a is None or not all(hasattr(blk, n) for n in parts) or not hasattr(a, "qkv") or getattr(a, "gate", None):
        raise ConfigError(f"attention analysis needs timm Blocks with a fused-qkv Attention, got "
                          f"{type(blk).__name__}")


def _qk(attn, h: torch.Tensor, with_v: bool):
    """(q * scale, k^T[, v]) per head from a block's normed input h (1, T, C): the module's own qkv, q_norm,
    k_norm, scale (timm's eager path); q and k in float32, v in the compute precision (qkv's output dtype).
    Without ``with_v`` only the q and k rows of qkv are computed."""
    H, hd = attn.num_heads, attn.head_dim
    T = h.shape[1]
    n = 3 if with_v else 2
    w, b = attn.qkv.weight[:n * H * hd], None if attn.qkv.bias is None else attn.qkv.bias[:n * H * hd]
    qkv = F.linear(h, w, b).reshape(1, T, n, H, hd).permute(2, 0, 3, 1, 4)  # (n, 1, H, T, hd)
    q, k = attn.q_norm(qkv[0]), attn.k_norm(qkv[1])
    out = (q[0].float() * float(attn.scale), k[0].float().transpose(-2, -1))
    return out + (qkv[2][0],) if with_v else out


class _Reducer:
    """What is kept of one layer's attention, fed one (H, c, T) block of softmax rows at a time.

    maps: CLS row (H, T), the query row (H, T) and the MAD sum (H,). fused: the head-fused rollout matrix
    A' = rownorm(0.5 fuse(A) + 0.5 I) (T, T) when kept, else the rollout row vector r is pushed through: r @ A'."""

    def __init__(self, T, H, device, *, maps, query_tok, coords, head_fusion, renormalise, include_cls,
                 keep_fused=False, r=None, dist_cache: dict | None = None):
        self.maps, self.query_tok, self.coords, self.head_fusion = maps, query_tok, coords, head_fusion
        self.dist_cache = dist_cache  # (lo, e) -> (c', K) distances, shared by the layers of one pass (or None)
        self.renormalise, self.include_cls = renormalise, include_cls
        self.cls_row = self.q_row = None
        self.mad_sum = torch.zeros(H, dtype=torch.float64, device=device) if maps else None
        self.fused = torch.empty(T, T, dtype=torch.float32, device=device) if keep_fused else None
        self.r = r
        self.r_new = torch.zeros(T, dtype=torch.float32, device=device) if r is not None else None
        self.T = T

    def __call__(self, s: int, e: int, a: torch.Tensor) -> None:
        if self.maps:
            if s == 0:
                self.cls_row = a[:, 0].clone()
            if self.query_tok is not None and s <= self.query_tok < e:
                self.q_row = a[:, self.query_tok - s].clone()
            lo = max(s, 1)
            if lo < e:
                rows = a[:, lo - s:]
                d = None if self.dist_cache is None else self.dist_cache.get((lo, e))
                if d is None:
                    d = torch.cdist(self.coords[lo - 1:e - 1], self.coords)  # (c', K) pixels
                    if self.dist_cache is not None:
                        self.dist_cache[(lo, e)] = d
                self.mad_sum += _mad_rows(rows[..., 1:], rows[..., 0], d, self.renormalise,
                                          self.include_cls).sum(-1).double()
        if self.fused is not None or self.r is not None:
            fused = _fuse(a, self.head_fusion) * 0.5  # (c, T)
            idx = torch.arange(e - s, device=a.device)
            fused[idx, idx + s] += 0.5
            fused = fused / fused.sum(-1, keepdim=True)
            if self.fused is not None:
                self.fused[s:e] = fused
            else:
                self.r_new += self.r[s:e] @ fused

    def result(self) -> dict:
        out = {}
        if self.maps:
            out.update(cls_row=self.cls_row, q_row=self.q_row, mad=(self.mad_sum / max(self.T - 1, 1)).float())
        return out


def _softmax_chunks(q: torch.Tensor, kt: torch.Tensor, chunk: int, v: torch.Tensor | None, reducer):
    """softmax(q k^T) chunk query rows at a time, scores and softmax in float32 (also under autocast), each block
    handed to ``reducer`` and dropped; with v returns softmax(q k^T) v (H, T, hd) in v's dtype (the compute
    precision: float32, or bfloat16 under bf16, as the fused forward would)."""
    H, T = q.shape[0], q.shape[1]
    out = torch.empty(H, T, v.shape[-1], dtype=v.dtype, device=q.device) if v is not None else None
    for s in range(0, T, chunk):
        e = min(T, s + chunk)
        with torch.autocast(q.device.type, enabled=False):
            a = torch.softmax(q[:, s:e] @ kt, dim=-1)  # (H, c, T)
            if v is not None:
                out[:, s:e] = a.to(v.dtype) @ v
        reducer(s, e, a)
        del a
    return out


@torch.no_grad()
def _analysed_block(blk, x: torch.Tensor, reducer, chunk: int, *, finish: bool):
    """timm Block.forward on x (1, T, C) with its attention computed once, explicitly, and reduced on the way.

    Returns (the block's output, or None when not ``finish`` - the MLP half is skipped; the normed input h)."""
    attn = blk.attn
    h = blk.norm1(x)
    q, kt, v = _qk(attn, h, with_v=True)
    o = _softmax_chunks(q, kt, chunk, v, reducer)  # (H, T, hd)
    o = o.transpose(0, 1).reshape(1, x.shape[1], -1).to(h.dtype)
    x = x + blk.drop_path1(blk.ls1(attn.proj_drop(attn.proj(attn.norm(o)))))
    if not finish:
        return None, h
    return x + blk.drop_path2(blk.ls2(blk.mlp(blk.norm2(x)))), h


# ---------------------------------------------------------------------------------------------- chunk policy
CPU_CHUNK = 256  # most query rows per softmax block on a CPU (the peak memory stays at or below what it was)
CPU_CHUNK_MIN = 64  # fewest rows per block on a CPU, so a long sequence is not cut into thousands of tiny blocks
CPU_BLOCK_BYTES = 5 * 2**20  # a CPU block's scores are sized to stay in the last-level cache (measured: ViT-B/8
# @224 with 128-row blocks took 5 % less CPU time than with 256 and 11 % less than one whole-layer block)
DIST_CACHE_BYTES = 16 * 2**20  # the query-to-key pixel distances are kept across layers up to this size
FREE_FRACTION = 0.5  # share of the device's free memory one analysis may use for its blocks and rollout matrices


def _row_bytes(T: int, heads: int) -> int:
    """float32 bytes one query row costs while its block is live: scores and softmax (2 H T), the distance-weighted
    product for the MAD (H T), its distance row and the head-fused rollout row (2 T)."""
    return 4 * T * (3 * heads + 2)


def _available(device: torch.device, budget_bytes: float | None, free_bytes: float | None) -> float | None:
    """Bytes an analysis may use on ``device``: the budget, capped on CUDA by FREE_FRACTION of the free memory
    (torch.cuda.mem_get_info, or ``free_bytes`` when given); None = no limit known (CPU without a budget)."""
    dev = torch.device(device)
    if dev.type == "cuda" and free_bytes is None:
        free_bytes = torch.cuda.mem_get_info(dev)[0]
    caps = [float(b) for b in (budget_bytes, None if free_bytes is None else FREE_FRACTION * free_bytes)
            if b is not None]
    return min(caps) if caps else None


def query_chunk(T: int, heads: int, device="cpu", *, budget_bytes: float | None = None,
                free_bytes: float | None = None) -> int:
    """Query rows per softmax block, sized by memory: as many rows as the available bytes hold (a whole layer,
    T rows, whenever it fits), at least 1. On CUDA the available bytes are FREE_FRACTION of the free device
    memory, capped by ``budget_bytes``. On a CPU a block's scores are sized to stay in cache (CPU_BLOCK_BYTES,
    between CPU_CHUNK_MIN and CPU_CHUNK rows), and a budget can only make it smaller."""
    dev = torch.device(device)
    avail = _available(dev, budget_bytes, free_bytes)
    rows = T if avail is None else int(avail // _row_bytes(T, heads))
    if dev.type != "cuda":
        cached = min(CPU_CHUNK, max(CPU_CHUNK_MIN, CPU_BLOCK_BYTES // (4 * heads * T)))
        rows = min(rows, cached)
    return max(1, min(T, rows))


def rollout_store_bytes(device="cpu", budget_bytes: float | None = None, free_bytes: float | None = None) -> float:
    """Up to how many bytes the head-fused rollout matrices are kept (beyond it each block's scores are recomputed
    for the chain): ROLLOUT_STORE_BYTES on a CPU, half the available bytes on CUDA (never less than the CPU's)."""
    dev = torch.device(device)
    if dev.type != "cuda":
        return float(ROLLOUT_STORE_BYTES if budget_bytes is None else min(ROLLOUT_STORE_BYTES, budget_bytes))
    avail = _available(dev, budget_bytes, free_bytes)
    return max(float(ROLLOUT_STORE_BYTES), 0.5 * avail) if avail is not None else float(ROLLOUT_STORE_BYTES)


# ---------------------------------------------------------------------------------------------- analysis
def _parse_layers(layers, cfg) -> tuple[str, list[int]]:
    stack, idx = "encoder", None
    if isinstance(layers, str):
        name, _, rest = layers.partition(":")
        stack = name.strip() or "encoder"
        if rest.strip():
            try:
                idx = [int(t) for t in rest.split(",") if t.strip()]
            except ValueError:
                raise ConfigError(f"layers must look like 'encoder', 'decoder' or 'encoder:0,-1', got {layers!r}") from None
    elif isinstance(layers, (int, np.integer)):
        idx = [int(layers)]
    else:
        try:
            idx = [int(t) for t in layers]
        except (TypeError, ValueError):
            raise ConfigError(f"layers must be 'encoder', 'decoder' or block indices, got {layers!r}") from None
    if stack not in STACKS:
        raise ConfigError(f"layers must name a stack in {STACKS}, got {stack!r}")
    if stack == "decoder" and not cfg.has_decoder:
        raise ConfigError("this checkpoint has no decoder (encoder only): use layers='encoder'")
    depth = cfg.depth if stack == "encoder" else cfg.decoder_depth
    if idx is None:
        idx = list(range(depth))
    out = []
    for i in idx:
        if not -depth <= i < depth:
            raise ConfigError(f"layer {i} is out of range for the {depth}-block {stack}")
        out.append(i % depth)
    if not out:
        raise ConfigError("no layer selected")
    return stack, sorted(set(out))


def _as_image_tensor(model, image, fit: str = "stretch") -> torch.Tensor:
    cfg = model.cfg
    if not isinstance(image, torch.Tensor):
        from .images import to_tensor  # lazy: images pulls in PIL

        image = to_tensor(image, cfg.img_size, fit)
    if image.ndim == 3:
        image = image[None]
    if image.ndim != 4 or image.shape[0] != 1 or image.shape[1] != cfg.in_chans:
        raise ConfigError(f"expected one normalised image (1, {cfg.in_chans}, H, W), got {tuple(image.shape)}")
    if tuple(image.shape[-2:]) != tuple(cfg.img_size):
        raise ConfigError(f"the image is {image.shape[-2]}x{image.shape[-1]} but the model expects "
                          f"{cfg.img_size[0]}x{cfg.img_size[1]}; resize it (mae_core.images.to_tensor) or adapt "
                          f"the model (mae_core.reconstruct.prepare)")
    p = next(model.parameters())
    return image.to(device=p.device, dtype=p.dtype if p.dtype.is_floating_point else torch.float32)


def _as_mask(mask, grid) -> Mask:
    if mask is None:
        return full_mask(grid)
    if not isinstance(mask, Mask):
        mask = mask_from_array(mask, grid)
    if tuple(mask.grid) != tuple(grid):
        raise ConfigError(f"mask grid {mask.grid} does not match the model's patch grid {grid}")
    return mask


def _query_rc(query, grid) -> tuple[int, int]:
    gh, gw = grid
    if isinstance(query, (int, np.integer)):
        if not 0 <= int(query) < gh * gw:
            raise ConfigError(f"query patch {int(query)} is outside the {gh}x{gw} grid (0..{gh * gw - 1})")
        return divmod(int(query), gw)
    try:
        r, c = (int(v) for v in query)
    except (TypeError, ValueError):
        raise ConfigError(f"query must be (row, col) or a raster index, got {query!r}") from None
    if not (0 <= r < gh and 0 <= c < gw):
        raise ConfigError(f"query patch ({r}, {c}) is outside the {gh}x{gw} grid")
    return r, c


def _layer_loop(blocks, h, *, sel, needed, want_maps, want_rollout, keep_fused, query_tok, coords, head_fusion,
                renormalise, include_cls, chunk):
    """Blocks 0..last analysed of one stack, from its first block's input h (1, T, C). Everything stays on the
    device: no .item(), .cpu(), .tolist() or boolean-mask indexing in here (results go to the host once, after).

    Returns (per: block -> its reduced rows, r: the rollout's CLS row (T,) or None)."""
    T, device, last = h.shape[1], h.device, sel[-1]
    per, fused, normed = {}, {}, {}
    dist_cache = {} if 4 * (T - 1) ** 2 <= DIST_CACHE_BYTES else None  # the same for every layer
    for i in range(last + 1):  # one pass; blocks past the last analysed one are never run
        if i not in needed:
            h = blocks[i](h)  # the module's own (fused SDPA) forward
            continue
        red = _Reducer(T, blocks[i].attn.num_heads, device, maps=want_maps and i in sel, query_tok=query_tok,
                       coords=coords, head_fusion=head_fusion, renormalise=renormalise, include_cls=include_cls,
                       keep_fused=keep_fused, dist_cache=dist_cache)
        h, normed_i = _analysed_block(blocks[i], h, red, chunk, finish=i < last)
        if red.maps:
            per[i] = red.result()
        if keep_fused:
            fused[i] = red.fused
        elif want_rollout:
            normed[i] = normed_i  # the rollout's scores are recomputed from it below
    r = None
    if want_rollout:  # the CLS row of A'_n ... A'_1 is e0 A'_n ... A'_1: a vector-matrix chain, last block first
        r = torch.zeros(T, dtype=torch.float32, device=device)
        r[0] = 1.0
        for i in reversed(needed):
            if keep_fused:
                r = r @ fused.pop(i)
                continue
            attn = blocks[i].attn
            red = _Reducer(T, attn.num_heads, device, maps=False, query_tok=None, coords=coords,
                           head_fusion=head_fusion, renormalise=renormalise, include_cls=include_cls, r=r)
            q, kt = _qk(attn, normed.pop(i), with_v=False)
            _softmax_chunks(q, kt, chunk, None, red)
            r = red.r_new
    return per, r


@dataclass(frozen=True, eq=False)
class _Pass:
    """What one analysis pass (_run) leaves, still as tensors on the model's device.

    per: block index -> dict(cls_row (H, T), q_row (H, T) or None, mad (H,)) for the selected blocks;
    r: (T,) CLS row of the rollout, or None; needed: the blocks run explicitly (the rollout's chain);
    ids: (K,) raster id of patch token 1+i on ``grid``; removed: the mask on ``grid`` (None = full image)."""

    cfg: object
    stack: str
    sel: list
    needed: list
    grid: tuple
    cell: int
    ids: torch.Tensor
    removed: np.ndarray | None
    qrc: tuple | None
    T: int
    per: dict
    r: torch.Tensor | None
    rollout_kept: bool
    precision: str  # the resolved precision: fp32 | tf32 | bf16 (or the legacy amp's fp16)
    chunk: int  # query rows per softmax block


def _run(model, image, *, mask, query, layers, head_fusion, renormalise_mad, include_cls_in_mad, chunk, amp,
         want_maps: bool = True, want_rollout: bool = True, fit: str = "stretch", precision: str | None = None,
         budget_bytes: float | None = None) -> _Pass:
    """One analysis pass: the request checked, the analysed stack's tokens placed on its grid, then blocks
    0..last analysed run once, each analysed one reduced as it goes (_layer_loop)."""
    cfg = model.cfg
    chunk = _check_options(head_fusion, chunk)
    stack, sel = _parse_layers(layers, cfg)
    x = _as_image_tensor(model, image, fit)
    mask = _as_mask(mask, cfg.grid)
    device = x.device
    ctx, precision = forward_context(device, precision, amp)
    qrc = _query_rc(query, cfg.grid) if query is not None else None
    view = _encoder_view(model, mask, qrc) if stack == "encoder" else _decoder_view(model, mask, qrc)

    needed = list(range(sel[-1] + 1)) if want_rollout else sel
    for i in needed:
        _check_block(view.blocks[i])
    coords = torch.from_numpy(patch_centers(view.grid, view.cell)).float().to(device)[view.ids.to(device)]  # (K, 2)
    ids_keep, ids_restore = mask.batch(1, device)
    with torch.no_grad(), ctx:
        if stack == "encoder":
            h = model.encoder_tokens(x, ids_keep)
        else:
            h = model.decoder_tokens(model.forward_encoder(x, ids_keep), ids_restore)
        T = h.shape[1]
        if chunk is None:
            heads = max(view.blocks[i].attn.num_heads for i in needed)
            chunk = query_chunk(T, heads, device, budget_bytes=budget_bytes)
        keep_fused = want_rollout and 4 * len(needed) * T * T <= rollout_store_bytes(device, budget_bytes)
        per, r = _layer_loop(view.blocks, h, sel=sel, needed=needed, want_maps=want_maps, want_rollout=want_rollout,
                             keep_fused=keep_fused, query_tok=view.query_tok, coords=coords,
                             head_fusion=head_fusion, renormalise=renormalise_mad, include_cls=include_cls_in_mad,
                             chunk=chunk)
    return _Pass(cfg=cfg, stack=stack, sel=sel, needed=needed, grid=view.grid, cell=view.cell, ids=view.ids,
                 removed=view.removed, qrc=view.qrc, T=T, per=per, r=r, rollout_kept=keep_fused,
                 precision=precision, chunk=chunk)


def _check_options(head_fusion: str, chunk) -> int | None:
    """The head fusion checked; the chunk as an int >= 1, or None (sized by memory later)."""
    if head_fusion not in HEAD_FUSIONS:
        raise ConfigError(f"head_fusion must be one of {HEAD_FUSIONS}, got {head_fusion!r}")
    if chunk is not None:
        chunk = int(chunk)
        if chunk < 1:
            raise ConfigError(f"chunk must be >= 1, got {chunk}")
    return chunk


@dataclass(frozen=True, eq=False)
class _StackView:
    """Token -> grid geometry of the analysed stack.

    grid, cell: the stack's grid and its cell in pixels; ids: (K,) raster id of patch token 1+i; blocks: the
    stack's blocks; removed: the mask on ``grid`` (None = full image); qrc: the query cell on ``grid`` or None;
    query_tok: the query's token index or None."""

    grid: tuple
    cell: int
    ids: torch.Tensor
    blocks: object
    removed: np.ndarray | None
    qrc: tuple | None
    query_tok: int | None


def _encoder_view(model, mask: Mask, qrc) -> _StackView:
    """Encoder tokens: CLS + the visible patches in ids_keep order; a query the mask removed is an error."""
    grid = model.cfg.grid
    ids = mask.ids_keep.clone().long()
    removed = None if mask.n_keep == mask.L else mask.mask.numpy().astype(np.float32)
    query_tok = None
    if qrc is not None:
        rid = qrc[0] * grid[1] + qrc[1]
        hit = (ids == rid).nonzero()
        if hit.numel() == 0:
            raise ConfigError(f"query patch {qrc} is removed by the mask: the encoder does not see it; "
                              f"pick a visible patch or use layers='decoder'")
        query_tok = 1 + int(hit[0, 0])
    return _StackView(grid, model.cfg.patch_size, ids, model.blocks, removed, qrc, query_tok)


def _decoder_view(model, mask: Mask, qrc) -> _StackView:
    """Decoder tokens: CLS + every cell of the decoder grid (k x k patches per cell with decoder downsampling k)."""
    cfg = model.cfg
    kd = cfg.decoder_downsampling
    grid = cfg.decoder_grid
    removed = None
    if mask.n_keep != mask.L:
        m = mask.mask.float()[None, None]
        removed = (F.avg_pool2d(m, kd, kd) if kd > 1 else m)[0, 0].numpy().astype(np.float32)
    if qrc is not None:
        qrc = (qrc[0] // kd, qrc[1] // kd)
    query_tok = None if qrc is None else 1 + qrc[0] * grid[1] + qrc[1]
    return _StackView(grid, cfg.patch_size * kd, torch.arange(grid[0] * grid[1]), model.decoder_blocks, removed,
                      qrc, query_tok)


def _to_grid(vals: torch.Tensor, ids: torch.Tensor, grid) -> np.ndarray:
    """(..., K) values of patch tokens -> (..., gh, gw) with NaN where no token."""
    gh, gw = grid
    v = vals.detach().float().cpu().numpy()
    out = np.full(v.shape[:-1] + (gh * gw,), np.nan, dtype=np.float32)
    out[..., ids.cpu().numpy()] = v
    return out.reshape(v.shape[:-1] + (gh, gw))


def _uniform_reference(out: _Pass, renormalise: bool, include_cls: bool) -> float:
    """uniform_mad for the tokens one _run attended over (the visible subset under a mask), in its convention."""
    gh, gw = out.grid
    ids = out.ids.cpu().numpy()
    positions = None if len(ids) == gh * gw else ids
    share = 0.0 if renormalise and not include_cls else 1.0 / out.T
    return uniform_mad(out.grid, out.cell, positions, cls_share=share)


def analyze(model, image, *, mask=None, query=None, layers="encoder", head_fusion: str = "mean",
            renormalise_mad: bool = True, include_cls_in_mad: bool = False, chunk: int | None = None,
            amp=None, fit: str = "stretch", precision: str | None = None,
            budget_mb: float | None = None) -> AttentionResult:
    """Attention maps, rollout and mean attention distance of one image; the model is not mutated.

    model: MaskedAutoencoderViT (any device); its fused SDPA forward is used as is.
    image: (1, 3, H, W) or (3, H, W) ImageNet-normalised tensor with (H, W) == model.cfg.img_size, or anything
           mae_core.images.load_image accepts (fitted to model.cfg.img_size as `fit` says: 'stretch', 'crop' or
           'pad' with ImageNet-mean grey; see mae_core.images.FIT_MODES).
    mask: None (the full image: ids_keep = all L patches), a mae_core.masking.Mask, or a (gh, gw) 0/1 grid
          (1 = removed); the encoder sees only ids_keep.
    query: (row, col) on the model's patch grid or its raster index; its row of attention is returned
           (ConfigError if the mask removed it and the stack is the encoder; in a decoder with downsampling k
           it is the cell (row // k, col // k)).
    layers: 'encoder' | 'decoder' | 'encoder:0,-1' | 'decoder:2' | int | [ints] (encoder block indices).
            The rollout runs over blocks 0..max(selected) of that stack.
    head_fusion: 'mean' | 'max' | 'min' (rollout only).
    chunk: query rows per softmax; peak extra memory ~ num_heads x chunk x T float32. None (default): sized by
           memory (query_chunk: CPU_CHUNK on a CPU; on CUDA a whole layer whenever it fits the free memory and
           ``budget_mb``).
    precision: 'auto' | 'fp32' | 'tf32' | 'bf16' (mae_core.precision; None = auto: tf32 on CUDA, fp32 on CPU).
           The linear layers run in it; scores, softmax and every statistic stay float32. Recorded in the result.
    amp: the older switch, None | 'bf16' | 'fp16' autocast on CUDA only (used when precision is None).
    Returns AttentionResult (see its docstring for shapes)."""
    out = _run(model, image, mask=mask, query=query, layers=layers, head_fusion=head_fusion,
               renormalise_mad=renormalise_mad, include_cls_in_mad=include_cls_in_mad, chunk=chunk, amp=amp,
               fit=fit, precision=precision, budget_bytes=None if budget_mb is None else budget_mb * 2**20)
    cfg, sel, ids, grid, per = out.cfg, out.sel, out.ids, out.grid, out.per
    cls_rows = torch.stack([per[i]["cls_row"] for i in sel])  # (n, H, T)
    q_rows = torch.stack([per[i]["q_row"] for i in sel]) if out.qrc is not None else None
    mad = torch.stack([per[i]["mad"] for i in sel]).cpu().numpy().astype(np.float32)  # (n, H)
    r = out.r
    img_w = cfg.img_size[1]
    return AttentionResult(
        cls_attention=_to_grid(cls_rows[..., 1:], ids, grid),
        cls_to_cls=cls_rows[..., 0].float().cpu().numpy(),
        query_attention=None if q_rows is None else _to_grid(q_rows[..., 1:], ids, grid),
        query_to_cls=None if q_rows is None else q_rows[..., 0].float().cpu().numpy(),
        rollout=_to_grid(r[1:], ids, grid),
        rollout_cls=float(r[0]),
        mean_attention_distance=mad,
        mad_fraction=mad / img_w,
        mad_patches=mad / out.cell,
        layers=tuple(sel), stack=out.stack, grid=tuple(grid), patch_size=int(out.cell),
        img_size=tuple(cfg.img_size), n_tokens=int(out.T), ids_keep=ids.cpu().numpy(), mask=out.removed,
        query=out.qrc, head_fusion=head_fusion,
        convention=analysis_convention(out.stack, head_fusion, out.needed, renormalise_mad, include_cls_in_mad,
                               cfg.img_size, grid, out.cell, out.precision),
        uniform_mad=_uniform_reference(out, renormalise_mad, include_cls_in_mad), precision=out.precision)


def mad_over_images(model, images, *, mask=None, layers="encoder", renormalise_mad: bool = True,
                    include_cls_in_mad: bool = False, chunk: int | None = None, amp=None,
                    progress: bool = False, fit: str = "stretch", precision: str | None = None) -> MADSummary:
    """Mean attention distance averaged over images (ViT Fig. 7 / Fig. 11: one dot per head per layer).

    images: an iterable of what `analyze` accepts (a (N, 3, H, W) tensor is split into N images).
    Computes only the MAD (no maps, no rollout); ``progress`` shows a tqdm bar. Returns MADSummary, (n, H) arrays."""
    if isinstance(images, torch.Tensor) and images.ndim == 4:
        images = list(images.split(1))
    if progress:
        from tqdm import tqdm

        images = tqdm(images, desc="mean attention distance", unit="image")
    vals = []
    res = None
    for img in images:
        res = _run(model, img, mask=mask, query=None, layers=layers, head_fusion="mean",
                   renormalise_mad=renormalise_mad, include_cls_in_mad=include_cls_in_mad, chunk=chunk, amp=amp,
                   want_rollout=False, fit=fit, precision=precision)
        vals.append(torch.stack([res.per[i]["mad"] for i in res.sel]).cpu().numpy())
    if not vals:
        raise ConfigError("mad_over_images needs at least one image")
    per_image = np.stack(vals).astype(np.float32)  # (N, n, H)
    mad = per_image.mean(0)
    cfg = res.cfg
    return MADSummary(mean_attention_distance=mad, std=per_image.std(0), per_image=per_image,
                      mad_fraction=mad / cfg.img_size[1], mad_patches=mad / res.cell, layers=tuple(res.sel),
                      stack=res.stack, patch_size=int(res.cell), img_size=tuple(cfg.img_size),
                      n_images=len(vals),
                      convention=summary_convention(res.stack, res.grid, renormalise_mad, include_cls_in_mad,
                                                    cfg.img_size, res.cell, len(vals)),
                      uniform_mad=_uniform_reference(res, renormalise_mad, include_cls_in_mad),
                      precision=res.precision)
