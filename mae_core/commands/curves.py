"""``python -m mae_core curves``: the command line of mae_core.training_curves."""
from __future__ import annotations

import argparse

import torch

from .. import ablations as ab
from .. import training_curves
from ..assets import ABLATION_DIR, DEMO_IMAGES
from ..training_curves import T_STEPS, score_run


def cli(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m mae_core curves", description=training_curves.__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="<name>.snapshots folders (or the checkpoint files beside them); "
                                            "NAME=PATH to set the name shown")
    ap.add_argument("--seeds", type=int, default=5, help="mask seeds per held-out image")
    ap.add_argument("--out", default=str(ABLATION_DIR / "training_curves.csv"))
    ap.add_argument("--mad-images", choices=("set", "demo"), default="set",
                    help="first-layer attention distance over the bundled photos (set) or the 2 demo images")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    a = ap.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    rows = []
    for spec in a.runs:
        name, _, path = spec.rpartition("=")
        rows += score_run(path, name or None, seeds=a.seeds,
                          mad_images=list(DEMO_IMAGES.values()) if a.mad_images == "demo" else None)
    ab.to_csv(rows, a.out)  # validated against the schema before it is written
    last = {}
    for r in rows:
        if r["table"] == T_STEPS:
            last[(r["model"], r["metric"])] = (int(r["setting_value"]), r["value"])
    for (model, metric), (step, v) in sorted(last.items()):
        print(f"{model:>8} @ {step:>5} steps  {metric:<44} {v:.4f}")
    print(f"{len(rows)} rows -> {a.out}")
    return 0
