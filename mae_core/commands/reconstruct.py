"""``python -m mae_core reconstruct``: the command line of mae_core.reconstruct."""
from __future__ import annotations

import argparse

import numpy as np

from ..assets import default_checkpoint
from ..errors import ConfigError
from ..images import load_image
from ..masking import DEFAULT_SEED, mask_from_array
from ..precision import PRECISION_HELP, PRECISIONS, resolve_device
from ..reconstruct import DENORM_MODES, prepare, reconstruct


def cli(argv=None) -> int:
    from ..checkpoints.info import TARGET_CHOICES
    from ..images import FIT_MODES as FIT_CHOICES

    ap = argparse.ArgumentParser(prog="python -m mae_core reconstruct",
                                 description="Mask an image and reconstruct it; writes an .npz of float32 images.")
    ap.add_argument("--checkpoint", help="checkpoint file or HF directory (default: the embedded p8-m2)")
    ap.add_argument("--image", required=True)
    ap.add_argument("--image-size", type=int, help="I (default: the checkpoint's native size)")
    ap.add_argument("--patch-size", type=int, help="p (default: the checkpoint's native patch size)")
    ap.add_argument("--mask-unit", type=int, help="m (default: the checkpoint's training mask unit, else 1)")
    ap.add_argument("--mask-ratio", type=float, default=0.75)
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"mask seed (default {DEFAULT_SEED}, as the app)")
    ap.add_argument("--keep", choices=("blocks", "exact"), default="blocks")
    ap.add_argument("--mask-file", help="a .npy grid of 0/1 (1 = removed) used instead of a random mask")
    ap.add_argument("--fit", choices=FIT_CHOICES, default="stretch",
                    help="non-square photos: stretch, centre-crop, or pad with ImageNet-mean grey (not scored)")
    ap.add_argument("--denorm", choices=DENORM_MODES, default="visible", help="norm-pix checkpoints only")
    ap.add_argument("--target", choices=TARGET_CHOICES, default="auto",
                    help="the checkpoint's target: auto (recorded, else probed) or your choice, which wins over both")
    ap.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    ap.add_argument("--precision", choices=PRECISIONS, default="auto", help=PRECISION_HELP)
    ap.add_argument("--amp", choices=("none", "bf16", "fp16"), default="none",
                    help="older switch, CUDA only: autocast dtype (--precision bf16 is the same as bf16)")
    ap.add_argument("--out", required=True, help="output .npz")
    a = ap.parse_args(argv)
    from ..checkpoints import load_checkpoint

    device = resolve_device(a.device)
    model, info = load_checkpoint(a.checkpoint or default_checkpoint(), device=device, target=a.target)
    image = load_image(a.image)
    size = (a.image_size, a.image_size) if a.image_size else None
    model, _ = prepare(model, size, a.patch_size)
    mask = None
    if a.mask_file:
        try:
            grid01 = np.load(a.mask_file, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise ConfigError(f"cannot read mask file {a.mask_file}: {e}") from None
        mask = mask_from_array(grid01, model.cfg.grid)
    m = a.mask_unit if a.mask_unit is not None else max(1, int(info.mask_unit or 1))
    res = reconstruct(model, image, mask=mask, mask_unit=m, mask_ratio=a.mask_ratio, seed=a.seed, keep=a.keep,
                      denorm=a.denorm, amp=None if a.amp == "none" else a.amp, fit=a.fit,
                      precision=None if a.amp != "none" and a.precision == "auto" else a.precision)
    res.to_npz(a.out)
    L = res.lengths
    print(f"{info.arch_name}: I={model.cfg.img_size[0]}x{model.cfg.img_size[1]} p={res.patch_size} m={res.mask_unit} "
          f"ratio={res.effective_ratio:.3f} L={L.L} Le={L.Le} Ld={L.Ld} fit={res.fit} target={info.target} "
          f"precision={res.precision} masked MSE={res.masked_mse:.5f} PSNR={res.psnr:.2f} dB -> {a.out}")
    for n in [n for n in info.notes if "target" in n] + res.notes:
        print(f"note: {n}")
    return 0
