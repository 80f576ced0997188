"""Measure what the embedded family's encoders learned and store it as MEASURED ablation rows.

    python scripts/representations.py [--out assets/ablations/measured_representations.csv]
                                      [--probe-sets digits300,lfw,gcompris] [--seed 0]

- CKA (mean-pooled patch tokens, every layer against every layer) for every pair of checkpoints: on the 17 bundled
  photographs with the unbiased HSIC (few images), and on each probe set with the plain linear CKA;
- k-NN (DINO) and linear probes, CLS and mean-pooled, every layer, on the labelled sets that ship inside packages:
  30 of each of scikit-learn's digits and scikit-image's lfw_subset (sanity probes, not natural images, so not
  evidence about L), and GCompris's 140 sorting-game photographs in 5 classes (Debian gcompris-qt-data, downloaded
  with apt-get; natural photographs, but fewer than 300);
- on GCompris, the attentive probe too (a cross-attention pooler over the last layer's patch tokens, trained per
  fold; --attentive-steps AdamW steps).

Features are cached (MAE_FEATURE_DIR), so a rerun only recomputes the probes. Prints the figures it stores.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from itertools import combinations
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def code_revision() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=None, help="CSV to write (default: assets/ablations/measured_representations.csv)")
    ap.add_argument("--probe-sets", default="digits300,lfw,gcompris")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--attentive-steps", type=int, default=300)
    a = ap.parse_args(argv)

    import torch

    from mae_core import assets
    from mae_core.ablations import to_csv
    from mae_core.representations import analysis as an
    from mae_core.representations import imagesets, results
    from mae_core.representations.features import encoder_depth, features_for

    family = assets.family()
    if not family:
        print("error: no embedded checkpoints found", file=sys.stderr)
        return 2
    dev = "cuda" if a.device == "auto" and torch.cuda.is_available() else ("cpu" if a.device == "auto" else a.device)
    device_name = torch.cuda.get_device_name(0) if dev == "cuda" else f"cpu x{torch.get_num_threads()} threads"
    rev = code_revision()
    rows = []

    def prov(info):
        return dict(checkpoint_sha256=info.sha256[:12], seed=a.seed, device=device_name, code_revision=rev)

    sets = [("17 bundled photographs", imagesets.bundled_photos(), True)]
    label = {"gcompris": "gcompris (140 photos)"}
    sets += [(label.get(s, f"{s} (sanity probe)"), imagesets.builtin_set(s), False)
             for s in a.probe_sets.split(",") if s]
    for data, images, few in sets:
        t0 = time.perf_counter()
        stores = {}
        attentive = data.startswith("gcompris")
        for name, path in family.items():
            stores[name] = features_for(path, images, device=dev, progress=True,
                                        token_layers=[encoder_depth(path)] if attentive else ())
        print(f"{data}: features of {len(images)} images x {len(family)} checkpoints in "
              f"{time.perf_counter() - t0:.1f} s (loadavg {os.getloadavg()[0]:.2f})")
        for x, y in combinations(family, 2):
            (sx, ix, _), (sy, _, _) = stores[x], stores[y]
            m = an.cka_between(sx, sy, "mean", unbiased=few)
            rows += results.cka_rows(x, y, m, sx, ix, data, "mean", few, prov(ix))
            print(f"  CKA {x} vs {y}: diagonal " + " ".join(f"{v:.2f}" for v in m.diagonal())
                  + f"; last layers {m[-1, -1]:.3f}")
        if images.labelled:
            for name, (store, info, _) in stores.items():
                t1 = time.perf_counter()
                probes = ("knn", "linear", "attentive") if attentive else ("knn", "linear")
                scores = an.probe_table(store, probes, ("cls", "mean"), None, a.folds, a.seed,
                                        attentive_layers=[store.layers[-1]] if attentive else (),
                                        attentive_steps=a.attentive_steps, device=dev)
                rows += results.probe_rows(name, scores, store, info, data, prov(info))
                best = max(scores, key=lambda s: s.mean)
                last = [s for s in scores if s.layer == store.layers[-1]]
                print(f"  {name}: " + "; ".join(f"{s.probe} {s.kind} last {100 * s.mean:.1f}±{100 * s.std:.1f}"
                                                for s in last)
                      + f"; best {best.probe} {best.kind} layer {best.layer} {100 * best.mean:.1f} "
                        f"({time.perf_counter() - t1:.0f} s)")
    out = Path(a.out) if a.out else results.default_path()
    to_csv(rows, out)
    print(f"{len(rows)} rows -> {out} (code {rev}, {device_name})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
