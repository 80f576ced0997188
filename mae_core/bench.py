"""``python -m mae_core bench``: latency and peak memory of our MAE against transformers' ViTMAEForPreTraining.

One run, identical random weights (same seed, ours converted with checkpoints.to_hf_state_dict) and identical
inputs (a seeded random image and one seeded 75% mask) for both sides. Each side does the same job:

  reconstruction  - the masked forward (encoder on the visible patches, decoder on all L);
  attention       - the full image through the encoder, then per-head CLS maps, one query patch's map, attention
                    rollout and mean attention distance for every encoder layer.

  ours: model(x, ids_keep, ids_restore) + mae_core.attention.analyze (one pass: each block's attention computed
        once, chunk by chunk, for its output and the reductions together; never a full layer map kept);
  HF:   model(pixel_values, noise) + model.vit(pixel_values, noise, output_attentions=True) with
        attn_implementation="eager" (SDPA returns no weights), then the same reductions done on the returned
        (1, H, T, T) matrices in float32 (vector-form rollout, MAD as one weighted sum per layer).
  floor: ours again with no analysis at all - the masked forward plus a plain full-image encoder forward (fused
        SDPA). HF ms / floor ms is the ceiling on any speed-up at this precision: both sides must compute this.

Precision (--precision, mae_core.precision): ours, HF and the floor all run in it (the same context: bf16 autocast,
TF32 matmuls or plain fp32); HF also runs in fp32 when it is another ("HF32"). Every side's outputs are compared with
our fp32 result (reconstruction in [0, 1] pixels, maps and rollout against their peak, MAD relative).

Each side runs in two fresh subprocesses. Latency: default allocator, --repeats timed jobs (default 20) after one
warm-up, each between two device synchronisations; the median and the 90th percentile. Peak memory
(MALLOC_MMAP_THRESHOLD_ set so freed tensors go back to the OS, which slows every allocation and is why it has its
own process): the highest resident set size sampled every millisecond from /proc/self/statm during one job, minus
the resident size just before it (weights excluded); on CUDA torch.cuda.max_memory_allocated minus the allocation
before. The outputs of both sides are compared (max |diff|). The load average is recorded at the start and the end.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch

from .errors import ConfigError
from .model import MAEConfig, build_model

_B = dict(embed_dim=768, depth=12, num_heads=12, decoder_embed_dim=512, decoder_depth=8, decoder_num_heads=16)
_L = dict(embed_dim=1024, depth=24, num_heads=16, decoder_embed_dim=512, decoder_depth=8, decoder_num_heads=16)
_T = dict(embed_dim=64, depth=2, num_heads=2, decoder_embed_dim=32, decoder_depth=1, decoder_num_heads=2)
_H = dict(embed_dim=1280, depth=32, num_heads=16, decoder_embed_dim=512, decoder_depth=8, decoder_num_heads=16)
ROWS = {
    "B16-224": ("ViT-B/16 @224", dict(img_size=224, patch_size=16, **_B)),  # L = 196
    "B8-224": ("ViT-B/8 @224", dict(img_size=224, patch_size=8, **_B)),  # L = 784
    "L16-448": ("ViT-L/16 @448", dict(img_size=448, patch_size=16, **_L)),  # L = 784
    "L8-448": ("ViT-L/8 @448", dict(img_size=448, patch_size=8, **_L)),  # L = 3136
    "H14-448": ("ViT-H/14 @448", dict(img_size=448, patch_size=14, **_H)),  # L = 1024
}
DEFAULT_ROWS = {"cpu": ("B16-224", "B8-224"), "cuda": tuple(ROWS)}  # a 2-core CPU finishes these in minutes
QUICK_ROWS = {
    "tiny-L16": ("tiny ViT (64d, 2 blocks) @32/8", dict(img_size=32, patch_size=8, **_T)),  # L = 16
    "tiny-L64": ("tiny ViT (64d, 2 blocks) @64/8", dict(img_size=64, patch_size=8, **_T)),  # L = 64
}
# The targets the bench grades its own figures against (one run, its own ratios).
TARGETS = {
    "cuda": dict(speedup_every_row=1.5, speedup_at_L3136=3.0, floor_ratio_L784_up=1.3, l16_448_bf16_ms=10.0,
                 memory_ratio_at_L3136=0.05, map_of_peak=1e-2, mad_rel=5e-3, recon_px=1e-2),
    "cpu": dict(speedup_at_L196=1.1, speedup_at_L784=1.1, floor_ratio_at_L784=1.2, memory_ratio_at_L3136=0.05),
}
MASK_RATIO = 0.75


# ------------------------------------------------------------------ shared, deterministic set-up
def random_model(cfg: MAEConfig, seed: int = 0):
    """Seeded MAE with every weight random (biases and norms perturbed too), fixed sin-cos tables kept."""
    torch.manual_seed(seed)
    model = build_model(cfg)
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "pos_embed" not in name:
                p.add_(0.05 * torch.randn(p.shape, generator=g))
    return model.eval()


def bench_inputs(cfg: MAEConfig, seed: int = 0):
    """(x (1, 3, H, W), Mask) shared by both sides."""
    from .masking import make_mask

    g = torch.Generator().manual_seed(seed + 2)
    x = torch.randn(1, cfg.in_chans, *cfg.img_size, generator=g)
    return x, make_mask(cfg.grid, 1, MASK_RATIO, seed=seed)


def hf_model_from(model, attn_implementation: str = "eager"):
    """transformers ViTMAEForPreTraining with exactly our weights (ConfigError when transformers is missing)."""
    try:
        from transformers import ViTMAEConfig, ViTMAEForPreTraining
    except ImportError:
        raise ConfigError("the benchmark needs transformers (pip install -r requirements-dev.txt)") from None
    from .checkpoints import detect_hf_naming, hf_config_for, to_hf_state_dict

    hf = ViTMAEForPreTraining(ViTMAEConfig(**hf_config_for(model.cfg), attn_implementation=attn_implementation))
    hf.load_state_dict(to_hf_state_dict(model, detect_hf_naming(hf.state_dict().keys())), strict=True)
    return hf.eval()


def hf_noise(ids_keep: torch.Tensor, L: int) -> torch.Tensor:
    """(1, L) noise that makes HF keep exactly ids_keep, in that order (HF keeps the smallest noise, ascending)."""
    noise = 1.0 + 0.01 * torch.arange(L, dtype=torch.float32) / L
    noise[ids_keep] = torch.arange(ids_keep.numel(), dtype=torch.float32) / (10 * ids_keep.numel())
    return noise[None]


def hf_attention_analysis(hf, x: torch.Tensor, grid, patch_size: int, query_rc) -> dict:
    """The reference way with transformers: full-image encoder forward with output_attentions=True (eager), then the
    same reductions as mae_core.attention.analyze on the returned matrices (float32).

    Returns cls (n, H, L), query (n, H, L), rollout (L,), mad (n, H) in pixels."""
    from .geometry import patch_centers

    gh, gw = grid
    L = gh * gw
    hf.config.mask_ratio = 0.0
    out = hf.vit(pixel_values=x, noise=torch.arange(L, dtype=torch.float32, device=x.device)[None],
                 output_attentions=True)
    atts = [a[0].float() for a in out.attentions]  # (H, T, T) per layer, T = 1 + L, raster order
    c = torch.from_numpy(patch_centers(grid, patch_size)).float().to(x.device)
    dist = torch.cdist(c, c)  # (L, L) pixels
    q = 1 + query_rc[0] * gw + query_rc[1]
    cls = torch.stack([a[:, 0, 1:] for a in atts])
    query = torch.stack([a[:, q, 1:] for a in atts])
    mad = []
    for a in atts:
        ap = a[:, 1:, 1:]
        mad.append(((ap * dist).sum(-1) / ap.sum(-1)).mean(-1))
    T = L + 1
    r = torch.zeros(T, device=x.device)
    r[0] = 1.0
    eye = torch.eye(T, device=x.device)
    for a in reversed(atts):
        fused = 0.5 * a.mean(0) + 0.5 * eye
        r = r @ (fused / fused.sum(-1, keepdim=True))
    return dict(cls=cls, query=query, rollout=r[1:], mad=torch.stack(mad))


# ------------------------------------------------------------------ measurement
class RSSPeak:
    """Highest resident set size above the level at entry, sampled every `interval` s in a thread (Linux /proc;
    elsewhere the process high-water mark from getrusage, which is coarser)."""

    def __init__(self, interval: float = 0.001):
        self.interval = interval
        self.page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
        self.proc = Path("/proc/self/statm").exists()

    def rss(self) -> int:
        if self.proc:
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * self.page
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def __enter__(self):
        self.base = self.rss()
        self.peak = self.base
        self._stop = threading.Event()

        def loop():
            while not self._stop.is_set():
                self.peak = max(self.peak, self.rss())
                time.sleep(self.interval)

        self._t = threading.Thread(target=loop, daemon=True)
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, self.rss())
        self.delta = self.peak - self.base
        return False


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


SIDES = ("ours", "hf", "hf_fp32")  # hf_fp32: transformers in float32 whatever --precision is (skipped when equal)


def _jobs(side: str, model, x, mask, device, precision: str, compile_: bool = False,
          budget_mb: float | None = None):
    """(recon_fn, attention_fn, hf model or None, bare_fn or None) for one side, each run in ``precision``
    (mae_core.precision.compute: the same context for both sides); each returns outputs for the checks."""
    from .attention import analyze
    from .precision import compute

    cfg = model.cfg
    gh, gw = cfg.grid
    query = (gh // 2, gw // 2)
    ids_keep, ids_restore = mask.batch(1, device)
    if side == "ours":
        def recon():
            if compile_:  # torch.compile(mode="reduce-overhead") of the forward, cached with the model
                from . import compiled

                out, info = compiled.forward(model, x, ids_keep, ids_restore, compute(device, precision))
                recon.info = info
                return out
            with compute(device, precision):
                return model(x, ids_keep, ids_restore)

        def attention():
            res = analyze(model, x, query=query, layers="encoder", precision=precision, budget_mb=budget_mb)
            return dict(cls=res.cls_attention.reshape(cfg.depth, -1, gh * gw),
                        query=res.query_attention.reshape(cfg.depth, -1, gh * gw),
                        rollout=res.rollout.reshape(-1), mad=res.mean_attention_distance)

        full_ids = torch.arange(gh * gw, device=device)[None]

        def bare():  # the floor: the same two forwards with no analysis at all (fused SDPA, nothing kept)
            with compute(device, precision):
                model(x, ids_keep, ids_restore)
                return model.forward_encoder(x, full_ids)
        return recon, attention, None, bare
    hf = hf_model_from(model).to(device)
    noise = hf_noise(mask.ids_keep, gh * gw).to(device)
    n_keep = mask.n_keep

    def recon():
        hf.config.mask_ratio = 1.0 - (n_keep + 0.5) / (gh * gw)  # int(L * (1 - r)) == n_keep
        with compute(device, precision):
            return hf(pixel_values=x, noise=noise).logits

    def attention():
        with compute(device, precision):
            return hf_attention_analysis(hf, x, cfg.grid, cfg.patch_size, query)
    return recon, attention, hf, None


def _to_numpy(v):
    if isinstance(v, dict):
        return {k: _to_numpy(x) for k, x in v.items()}
    if isinstance(v, torch.Tensor):
        return v.detach().float().cpu().numpy()
    return np.asarray(v, dtype=np.float32)


def measure(side: str, cfg_dict: dict, seed: int = 0, repeats: int = 20, device: str = "cpu",
            threads: int = 0, what: str = "both", precision: str = "auto",
            compile_: bool = False, budget_mb: float | None = None) -> tuple[dict, dict]:
    """Run one side's jobs: -> (timings and/or peak memory, outputs as numpy arrays). what: latency | memory | both.

    side: ours | hf | hf_fp32. Ours also runs once in fp32 when the precision is another (outputs "ref.*"), the
    reference every side's deviation is measured against."""
    from .precision import resolve_precision

    if threads:
        torch.set_num_threads(threads)
    dev = torch.device(device)
    prec = "fp32" if side == "hf_fp32" else resolve_precision(precision, dev)
    cfg = MAEConfig.from_dict(cfg_dict)
    model = random_model(cfg, seed).to(dev)
    x, mask = bench_inputs(cfg, seed)
    x = x.to(dev)
    recon, attention, hf, bare = _jobs("hf" if side == "hf_fp32" else side, model, x, mask, dev, prec,
                                       compile_=compile_ and side == "ours" and dev.type == "cuda",
                                       budget_mb=budget_mb)
    outputs, stats = {}, dict(threads=torch.get_num_threads(), precision=prec)
    with torch.inference_mode():
        if side == "ours" and prec != "fp32":
            ref_recon, ref_attn, _, _ = _jobs("ours", model, x, mask, dev, "fp32")
            outputs["ref"] = dict(recon=_to_numpy(ref_recon()), **_to_numpy(ref_attn()))
    if hf is not None:
        del model  # HF holds its own copy; ours must not count in its process

    gc.collect()
    with torch.inference_mode():
        outputs["recon"] = _to_numpy(recon())  # warm-up, and the outputs for the agreement check
        outputs.update(_to_numpy(attention()))
        _sync(dev)
        gc.collect()
        if what in ("memory", "both"):
            if dev.type == "cuda":
                torch.cuda.reset_peak_memory_stats(dev)
                base = torch.cuda.memory_allocated(dev)
                recon()
                attention()
                _sync(dev)
                peak = torch.cuda.max_memory_allocated(dev) - base
                method = "torch.cuda.max_memory_allocated - allocated before"
            else:
                with RSSPeak() as rss:
                    recon()
                    attention()
                peak = rss.delta
                method = "peak RSS (sampled every 1 ms) - RSS before"
            stats.update(peak_mem_mb=peak / 2**20, memory_method=method)
        if what in ("latency", "both"):
            stats.update(_timings(recon, attention, bare, repeats, dev))
    if getattr(recon, "info", None):  # the compiled forward: its first call (compile + capture) is reported
        stats.update(compiled=recon.info["compiled"], compile_first_call_s=recon.info["first_call_s"],
                     compile_fallback=recon.info["fallback"])
    return stats, outputs


