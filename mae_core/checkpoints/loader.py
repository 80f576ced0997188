"""Loading: read the container, let the first format module that claims it describe it, infer the architecture,
check every tensor against the model it describes, then build the model strictly.

Every problem (hostile or corrupt file, unknown keys, shape mismatch, absurd sizes, unknown architecture without
head counts) is a one-line CheckpointError. Loading is strict: missing or unexpected keys are listed, never ignored.
Adding a format means adding one module with ``claims(raw)`` and ``describe(raw)`` and listing it in FORMATS.
"""
from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import CheckpointError, MAEError
from ..geometry import sincos_pos_embed_2d
from ..model import MAEConfig, MaskedAutoencoderViT
from . import official, ours, transformers_format
from .architecture import arch_name, infer_config, shape_of
from .containers import WEIGHT_SUFFIXES, Raw, file_sha256, one_line, read_raw
from .info import (FORMAT_HF, FORMAT_LONGSEQ, FORMAT_MAE, TARGET_NORM, TARGET_PIXELS, CheckpointInfo, jsonable,
                   target_for_choice)
from .official import qv_bias_to_qkv
from .probe import probe_evidence

# Tried in this order; the first whose claims(raw) is true describes the file.
FORMATS = (transformers_format, ours, official)


@dataclass
class _Plan:
    raw: Raw
    sd: dict  # MAE-named tensors (or shapes)
    origin: dict  # MAE name -> name in the file
    cfg: MAEConfig
    info: CheckpointInfo
    fill_norm: bool = False
    target_known: bool = True


