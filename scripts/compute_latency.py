"""Print how long the Reconstruction and Attention pages' compute takes, from settings changed to arrays ready.

    python scripts/compute_latency.py [--device auto|cpu|cuda] [--precision auto|fp32|tf32|bf16] [--repeats 20]
                                      [--arch L --image-size 448 --patch-size 16] [--tiny] [--json OUT]

It calls what the pages call, the cached ui.resources.reconstruction and ui.resources.attention (checkpoint load,
the adapted model, the inference slot, mae_core), on a random-weight checkpoint written once to a temporary folder
(ViT-L/16 @448 by default: L = 784), on the device the app would use (MAE_DEVICE; CUDA when present). Every timed
call is a new setting, so it is never a cache hit: a new seed (a new mask) for the reconstruction, a new query patch
for the attention analysis (CLS and query maps, rollout and MAD of every encoder layer). The first call of each
(model load, adaptation, kernel warm-up; a compiled forward's capture with MAE_COMPILE=1) is printed apart. Figures
are the median and the 90th percentile of --repeats calls, each ended by a device synchronisation. --tiny runs a
2-block model in seconds (used to check the script end to end). A benchmark that prints, not a test.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ARCHS = {"B": "_B", "L": "_L", "H": "_H", "tiny": "_T"}


def page_calls(path, device):
    """(reconstruction, attention, name): the pages' cached calls in ui.resources; where Streamlit is not installed
    (a bare GPU machine) the same library calls with the same arguments ui.resources passes them."""
    try:
        from ui import resources
    except ImportError:
        resources = None
    if resources is not None:
        sha = resources.file_sha256(path)

        def recon(img_key, img, I, p, m, r, seed, precision):
            return resources.reconstruction(resources.ReconRequest(str(path), sha, img_key, I, p, m, r, seed,
                                                                   precision=precision), img)

        def attention(img_key, img, I, p, query, precision):
            return resources.attention(resources.AttentionRequest(str(path), sha, img_key, I, p, query, "mean",
                                                                  precision=precision), img)
        return recon, attention, "ui.resources (the pages' cached calls)"
    from mae_core.attention import analyze
    from mae_core.checkpoints import load_checkpoint
    from mae_core.reconstruct import prepare, reconstruct

    model, _ = load_checkpoint(path, device=device)
    model.eval()
    budget_mb = float(os.environ.get("MAE_MEMORY_BUDGET_MB", "4096"))  # ui.limits' default

    def recon(img_key, img, I, p, m, r, seed, precision):
        variant, _ = prepare(model, (I, I), p)
        return reconstruct(variant, img, mask=None, mask_unit=m, mask_ratio=r, seed=seed, keep="blocks",
                           denorm="visible", fit="stretch", precision=precision)

    def attention(img_key, img, I, p, query, precision):
        variant, _ = prepare(model, (I, I), p)
        return analyze(variant, img, query=query, layers="encoder", head_fusion="mean", fit="stretch",
                       precision=precision, budget_mb=budget_mb)
    return recon, attention, "mae_core with ui.resources' arguments (Streamlit not installed)"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    ap.add_argument("--precision", default="auto", choices=("auto", "fp32", "tf32", "bf16"))
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--arch", default="L", choices=tuple(ARCHS))
    ap.add_argument("--image-size", type=int, default=448)
    ap.add_argument("--patch-size", type=int, default=16)
    ap.add_argument("--mask-ratio", type=float, default=0.75)
    ap.add_argument("--tiny", action="store_true", help="a 2-block model at 64 px, p = 8 (seconds, any device)")
    ap.add_argument("--json", help="also write the figures here")
    a = ap.parse_args(argv)
    if a.tiny:
        a.arch, a.image_size, a.patch_size = "tiny", 64, 8
    os.environ["MAE_DEVICE"] = a.device  # read by ui.resources when it loads the checkpoint

    import numpy as np
    import torch

    from mae_core import bench
    from mae_core.model import MAEConfig
    from mae_core.checkpoints import save_checkpoint
    from mae_core.precision import resolve_device, resolve_precision

    device = resolve_device(a.device)
    precision = resolve_precision(a.precision, device)
    cfg = MAEConfig(img_size=a.image_size, patch_size=a.patch_size, **getattr(bench, ARCHS[a.arch]))
    gh, gw = cfg.grid
    rng = np.random.default_rng(0)
    from PIL import Image

    img = Image.fromarray(rng.integers(0, 256, (a.image_size, a.image_size, 3), dtype=np.uint8))
    img_key = f"random-{a.image_size}"

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    with tempfile.TemporaryDirectory(prefix="mae_compute_latency_") as tmp:
        path = save_checkpoint(bench.random_model(cfg, 0), Path(tmp) / "random.safetensors", dtype=torch.float32)
        page_recon, page_attention, code_path = page_calls(path, device)

        def recon(seed):
            res = page_recon(img_key, img, a.image_size, a.patch_size, 1, a.mask_ratio, seed, precision)
            sync()
            return res

        def attention(k):
            res = page_attention(img_key, img, a.image_size, a.patch_size, divmod(k % (gh * gw), gw), precision)
            sync()
            return res

        def timed(fn, arg) -> float:
            t0 = time.perf_counter()
            fn(arg)
            return 1e3 * (time.perf_counter() - t0)

        first = dict(reconstruction_ms=timed(recon, 10_000), attention_ms=timed(attention, gh * gw // 2 + gw // 2))
        rec = [timed(recon, 10_001 + i) for i in range(a.repeats)]
        att = [timed(attention, i * 7 + 1) for i in range(a.repeats)]
        check = recon(10_001)
        assert check.precision == precision and np.isfinite(check.reconstruction).all()

    def summary(xs):
        return dict(median_ms=statistics.median(xs), p90_ms=float(np.percentile(xs, 90)), n=len(xs))

    out = dict(model=f"ViT-{a.arch}/{a.patch_size} @{a.image_size} random weights", L=cfg.num_patches,
               device=str(device), gpu=torch.cuda.get_device_name(0) if device.type == "cuda" else None,
               precision=precision, torch=torch.__version__, threads=torch.get_num_threads(),
               loadavg=" ".join(Path("/proc/loadavg").read_text().split()[:3]) if Path("/proc/loadavg").exists()
               else "", first_call=first, reconstruction=summary(rec), attention=summary(att),
               compile=os.environ.get("MAE_COMPILE", "0"), code_path=code_path)
    print(f"{out['model']} (L={out['L']}) on {device} {out['gpu'] or ''} in {precision}, loadavg {out['loadavg']}; "
          f"through {code_path}")
    print(f"  first call (load, adapt, warm-up): reconstruction {first['reconstruction_ms']:.1f} ms, "
          f"attention {first['attention_ms']:.1f} ms")
    for name in ("reconstruction", "attention"):
        s = out[name]
        print(f"  {name:<15} new setting -> arrays ready: median {s['median_ms']:.1f} ms, p90 {s['p90_ms']:.1f} ms "
              f"(n={s['n']})")
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
