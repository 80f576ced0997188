"""The cost model of one MAE configuration: sequence lengths, forward FLOPs, parameters and peak memory (inference,
attention analysis, gradient ERF), each from an MAEConfig taken whole. Torch-free, so the Home calculator, the
Lesson and the memory budget of a hosted server use it without importing torch.

Shapes: L patches, Le encoder tokens (visible), Ld decoder tokens (L / k^2 with a long-seq decoder downsampling k),
T = L + 1 tokens with CLS, D encoder width, Dd decoder width. Floats are float32 (4 bytes).
"""
from __future__ import annotations

from dataclasses import dataclass

from .config import MAEConfig
from .geometry import SequenceLengths, grid_shape, sequence_lengths

BYTES = 4  # float32
ROLLOUT_STORE_BYTES = 256 * 2**20  # head-fused rollout matrices kept up to this size; beyond it they are recomputed


def lengths(cfg: MAEConfig, mask_ratio: float = 0.75, n_keep: int | None = None) -> SequenceLengths:
    """L, Le and Ld of ``cfg`` at mask ratio r (or with n_keep visible patches), its decoder downsampling included."""
    return sequence_lengths(cfg.img_size, cfg.patch_size, n_keep=n_keep, mask_ratio=mask_ratio,
                            decoder_downsampling=cfg.decoder_downsampling)


# ------------------------------------------------------------------ FLOPs
@dataclass(frozen=True)
class FlopEstimate:
    encoder: float
    decoder: float

    @property
    def total(self) -> float:
        return self.encoder + self.decoder


def _transformer_flops(tokens: int, dim: int, depth: int, mlp_ratio: float) -> float:
    """Forward FLOPs (2 x multiply-adds) of `depth` ViT blocks on `tokens` tokens.

    Per block: qkv + proj = 4 N D^2, MLP = 2 r N D^2 multiply-adds; attention scores and weighted sum = 2 N^2 D.
    """
    mac = depth * (4 * tokens * dim * dim + 2 * mlp_ratio * tokens * dim * dim + 2 * tokens * tokens * dim)
    return 2.0 * mac


def estimate_flops(img_size, patch_size: int, n_keep: int, embed_dim: int, depth: int, decoder_embed_dim: int,
                   decoder_depth: int, mlp_ratio: float = 4.0, in_chans: int = 3,
                   with_decoder: bool = True, decoder_mlp_ratio: float | None = None) -> FlopEstimate:
    """Forward FLOPs of one image through the MAE (encoder on Le+1 tokens, decoder on L+1 tokens).

    decoder_mlp_ratio: the decoder blocks' MLP ratio when it differs from the encoder's (None = the same).

    Counts the linear layers and attention matmuls, which dominate; norms, softmax and GELU are ignored.
    """
    gh, gw = grid_shape(img_size, patch_size)
    L = gh * gw
    patch_in = 2.0 * L * in_chans * patch_size**2 * embed_dim
    enc = patch_in + _transformer_flops(n_keep + 1, embed_dim, depth, mlp_ratio)
    dec = 0.0
    if with_decoder:
        dec = 2.0 * (n_keep + 1) * embed_dim * decoder_embed_dim
        dec += _transformer_flops(L + 1, decoder_embed_dim, decoder_depth,
                                  mlp_ratio if decoder_mlp_ratio is None else decoder_mlp_ratio)
        dec += 2.0 * L * decoder_embed_dim * in_chans * patch_size**2
    return FlopEstimate(encoder=enc, decoder=dec)