def _plan(path, tensors: bool, heads: dict | None = None) -> _Plan:
    raw = read_raw(path, tensors)
    fmt_module = next((f for f in FORMATS if f.claims(raw)), None)
    if fmt_module is None:  # read_raw only returns pickles and safetensors, which some format always claims
        raise CheckpointError(f"{raw.source.name}: no reader for this file")
    d = fmt_module.describe(raw)
    fmt, sd, origin, hints, training, mask_unit, notes = (d.format, d.sd, d.origin, d.hints, d.training,
                                                          d.mask_unit, d.notes)
    name = raw.source.name.lower()
    # --- long-seq q_bias / v_bias
    sd, n_qv = qv_bias_to_qkv(sd)
    for k in list(origin):
        if k not in sd:
            origin.pop(k)
    for k in sd:
        origin.setdefault(k, k.replace("qkv.bias", "{q,v}_bias"))
    if n_qv:
        notes.append(f"{n_qv} attention layers store q_bias/v_bias (no k bias): converted to qkv bias with a zero "
                     f"k bias")
    if heads:
        hints.update({k: v for k, v in heads.items() if v is not None})
    shapes = {k: shape_of(v) for k, v in sd.items()}
    if "patch_embed.proj.weight" not in shapes:  # not a ViT at all: say so in the user's terms, not by key name
        raise CheckpointError(f"{raw.source.name} is not an MAE checkpoint: it has no patch-embedding weights "
                              f"({looks_like(list(origin.get(k, k) for k in sd))})")
    cfg, arch_notes = infer_config(shapes, hints)
    notes += arch_notes
    # --- encoder-only files may lack the final norm: identity LayerNorm, said out loud
    fill_norm = not cfg.has_decoder and "norm.weight" not in sd and "norm.bias" not in sd
    if fill_norm:
        notes.append("no final encoder norm (norm.*) in the file: an identity LayerNorm is used (attention maps "
                     "do not depend on it)")
    # --- fixed sin-cos or learned position tables?
    if tensors and not cfg.learned_pos_embed and "learned_pos_embed" not in hints:
        learned = []
        for key, grid, dim in (("pos_embed", cfg.grid, cfg.embed_dim),
                               ("decoder_pos_embed", cfg.decoder_grid, cfg.decoder_embed_dim)):
            if key in sd and tuple(sd[key].shape) == (1, grid[0] * grid[1] + 1, dim) and dim % 4 == 0:
                ref = torch.from_numpy(sincos_pos_embed_2d(dim, grid))
                if float((sd[key][0].float() - ref).abs().max()) > 5e-3:
                    learned.append(key)
        if learned:
            cfg = cfg.replace(learned_pos_embed=True)
            notes.append(f"{', '.join(learned)} differ from MAE's fixed sin-cos table: treated as learned "
                         f"(resampled, not regenerated, at other sizes)")
    if mask_unit is None:
        mask_unit = 1
    # --- class
    target_known, source = True, ""
    if not cfg.has_decoder:
        target = None
        kind = "encoder-only"
        notes.append("attention analysis: yes (the encoder weights are complete); reconstruction: no - the file "
                     "holds no decoder (decoder_embed, mask_token, decoder_blocks, decoder_pred), so there is "
                     "nothing to predict the removed patches with")
        if "pretrain" in name:
            notes.append("MAE's released mae_pretrain_vit_* encoders were trained with norm-pix targets (MAE README)")
    else:
        if "norm_pix_loss" in hints:
            target = TARGET_NORM if hints["norm_pix_loss"] else TARGET_PIXELS
            source = ("config.json" if fmt.startswith(FORMAT_HF) else "stored args"
                      if fmt in (FORMAT_MAE, FORMAT_LONGSEQ) else "metadata")
        elif "_full" in name:
            target, source = TARGET_NORM, "file name"
            notes.append("target from the file name: MAE's *_full checkpoints reconstruct normalised pixels")
        elif "visualize" in name:
            target, source = TARGET_PIXELS, "file name"
            notes.append("target from the file name: MAE's visualize checkpoints reconstruct pixels")
        else:
            target, target_known = None, False
        longseq = (fmt == FORMAT_LONGSEQ or mask_unit > 1 or cfg.decoder_downsampling > 1)
        kind = "long-seq" if longseq else ("norm-pix-target" if target == TARGET_NORM else "pixel-target")
        if longseq:
            why = ("long_seq_mae format" if fmt == FORMAT_LONGSEQ else f"trained with {mask_unit}x{mask_unit} mask "
                   f"units" if mask_unit > 1 else f"decoder downsampling x{cfg.decoder_downsampling}")
            notes.append(f"class long-seq: {why}")
    cfg = cfg.replace(norm_pix_loss=target == TARGET_NORM)
    n_params = int(sum(math.prod(shape_of(v)) for v in sd.values()))
    info = CheckpointInfo(path=str(raw.source), format=fmt, kind=kind, target=target, arch_name=arch_name(cfg),
                          config=cfg, n_params=n_params, training=jsonable(training), mask_unit=int(mask_unit),
                          notes=notes, can_reconstruct=cfg.has_decoder, sha256="", target_source=source)
    return _Plan(raw, sd, origin, cfg, info, fill_norm, target_known)


# (substring of a weight name, what a file whose weights are so named looks like), first match wins
_LOOKS_LIKE = (
    ("word_embeddings", "a text model (BERT-style word embeddings)"),
    ("token_embedding", "a text or CLIP-style model (token embeddings)"),
    ("down_blocks", "a diffusion U-Net"),
    ("layer1.", "a convolutional network such as a ResNet"),
    ("features.", "a convolutional network (VGG/MobileNet-style 'features')"),
    ("conv", "a convolutional network"),
    ("lm_head", "a language model"),
)


def looks_like(keys) -> str:
    """A short guess, from its weight names, at what a file that is not a ViT holds."""
    keys = [str(k) for k in keys]
    if not keys:
        return "it holds no weights at all"
    if len(keys) == 1:
        return f"its only weight is {keys[0]}"
    for needle, what in _LOOKS_LIKE:
        if any(needle in k for k in keys):
            return f"it looks like {what}; {len(keys):,} weights such as {_fmt_keys(keys, 3)}"
    return f"its {len(keys):,} weights are named like {_fmt_keys(keys, 3)}"


def _fmt_keys(keys, limit: int = 6) -> str:
    keys = sorted(keys)
    more = f" (+{len(keys) - limit} more)" if len(keys) > limit else ""

    return ", ".join(keys[:limit]) + more


