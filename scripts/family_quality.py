"""Print the quality table of docs/checkpoints.md: masked-region MSE of each embedded checkpoint on the held-out
demo images.

    python scripts/family_quality.py [--seeds 5] [NAME ...]

Each checkpoint is run at its own training mask unit, r = 0.75, on both demo images and seeds 0..N-1; the
mean-fill and normalised-Gaussian baselines use the same masks (mae_core.reconstruct.held_out_quality). The last
column is the most local first-layer head: its mean attention distance over the bundled photos as a ratio to
uniform attention (mae_core.training_curves.most_local_head). Targets: <= 0.5 x mean-fill, <= 1.0 x Gaussian
fill, a first-layer head <= 0.7 x uniform.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mae_core.assets import family as available_embedded, image_set  # noqa: E402
from mae_core.checkpoints import load_checkpoint  # noqa: E402
from mae_core.reconstruct import held_out_quality  # noqa: E402
from mae_core.training_curves import most_local_head  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help="embedded checkpoint names or checkpoint files (default: all present)")
    ap.add_argument("--seeds", type=int, default=5)
    a = ap.parse_args(argv)
    family = available_embedded()
    names = a.names or list(family)
    photos = list(image_set().values())
    print("| checkpoint | steps | model | mean-fill | model / mean-fill (≤ 0.5) | normalised-Gaussian fill | "
          "model / Gaussian (≤ 1.0) | most local first-layer head / uniform (≤ 0.7) |")
    print("|---|---|---|---|---|---|---|---|")
    for name in names:
        model, info = load_checkpoint(family[name] if name in family else Path(name))
        q = held_out_quality(model, info.mask_unit, seeds=a.seeds)
        local, head = most_local_head(model, photos)
        print(f"| `{Path(name).stem}` | {info.training.get('steps', '?')} | {q['model']:.4f} | {q['mean_fill']:.4f} | "
              f"**{q['model'] / q['mean_fill']:.2f}** | {q['gaussian_fill']:.4f} | "
              f"**{q['model'] / q['gaussian_fill']:.2f}** | {local:.2f} (head {head}) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
