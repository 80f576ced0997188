"""Speed and memory of the representation tools (prints figures; no pass/fail).

    python scripts/representations_bench.py [--n 128] [--batch-size 16] [--skip-family]

1. Features of the 17 bundled photographs x the embedded family x all layers, from an empty cache.
2. A ViT-B/16 encoder (random weights, 224 px, 12 blocks) on a labelled folder of --n images (scikit-learn's digits
   written as PNGs, 10 classes), in one process each:
   - a plain batched forward: decode + forward_encoder, nothing kept;
   - feature extraction of all 13 layers (CLS and mean-pooled) streamed to a fresh cache: decode + forward +
     per-layer pooling + writes; the ratio of the two wall times;
   - the same two, paired: images decoded once, then per batch a plain forward and the extraction's work
     alternately, so that the shared machine's changing load hits both alike;
   - peak resident memory of each (ru_maxrss);
   - an interrupted extraction (stopped after half the batches) and its resumption: batches recomputed;
   - DINO k-NN over all 13 layers x 2 kinds x 5 folds on the extracted features.
Each figure is printed with the 1-minute load average.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def load() -> str:
    return f"loadavg {os.getloadavg()[0]:.2f}"


def vit_b16():
    from mae_core.model import MAEConfig, build_model

    import torch

    torch.manual_seed(0)
    return build_model(MAEConfig(img_size=224, patch_size=16, embed_dim=768, depth=12, num_heads=12,
                                 has_decoder=False)).eval()


def _child(mode: str, folder: str, cache: str, batch_size: int, stop_after: int = 0) -> None:
    """One measurement in its own process, so ru_maxrss is its own peak. Prints one JSON line."""
    import resource

    import torch

    from mae_core.representations import features as F
    from mae_core.representations.imagesets import labelled_folder

    images = labelled_folder(folder)
    model = vit_b16()
    out = {}
    t0 = time.perf_counter()
    if mode == "paired":
        # decode once; then per batch, alternately, a plain forward and the extraction's work (every layer pooled
        # and written to memory-mapped files), so a change in the machine's load hits both alike
        import numpy as np

        paths = [str(p) for p in images.paths]
        batches = [x for _, (x, _, _) in F._Prefetch(paths, range(0, len(paths), batch_size), batch_size, (224, 224),
                                                      "stretch")]
        n, D, depth = len(paths), model.cfg.embed_dim, model.cfg.depth
        Path(cache).mkdir(parents=True, exist_ok=True)
        mm = {(k, l): np.lib.format.open_memmap(Path(cache) / f"{k}{l}.npy", mode="w+", dtype=np.float32,
                                                shape=(n, D)) for k in ("cls", "mean") for l in range(depth + 1)}
        ids = torch.arange(model.cfg.num_patches)
        t_plain = t_ext = 0.0
        for i, x in enumerate(batches):
            s, e = i * batch_size, i * batch_size + x.shape[0]
            for order in ((0, 1) if i % 2 == 0 else (1, 0)):
                t = time.perf_counter()
                with torch.inference_mode():
                    if order == 0:
                        model.forward_encoder(x, ids.expand(x.shape[0], -1))
                    else:
                        for l, h in F.iter_layers(model, x):
                            mm[("cls", l)][s:e] = h[:, 0].float().numpy()
                            mm[("mean", l)][s:e] = h[:, 1:].float().mean(1).numpy()
                        for a in mm.values():
                            a.flush()
                dt = time.perf_counter() - t
                if order == 0:
                    t_plain += dt
                else:
                    t_ext += dt
        out.update(plain=t_plain, extract=t_ext)
    elif mode == "plain":
        paths = [str(p) for p in images.paths]
        ids = torch.arange(model.cfg.num_patches)
        for s, (x, ok, _) in F._Prefetch(paths, range(0, len(paths), batch_size), batch_size, (224, 224),
                                         "stretch"):
            with torch.inference_mode():
                model.forward_encoder(x, ids.expand(x.shape[0], -1))
    else:
        done = []

        def on_batch(d, t):
            done.append(d)
            if stop_after and len(done) == stop_after:
                raise KeyboardInterrupt

        try:
            F.extract(model, images, checkpoint_sha256="vit-b16-random-seed0", batch_size=batch_size,
                      cache_dir=cache, on_batch=on_batch)
        except KeyboardInterrupt:
            out["stopped_at"] = done[-1]
        out["batches"] = len(done)
    out["seconds"] = time.perf_counter() - t0
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["load"] = os.getloadavg()[0]
    print(json.dumps(out))


def run_child(*args) -> dict:
    r = subprocess.run([sys.executable, __file__, "--child", *map(str, args)], capture_output=True, text=True,
                       cwd=ROOT)
    if r.returncode:
        raise SystemExit(r.stderr)
    return json.loads(r.stdout.strip().splitlines()[-1])


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
    ap.add_argument("--paired-only", action="store_true", help="only the paired extraction / forward ratio")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        mode, folder, cache, bs, *rest = a.child
        _child(mode, folder, cache, int(bs), int(rest[0]) if rest else 0)
        return 0
    import numpy as np
    import torch

    print(f"torch threads {torch.get_num_threads()}, {os.cpu_count()} CPUs ({load()})")
    if not a.skip_family:
        family_bench()
    from PIL import Image
    from sklearn.datasets import load_digits

    d = load_digits()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "digits"
        for i in range(a.n):
            sub = folder / str(d.target[i])
            sub.mkdir(parents=True, exist_ok=True)
            Image.fromarray((d.images[i] / 16 * 255).astype(np.uint8)).resize((224, 224)).save(sub / f"{i}.png")
        n_batches = -(-a.n // a.batch_size)
        if a.paired_only:
            paired = run_child("paired", folder, Path(tmp) / "paired", a.batch_size)
            print(f"paired, per batch alternately, decoding excluded from both: plain forward {paired['plain']:.1f} s, "
                  f"extraction {paired['extract']:.1f} s, ratio {paired['extract'] / paired['plain']:.2f} "
                  f"(loadavg {paired['load']:.2f})")
            return 0
        plain = run_child("plain", folder, Path(tmp) / "unused", a.batch_size)
        print(f"ViT-B/16 plain batched forward of {a.n} images (decode included), batch {a.batch_size}: "
              f"{plain['seconds']:.1f} s, peak RSS {plain['peak_rss_mb']:.0f} MB (loadavg {plain['load']:.2f})")
        ext = run_child("extract", folder, Path(tmp) / "cache", a.batch_size)
        print(f"ViT-B/16 feature extraction, 13 layers x (CLS, mean), streamed to disk: {ext['seconds']:.1f} s, "
              f"peak RSS {ext['peak_rss_mb']:.0f} MB (loadavg {ext['load']:.2f})")
        print(f"  ratio extraction / plain forward: {ext['seconds'] / plain['seconds']:.2f} "
              f"(one run each, one after the other: the machine's load changes between them)")
        paired = run_child("paired", folder, Path(tmp) / "paired", a.batch_size)
        print(f"  paired, per batch alternately, decoding excluded from both: plain forward {paired['plain']:.1f} s, "
              f"extraction {paired['extract']:.1f} s, ratio {paired['extract'] / paired['plain']:.2f} "
              f"(loadavg {paired['load']:.2f})")
        stop = max(1, n_batches // 2)
        first = run_child("extract", folder, Path(tmp) / "cache2", a.batch_size, stop)
        second = run_child("extract", folder, Path(tmp) / "cache2", a.batch_size)
        print(f"  interrupted after {first['batches']} of {n_batches} batches ({first['stopped_at']} images on "
              f"disk); the rerun computed {second['batches']} batches and finished")
        from mae_core.representations import probes as P
        from mae_core.representations.features import FeatureStore

        store = FeatureStore.open(next((Path(tmp) / "cache").iterdir()))
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