def _check_against_model(plan: _Plan) -> dict:
    """Compare the file's tensors with the model the config describes (built on the meta device: no memory)."""
    with torch.device("meta"):
        ref = MaskedAutoencoderViT(plan.cfg)
    expected = {k: tuple(v.shape) for k, v in ref.state_dict().items()}
    sd = dict(plan.sd)
    if plan.fill_norm:
        D = plan.cfg.embed_dim
        sd["norm.weight"], sd["norm.bias"] = torch.ones(D), torch.zeros(D)
    missing = set(expected) - set(sd)
    unexpected = set(sd) - set(expected)
    problems = []
    if missing:
        problems.append(f"missing keys: {_fmt_keys(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {_fmt_keys(plan.origin.get(k, k) for k in unexpected)}")
    wrong = [f"{plan.origin.get(k, k)} {list(shape_of(sd[k]))} != {list(expected[k])}" for k in sorted(
        set(expected) & set(sd)) if shape_of(sd[k]) != expected[k]]
    if wrong:
        problems.append(f"shape mismatch: {'; '.join(wrong[:4])}" + (f" (+{len(wrong) - 4} more)" if len(wrong) > 4
                                                                     else ""))
    if problems:
        raise CheckpointError(f"{plan.raw.source.name} does not match {plan.info.arch_name}: " + " | ".join(problems))
    bad = [plan.origin.get(k, k) for k, v in sd.items() if isinstance(v, torch.Tensor) and not v.is_floating_point()]
    if bad:
        raise CheckpointError(f"non-float weights: {_fmt_keys(bad)}")
    return sd


def _build(plan: _Plan, device) -> MaskedAutoencoderViT:
    sd = _check_against_model(plan)
    with torch.device("meta"):
        model = MaskedAutoencoderViT(plan.cfg)
    sd = {k: v.to(torch.float32) for k, v in sd.items()}
    nonfinite = [plan.origin.get(k, k) for k, v in sd.items() if not torch.isfinite(v).all()]
    if nonfinite:
        raise CheckpointError(f"weights contain NaN or inf: {_fmt_keys(nonfinite)}")
    try:
        model.load_state_dict(sd, strict=True, assign=True)
    except RuntimeError as e:  # already checked above; kept so nothing is ever loaded non-strictly
        raise CheckpointError(f"strict load failed: {one_line(e)}") from None
    leftover = [n for n, t in list(model.named_parameters()) + list(model.named_buffers()) if t.is_meta]
    if leftover:
        raise CheckpointError(f"not loaded: {_fmt_keys(leftover)}")
    return model.to(device).eval()


def _set_target(info: CheckpointInfo, target: str, source: str) -> None:
    """Record the target on info (class, config, source); for a fresh info only (never a shared one)."""
    info.target, info.target_source = target, source
    if info.kind != "long-seq":
        info.kind = "norm-pix-target" if target == TARGET_NORM else "pixel-target"
    info.config = info.config.replace(norm_pix_loss=target == TARGET_NORM)


def _apply_choice(info: CheckpointInfo, target: str | None) -> None:
    """The user's explicit target (already validated) wins over the probe and over any metadata; said in notes."""
    if target is None:
        return
    if not info.can_reconstruct:
        info.notes.append(f"target {target} asked for, but this checkpoint has no decoder: it does not apply")
        return
    was = (f"the {info.target_source}, which says {info.target}" if info.target_source else "the default")
    if info.target_source == "probe":
        was = f"the probe, which says {info.target}"
    _set_target(info, target, "your choice")
    info.notes.append(f"target {target} by your choice: it overrides {was}")


