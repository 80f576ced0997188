"""Our own measured sweep: ``python -m mae_core sweep`` evaluates checkpoints over sequence length and mask unit.

For each checkpoint (default: the embedded family p16-m1 / p8-m1 / p8-m2 / p4-m4), each held-out demo image and each
seed it measures, on the same seeded masks:
- masked MSE and PSNR (mae_core.reconstruct, [0, 1] RGB units) at the checkpoint's training mask unit, as a
  function of L at a fixed pixel masking granularity (p16-m1, p8-m2, p4-m4: all 16-px mask cells);
- the same at other mask units (1, 2, 4) with L fixed (p8-m1 vs p8-m2, and each checkpoint off its training unit);
- the classical baselines on the same masks: mean fill and Gaussian-interpolation fill;
- mean attention distance per encoder layer on the unmasked image (mae_core.attention.analyze), also as a ratio
  to the exact uniform-attention reference of the grid (mae_core.geometry.uniform_mad);
- cost: Le, forward FLOPs (mae_core.cost.flops) and measured forward latency.
Optionally (``--image-sizes``) each checkpoint is also evaluated at other input sizes with its own patch size,
i.e. at other L (the sin-cos tables are regenerated; the model never saw those sizes - noted in each row).

Results are rows of the ablation schema (mae_core.ablations), status MEASURED, one per (checkpoint, setting,
image, seed, metric), with checkpoint id, sha256 prefix, seed, image, device and code revision; written as CSV so
the Ablation page can plot them beside the published curves.
"""
from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

import torch

from . import ablations as ab
from . import cost
from .assets import DEMO_IMAGES, embedded
from .errors import ConfigError, MAEError

MSE = "masked MSE ([0,1] RGB)"
PSNR = "PSNR (dB, masked pixels)"
MAD_PX = "mean attention distance (px, mean over heads)"
MAD_FRAC = "mean attention distance / image width"
MAD_RATIO = "attention distance / uniform attention"
LATENCY = "forward latency (ms, batch 1, median)"
GFLOPS = "forward GFLOPs (estimate, encoder + decoder)"
LE = "encoder tokens Le"
T_L = "sweep: L at fixed mask cell"
T_UNIT = "sweep: mask unit"
T_MAD = "sweep: attention distance"
T_COST = "sweep: cost"
SOURCE = "mae_core sweep"
BASELINES = {"mean_fill": "mean-fill", "gaussian_fill": "gaussian-fill"}
DEFAULT_MASK_UNITS = (1, 2, 4)