def flops(cfg: MAEConfig, n_keep: int) -> FlopEstimate:
    """Forward FLOPs of one image through ``cfg`` with n_keep visible patches: estimate_flops, plus what a long-seq
    decoder does differently (the stride-k convolution to L/k^2 tokens, the blocks on those, the transposed
    convolution back to the prediction grid)."""
    base = estimate_flops(cfg.img_size, cfg.patch_size, n_keep, cfg.embed_dim, cfg.depth, cfg.decoder_embed_dim,
                          cfg.decoder_depth, cfg.mlp_ratio, cfg.in_chans, with_decoder=cfg.has_decoder,
                          decoder_mlp_ratio=cfg.decoder_mlp_ratio)
    k, kp = cfg.decoder_downsampling, cfg.pred_downsampling
    if not cfg.has_decoder or k == 1:
        return base
    gh, gw = grid_shape(cfg.img_size, cfg.patch_size)
    L, Dd = gh * gw, cfg.decoder_embed_dim
    blocks_full = _transformer_flops(L + 1, Dd, cfg.decoder_depth, cfg.dec_mlp_ratio)
    blocks_down = _transformer_flops(L // (k * k) + 1, Dd, cfg.decoder_depth, cfg.dec_mlp_ratio)
    conv_down = 2.0 * L * Dd * Dd  # every patch token enters one k x k window: k^2 Dd inputs per output token
    conv_up = 2.0 * (L // (kp * kp)) * Dd * Dd if k // kp > 1 else 0.0
    return FlopEstimate(encoder=base.encoder, decoder=base.decoder - blocks_full + blocks_down + conv_down + conv_up)


# ------------------------------------------------------------------ parameters and memory
@dataclass(frozen=True)
class MemoryEstimate:
    """Peak bytes of one batch-1 float32 forward pass (inference, no gradients)."""

    weights: float
    encoder_attention: float  # one layer's attention matrix: heads x (Le+1)^2
    encoder_activations: float
    decoder_attention: float  # heads x (Ld+1)^2
    decoder_activations: float
    attention_maps: float  # attention analysis: captured block inputs + one chunk of scores + returned maps

    @property
    def peak(self) -> float:
        enc = self.encoder_attention + self.encoder_activations
        dec = self.decoder_attention + self.decoder_activations
        return self.weights + max(enc, dec) + self.attention_maps

    @property
    def peak_mb(self) -> float:
        return self.peak / 2**20



FORMULA = (
    "peak ≈ weights + max(encoder, decoder) + kept attention maps, in float32 (4 bytes), batch 1, inference:\n"
    "- attention matrix of one layer = heads × N² × 4 B (N = tokens incl. CLS: Le+1 in the encoder, Ld+1 in the "
    "decoder), counted as if materialised (fused kernels may use less, so this is an upper bound);\n"
    "- activations of one block = N × D × (6 + 2·mlp_ratio) × 4 B (residual, norm, q/k/v, projection, MLP hidden; "
    "the decoder at its own MLP ratio when it has one);\n"
    "- attention analysis (mae_core.attention, full image) keeps the head-fused rollout matrices, depth × (L+1)² × 4 B "
    "(or, past 256 MiB, every block's normed input, depth × (L+1) × D × 4 B), one chunk of scores, "
    "heads × 256 × (L+1) × 4 B, and the returned per-layer maps, 2 × depth × heads × L × 4 B.")


def param_count(embed_dim: int, depth: int, dec_dim: int, dec_depth: int, patch_size: int, mlp_ratio: float = 4.0,
                in_chans: int = 3, with_decoder: bool = True, dec_mlp_ratio: float | None = None) -> int:
    """Parameters of an MAE (position tables and norms included, approximately); dec_mlp_ratio: the decoder
    blocks' MLP ratio when it differs from the encoder's."""
    def blocks(d, n, ratio=mlp_ratio):
        return n * ((4 + 2 * ratio) * d * d + (9 + ratio) * d)

    n = in_chans * patch_size**2 * embed_dim + embed_dim + blocks(embed_dim, depth) + 2 * embed_dim
    if with_decoder:
        n += embed_dim * dec_dim + dec_dim + blocks(dec_dim, dec_depth, mlp_ratio if dec_mlp_ratio is None
                                                    else dec_mlp_ratio) + 2 * dec_dim
        n += dec_dim * in_chans * patch_size**2 + in_chans * patch_size**2
    return int(n)


def estimate_memory(*, L: int, Le: int, Ld: int, embed_dim: int, depth: int, num_heads: int, dec_dim: int,
                    dec_depth: int, dec_heads: int, mlp_ratio: float = 4.0, n_params: int,
                    with_decoder: bool = True, attention_analysis: bool = False,
                    dec_mlp_ratio: float | None = None) -> MemoryEstimate:
    ne, nd = Le + 1, Ld + 1
    act = 6 + 2 * mlp_ratio
    dec_act = 6 + 2 * (mlp_ratio if dec_mlp_ratio is None else dec_mlp_ratio)
    return MemoryEstimate(
        weights=BYTES * n_params,
        encoder_attention=BYTES * num_heads * ne**2,
        encoder_activations=BYTES * ne * embed_dim * act,
        decoder_attention=BYTES * dec_heads * nd**2 if with_decoder else 0.0,
        decoder_activations=BYTES * nd * dec_dim * dec_act if with_decoder else 0.0,
        attention_maps=analysis_memory_bytes(T=L + 1, dim=embed_dim, heads=num_heads, depth=depth)
        if attention_analysis else 0.0,
    )


def params(cfg: MAEConfig) -> int:
    """param_count of an MAEConfig, taken whole."""
    return param_count(cfg.embed_dim, cfg.depth, cfg.decoder_embed_dim, cfg.decoder_depth, cfg.patch_size,
                       cfg.mlp_ratio, cfg.in_chans, cfg.has_decoder, cfg.dec_mlp_ratio)


def estimate_for_config(cfg: MAEConfig, L: int, Le: int, Ld: int, attention_analysis: bool = False) -> MemoryEstimate:
    """estimate_memory for an MAEConfig, taken whole."""
    n_params = params(cfg)
    return estimate_memory(L=L, Le=Le, Ld=Ld, embed_dim=cfg.embed_dim, depth=cfg.depth, num_heads=cfg.num_heads,
                           dec_dim=cfg.decoder_embed_dim, dec_depth=cfg.decoder_depth,
                           dec_heads=cfg.decoder_num_heads, mlp_ratio=cfg.mlp_ratio, n_params=n_params,
                           dec_mlp_ratio=cfg.dec_mlp_ratio,
                           with_decoder=cfg.has_decoder and not attention_analysis,
                           attention_analysis=attention_analysis)


def inference_estimate(cfg: MAEConfig, mask_ratio: float | None = None) -> MemoryEstimate:
    """The memory of one inference of `cfg` at its image and patch size: L patches; the encoder on L(1-r) of them
    (a reconstruction at mask ratio r) or on all of them (mask_ratio None: the attention analysis, which keeps its
    maps and runs no decoder); the decoder on L // k^2 (k: its downsampling)."""
    L = cfg.num_patches
    if mask_ratio is None:
        return estimate_for_config(cfg, L, L, L, attention_analysis=True)
    return estimate_for_config(cfg, L, int(L * (1 - mask_ratio)), L // cfg.decoder_downsampling**2)


def analysis_memory_bytes(T: int, dim: int, heads: int, depth: int, chunk: int = 256) -> float:
    """Extra float32 bytes `analyze` holds for a T-token stack of `depth` analysed blocks (rollout included):
    one chunk of scores and the attention output, the returned rows (CLS and query, per layer and head), and
    either the head-fused rollout matrices depth x T^2 (kept when <= ROLLOUT_STORE_BYTES) or each block's normed
    input depth x T x dim (rollout recomputed from them)."""
    fused = 4.0 * depth * T * T
    keep = fused if fused <= ROLLOUT_STORE_BYTES else 4.0 * depth * T * dim
    return keep + 4.0 * (heads * min(chunk, T) * T + T * dim + 2 * depth * heads * T)


def erf_memory_bytes(cfg: MAEConfig, batch: int) -> float:
    """Rough peak of one ERF batch: every block's activations kept for the backward pass (about 20 floats per
    token and channel, plus one T x T map per head when the attention is not fused)."""
    T = cfg.num_patches + 1
    return batch * cfg.depth * (20 * T * cfg.embed_dim + cfg.num_heads * T * T) * BYTES


def erf_estimate(cfg: MAEConfig, batch: int = 1) -> MemoryEstimate:
    """erf_memory_bytes as a MemoryEstimate, for the memory budget."""
    return MemoryEstimate(weights=0.0, encoder_attention=erf_memory_bytes(cfg, batch), encoder_activations=0.0,
                          decoder_attention=0.0, decoder_activations=0.0, attention_maps=0.0)