def _p90(xs) -> float:
    return float(np.percentile(np.asarray(xs), 90))


def _timings(recon, attention, bare, repeats: int, dev) -> dict:
    """Median and p90 of ``repeats`` timed jobs after the warm-up; each timed between two device synchronisations
    (CUDA events would time the same span: the host waits for the device at both ends either way)."""
    def timed(fn) -> float:
        _sync(dev)
        t0 = time.perf_counter()
        fn()
        _sync(dev)
        return time.perf_counter() - t0

    t_recon, t_attn, t_bare = [], [], []
    for _ in range(repeats):
        t_recon.append(timed(recon))
        t_attn.append(timed(attention))
    if bare is not None:
        bare()  # its own warm-up
        t_bare = [timed(bare) for _ in range(repeats)]
    total = [a + b for a, b in zip(t_recon, t_attn)]
    out = dict(latency_ms=1e3 * statistics.median(total), latency_p90_ms=1e3 * _p90(total),
               recon_ms=1e3 * statistics.median(t_recon), attention_ms=1e3 * statistics.median(t_attn),
               repeats=repeats)
    if t_bare:
        out.update(bare_forwards_ms=1e3 * statistics.median(t_bare), bare_forwards_p90_ms=1e3 * _p90(t_bare))
    return out


def _flatten(d: dict, prefix="") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _unflatten(d: dict) -> dict:
    out = {}
    for k, v in d.items():
        *path, last = k.split(".")
        node = out
        for part in path:
            node = node.setdefault(part, {})
        node[last] = v
    return out


