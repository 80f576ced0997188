"""The conventions an attention result states in words (its ``convention`` field): which tokens, how attention
and rollout are computed, how mean attention distance is measured, and in which precision. Plain strings: no torch.
"""
from __future__ import annotations


def mad_convention(renormalise, include_cls, img_size, p) -> str:
    """How mean attention distance is measured (p: the cell size in pixels)."""
    if include_cls:
        mad = "CLS key counted as a key at distance 0 (its mass stays in the row; equals the Kornblith form)"
    elif renormalise:
        mad = "CLS key dropped and each query row renormalised over the patch keys (default)"
    else:
        mad = "CLS key dropped without renormalising (Kornblith gist / keras-io probing_vits)"
    return (f"Mean attention distance: CLS query row excluded; {mad}; Euclidean distance between cell centres in "
            f"pixels of the {img_size[0]}x{img_size[1]} input (cell = {p} px); mean over the query patches; "
            f"mad_fraction = MAD / image width ({img_size[1]} px); mad_patches = MAD / {p}; uniform_mad = the MAD "
            f"of uniform attention over the same tokens (mean distance between all pairs of their centres, self "
            f"included), mad_ratio = MAD / uniform_mad.")


def tokens_convention(stack, grid) -> str:
    """Which tokens the analysed stack has and where they sit on its grid."""
    if stack == "encoder":
        return "Encoder tokens: CLS + visible patches, placed on the grid through ids_keep, NaN where not seen."
    return f"Decoder tokens: CLS + every cell of the {grid[0]}x{grid[1]} decoder grid (mask tokens included)."


def analysis_convention(stack, head_fusion, layers_rolled, renormalise, include_cls, img_size, grid, p,
                        precision: str = "fp32") -> str:
    """The whole convention of one analysis (mae_core.attention.analyze)."""
    return (f"{tokens_convention(stack, grid)} Attention = softmax(q k^T * scale) recomputed in float32 from each "
            f"block's input (pre-dropout, per head). Maps are rows of it without the CLS column, not "
            f"renormalised: map summed + *_to_cls = 1. Rollout (Abnar & Zuidema): heads fused by {head_fusion}, "
            f"A' = 0.5 A + 0.5 I, rows renormalised (keepdim), chained over {stack} blocks "
            f"{layers_rolled[0]}..{layers_rolled[-1]}; shown: the CLS row without its CLS entry (rollout_cls). "
            + mad_convention(renormalise, include_cls, img_size, p) + precision_convention(precision))


def summary_convention(stack, grid, renormalise, include_cls, img_size, p, n_images: int) -> str:
    """The convention of a mean attention distance averaged over images (mae_core.attention.mad_over_images)."""
    return (f"{tokens_convention(stack, grid)} {mad_convention(renormalise, include_cls, img_size, p)}"
            f" Averaged over {n_images} images.")


def precision_convention(precision: str) -> str:
    """In which precision the linear layers and the statistics ran."""
    return (f" Linear layers in {precision}; scores, softmax and every statistic in float32." if precision != "fp32"
            else " Everything in float32.")
