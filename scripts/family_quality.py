"""Print the README's quality table: masked-region MSE of each embedded checkpoint on the held-out demo images.

    python scripts/family_quality.py [--seeds 5] [NAME ...]

Each checkpoint is run at its own training mask unit, r = 0.75, on both demo images and seeds 0..N-1; the
mean-fill and normalised-Gaussian baselines use the same masks (mae_core.reconstruct computes them).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mae_core.assets import DEMO_IMAGES, available_embedded  # noqa: E402
from mae_core.checkpoints import load_checkpoint  # noqa: E402
from mae_core.reconstruct import reconstruct  # noqa: E402


def quality(path, seeds: int = 5) -> dict:
    model, info = load_checkpoint(path)
    rows = []
    for img in DEMO_IMAGES.values():
        for seed in range(seeds):
            r = reconstruct(model, img, mask_unit=info.mask_unit, mask_ratio=0.75, seed=seed)
            rows.append((r.masked_mse, r.baselines["mean_fill"], r.baselines["gaussian_fill"]))
    mse, mean_fill, gauss = np.mean(rows, axis=0)
    return dict(model=mse, mean_fill=mean_fill, gaussian=gauss, mask_unit=info.mask_unit,
                wall_time_s=(info.training or {}).get("wall_time_s"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help="embedded checkpoint names or checkpoint files (default: all present)")
    ap.add_argument("--seeds", type=int, default=5)
    a = ap.parse_args(argv)
    family = available_embedded()
    names = a.names or list(family)
    print("| checkpoint | model | mean-fill | model / mean-fill (bar ≤ 0.6) | normalised-Gaussian fill | "
          "model / Gaussian |")
    print("|---|---|---|---|---|---|")
    for name in names:
        q = quality(family[name] if name in family else Path(name), a.seeds)
        print(f"| `{Path(name).stem}` | {q['model']:.4f} | {q['mean_fill']:.4f} | **{q['model'] / q['mean_fill']:.2f}** | "
              f"{q['gaussian']:.4f} | {q['model'] / q['gaussian']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
