"""Quality against training: ``python -m mae_core curves`` scores a run's snapshots (``train --snapshot-every``).

For every snapshot of every run it measures, on the held-out demo images (mae_core.reconstruct.held_out_quality:
both images x seeds, r = 0.75, the run's training mask unit, the baselines on the same masks):
- masked MSE, and its ratio to the mean-fill and the normalised-Gaussian-fill baselines;
- the most local first-layer head: min over heads of its mean attention distance over the bundled photos
  (mae_core.attention.mad_over_images) divided by the exact uniform-attention level of the grid
  (mae_core.geometry.uniform_mad); below 1 = more local than attention spread evenly.
Each number is written twice: against training steps, and against estimated training compute (3 x the forward
FLOPs of mae_core.cost.flops per image, times the images seen), so members whose steps cost
differently (L = 64 ... 1024) can be compared at equal steps and at equal compute.

Rows are ablation-schema rows (status MEASURED) for the Ablation page; the output CSV is the only thing written.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from . import ablations as ab
from .assets import image_set
from .errors import ConfigError

T_STEPS = "training: quality vs steps"
T_COMPUTE = "training: quality vs compute"
STEPS = "training steps"
COMPUTE = "training compute (TFLOP, estimate)"
MSE = "held-out masked MSE ([0,1] RGB)"
VS_MEAN = "masked MSE / mean-fill"
VS_GAUSS = "masked MSE / Gaussian fill"
LOCAL_HEAD = "first-layer attention distance / uniform (most local head)"
SOURCE = "mae_core curves"
MAD_LAYER = 0


def training_tflop(cfg, mask_unit: int, images_seen: int, mask_ratio: float = 0.75) -> float:
    """Estimated training compute in TFLOP: forward + backward (3 x forward FLOPs) for every image seen."""
    from .cost import flops
    from .masking import make_mask

    n_keep = make_mask(cfg.grid, mask_unit, mask_ratio, 0).n_keep
    f = flops(cfg, n_keep)
    return 3.0 * f.total * images_seen / 1e12


def most_local_head(model, images) -> tuple[float, int]:
    """(min over heads of first-layer MAD / uniform reference, that head) over `images`."""
    from .attention import mad_over_images

    s = mad_over_images(model, images, layers=[MAD_LAYER], precision="fp32")
    ratio = s.mad_ratio[0]
    h = int(np.argmin(ratio))
    return float(ratio[h]), h


def snapshots(run) -> list[Path]:
    """The snapshot files of a run: `run` is a <name>.snapshots folder, or a checkpoint file whose folder has one."""
    run = Path(run)
    folder = run if run.is_dir() else run.with_name(run.name.split(".")[0] + ".snapshots")
    if not folder.is_dir():
        raise ConfigError(f"no snapshots at {folder} (train with --snapshot-every N)")
    files = sorted(folder.glob("step*.safetensors"))
    if not files:
        raise ConfigError(f"{folder} holds no step*.safetensors snapshots")
    return files


def score_run(run, name: str | None = None, seeds: int = 5, mad_images=None, progress: bool = True) -> list[dict]:
    """Ablation rows for every snapshot of one run (see the module docstring)."""
    from tqdm.auto import tqdm

    from .checkpoints import load_checkpoint
    from .reconstruct import held_out_quality
    from .train import code_revision

    files = snapshots(run)
    mad_images = list(image_set().values()) if mad_images is None else list(mad_images)
    rows = []
    for f in tqdm(files, desc=f"curves {name or Path(run).stem}", unit="snapshot", disable=not progress):
        model, info = load_checkpoint(f)
        t = info.training
        steps, seen = int(t["steps"]), int(t["images_seen"])
        mu = max(1, int(info.mask_unit or 1))
        cid = name or str(info.config.name or Path(run).name.split(".")[0])
        q = held_out_quality(model, mu, seeds=seeds)
        local, head = most_local_head(model, mad_images)
        cfg = model.cfg
        base = dict(study=ab.MEASURED_STUDY, model=cid, series=cid, status="MEASURED", source=SOURCE,
                    pretrain_data=f"{len(t.get('training_data', []))} photographs", L=cfg.num_patches,
                    image_size=cfg.img_size[0], patch_size=cfg.patch_size, mask_unit=mu,
                    mask_ratio=0.75, decoder_depth=cfg.decoder_depth, decoder_width=cfg.decoder_embed_dim,
                    decoder_heads=cfg.decoder_num_heads, target="pixel", checkpoint=f"{cid}@{steps}",
                    checkpoint_sha256=info.sha256[:12], image="china+flower", device=t.get("device", ""),
                    code_revision=code_revision(),
                    note=f"snapshot at step {steps} of a {t.get('schedule_steps', steps)}-step schedule "
                         f"(batch {t.get('batch_size')}); MSE over 2 held-out images x {seeds} seeds; "
                         f"first-layer MAD over {len(mad_images)} photos, most local head {head}")
        values = {MSE: q["model"], VS_MEAN: q["model"] / q["mean_fill"],
                  VS_GAUSS: q["model"] / q["gaussian_fill"], LOCAL_HEAD: local}
        x = {(T_STEPS, STEPS): str(steps),
             (T_COMPUTE, COMPUTE): f"{training_tflop(cfg, mu, seen):.4g}"}
        for (table, setting), xv in x.items():
            for metric, v in values.items():
                rows.append({**base, "table": table, "setting": setting, "setting_value": xv, "metric": metric,
                             "value": float(v), "layer": MAD_LAYER if metric == LOCAL_HEAD else None})
    return rows