def _device_label(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu x{torch.get_num_threads()} threads"


def _load_note(device: torch.device, repeats: int) -> str:
    """Machine load when a latency was taken: CPU timings on a shared machine are indicative only."""

    try:
        la = os.getloadavg()[0]
        text = f"median of {repeats} timed runs after warm-up; 1-min load average {la:.2f} on {os.cpu_count()} cores"
        return text + ("" if device.type == "cuda" else " (CPU timings on a shared machine are indicative only)")
    except (OSError, AttributeError):
        return "load average not available"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def forward_latency_ms(model, image, mask, repeats: int = 5, warmup: int = 2) -> float:
    """Median wall time of one masked forward pass (encoder + decoder, batch 1), in milliseconds.

    image: anything mae_core.images.load_image accepts (resized to model.cfg.img_size); mask: a Mask on the grid."""
    from .images import load_image, normalise, to_array

    device = next(model.parameters()).device
    x = normalise(to_array(load_image(image), model.cfg.img_size)).to(device)
    ids_keep, ids_restore = mask.batch(1, device)
    times = []
    with torch.inference_mode():
        for i in range(warmup + max(1, repeats)):
            _sync(device)
            t0 = time.perf_counter()
            if model.cfg.has_decoder:
                model(x, ids_keep, ids_restore)
            else:
                model.forward_encoder(x, ids_keep)
            _sync(device)
            if i >= warmup:
                times.append((time.perf_counter() - t0) * 1e3)
    return float(statistics.median(times))


def _resolve_checkpoints(specs) -> dict:
    """Names of embedded checkpoints or paths -> {id: path}."""

    EMBEDDED = embedded()
    if not specs:
        missing = [n for n, p in EMBEDDED.items() if not Path(p).is_file()]
        if missing:
            raise ConfigError(f"embedded checkpoint(s) {', '.join(missing)} not found in "
                              f"{Path(EMBEDDED[missing[0]]).parent}; train them (python -m mae_core train) "
                              f"or pass --checkpoints")
        return {n: Path(p) for n, p in EMBEDDED.items()}
    out = {}
    for s in specs:
        if isinstance(s, (tuple, list)):
            name, path = s
        elif str(s) in EMBEDDED:
            name, path = str(s), EMBEDDED[str(s)]
        else:
            path = Path(s)
            name = path.stem if path.is_file() else path.name
        if not Path(path).exists():
            raise ConfigError(f"no checkpoint at {path}")
        if name in out:
            name = f"{name}#{len(out)}"
        out[name] = Path(path)
    return out


def _resolve_images(specs) -> dict:
    """Names of demo images, paths, or (name, image) pairs -> {name: source}."""

    if not specs:
        return dict(DEMO_IMAGES)
    out = {}
    for s in specs:
        if isinstance(s, (tuple, list)):
            out[str(s[0])] = s[1]
        elif str(s) in DEMO_IMAGES:
            out[str(s)] = DEMO_IMAGES[str(s)]
        else:
            p = Path(s)
            if not p.is_file():
                raise ConfigError(f"no image {s!r}: give a file or one of {', '.join(DEMO_IMAGES)}")
            out[p.stem] = p
    return out


def run_sweep(checkpoints=None, images=None, seeds=(0, 1, 2), mask_ratio: float = 0.75,
              mask_units=DEFAULT_MASK_UNITS, image_sizes=(), device="auto", latency_repeats: int = 5,
              attention: bool = True, progress: bool = True, notes: list | None = None,
              target: str | None = None) -> list[dict]:
    """Evaluate checkpoints; returns ablation-schema rows (status MEASURED).

    checkpoints: embedded names, paths, or (id, path) pairs; None = the embedded family.
    images: demo-image names, paths, or (name, image) pairs; None = all of mae_core.assets.DEMO_IMAGES.
    mask_units: evaluated at the native input size (the training mask unit is always added);
    image_sizes: extra input sizes I (same patch size, so L = (I/p)^2 changes); mask units that do not fit a
    grid are skipped and reported in `notes` (a list you pass in).
    latency_repeats: timed forward passes per point (median reported); 0 = no latency rows.
    target: "auto" (None) | "pixels" | "norm-pix" for every checkpoint (an explicit choice wins over what a file
    records and over the probe; said in `notes`)."""
    from tqdm.auto import tqdm

    from .checkpoints import load_checkpoint
    from .images import load_image
    from .precision import resolve_device
    from .train import code_revision

    notes = notes if notes is not None else []
    device = resolve_device(device)
    ckpts = _resolve_checkpoints(checkpoints)
    imgs = {k: load_image(v) for k, v in _resolve_images(images).items()}
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ConfigError("give at least one seed")
    if not 0.0 <= float(mask_ratio) < 1.0:
        raise ConfigError(f"mask ratio must be in [0, 1), got {mask_ratio}")
    prov = dict(study=ab.MEASURED_STUDY, status="MEASURED", source=SOURCE, device=_device_label(device),
                code_revision=code_revision())

    loaded = {}
    for cid, path in ckpts.items():
        model, info = load_checkpoint(path, device=device, target=target)
        loaded[cid] = (model, info)
        notes += [f"{cid}: {n}" for n in info.notes if "by your choice" in n]

    plan = _plan(loaded, mask_units, image_sizes, mask_ratio, notes)
    total = len(plan) * len(imgs) * len(seeds) + (len(loaded) * len(imgs) if attention else 0)
    bar = tqdm(total=total, desc="sweep", unit="eval", disable=not progress)
    rows = []
    baseline_done = set()
    try:
        for cid, size, m, approx, mu, train_mu in plan:
            model, info = loaded[cid]
            native = size == model.cfg.img_size
            base = _base_row(prov, cid, info, m.cfg, size, mu, mask_ratio)
            note_bits = _note_bits(model, info, train_mu, size, native, approx)
            if not m.cfg.has_decoder:
                notes.append(f"{cid}: encoder only - no reconstruction rows")
                bar.update(len(imgs) * len(seeds))
                continue
            for iname, img in imgs.items():
                for seed in seeds:
                    rows += _reconstruction_rows(m, img, iname, seed, mu, train_mu, mask_ratio, base, note_bits,
                                                 cid, native, size, baseline_done)
                    bar.update(1)
            if mu == train_mu:
                rows += _cost_rows(m, imgs, seeds, mu, mask_ratio, base, note_bits, cid, native, device,
                                   latency_repeats)
        if attention:
            for cid, (model, info) in loaded.items():
                for iname, img in imgs.items():
                    rows += _attention_rows(prov, cid, model, info, iname, img)
                    bar.update(1)
    finally:
        bar.close()
    return rows


def _plan(loaded: dict, mask_units, image_sizes, mask_ratio: float, notes: list) -> list[tuple]:
    """Every (checkpoint, size, adapted model, approximations, mask unit, training mask unit) to evaluate, planned
    first so the progress bar knows the total; what cannot run is said in `notes`."""
    from .masking import make_mask
    from .reconstruct import prepare

    plan = []
    for cid, (model, info) in loaded.items():
        p, native = model.cfg.patch_size, model.cfg.img_size
        if native[0] != native[1]:
            notes.append(f"{cid}: non-square native size {native}; image_size column holds the height")
        train_mu = max(1, int(info.mask_unit or 1))
        sizes = [native] + [(int(s), int(s)) for s in image_sizes if (int(s), int(s)) != native]
        for size in sizes:
            try:
                m, approx = prepare(model, size, p)
            except MAEError as e:
                notes.append(f"{cid} at I={size[0]}: skipped ({e})")
                continue
            units = sorted(set(mask_units) | {train_mu}) if size == native else [train_mu]
            for mu in units:
                try:
                    make_mask(m.cfg.grid, mu, mask_ratio, 0)
                except ConfigError as e:
                    notes.append(f"{cid} at I={size[0]}, mask unit {mu}: skipped ({e})")
                    continue
                plan.append((cid, size, m, approx, mu, train_mu))
    return plan


def _base_row(prov: dict, cid: str, info, cfg, size, mu: int, mask_ratio: float) -> dict:
    """The columns every row of one (checkpoint, size, mask unit) evaluation shares."""
    gh, gw = cfg.grid
    training = info.training or {}
    return dict(prov, model=cid, checkpoint=cid, checkpoint_sha256=(info.sha256 or "")[:12],
                pretrain_data=(f"{len(training['training_data'])} photographs"
                               if training.get("training_data") else None),
                L=gh * gw, image_size=size[0], patch_size=cfg.patch_size, mask_unit=mu, mask_ratio=float(mask_ratio),
                decoder_depth=cfg.decoder_depth if cfg.has_decoder else None,
                decoder_width=cfg.decoder_embed_dim if cfg.has_decoder else None,
                decoder_heads=cfg.decoder_num_heads if cfg.has_decoder else None,
                target="norm-pix" if cfg.norm_pix_loss else "pixel")


def _note_bits(model, info, train_mu: int, size, native: bool, approx) -> list[str]:
    """What a row's note says about its checkpoint: how it was trained, and a size it was not trained at."""
    bits = [f"trained {model.cfg.img_size[0]}px p{model.cfg.patch_size} m{train_mu}"]
    if (info.training or {}).get("steps"):
        bits.append(f"{info.training['steps']} steps")
    if not native:
        bits.append(f"evaluated at I={size[0]} (not its training size): " + "; ".join(approx))
    return bits


def _reconstruction_rows(m, img, iname: str, seed: int, mu: int, train_mu: int, mask_ratio: float, base: dict,
                         note_bits: list, cid: str, native: bool, size, baseline_done: set) -> list[dict]:
    """Masked MSE and PSNR of one reconstruction, in the mask-unit table (native size) and the L table (the training
    mask unit), with the classical baselines of each geometry once (`baseline_done` remembers them)."""
    from .reconstruct import reconstruct

    gh, gw = m.cfg.grid
    p = m.cfg.patch_size
    cell = p * mu
    res = reconstruct(m, img, mask_unit=mu, mask_ratio=mask_ratio, seed=seed, precision="fp32")
    eff = res.effective_ratio
    bits = note_bits + ([f"effective mask ratio {eff:.4f}"] if abs(eff - mask_ratio) > 1e-9 else [])
    r0 = dict(base, Le=res.lengths.Le, image=iname, seed=seed, note="; ".join(bits))
    parts = []
    if native:
        parts.append((T_UNIT, "mask_unit", str(mu), None))
    if mu == train_mu:
        series = (f"{cell}-px mask cells" if native
                  else f"{cid}, {cell}-px mask cells (resized input)")
        parts.append((T_L, "L", str(gh * gw), series))
    rows = []
    for table, setting, sval, series in parts:
        for met, v in ((MSE, res.masked_mse), (PSNR, res.psnr)):
            rows.append(dict(r0, table=table, setting=setting, setting_value=sval, series=series,
                             metric=met, value=float(v)))
        # baselines depend only on the image, the grid and the mask: once per geometry
        key = (table, iname, seed, size, p, mu, series if table == T_L else None)
        if key in baseline_done:
            continue
        baseline_done.add(key)
        for bkey, bname in BASELINES.items():
            if bkey not in res.baselines:
                continue
            bseries = None if series is None else f"{bname}, {cell}-px mask cells"
            if series is not None and not native:  # another input size: one line per p
                bseries += f", p={p} (resized input)"
            rows.append(dict(r0, table=table, model=bname, checkpoint=None, checkpoint_sha256=None,
                             pretrain_data=None, decoder_depth=None, decoder_width=None,
                             decoder_heads=None, target=None, setting=setting,
                             setting_value=sval, series=bseries, metric=MSE,
                             value=float(res.baselines[bkey]),
                             note=f"classical baseline on the same mask as {cid}'s row"))
    return rows


def _cost_rows(m, imgs: dict, seeds: list, mu: int, mask_ratio: float, base: dict, note_bits: list, cid: str,
               native: bool, device, latency_repeats: int) -> list[dict]:
    """Le, forward GFLOPs and the measured forward latency of one checkpoint at its training mask unit."""
    from .masking import make_mask

    cfg = m.cfg
    gh, gw = cfg.grid
    lat_mask = make_mask(cfg.grid, mu, mask_ratio, seeds[0])
    first_img = next(iter(imgs.values()))
    lat = forward_latency_ms(m, first_img, lat_mask, repeats=latency_repeats) if latency_repeats else None
    res_c = dict(base, Le=lat_mask.n_keep, table=T_COST, setting="L", setting_value=str(gh * gw),
                 series=cid if not native else None, note="; ".join(note_bits))
    fl = cost.flops(cfg, lat_mask.n_keep)
    rows = []
    for met, v in ((LE, lat_mask.n_keep), (GFLOPS, fl.total / 1e9), (LATENCY, lat)):
        if v is None:
            continue
        extra = {}
        if met == LATENCY:
            extra = dict(seed=seeds[0], image=next(iter(imgs)),
                         note=res_c["note"] + f"; {_load_note(device, latency_repeats)}")
        rows.append(dict(res_c, metric=met, value=float(v), **extra))
    return rows


def _attention_rows(prov: dict, cid: str, model, info, iname: str, img) -> list[dict]:
    """Mean attention distance per layer (averaged over heads) on the unmasked image: pixels, fraction, ratio."""
    from .attention import analyze

    cfg = model.cfg
    gh, gw = cfg.grid
    base = dict(prov, model=cid, checkpoint=cid, checkpoint_sha256=(info.sha256 or "")[:12],
                table=T_MAD, setting="layer", series=f"{cid} (L={gh * gw})", L=gh * gw,
                image_size=cfg.img_size[0], patch_size=cfg.patch_size,
                mask_unit=max(1, int(info.mask_unit or 1)), Le=gh * gw,
                note="unmasked image (all L patches visible); MAD averaged over heads")
    res = analyze(model, img, precision="fp32")  # measured tables: the reference precision
    mad = res.mean_attention_distance.mean(axis=1)  # (layers,)
    frac = res.mad_fraction.mean(axis=1)
    rows = []
    for li, layer in enumerate(res.layers):
        px = dict(base, image=iname, layer=int(layer), setting_value=str(int(layer)), metric=MAD_PX,
                  value=float(mad[li]))
        rows += [px, dict(px, metric=MAD_FRAC, value=float(frac[li])), ratio_row(px)]
    return rows


def ratio_row(px_row: dict) -> dict:
    """The MAD_RATIO row of one MAD_PX row: the same measurement divided by the exact uniform-attention MAD of its
    grid (mae_core.geometry.uniform_mad; unmasked image, so all L patches), the reference level in its note."""
    from .geometry import uniform_mad

    I, p = int(px_row["image_size"]), int(px_row["patch_size"])
    ref = uniform_mad((I // p, I // p), p)
    note = (f"{px_row.get('note') or ''}; ratio to the uniform-attention MAD of the {I // p}x{I // p} grid: "
            f"{ref:.3f} px = {ref / I:.4f} of the width").lstrip("; ")
    return dict(px_row, metric=MAD_RATIO, value=float(px_row["value"]) / ref, note=note)


def write_rows(rows, out) -> Path:
    """Validate and write the rows as an ablation CSV (refused whole if any row is bad)."""
    out = Path(out)
    ab.to_csv(rows, out)
    return out


def summarise(rows) -> list[str]:
    """One line per (table, series/model, setting value, metric): mean +- std over images and seeds."""
    groups = {}
    for r in rows:
        key = (r["table"], r.get("series") or r["model"], r["setting"], r["setting_value"], r["metric"])
        groups.setdefault(key, []).append(r["value"])
    lines = []
    for (table, label, setting, sval, met), vals in groups.items():
        if table == T_MAD and met in (MAD_FRAC, MAD_RATIO):
            continue
        sd = statistics.pstdev(vals) if len(vals) > 1 else 0.0
        lines.append(f"{table:<28} {label:<40} {setting}={sval:<5} {met}: {statistics.fmean(vals):.5g}"
                     f" \u00b1 {sd:.2g} (n={len(vals)})")
    return lines
