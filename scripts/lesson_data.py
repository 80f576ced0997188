"""Precompute what the Lesson page shows from the shipped checkpoints, so that its first paint runs no model.

    python scripts/lesson_data.py [--checkpoint-dir assets/checkpoints] [--out assets/lesson/lesson_data.npz]

Run it again after retraining the embedded family (same names): tests/test_lesson.py checks that the file equals
what this script produces from the checkpoints on disk (their sha256 first, then every number). It takes about a
minute of CPU time (2 cores), most of it the effective receptive fields over the 17 bundled photos.

What it stores (one compressed .npz, numbers and small uint8 images only):
- the masking steps (noise, ids_shuffle, ids_restore, mask) of the default seed on each grid the lesson draws;
- p16-m1 / p8-m1 / p8-m2 reconstructions of the default image on the same 16-px masks (masked input, result,
  masked MSE, PSNR, L, Le, Ld and the two classical fills);
- mean attention distance per layer and head over the bundled photos, with its uniform-attention reference;
- the gradient effective receptive field of the centre token per layer over the bundled photos (50 % / 90 %
  radii, the two references, and the maps sum-pooled 4x).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

OUT = ROOT / "assets" / "lesson" / "lesson_data.npz"
SETTINGS = dict(image="flower", seed=2, mask_ratio=0.75, cell_px=16,
                steps=(("p16-m1", 1), ("p8-m1", 1), ("p8-m2", 2)),  # (checkpoint whose grid is drawn, mask unit)
                recon=("p16-m1", "p8-m1", "p8-m2"), mad=("p16-m1", "p8-m1", "p8-m2", "p4-m4"),
                erf=("p16-m1", "p8-m2"), erf_pool=4)
COMMAND = "python scripts/lesson_data.py"


def sha256(path) -> str:
    """The checkpoint's content hash, as CheckpointInfo.sha256 and the README images' settings record it."""
    from mae_core.checkpoints import file_sha256

    return file_sha256(path)


def _u8(arr01) -> np.ndarray:
    return (np.clip(arr01, 0, 1) * 255 + 0.5).astype(np.uint8)


def build(checkpoint_dir=None, progress: bool = True) -> dict:
    """Every array the lesson reads, computed from the checkpoints in `checkpoint_dir` (default: the embedded
    family's folder). Keys are flat strings; 'meta' is a JSON string."""
    from tqdm import tqdm

    from mae_core import assets
    from mae_core.attention import mad_over_images
    from mae_core.checkpoints import load_checkpoint
    from mae_core.images import load_image
    from mae_core.masking import shuffle_steps
    from mae_core.receptive_field import downsample_map, effective_receptive_field
    from mae_core.reconstruct import reconstruct

    folder = Path(checkpoint_dir or assets.family_dir())
    names = sorted(set(n for n, _ in SETTINGS["steps"]) | set(SETTINGS["recon"]) | set(SETTINGS["mad"])
                   | set(SETTINGS["erf"]))
    paths = {n: folder / f"{n}.safetensors" for n in names}
    missing = [n for n, p in paths.items() if not p.is_file()]
    if missing:
        raise SystemExit(f"error: {', '.join(missing)} not in {folder}")
    photos = assets.image_set()
    images = [load_image(p) for p in photos.values()]
    demo = load_image(assets.DEMO_IMAGES[SETTINGS["image"]])
    seed, r = SETTINGS["seed"], SETTINGS["mask_ratio"]
    out, meta = {}, dict(settings={k: v for k, v in SETTINGS.items()}, command=COMMAND, photos=list(photos),
                         checkpoints={})
    work = len(SETTINGS["recon"]) + len(SETTINGS["mad"]) + len(SETTINGS["erf"])
    bar = tqdm(total=work, desc="lesson data", unit="part", disable=not progress)
    models = {}
    for n in names:
        models[n], info = load_checkpoint(paths[n])
        cfg = models[n].cfg
        meta["checkpoints"][n] = dict(sha256=sha256(paths[n]), image_size=int(cfg.img_size[0]),
                                      patch_size=int(cfg.patch_size), depth=int(cfg.depth), heads=int(cfg.num_heads),
                                      mask_unit=int(info.mask_unit or 1))
    for n, m in SETTINGS["steps"]:
        s = shuffle_steps(models[n].cfg.grid, m, r, seed)
        for k in ("noise_cells", "cell", "ids_shuffle", "ids_restore", "mask"):
            out[f"steps/{n}/m{m}/{k}"] = getattr(s, k)
        out[f"steps/{n}/m{m}/len_keep"] = np.int64(s.len_keep)
    for n in SETTINGS["recon"]:
        model = models[n]
        mu = SETTINGS["cell_px"] // int(model.cfg.patch_size)
        res = reconstruct(model, demo, mask_unit=mu, mask_ratio=r, seed=seed)
        out["recon/original"] = _u8(res.original)
        out[f"recon/{n}/masked"] = _u8(res.masked)
        out[f"recon/{n}/pasted"] = _u8(res.pasted)
        out[f"recon/{n}/mask"] = res.mask.astype(np.float32)
        out[f"recon/{n}/metrics"] = np.array([res.masked_mse, res.psnr, res.lengths.L, res.lengths.Le,
                                              res.lengths.Ld, res.effective_ratio, res.baselines.get("mean_fill"),
                                              res.baselines.get("gaussian_fill"), mu], dtype=np.float64)
        bar.update(1)
    for n in SETTINGS["mad"]:
        s = mad_over_images(models[n], images)
        out[f"mad/{n}/mean"] = s.mean_attention_distance
        out[f"mad/{n}/std"] = s.std
        out[f"mad/{n}/uniform"] = np.float64(s.uniform_mad)
        bar.update(1)
    for n in SETTINGS["erf"]:
        e = effective_receptive_field(models[n], images)
        for k in ("radius", "radius_std", "patch_radius", "image_radius"):
            out[f"erf/{n}/{k}"] = np.asarray(getattr(e, k), dtype=np.float64)
        out[f"erf/{n}/maps"] = np.stack([downsample_map(mp, SETTINGS["erf_pool"]) for mp in e.maps]).astype(np.float32)
        out[f"erf/{n}/token"] = np.asarray(e.token, dtype=np.int64)
        bar.update(1)
    bar.close()
    out["meta"] = np.array(json.dumps(meta, sort_keys=True))
    return out


def save(arrays: dict, out=OUT) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(out)
    return out


def load(path=OUT) -> dict:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint-dir", help="the embedded family's folder (default: assets/checkpoints)")
    ap.add_argument("--out", default=str(OUT))
    a = ap.parse_args(argv)
    path = save(build(a.checkpoint_dir), a.out)
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
