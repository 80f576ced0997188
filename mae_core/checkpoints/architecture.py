"""The architecture of a checkpoint from its tensor shapes (plus whatever metadata gives), and size limits.

Widths, depths, the MLP ratios (encoder, and decoder when it differs), the native patch size (patch-embedding
kernel) and the grid (length of the position table) are read from the shapes; head counts are not stored in weights
and come from metadata or the table of known MAE architectures. Configs come from untrusted files, so absurd sizes
are refused before anything is built.
"""
from __future__ import annotations

import math
import re

import torch

from ..architectures import encoder_names
from ..errors import CheckpointError, ConfigError
from ..geometry import as_hw
from ..config import MAEConfig
from .containers import one_line

# Head counts are not in the weights. Known architectures, by (width, blocks) -> heads.
KNOWN_ENCODERS = encoder_names()  # (width, depth) -> (name, heads), from mae_core.architectures
KNOWN_DECODERS = {(512, 8): 16,  # MAE dec512d8b (16 heads); long-seq ViT-L dec512d16h8b
                  (384, 8): 12}  # long-seq ViT-B dec384d12h8b

# Refuse absurd sizes before building anything.
LIMITS = dict(width=8192, depth=256, side_px=16384, patch=1024, patches=262144, params=4_000_000_000)


def shape_of(v) -> tuple:
    return tuple(v.shape) if isinstance(v, torch.Tensor) else tuple(v)


def _block_count(keys, prefix: str) -> int:
    idx = {int(m.group(1)) for k in keys if (m := re.match(rf"^{re.escape(prefix)}\.(\d+)\.", k))}
    if not idx:
        return 0
    if idx != set(range(max(idx) + 1)):
        missing = sorted(set(range(max(idx) + 1)) - idx)
        raise CheckpointError(f"{prefix} is not contiguous: block(s) {missing[:6]} missing")
    return max(idx) + 1


def _need(shapes: dict, key: str, ndim: int) -> tuple:
    if key not in shapes:
        raise CheckpointError(f"missing key {key}: not a MAE checkpoint this tool can read")
    s = shapes[key]
    if len(s) != ndim:
        raise CheckpointError(f"{key} has shape {list(s)}, expected {ndim} dimensions")
    return s


def check_limits(cfg_like: dict):
    """Refuse absurd architectures before allocating anything (configs come from untrusted files)."""
    try:
        _check_limits_(cfg_like)
    except (TypeError, ValueError, OverflowError) as e:
        raise CheckpointError(f"the architecture in the metadata is malformed ({one_line(e, 80)})") from None


