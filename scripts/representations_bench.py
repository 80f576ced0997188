"""Speed and memory of the representation tools (prints figures; no pass/fail).

    python scripts/representations_bench.py [--n 128] [--batch-size 16] [--skip-family] [--keep DIR]

1. Features of the 17 bundled photographs x the embedded family x all layers, from an empty cache.
2. A ViT-B/16 encoder (random weights, 224 px, 12 blocks) on a labelled folder of --n images (scikit-learn's digits
   written as 224-px PNGs, 10 classes; beyond the 1,797 digits each repeat is shifted by a few pixels), in one run:
   - images decoded ahead on a thread (as the library does); per batch, alternately, a plain batched forward
     (forward_encoder, nothing kept) and the library's extraction step (FeatureRun.write: all 13 layers pooled, CLS
     and mean, written to the cache and recorded), so that a change in the machine's load hits both alike; the
     ratio of the two sums;
   - peak resident memory of the process (ru_maxrss), which holds the model, one batch and the writes;
   - the run is killed (SIGKILL) once half the images are recorded and started again: it resumes from the cache;
     the rows recomputed are counted, and the first and last batch are checked against a fresh extraction;
   - DINO k-NN over all 13 layers x 2 kinds x 5 folds on the extracted features.
Each figure is printed with the 1-minute load average.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHA = "vit-b16-random-seed0"


def load() -> str:
    return f"loadavg {os.getloadavg()[0]:.2f}"


def vit_b16():
    from mae_core.model import MAEConfig, build_model

    import torch

    torch.manual_seed(0)
    return build_model(MAEConfig(img_size=224, patch_size=16, embed_dim=768, depth=12, num_heads=12,
                                 has_decoder=False)).eval()


def _child(folder: str, cache: str, batch_size: int, log: str) -> None:
    """The paired run (resumes from the cache); appends one JSON line per batch to ``log``."""
    import resource

    import torch

    from mae_core.representations.features import FeatureRun
    from mae_core.representations.imagesets import labelled_folder

    images = labelled_folder(folder)
    model = vit_b16()
    run = FeatureRun.open(model.cfg, images, checkpoint_sha256=SHA, cache_dir=cache)
    ids = torch.arange(model.cfg.num_patches)
    with open(log, "a") as out:
        out.write(json.dumps({"start": run.starts_at}) + "\n")
        out.flush()
        for i, (s, (x, ok, why)) in enumerate(run.batches(batch_size)):
            t = {}
            for part in (("plain", "extract") if i % 2 == 0 else ("extract", "plain")):
                t0 = time.perf_counter()
                if part == "plain":
                    with torch.inference_mode():
                        model.forward_encoder(x, ids.expand(x.shape[0], -1))
                else:
                    run.write(model, x, s, ok, why)
                t[part] = time.perf_counter() - t0
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            out.write(json.dumps(dict(s=s, n=x.shape[0], rss=rss, load=os.getloadavg()[0], **t)) + "\n")
            out.flush()
    run.close()


def make_folder(folder: Path, n: int) -> None:
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    d = load_digits()
    rng = np.random.default_rng(0)
    for i in range(n):
        j = i % len(d.images)
        img = Image.fromarray((d.images[j] / 16 * 255).astype(np.uint8)).resize((224, 224))
        if i >= len(d.images):  # a repeat: shift it a little so that no two files are the same image
            dx, dy = rng.integers(-12, 13, size=2)
            img = img.transform(img.size, Image.Transform.AFFINE, (1, 0, int(dx), 0, 1, int(dy)))
        sub = folder / str(d.target[j])
        sub.mkdir(parents=True, exist_ok=True)
        img.save(sub / f"{i:05d}.png")


def state_rows(cache: Path) -> int:
    for p in cache.glob("*/state.json"):
        try:
            return int(json.loads(p.read_text()).get("pooled", 0))
        except (ValueError, OSError):
            return 0
    return 0


def paired_run(folder: Path, cache: Path, n: int, batch_size: int, log: Path) -> dict:
    """Start the paired child, kill it once half the rows are recorded, start it again; the log's figures."""
    cmd = [sys.executable, __file__, "--child", str(folder), str(cache), str(batch_size), str(log)]
    t0 = time.perf_counter()
    first = subprocess.Popen(cmd, cwd=ROOT)
    while first.poll() is None and state_rows(cache) < n // 2:
        time.sleep(0.5)
    killed_at = state_rows(cache)
    if first.poll() is None:
        first.send_signal(signal.SIGKILL)
    first.wait()
    if subprocess.run(cmd, cwd=ROOT).returncode:
        raise SystemExit("the resumed run failed")
    wall = time.perf_counter() - t0
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    starts = [x["start"] for x in lines if "start" in x]
    rows = [x for x in lines if "s" in x]
    return dict(wall=wall, killed_at=killed_at, starts=starts, batches=len(rows),
                rows=sum(x["n"] for x in rows), plain=sum(x["plain"] for x in rows),
                extract=sum(x["extract"] for x in rows), rss=max(x["rss"] for x in rows),
                load=sum(x["load"] for x in rows) / len(rows))