def _worker(spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    stats, outputs = measure(spec["side"], spec["cfg"], spec["seed"], spec["repeats"], spec["device"],
                             spec["threads"], spec["what"], spec.get("precision", "auto"), spec.get("compile", False),
                             spec.get("budget_mb"))
    np.savez(spec["out"] + ".npz", **_flatten(outputs))
    Path(spec["out"] + ".json").write_text(json.dumps(stats))
    return 0


def _subprocess(side: str, cfg_dict: dict, what: str, *, seed, repeats, device, threads, timeout, precision,
                compile_=False, budget_mb=None):
    with tempfile.TemporaryDirectory(prefix="mae_bench_") as tmp:
        out = str(Path(tmp) / side)
        spec = Path(tmp) / "spec.json"
        spec.write_text(json.dumps(dict(side=side, cfg=cfg_dict, seed=seed, repeats=repeats, device=device,
                                        threads=threads, out=out, what=what, precision=precision,
                                        compile=compile_, budget_mb=budget_mb)))
        env = dict(os.environ)
        if what == "memory":  # freed tensors go straight back to the OS, so RSS follows the live tensors
            env.update(MALLOC_MMAP_THRESHOLD_="131072", MALLOC_TRIM_THRESHOLD_="131072")
        root = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
        proc = subprocess.run([sys.executable, "-m", "mae_core.bench", "--worker", str(spec)], env=env,
                              capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            raise RuntimeError(f"{side} worker failed (exit {proc.returncode}): {tail[0]}")
        stats = json.loads(Path(out + ".json").read_text())
        with np.load(out + ".npz") as z:
            outputs = _unflatten({k: z[k] for k in z.files})
    return stats, outputs


def run_side(side: str, cfg_dict: dict, *, seed: int, repeats: int, device: str, threads: int, isolate: bool,
             timeout: float = 7200, precision: str = "auto", compile_: bool = False,
             budget_mb: float | None = None) -> tuple[dict, dict]:
    """One side's figures. Isolated: two fresh processes, one timed with the default allocator and one measuring
    memory with glibc's mmap threshold lowered (that setting costs page faults, so it never touches the timings)."""
    if not isolate:
        return measure(side, cfg_dict, seed, repeats, device, threads, precision=precision, compile_=compile_,
                       budget_mb=budget_mb)
    kw = dict(seed=seed, repeats=repeats, device=device, threads=threads, timeout=timeout, precision=precision,
              compile_=compile_, budget_mb=budget_mb)
    mem, _ = _subprocess(side, cfg_dict, "memory", **kw)
    stats, outputs = _subprocess(side, cfg_dict, "latency", **kw)
    stats.update(peak_mem_mb=mem["peak_mem_mb"], memory_method=mem["memory_method"])
    return stats, outputs


def agreement(a: dict, b: dict) -> dict:
    """max |ours - HF| per output (NaN-free: the full image is analysed)."""
    return {k: float(np.max(np.abs(a[k] - b[k]))) for k in sorted(set(a) & set(b)) if k != "ref"}


def deviation(out: dict, ref: dict, cfg: MAEConfig) -> dict:
    """How far one side's outputs are from our fp32 result, in the terms of the fidelity bounds: the reconstruction
    as max |d| in [0, 1] pixels (de-normalised), each CLS / query map and the rollout as max |d| over the map's peak
    (worst layer and head), the MAD as the largest relative difference."""
    from .images import denormalise
    from .model import unpatchify

    def pixels(pred):
        return denormalise(unpatchify(torch.from_numpy(np.asarray(pred, dtype=np.float32)), cfg.pred_grid,
                                      cfg.pred_patch_size, cfg.in_chans))

    def of_peak(a, b):
        peak = np.max(b, axis=-1, keepdims=True)
        return float(np.max(np.abs(a - b) / peak))

    return dict(recon_px=float(np.max(np.abs(pixels(out["recon"]) - pixels(ref["recon"])))),
                cls_of_peak=of_peak(out["cls"], ref["cls"]), query_of_peak=of_peak(out["query"], ref["query"]),
                rollout_of_peak=of_peak(out["rollout"], ref["rollout"]),
                mad_rel=float(np.max(np.abs(out["mad"] - ref["mad"]) / np.abs(ref["mad"]))))


# ------------------------------------------------------------------ report
def format_table(result: dict) -> str:
    hdr = (f"{'model':<16} {'L':>5} | {'ours ms':>8} {'p90':>8} {'HF ms':>8} {'HF32 ms':>8} {'floor ms':>8} | "
           f"{'vs HF':>6} {'vs HF32':>7} {'/floor':>6} | {'ours MB':>8} {'HF MB':>8} {'mem':>6} | "
           f"{'recon px':>8} {'map/pk':>7} {'MAD rel':>7}")
    lines = [f"device {result['device']} {result.get('gpu', '')} ({result['threads']} threads), precision "
             f"{result['precision']}, torch {result['torch']}, transformers {result['transformers']}"
             + (f", CUDA {result['cuda']}, driver {result.get('driver', '?')}" if result.get("cuda") else "")
             + (f", loadavg {result['loadavg_start']} -> {result['loadavg_end']}" if result.get("loadavg_start")
                else ""), hdr, "-" * len(hdr)]
    for r in result["rows"]:
        o, h = r["ours"], r["hf"]
        h32 = r.get("hf_fp32", {}).get("latency_ms", h["latency_ms"] if result["precision"] == "fp32" else np.nan)
        dv = r["deviation"]["ours"]
        lines.append(f"{r['key']:<16} {r['L']:>5} | {o['latency_ms']:>8.1f} {o['latency_p90_ms']:>8.1f} "
                     f"{h['latency_ms']:>8.1f} {h32:>8.1f} {o['bare_forwards_ms']:>8.1f} | {r['speedup']:>5.2f}x "
                     f"{r['speedup_fp32']:>6.2f}x {r['floor_ratio']:>5.2f}x | {o['peak_mem_mb']:>8.1f} "
                     f"{h['peak_mem_mb']:>8.1f} {r['memory_ratio']:>6.3f} | {dv['recon_px']:>8.1e} "
                     f"{max(dv['cls_of_peak'], dv['query_of_peak'], dv['rollout_of_peak']):>7.1e} "
                     f"{dv['mad_rel']:>7.1e}")
    lines.append("vs HF = HF ms / ours ms in the same precision; vs HF32 = HF in float32 / ours; /floor = ours / our "
                 "two forwards with no analysis (fused SDPA) in the same precision; deviations: ours against our "
                 "float32 result")
    for t in result["targets"]:
        lines.append(f"target: {t['what']}: {t['value']} -> {t['status']}")
    return "\n".join(lines)


def _status(ok: bool) -> str:
    return "met" if ok else "NOT met"


def _targets(rows: list, device: str, precision: str) -> list:
    """The current targets for this device, each graded from this run's own figures (or 'not measured')."""
    t = TARGETS["cuda" if device == "cuda" else "cpu"]
    out = []

    def add(what, got, ok):
        out.append(dict(what=what, value=got, status=_status(ok) if got != "-" else "not measured in this run"))

    by_L = lambda L: [r for r in rows if r["L"] == L]  # noqa: E731
    if device == "cuda":
        if rows:
            worst = min(rows, key=lambda r: r["speedup"])
            add(f">= {t['speedup_every_row']}x faster than HF eager in the same precision at every row",
                f"{worst['speedup']:.2f}x ({worst['key']})", worst["speedup"] >= t["speedup_every_row"])
        r3136 = by_L(3136)
        add(f">= {t['speedup_at_L3136']}x faster than HF at L=3136",
            f"{min(r['speedup'] for r in r3136):.2f}x" if r3136 else "-",
            bool(r3136) and min(r["speedup"] for r in r3136) >= t["speedup_at_L3136"])
        big = [r for r in rows if r["L"] >= 784]
        add(f"ours <= {t['floor_ratio_L784_up']}x the floor at every row with L >= 784",
            f"{max(r['floor_ratio'] for r in big):.2f}x" if big else "-",
            bool(big) and max(r["floor_ratio"] for r in big) <= t["floor_ratio_L784_up"])
        l16 = [r for r in rows if r["key"] == "L16-448"]
        add(f"ViT-L/16@448 reconstruction + full analysis <= {t['l16_448_bf16_ms']} ms median in bf16",
            f"{l16[0]['ours']['latency_ms']:.1f} ms" if l16 and precision == "bf16" else "-",
            bool(l16) and precision == "bf16" and l16[0]["ours"]["latency_ms"] <= t["l16_448_bf16_ms"])
        if rows:
            dv = [r["deviation"]["ours"] for r in rows]
            maps = max(max(d["cls_of_peak"], d["query_of_peak"], d["rollout_of_peak"]) for d in dv)
            add(f"maps and rollout within {t['map_of_peak']:g} of their peak of our fp32 result", f"{maps:.1e}",
                maps <= t["map_of_peak"])
            mad = max(d["mad_rel"] for d in dv)
            add(f"MAD within {t['mad_rel']:.1%} of our fp32 result", f"{mad:.1e}", mad <= t["mad_rel"])
            px = max(d["recon_px"] for d in dv)
            add(f"reconstruction within {t['recon_px']:g} of our fp32 result in [0, 1] pixels", f"{px:.1e}",
                px <= t["recon_px"])
    else:
        for L, key in ((196, "speedup_at_L196"), (784, "speedup_at_L784")):
            rs = by_L(L)
            add(f">= {t[key]}x faster than HF at L={L} (worst row)",
                f"{min(r['speedup'] for r in rs):.2f}x" if rs else "-",
                bool(rs) and min(r["speedup"] for r in rs) >= t[key])
        rs = by_L(784)
        add(f"ours <= {t['floor_ratio_at_L784']}x the floor at L=784",
            f"{max(r['floor_ratio'] for r in rs):.2f}x" if rs else "-",
            bool(rs) and max(r["floor_ratio"] for r in rs) <= t["floor_ratio_at_L784"])
    r3136 = by_L(3136)
    add(f"peak memory <= {t['memory_ratio_at_L3136']} x HF at L=3136",
        f"{max(r['memory_ratio'] for r in r3136):.3f}" if r3136 else "-",
        bool(r3136) and max(r["memory_ratio"] for r in r3136) <= t["memory_ratio_at_L3136"])
    return out


def _device_info(device: str) -> dict:
    info = {}
    if device == "cuda":
        info.update(gpu=torch.cuda.get_device_name(0), cuda=torch.version.cuda)
        try:
            info["driver"] = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                            capture_output=True, text=True, timeout=30).stdout.strip().splitlines()[0]
        except (OSError, IndexError, subprocess.SubprocessError):
            info["driver"] = "unknown"
    return info


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return ""


def run(rows: dict, *, device: str = "cpu", repeats: int = 20, seed: int = 0, threads: int = 0,
        isolate: bool = True, progress: bool = True, precision: str = "auto", compile_: bool = False,
        budget_mb: float | None = None) -> dict:
    from tqdm import tqdm

    from .precision import resolve_precision

    try:
        import transformers
    except ImportError:
        raise ConfigError("the benchmark needs transformers (pip install -r requirements-dev.txt)") from None
    prec = resolve_precision(precision, device)
    result = dict(device=device, precision=prec, torch=torch.__version__, transformers=transformers.__version__,
                  threads=threads or torch.get_num_threads(), machine=platform.machine(),
                  python=platform.python_version(), repeats=repeats, seed=seed, mask_ratio=MASK_RATIO,
                  isolated_processes=isolate, compiled_forward=compile_ and device == "cuda",
                  analysis_budget_mb=budget_mb,
                  loadavg_start=_loadavg(), method=__doc__.split("\n\n", 1)[1].strip(),
                  rows=[], **_device_info(device))
    sides = SIDES if prec != "fp32" else SIDES[:2]
    bar = tqdm(total=len(sides) * len(rows), desc="bench", unit="side", disable=not progress)
    for key, (name, cfg_dict) in rows.items():
        cfg = MAEConfig(**cfg_dict)
        got = {}
        for side in sides:
            bar.set_postfix_str(f"{key} {side}")
            got[side] = run_side(side, cfg.to_dict(), seed=seed, repeats=repeats, device=device, threads=threads,
                                 isolate=isolate, precision=prec, compile_=compile_,
                                 budget_mb=budget_mb if side == "ours" else None)
            bar.update(1)
        (o, oo), (h, ho) = got["ours"], got["hf"]
        ref = oo.get("ref", oo)  # our float32 result
        h32, h32o = got.get("hf_fp32", (h, ho))
        row = dict(key=key, name=name, L=cfg.num_patches, img_size=cfg.img_size[0], patch_size=cfg.patch_size,
                   n_keep=int(cfg.num_patches * (1 - MASK_RATIO)), ours=o, hf=h,
                   speedup=h["latency_ms"] / max(o["latency_ms"], 1e-9),
                   speedup_fp32=h32["latency_ms"] / max(o["latency_ms"], 1e-9),
                   speedup_ceiling=h["latency_ms"] / max(o.get("bare_forwards_ms", float("nan")), 1e-9),
                   floor_ratio=o["latency_ms"] / max(o.get("bare_forwards_ms", float("nan")), 1e-9),
                   memory_ratio=o["peak_mem_mb"] / max(h["peak_mem_mb"], 1e-9),
                   max_abs_diff=agreement(oo, ho),
                   deviation={"ours": deviation(oo, ref, cfg), "hf": deviation(ho, ref, cfg),
                              "hf_fp32": deviation(h32o, ref, cfg)})
        if "hf_fp32" in got:
            row["hf_fp32"] = h32
        result["rows"].append(row)
    bar.close()
    result["loadavg_end"] = _loadavg()
    result["targets"] = _targets(result["rows"], device, prec)
    return result


def cli(argv=None) -> int:
    from .precision import PRECISION_HELP, PRECISIONS, resolve_device

    ap = argparse.ArgumentParser(prog="python -m mae_core bench", description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny configurations only (seconds; used by the tests)")
    ap.add_argument("--rows", help=f"comma-separated subset of {', '.join(ROWS)} (default: "
                                   f"{', '.join(DEFAULT_ROWS['cpu'])} on a CPU, all on CUDA)")
    ap.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    ap.add_argument("--precision", choices=PRECISIONS, default="auto", help=PRECISION_HELP)
    ap.add_argument("--repeats", type=int, default=20,
                    help="timed runs per side after one warm-up (median and p90; default 20; fewer on a slow CPU)")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--in-process", action="store_true",
                    help="measure in this process (faster start, less exact memory than fresh subprocesses)")
    ap.add_argument("--compile", action="store_true",
                    help="CUDA: our reconstruction forward through torch.compile(mode='reduce-overhead'); the first "
                         "call's compile time is reported (ignored on a CPU)")
    ap.add_argument("--memory-budget-mb", type=float,
                    help="cap on our analysis' working memory (default: none; on CUDA half the free memory, a whole "
                         "layer per block when it fits)")
    ap.add_argument("--out", help="write the results as JSON here")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        return _worker(a.worker)
    if a.repeats < 1:
        raise ConfigError("--repeats must be >= 1")
    device = resolve_device(a.device).type
    rows = QUICK_ROWS if a.quick else ROWS
    if a.rows:
        keys = [k.strip() for k in a.rows.split(",") if k.strip()]
        unknown = [k for k in keys if k not in rows]
        if unknown:
            raise ConfigError(f"unknown rows {unknown}; choose from {', '.join(rows)}")
        rows = {k: rows[k] for k in keys}
    elif not a.quick:
        rows = {k: ROWS[k] for k in DEFAULT_ROWS.get(device, tuple(ROWS))}
    result = run(rows, device=device, repeats=a.repeats, seed=a.seed, threads=a.threads,
                 isolate=not a.in_process, progress=not a.quiet, precision=a.precision, compile_=a.compile,
                 budget_mb=a.memory_budget_mb)
    print(format_table(result))
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps(result, indent=2))
        print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(cli())
