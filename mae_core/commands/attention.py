"""``python -m mae_core attention``: the command line of mae_core.attention."""
from __future__ import annotations

import argparse

import numpy as np

from ..assets import default_checkpoint, default_image, image_set
from ..attention import HEAD_FUSIONS, analyze, mad_over_images
from ..errors import ConfigError
from ..masking import make_mask
from ..precision import PRECISION_HELP, PRECISIONS


def _parse_query(text: str | None):
    if text is None:
        return None
    parts = [t for t in text.replace(" ", "").split(",") if t]
    try:
        vals = [int(t) for t in parts]
    except ValueError:
        raise ConfigError(f"--query must be ROW,COL or a raster index, got {text!r}") from None
    if len(vals) == 1:
        return vals[0]
    if len(vals) == 2:
        return tuple(vals)
    raise ConfigError(f"--query must be ROW,COL or a raster index, got {text!r}")


def cli(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m mae_core attention",
                                 description="Per-head attention maps, attention rollout and mean attention "
                                             "distance of one image; writes an .npz.")
    ap.add_argument("--checkpoint", help="checkpoint file (default: the embedded default checkpoint)")
    ap.add_argument("--image", help="image file (default: the default demo image)")
    ap.add_argument("--image-size", type=int, help="I (default: the checkpoint's native size)")
    ap.add_argument("--patch-size", type=int, help="p (default: the checkpoint's native patch size)")
    ap.add_argument("--query", help="query patch as ROW,COL on the patch grid (or a raster index)")
    ap.add_argument("--layers", default="encoder", help="encoder | decoder | encoder:0,-1 (default: encoder)")
    ap.add_argument("--head-fusion", choices=HEAD_FUSIONS, default="mean", help="for the rollout")
    ap.add_argument("--fit", choices=("stretch", "crop", "pad"), default="stretch",
                    help="non-square photos: stretch, centre-crop, or pad with ImageNet-mean grey")
    ap.add_argument("--mask-ratio", type=float, default=0.0, help="0 = the full image (default, as in ViT)")
    ap.add_argument("--mask-unit", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-renormalise-mad", action="store_true",
                    help="Kornblith/keras convention: drop the CLS column without renormalising rows")
    ap.add_argument("--chunk", type=int, help="query rows per softmax (memory ~ heads x chunk x T; default: sized "
                                              "by memory, 256 on a CPU, a whole layer on a GPU when it fits)")
    ap.add_argument("--memory-budget-mb", type=float, help="cap on the analysis' working memory (default: half the "
                                                           "free GPU memory; on a CPU 256-row blocks)")
    ap.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    ap.add_argument("--precision", choices=PRECISIONS, default="auto", help=PRECISION_HELP)
    ap.add_argument("--amp", choices=("none", "bf16", "fp16"), default="none",
                    help="older switch, CUDA only: autocast dtype (--precision bf16 is the same as bf16)")
    ap.add_argument("--mad-over-set", action="store_true",
                    help="also average MAD over the bundled photos (mae_core.assets.image_set; ViT Fig. 7 style): "
                         "adds mad_set_mean, mad_set_std (layers x heads, px) and mad_set_images to the .npz")
    ap.add_argument("--out", required=True, help="output .npz")
    a = ap.parse_args(argv)
    query = _parse_query(a.query)
    if a.chunk is not None and a.chunk < 1:
        raise ConfigError(f"--chunk must be >= 1, got {a.chunk}")
    if a.memory_budget_mb is not None and a.memory_budget_mb <= 0:
        raise ConfigError(f"--memory-budget-mb must be > 0, got {a.memory_budget_mb}")
    precision = None if a.amp != "none" and a.precision == "auto" else a.precision
    from ..checkpoints import load_checkpoint
    from ..images import load_image
    from ..precision import resolve_device
    from ..reconstruct import prepare

    device = resolve_device(a.device)
    model, info = load_checkpoint(a.checkpoint or default_checkpoint(), device=device)
    size = (a.image_size, a.image_size) if a.image_size else None
    model, notes = prepare(model, size, a.patch_size)
    image = load_image(a.image or default_image())
    mask = None
    if a.mask_ratio > 0:
        mask = make_mask(model.cfg.grid, a.mask_unit, a.mask_ratio, a.seed)
    res = analyze(model, image, mask=mask, query=query, layers=a.layers, head_fusion=a.head_fusion,
                  renormalise_mad=not a.no_renormalise_mad, chunk=a.chunk, amp=None if a.amp == "none" else a.amp,
                  fit=a.fit, precision=precision, budget_mb=a.memory_budget_mb)
    extra = {}
    if a.mad_over_set:

        images = image_set()
        summary = mad_over_images(model, [load_image(p) for p in images.values()], mask=mask, layers=a.layers,
                                  renormalise_mad=not a.no_renormalise_mad, chunk=a.chunk,
                                  amp=None if a.amp == "none" else a.amp, progress=True, fit=a.fit,
                                  precision=precision)
        extra = dict(mad_set_mean=summary.mean_attention_distance, mad_set_std=summary.std,
                     mad_set_ratio=summary.mad_ratio, mad_set_images=np.array(list(images)))
        print(f"mean attention distance over {len(images)} images per layer (px, head mean): "
              + " ".join(f"{v:.1f}" for v in summary.mean_attention_distance.mean(1)))
    res.to_npz(a.out, **extra)
    mad = res.mean_attention_distance.mean(1)
    gh, gw = res.grid
    print(f"{getattr(info, 'arch_name', '') or model.cfg.name or 'model'}: {res.stack} "
          f"I={res.img_size[0]}x{res.img_size[1]} fit={a.fit} grid={gh}x{gw} T={res.n_tokens} "
          f"layers={len(res.layers)} "
          f"heads={res.num_heads} precision={res.precision} -> {a.out}")
    print("mean attention distance per layer (px, head mean): " + " ".join(f"{v:.1f}" for v in mad))
    print(f"uniform-attention reference: {res.uniform_mad:.2f} px ({res.uniform_mad / res.img_size[1]:.3f} of the "
          f"width); MAD / reference per layer: " + " ".join(f"{v:.2f}" for v in res.mad_ratio.mean(1)))
    for n in notes:
        print(f"note: {n}")
    return 0