def check_rows(folder: Path, cache: Path, batch_size: int) -> float:
    """Largest difference between the resumed cache and a fresh extraction of the first and last batch."""
    import numpy as np
    import torch

    from mae_core.representations.features import FeatureStore, _load_batch, iter_layers
    from mae_core.representations.imagesets import labelled_folder

    images = labelled_folder(folder)
    store = FeatureStore.open(next(cache.iterdir()))
    model = vit_b16()
    worst = 0.0
    for s in (0, (store.n - 1) // batch_size * batch_size):
        x, _, _ = _load_batch([str(p) for p in images.paths[s:s + batch_size]], (224, 224), "stretch")
        with torch.inference_mode():
            for layer, h in iter_layers(model, x):
                got = store.get("mean", layer, only_valid=False)[s:s + x.shape[0]]
                worst = max(worst, float(np.abs(got - h[:, 1:].mean(1).numpy()).max()))
    return worst


def family_bench() -> None:
    from mae_core import assets
    from mae_core.representations.features import features_for
    from mae_core.representations.imagesets import bundled_photos

    images = bundled_photos()
    with tempfile.TemporaryDirectory() as cache:
        t0 = time.perf_counter()
        for path in assets.family().values():
            features_for(path, images, cache_dir=cache)
        took = time.perf_counter() - t0
    print(f"family: features of {len(images)} photographs x {len(assets.family())} checkpoints x all "
          f"layers (checkpoint loading included): {took:.1f} s ({load()})")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=128, help="images in the labelled folder")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--skip-family", action="store_true")
    ap.add_argument("--keep", help="build the folder and the cache here and keep them (default: a temporary folder)")
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        folder, cache, bs, log = a.child
        _child(folder, cache, int(bs), log)
        return 0
    import numpy as np
    import torch

    print(f"torch threads {torch.get_num_threads()}, {os.cpu_count()} CPUs ({load()})", flush=True)
    if not a.skip_family:
        family_bench()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(a.keep or tmp)
        work.mkdir(parents=True, exist_ok=True)
        folder, cache, log = work / "digits", work / "cache", work / "paired.jsonl"
        if not folder.is_dir():
            t0 = time.perf_counter()
            make_folder(folder, a.n)
            print(f"labelled folder of {a.n} images written in {time.perf_counter() - t0:.0f} s", flush=True)
        log.unlink(missing_ok=True)
        r = paired_run(folder, cache, a.n, a.batch_size, log)
        print(f"ViT-B/16, {r['rows']} images in {r['batches']} batches of {a.batch_size}, one run (killed once and "
              f"resumed), {r['wall']:.0f} s wall (mean {r['load']:.2f} loadavg):")
        print(f"  plain batched forward {r['plain']:.1f} s, extraction of 13 layers x (CLS, mean) written to disk "
              f"{r['extract']:.1f} s: ratio {r['extract'] / r['plain']:.3f}")
        print(f"  peak resident memory {r['rss']:.0f} MB (model, one batch, the writes)")
        print(f"  killed with {r['killed_at']} of {a.n} images recorded; the second start resumed at image "
              f"{r['starts'][-1]} and computed the other {a.n - r['starts'][-1]}")
        print(f"  resumed cache against a fresh extraction of its first and last batch: largest difference "
              f"{check_rows(folder, cache, a.batch_size):.2e}", flush=True)
        from mae_core.representations import probes as P
        from mae_core.representations.features import FeatureStore

        store = FeatureStore.open(next(cache.iterdir()))
        y = store.valid_labels()
        splits = P.folds(y, 5, 0)
        t0 = time.perf_counter()
        for kind in ("cls", "mean"):
            for layer in store.layers:
                P.knn_score(np.asarray(store.get(kind, layer)), y, splits)
        print(f"k-NN (k=20, T=0.07) over {len(store.layers)} layers x 2 kinds x 5 folds on {store.n} images, CPU: "
              f"{time.perf_counter() - t0:.2f} s ({load()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
