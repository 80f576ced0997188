"""``python -m mae_core sweep``: the command line of mae_core.sweep."""
from __future__ import annotations

import argparse
import time

from ..assets import ABLATION_DIR, DEFAULT_IMAGE
from ..sweep import DEFAULT_MASK_UNITS, run_sweep, summarise, write_rows


def cli(argv=None) -> int:

    ap = argparse.ArgumentParser(prog="python -m mae_core sweep",
                                 description="Evaluate checkpoints over sequence length and mask unit on the held-out "
                                             "demo images; writes MEASURED rows in the ablation schema.")
    ap.add_argument("--checkpoints", nargs="+",
                    help="embedded names or checkpoint paths (default: the embedded family)")
    ap.add_argument("--images", nargs="+", help="demo-image names or image files (default: all demo images)")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--mask-ratio", type=float, default=0.75)
    ap.add_argument("--mask-units", nargs="+", type=int, default=list(DEFAULT_MASK_UNITS),
                    help="mask units evaluated at each checkpoint's native size (its training unit is added)")
    ap.add_argument("--image-sizes", nargs="*", type=int, default=[],
                    help="extra input sizes I (same patch size, other L); off the training size")
    ap.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    ap.add_argument("--target", choices=("auto", "pixels", "norm-pix"), default="auto",
                    help="every checkpoint's target: auto (recorded, else probed) or your choice, which wins")
    ap.add_argument("--latency-repeats", type=int, default=5, help="0 = do not time")
    ap.add_argument("--no-attention", action="store_true", help="skip the mean-attention-distance part")
    ap.add_argument("--out", default=str(ABLATION_DIR / "measured_sweep.csv"))
    ap.add_argument("--quick", action="store_true", help="one image, one seed, training mask unit only, 1 timing")
    a = ap.parse_args(argv)
    if a.quick:
        a.seeds = a.seeds[:1]
        a.mask_units = []
        a.image_sizes = []
        a.latency_repeats = 1
    images = a.images
    if a.quick:

        images = (images or [DEFAULT_IMAGE])[:1]
    notes = []
    t0 = time.time()
    rows = run_sweep(a.checkpoints, images, seeds=a.seeds, mask_ratio=a.mask_ratio, mask_units=a.mask_units,
                     image_sizes=a.image_sizes, device=a.device, latency_repeats=a.latency_repeats,
                     attention=not a.no_attention, notes=notes, target=a.target)
    out = write_rows(rows, a.out)
    for line in summarise(rows):
        print(line)
    for n in notes:
        print(f"note: {n}")
    print(f"{len(rows)} MEASURED rows -> {out} ({time.time() - t0:.1f} s)")
    return 0