def load_checkpoint(path, device="cpu", *, num_heads: int | None = None, decoder_num_heads: int | None = None,
                    probe: bool = True, target: str | None = None) -> tuple[MaskedAutoencoderViT, CheckpointInfo]:
    """Load any supported checkpoint strictly -> (model in eval mode on `device`, CheckpointInfo).

    num_heads / decoder_num_heads: head counts for architectures that are neither known nor described by metadata.
    probe: when nothing records the target, decide it from the decoder's output statistics on a real image (the
    evidence is kept in info.probe).
    target: "auto" (None) | "pixels" | "norm-pix": an explicit choice that wins over the probe and the metadata."""
    choice = target_for_choice(target)
    plan = _plan(path, tensors=True, heads=dict(num_heads=num_heads, decoder_num_heads=decoder_num_heads))
    model = _build(plan, device)
    info = plan.info
    if not plan.target_known:
        if probe:
            ev = probe_evidence(model)
            info.probe = ev.to_dict()
            info.notes.append(f"target ({ev.verdict}) from an output-statistics probe on a real photograph: "
                              f"{ev.describe()}")
            _set_target(info, ev.verdict, "probe")
        else:
            info.notes.append("target not recorded and not probed: assumed pixels")
            _set_target(info, TARGET_PIXELS, "assumed")
    _apply_choice(info, choice)
    model.cfg = info.config  # a model built just now, not yet shared with anyone
    info.sha256 = file_sha256(plan.raw.weights)
    return model, info


def retarget(model: MaskedAutoencoderViT, info: CheckpointInfo, target: str | None):
    """(model, info) with an explicit target, as new objects: the given model and info are left untouched.

    The new model shares the given one's weights (read-only; nothing here writes to them) and differs only in its
    config's target, so a cached model is never flipped in place. target "auto" / None returns the inputs."""
    choice = target_for_choice(target)
    if choice is None:
        return model, info
    new_info = dataclasses.replace(info, notes=list(info.notes), training=dict(info.training),
                                   probe=dict(info.probe) if info.probe else None)
    _apply_choice(new_info, choice)
    new_model = copy.copy(model)  # a new module object over the same parameter tensors
    new_model.cfg = new_info.config
    return new_model, new_info


def inspect_checkpoint(path, *, num_heads: int | None = None, decoder_num_heads: int | None = None,
                       probe: bool = True, target: str | None = None) -> CheckpointInfo:
    """CheckpointInfo without keeping a model. Builds the model only when the target must be probed.

    target: as for load_checkpoint (an explicit choice wins over the probe and the metadata)."""
    choice = target_for_choice(target)
    heads = dict(num_heads=num_heads, decoder_num_heads=decoder_num_heads)
    plan = _plan(path, tensors=False, heads=heads)
    if not plan.target_known and probe:
        return load_checkpoint(path, num_heads=num_heads, decoder_num_heads=decoder_num_heads, probe=True,
                               target=target)[1]
    _check_against_model(plan)
    info = plan.info
    if not plan.target_known:
        info.notes.append("target not recorded and not probed: assumed pixels")
        _set_target(info, TARGET_PIXELS, "assumed")
    _apply_choice(info, choice)
    info.sha256 = file_sha256(plan.raw.weights)
    return info


@dataclass
class CheckpointScan:
    """What a folder holds: the loadable checkpoints, and each candidate that was skipped with a one-line reason."""

    found: list  # [Path]
    skipped: list  # [(Path, reason)]


def scan_checkpoints(directory) -> CheckpointScan:
    """Checkpoints directly in `directory` (files, and transformers model folders), sorted by name.

    Each candidate (a weights file, or a folder with a config.json) is read (shapes only; pickles memory-mapped)
    and checked against its architecture. Nothing is dropped silently: a candidate that fails (corrupt, hostile,
    unknown architecture, a resumable training state) is listed in ``skipped`` with the reason."""
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f"{directory} is not a directory")
    found, skipped = [], []
    for p in sorted(directory.iterdir()):
        if p.is_dir():
            if not (p / "config.json").is_file():
                continue
        elif not p.name.endswith(WEIGHT_SUFFIXES):
            continue
        elif p.name.endswith(".resume.pt"):
            skipped.append((p, "a resumable training state (python -m mae_core train), not a checkpoint"))
            continue
        try:
            plan = _plan(p, tensors=False)
            _check_against_model(plan)
        except MAEError as e:
            skipped.append((p, one_line(e)))
            continue
        found.append(p)
    return CheckpointScan(found, skipped)


def find_checkpoints(directory) -> list[Path]:
    """The loadable checkpoints of scan_checkpoints(directory) (which also says what it skipped and why)."""
    return scan_checkpoints(directory).found