def _check_limits_(cfg_like: dict):
    lim = LIMITS
    for k in ("embed_dim", "decoder_embed_dim"):
        v = int(cfg_like.get(k, 0) or 0)
        if not 0 <= v <= lim["width"]:
            raise CheckpointError(f"{k}={v} is outside 0..{lim['width']}; refusing to build it")
    for k in ("depth", "decoder_depth", "num_heads", "decoder_num_heads"):
        v = int(cfg_like.get(k, 0) or 0)
        if not 0 <= v <= lim["depth"]:
            raise CheckpointError(f"{k}={v} is outside 0..{lim['depth']}; refusing to build it")
    img = cfg_like.get("img_size", 224)
    h, w = (img, img) if isinstance(img, (int, float)) else tuple(img)[:2]
    p = int(cfg_like.get("patch_size", 16) or 0)
    if not (0 < h <= lim["side_px"] and 0 < w <= lim["side_px"]):
        raise CheckpointError(f"image size {h}x{w} is outside 1..{lim['side_px']} px; refusing to build it")
    if not 0 < p <= lim["patch"]:
        raise CheckpointError(f"patch size {p} is outside 1..{lim['patch']}; refusing to build it")
    if (h // p) * (w // p) > lim["patches"]:
        raise CheckpointError(f"{h}x{w} at patch {p} is {(h // p) * (w // p)} patches (limit {lim['patches']})")
    mlp = float(cfg_like.get("mlp_ratio", 4.0) or 0)
    dmlp = cfg_like.get("decoder_mlp_ratio")
    dmlp = mlp if dmlp is None else float(dmlp)
    for key, v in (("mlp_ratio", mlp), ("decoder_mlp_ratio", dmlp)):
        if not 0 < v <= 16:
            raise CheckpointError(f"{key}={v} is outside (0, 16]; refusing to build it")
    est = (cfg_like.get("depth", 0) * (4 + 2 * mlp) * cfg_like.get("embed_dim", 0) ** 2
           + cfg_like.get("decoder_depth", 0) * (4 + 2 * dmlp) * cfg_like.get("decoder_embed_dim", 0) ** 2)
    if est > lim["params"]:
        raise CheckpointError(f"the config describes ~{est / 1e9:.1f} B parameters (limit "
                              f"{lim['params'] / 1e9:.0f} B); refusing to build it")


def infer_config(shapes: dict, hints: dict | None = None) -> tuple[MAEConfig, list[str]]:
    """MAE-named tensor shapes (+ hints: any MAEConfig fields known from metadata) -> (MAEConfig, notes).

    Derived from shapes: widths, depths, MLP ratios (decoder_mlp_ratio stays None when the decoder's equals the
    encoder's), native patch size (patch_embed kernel), grid (pos_embed length;
    square unless hints give img_size), prediction patch and decoder down/up-sampling. Head counts come from the
    hints, else from the table of known architectures; an unknown shape without them is a CheckpointError."""
    hints = {k: v for k, v in (hints or {}).items() if v is not None}
    notes = []
    keys = list(shapes)
    D, C, p, p2 = _need(shapes, "patch_embed.proj.weight", 4)
    if p != p2:
        raise CheckpointError(f"non-square patch kernel {p}x{p2} in patch_embed.proj.weight")
    depth = _block_count(keys, "blocks")
    if depth == 0:
        raise CheckpointError("no encoder blocks (blocks.N.*) in the checkpoint")
    fc1 = _need(shapes, "blocks.0.mlp.fc1.weight", 2)
    mlp_ratio = fc1[0] / D
    pe = _need(shapes, "pos_embed", 3)
    L = pe[1] - 1
    if "img_size" in hints:
        img = as_hw(hints["img_size"])
    else:
        g = math.isqrt(max(L, 0))
        if g * g != L or L < 1:
            raise CheckpointError(f"pos_embed has {L} patch positions, not a square grid; the image size must be "
                                  f"given in the checkpoint's metadata")
        img = (g * p, g * p)
    has_decoder = any(k.startswith(("decoder_", "mask_token")) for k in keys)
    cfg = dict(img_size=img, patch_size=int(p), in_chans=int(C), embed_dim=int(D), depth=depth,
               mlp_ratio=float(mlp_ratio), has_decoder=has_decoder)
    if has_decoder:
        Dd = _need(shapes, "decoder_embed.weight", 2)[0]
        ddepth = _block_count(keys, "decoder_blocks")
        out = _need(shapes, "decoder_pred.weight", 2)[0]
        pp = math.isqrt(out // C)
        if pp * pp * C != out or pp % p:
            raise CheckpointError(f"decoder_pred outputs {out} values, not (k*{p})^2*{C} for a whole k")
        kp = pp // p
        k = _need(shapes, "decoder_downsample.weight", 4)[2] if "decoder_downsample.weight" in shapes else 1
        if "decoder_upsample.weight" in shapes:
            u = _need(shapes, "decoder_upsample.weight", 4)[2]
            if u * kp != k:
                raise CheckpointError(f"decoder_upsample x{u} with prediction patches x{kp} does not undo the "
                                      f"decoder downsampling x{k}")
        elif k != kp:
            raise CheckpointError(f"decoder downsampling x{k} but prediction patches x{kp} and no decoder_upsample")
        cfg.update(decoder_embed_dim=int(Dd), decoder_depth=ddepth, decoder_downsampling=int(k),
                   pred_downsampling=int(kp))
        if ddepth:
            dratio = _need(shapes, "decoder_blocks.0.mlp.fc1.weight", 2)[0] / Dd
            cfg["decoder_mlp_ratio"] = None if dratio == mlp_ratio else float(dratio)
        for key, val in (("decoder_downsampling", k), ("pred_downsampling", kp)):
            if key in hints and int(hints[key]) != int(val):
                notes.append(f"metadata says {key}={hints[key]} but the weights say {val}; the weights win")
                hints.pop(key)
    else:
        cfg.update(decoder_embed_dim=0, decoder_depth=0, decoder_num_heads=0)
    for key in ("embed_dim", "depth", "decoder_embed_dim", "decoder_depth", "patch_size", "in_chans"):
        if key in hints and key in cfg and int(hints[key]) != int(cfg[key]) and (has_decoder or "decoder" not in key):
            raise CheckpointError(f"metadata says {key}={hints[key]} but the weights have {cfg[key]}")
    cfg.update({k: v for k, v in hints.items() if k not in cfg or k == "img_size"})
    if cfg.get("decoder_mlp_ratio") is None:
        cfg.pop("decoder_mlp_ratio", None)
    if "num_heads" not in cfg:
        known = KNOWN_ENCODERS.get((D, depth))
        if known is None:
            raise CheckpointError(f"unknown encoder (width {D}, {depth} blocks) and no head count in the metadata; "
                                  f"give num_heads (e.g. --heads)")
        cfg["num_heads"] = known[1]
        notes.append(f"encoder heads {known[1]} from the known {known[0]} architecture (not stored in the weights)")
    if has_decoder and "decoder_num_heads" not in cfg:
        heads = KNOWN_DECODERS.get((cfg["decoder_embed_dim"], cfg["decoder_depth"]))
        if heads is None:
            raise CheckpointError(f"unknown decoder (width {cfg['decoder_embed_dim']}, {cfg['decoder_depth']} blocks)"
                                  f" and no head count in the metadata; give decoder_num_heads")
        cfg["decoder_num_heads"] = heads
        notes.append(f"decoder heads {heads} from the known dec{cfg['decoder_embed_dim']}d{heads}h"
                     f"{cfg['decoder_depth']}b architecture (not stored in the weights)")
    check_limits(cfg)
    try:
        return MAEConfig.from_dict(cfg), notes
    except ConfigError as e:
        raise CheckpointError(f"inconsistent architecture: {e}") from None


def arch_words(cfg: MAEConfig) -> str:
    """The architecture in words for a newcomer: "encoder: ViT, 192 wide, 6 blocks, 3 heads, 8-px patches;
    decoder: 128 wide, 2 blocks, 4 heads" (arch_name is the compact form)."""
    def n(k: int, what: str) -> str:
        return f"{k} {what}" + ("" if k == 1 else "s")

    known = KNOWN_ENCODERS.get((cfg.embed_dim, cfg.depth))
    text = (f"encoder: {known[0] if known else 'ViT'}, {cfg.embed_dim} wide, {n(cfg.depth, 'block')}, "
            f"{n(cfg.num_heads, 'head')}, {cfg.patch_size}-px patches")
    if not cfg.has_decoder:
        return text + "; no decoder"
    text += (f"; decoder: {cfg.decoder_embed_dim} wide, {n(cfg.decoder_depth, 'block')}, "
             f"{n(cfg.decoder_num_heads, 'head')}")
    if cfg.decoder_downsampling > 1:
        text += f", on a {cfg.decoder_downsampling}\u00d7 coarser grid"
    return text


def arch_name(cfg: MAEConfig) -> str:
    enc = KNOWN_ENCODERS.get((cfg.embed_dim, cfg.depth), (f"ViT-{cfg.embed_dim}d{cfg.depth}b",))[0]
    name = f"{enc}/{cfg.patch_size} ({cfg.num_heads} heads)"
    if cfg.has_decoder:
        name += f" + decoder dec{cfg.decoder_embed_dim}d{cfg.decoder_num_heads}h{cfg.decoder_depth}b"
        if cfg.decoder_mlp_ratio is not None:
            name += f" (MLP ratio {cfg.decoder_mlp_ratio:g}, encoder {cfg.mlp_ratio:g})"
        if cfg.decoder_downsampling > 1:
            name += f" (downsampling x{cfg.decoder_downsampling}, prediction x{cfg.pred_downsampling})"
    else:
        name += ", no decoder"
    return name

