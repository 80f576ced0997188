"""Load every published MAE checkpoint format, auto-detected, loaded strictly, and classified.

Formats (detected from the content, not the file name):
- facebookresearch/mae ``.pth``: ``{'model': state_dict}`` (visualize = pixel target, ``*_full`` = norm-pix target,
  ``mae_pretrain_vit_*`` = encoder only);
- facebookresearch/long_seq_mae ``.pth``: the same key names, plus optional ``decoder_downsample``/``decoder_upsample``,
  BEiT-style ``attn.q_bias``/``attn.v_bias`` (converted at load time to ``qkv.bias = cat(q_bias, 0, v_bias)``) and an
  ``argparse.Namespace`` under ``args`` (input size, mask unit = ``mask_downsampling``, norm_pix_loss, model name);
- Hugging Face transformers ViTMAE directories (``config.json`` + ``model.safetensors`` | ``pytorch_model.bin``) in the
  three key namings met in practice (see HF_NAMINGS);
- our ``.safetensors`` (mae_core.ourformat: config + training facts in the header) or any safetensors of MAE-named
  weights with a sidecar ``<stem>.json`` (``{"config": {...}, "training": {...}}``).

Safety: pickles are read only with ``torch.load(weights_only=True)`` inside ``safe_globals([argparse.Namespace])``;
there is no unsafe fallback. Every problem (hostile or corrupt file, unknown keys, shape mismatch, absurd sizes,
unknown architecture without head counts) is a one-line CheckpointError. Loading is strict: missing or unexpected
keys are listed, never ignored.

Shapes: D encoder width, Dd decoder width, p patch size, L = number of patches, k decoder downsampling.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import pickle
import re
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .errors import CheckpointError, ConfigError, MAEError
from .geometry import as_hw, sincos_pos_embed_2d
from .model import MAEConfig, MaskedAutoencoderViT

# ------------------------------------------------------------------ names
FORMAT_OURS = "mae_core .safetensors"
FORMAT_SIDECAR = "safetensors + sidecar .json"
FORMAT_SAFETENSORS = "safetensors (MAE key names)"
FORMAT_MAE = "facebookresearch/mae .pth"
FORMAT_LONGSEQ = "facebookresearch/long_seq_mae .pth"
FORMAT_HF = "transformers ViTMAE"

KINDS = ("encoder-only", "pixel-target", "norm-pix-target", "long-seq")
TARGET_PIXELS = "pixels"
TARGET_NORM = "normalised pixels"

# The three key namings of transformers' ViTMAEForPreTraining (checked against transformers 5.23):
#   hub       - files on the hub (facebook/vit-mae-*; written by transformers 4.x):
#               vit.encoder.layer.N.attention.attention.query, ..., decoder.decoder_layers.N.attention.attention.query
#   v5-saved  - what 5.23's save_pretrained writes: the encoder as in "hub", but the decoder layers under
#               decoder.decoder_encoder.layer.N.* (its reverse renaming of 'encoder.layer.' -> 'layers.' also hits
#               'decoder_layers.')
#   v5-module - the in-memory ViTMAEForPreTraining(...).state_dict() of 5.x:
#               vit.layers.N.attention.{q,k,v,o}_proj, vit.layers.N.mlp.fc{1,2}, decoder.decoder_layers.N.*
HF_NAMINGS = ("hub", "v5-saved", "v5-module")
_HF_LAYER_PREFIX = {
    "hub": ("vit.encoder.layer.{i}.", "decoder.decoder_layers.{i}."),
    "v5-saved": ("vit.encoder.layer.{i}.", "decoder.decoder_encoder.layer.{i}."),
    "v5-module": ("vit.layers.{i}.", "decoder.decoder_layers.{i}."),
}
_HF_LAYER_NAMES = {  # MAE (timm Block) name -> HF name, per naming style
    "legacy": {"norm1": "layernorm_before", "norm2": "layernorm_after", "attn.proj": "attention.output.dense",
               "mlp.fc1": "intermediate.dense", "mlp.fc2": "output.dense",
               "q": "attention.attention.query", "k": "attention.attention.key", "v": "attention.attention.value"},
    "module": {"norm1": "layernorm_before", "norm2": "layernorm_after", "attn.proj": "attention.o_proj",
               "mlp.fc1": "mlp.fc1", "mlp.fc2": "mlp.fc2",
               "q": "attention.q_proj", "k": "attention.k_proj", "v": "attention.v_proj"},
}
_HF_GLOBALS = {
    "cls_token": "vit.embeddings.cls_token",
    "pos_embed": "vit.embeddings.position_embeddings",
    "patch_embed.proj.weight": "vit.embeddings.patch_embeddings.projection.weight",
    "patch_embed.proj.bias": "vit.embeddings.patch_embeddings.projection.bias",
    "norm.weight": "vit.layernorm.weight",
    "norm.bias": "vit.layernorm.bias",
    "decoder_embed.weight": "decoder.decoder_embed.weight",
    "decoder_embed.bias": "decoder.decoder_embed.bias",
    "mask_token": "decoder.mask_token",
    "decoder_pos_embed": "decoder.decoder_pos_embed",
    "decoder_norm.weight": "decoder.decoder_norm.weight",
    "decoder_norm.bias": "decoder.decoder_norm.bias",
    "decoder_pred.weight": "decoder.decoder_pred.weight",
    "decoder_pred.bias": "decoder.decoder_pred.bias",
}

# Head counts are not in the weights. Known architectures, by (width, blocks) -> heads.
KNOWN_ENCODERS = {(768, 12): ("ViT-B", 12), (1024, 24): ("ViT-L", 16), (1280, 32): ("ViT-H", 16)}
KNOWN_DECODERS = {(512, 8): 16,  # MAE dec512d8b (16 heads); long-seq ViT-L dec512d16h8b
                  (384, 8): 12}  # long-seq ViT-B dec384d12h8b
_FACTORY_HEADS = {"base": 12, "large": 16, "huge": 16}

# Refuse absurd sizes before building anything.
LIMITS = dict(width=8192, depth=256, side_px=16384, patch=1024, patches=262144, params=4_000_000_000)
MAX_JSON_BYTES = 4 * 2**20
WEIGHT_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt", ".safetensors")
_POS_RE = re.compile(r"(pos_embed|position_embeddings)$")  # small tables read even for shapes only


@dataclass
class CheckpointInfo:
    """What a checkpoint is. ``config`` is the native architecture (image size, patch size, heads, target)."""

    path: str
    format: str
    kind: str  # one of KINDS
    target: str | None  # "pixels" | "normalised pixels" | None (encoder only)
    arch_name: str
    config: MAEConfig
    n_params: int
    training: dict = field(default_factory=dict)
    mask_unit: int = 1
    notes: list = field(default_factory=list)
    can_reconstruct: bool = True
    sha256: str = ""

    @property
    def img_size(self) -> tuple[int, int]:
        return self.config.img_size

    @property
    def patch_size(self) -> int:
        return self.config.patch_size

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["config"] = self.config.to_dict()
        d["config"].pop("extra", None)
        d["native_image_size"] = list(self.config.img_size)
        d["native_patch_size"] = self.config.patch_size
        d["L"] = self.config.num_patches
        return d


# ------------------------------------------------------------------ reading (no model built here)
@dataclass
class _Raw:
    source: Path  # what the user gave (file or directory)
    weights: Path  # the file holding the tensors (hashed)
    container: str  # "pickle" | "safetensors"
    sd: dict  # name -> tensor
    header: dict = field(default_factory=dict)  # safetensors metadata
    extra: dict = field(default_factory=dict)  # other top-level entries of a pickle (e.g. args)
    hf_config: dict | None = None
    sidecar: dict | None = None


def _one_line(e: BaseException, limit: int = 160) -> str:
    text = " ".join(str(e).split())
    return (text[:limit] + "...") if len(text) > limit else text


def _read_json(path: Path, what: str) -> dict:
    if path.stat().st_size > MAX_JSON_BYTES:
        raise CheckpointError(f"{what} {path.name} is larger than {MAX_JSON_BYTES // 2**20} MB; refusing to parse it")
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{what} {path.name} is not valid JSON ({_one_line(e, 80)})") from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"{what} {path.name} must hold a JSON object")
    return obj


def _sniff(path: Path) -> str:
    """'pickle' (torch zip or legacy pickle) or 'safetensors', from the first bytes."""
    with open(path, "rb") as f:
        head = f.read(9)
    if len(head) < 9:
        raise CheckpointError(f"{path.name} is empty or truncated ({path.stat().st_size} bytes)")
    # safetensors first: its 8-byte header length can itself start with 0x80 (the pickle protocol byte)
    n = int.from_bytes(head[:8], "little")
    if head[8:9] == b"{" and 0 < n <= 100 * 2**20:
        return "safetensors"
    if head[:2] == b"PK" or head[:1] == b"\x80":
        return "pickle"
    raise CheckpointError(f"{path.name} is neither a torch checkpoint nor a safetensors file")


def safe_torch_load(path: Path):
    """torch.load with weights_only=True and only argparse.Namespace allowlisted; never an unsafe fallback."""
    mmap = zipfile.is_zipfile(path)
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as e:
        m = re.search(r"(?:unsupported|Unsupported global:) GLOBAL ([\w.]+)", str(e))
        what = f"it asks for {m.group(1)}" if m else "it holds objects other than tensors and argparse.Namespace"
        raise CheckpointError(f"refused {path.name}: its pickle is not plain weights ({what}); nothing in it was "
                              f"executed (weights-only load)") from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile, KeyError, TypeError,
            AttributeError, IndexError, UnicodeDecodeError, OverflowError, MemoryError) as e:
        raise CheckpointError(f"{path.name} is truncated or corrupt and cannot be read "
                              f"({type(e).__name__}: {_one_line(e, 100)})") from None


def _read_safetensors(path: Path, tensors: bool = True):
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            header = dict(f.metadata() or {})
            sd = {k: f.get_tensor(k) if tensors or _POS_RE.search(k) else tuple(f.get_slice(k).get_shape())
                  for k in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{path.name} is truncated or corrupt and cannot be read "
                              f"({type(e).__name__}: {_one_line(e, 100)})") from None
    return header, sd


def _unwrap_pickle(obj, path: Path) -> tuple[dict, dict]:
    """-> (state_dict, other top-level entries)."""
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path.name} holds a {type(obj).__name__}, not a state dict")
    for key in ("model", "state_dict"):
        if key in obj and isinstance(obj[key], dict):
            return obj[key], {k: v for k, v in obj.items() if k != key}
    if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return obj, {}
    raise CheckpointError(f"{path.name} has no 'model' state dict (top-level keys: {sorted(map(str, obj))[:8]})")


def _hf_weights(directory: Path) -> Path:
    for name in ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json"):
        if (directory / name).is_file():
            return directory / name
    raise CheckpointError(f"{directory} has a config.json but no model.safetensors or pytorch_model.bin")


def _read(path, tensors: bool = True) -> _Raw:
    """Read tensors (or only their shapes when tensors=False and the container allows it) and all metadata."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {path}")
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise CheckpointError(f"{path} is a directory without config.json (not a transformers model folder)")
        hf_config = _read_json(path / "config.json", "config")
        weights = _hf_weights(path)
        if weights.name.endswith(".index.json"):  # sharded safetensors
            index = _read_json(weights, "index")
            files = sorted(set((index.get("weight_map") or {}).values()))
            if not files or any("/" in f or "\\" in f or f.startswith(".") for f in files):
                raise CheckpointError(f"{weights.name} has no usable weight_map")
            sd = {}
            for f in files:
                sd.update(_read_safetensors(path / f, tensors)[1])
            return _Raw(path, weights, "safetensors", sd, hf_config=hf_config)
        raw = _read_file(weights, tensors)
        raw.source, raw.hf_config = path, hf_config
        return raw
    return _read_file(path, tensors)


def _read_file(path: Path, tensors: bool) -> _Raw:
    kind = _sniff(path)
    sidecar_path = path.with_suffix(".json")
    sidecar = _read_json(sidecar_path, "sidecar") if sidecar_path.is_file() else None
    if kind == "safetensors":
        header, sd = _read_safetensors(path, tensors)
        return _Raw(path, path, "safetensors", sd, header=header, sidecar=sidecar)
    sd, extra = _unwrap_pickle(safe_torch_load(path), path)
    bad = [k for k, v in sd.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(f"{path.name}: state dict entries that are not tensors: {bad[:5]}")
    if not tensors:
        sd = {k: v if _POS_RE.search(k) else tuple(v.shape) for k, v in sd.items()}
    return _Raw(path, path, "pickle", sd, extra=extra, sidecar=sidecar)


def file_sha256(path) -> str:
    """sha256 of a checkpoint's content (of the weights file for a transformers directory; of the index and then
    every shard, in name order, for a sharded one)."""
    path = Path(path)
    if path.is_dir():
        path = _hf_weights(path)
    files = [path]
    if path.name.endswith(".index.json"):
        files += [path.parent / f for f in sorted(set((_read_json(path, "index").get("weight_map") or {}).values()))]
    h = hashlib.sha256()
    for file in files:
        with open(file, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 22), b""):
                h.update(chunk)
    return h.hexdigest()


# ------------------------------------------------------------------ key namings
def _shape(v) -> tuple:
    return tuple(v.shape) if isinstance(v, torch.Tensor) else tuple(v)


def detect_hf_naming(keys) -> str | None:
    """Which transformers ViTMAE key naming a set of keys uses (see HF_NAMINGS), or None for MAE names."""
    keys = list(keys)
    if not any(k.startswith(("vit.", "decoder.")) for k in keys):
        return None
    if any(k.startswith("vit.layers.") or ".attention.q_proj." in k for k in keys):
        return "v5-module"
    if any(k.startswith("decoder.decoder_encoder.layer.") for k in keys):
        return "v5-saved"
    return "hub"


def _hf_to_mae(sd: dict, naming: str) -> tuple[dict, dict]:
    """HF-named tensors (or shapes) -> MAE names. Returns (state_dict, mae name -> original name).

    q/k/v are concatenated into qkv (rows q|k|v, as models_mae / timm). Unrecognised keys are kept under their
    own name so the strict check reports them."""
    style = "module" if naming == "v5-module" else "legacy"
    names = _HF_LAYER_NAMES[style]
    inv_glob = {v: k for k, v in _HF_GLOBALS.items()}
    out, origin = {}, {}
    enc_re, dec_re = (re.compile("^" + re.escape(t).replace(re.escape("{i}"), r"(\d+)") + "(.+)$")
                      for t in _HF_LAYER_PREFIX[naming])
    inv_layer = {v: k for k, v in names.items()}
    qkv = {}
    for key, v in sd.items():
        if key in inv_glob:
            out[inv_glob[key]] = v
            origin[inv_glob[key]] = key
            continue
        m = enc_re.match(key) or dec_re.match(key)
        if m:
            prefix = f"{'blocks' if m.re is enc_re else 'decoder_blocks'}.{m.group(1)}."
            mod, _, param = m.group(2).rpartition(".")
            if mod in inv_layer:
                mae = inv_layer[mod]
                if mae in ("q", "k", "v"):
                    qkv.setdefault((prefix, param), {})[mae] = (v, key)
                    continue
                out[f"{prefix}{mae}.{param}"] = v
                origin[f"{prefix}{mae}.{param}"] = key
                continue
        out[key] = v
        origin[key] = key
    for (prefix, param), parts in qkv.items():
        name = f"{prefix}attn.qkv.{param}"
        if set(parts) != {"q", "k", "v"}:
            c0, (_, k0) = next(iter(parts.items()))
            missing = [k0.replace(names[c0], names[c]) for c in "qkv" if c not in parts]
            raise CheckpointError(f"missing keys: {', '.join(missing)} (attention of {prefix[:-1]} is incomplete)")
        vals = [parts[c][0] for c in "qkv"]
        if isinstance(vals[0], torch.Tensor):
            out[name] = torch.cat(vals, 0)
        else:
            s = [tuple(x) for x in vals]
            out[name] = (sum(x[0] for x in s),) + s[0][1:]
        origin[name] = parts["q"][1]
    return out, origin


def _qv_bias_to_qkv(sd: dict) -> tuple[dict, int]:
    """long_seq_mae's --no_k_bias_in_vit: attn.q_bias + attn.v_bias -> attn.qkv.bias = cat(q, zeros, v)."""
    out = dict(sd)
    n = 0
    for key in [k for k in sd if k.endswith(".attn.q_bias")]:
        base = key[: -len("q_bias")]
        vkey = base + "v_bias"
        if vkey not in sd:
            raise CheckpointError(f"{key} has no matching {vkey}")
        if base + "qkv.bias" in sd:
            raise CheckpointError(f"{base}qkv.bias and {key} are both present")
        q, v = out.pop(key), out.pop(vkey)
        if isinstance(q, torch.Tensor):
            out[base + "qkv.bias"] = torch.cat([q, torch.zeros_like(q), v])
        else:
            out[base + "qkv.bias"] = (3 * tuple(q)[0],)
        n += 1
    return out, n


def to_hf_state_dict(model_or_sd, naming: str = "hub") -> dict:
    """Our (MAE-named) weights -> transformers ViTMAEForPreTraining weights in one of HF_NAMINGS.

    qkv (3D, D) is split into query/key/value (D, D) each. Long-seq extras (decoder_downsample/upsample) have no
    HF counterpart and raise ConfigError."""
    if naming not in HF_NAMINGS:
        raise ConfigError(f"naming must be one of {HF_NAMINGS}, got {naming!r}")
    sd = model_or_sd.state_dict() if hasattr(model_or_sd, "state_dict") else dict(model_or_sd)
    if any(k.startswith(("decoder_downsample", "decoder_upsample")) for k in sd):
        raise ConfigError("transformers' ViTMAE has no decoder down/up-sampling (long-seq option): cannot convert")
    names = _HF_LAYER_NAMES["module" if naming == "v5-module" else "legacy"]
    enc_prefix, dec_prefix = _HF_LAYER_PREFIX[naming]
    out = {}
    for key, v in sd.items():
        if key in _HF_GLOBALS:
            out[_HF_GLOBALS[key]] = v
            continue
        m = re.match(r"^(blocks|decoder_blocks)\.(\d+)\.(.+)\.(weight|bias)$", key)
        if not m:
            raise ConfigError(f"no transformers ViTMAE name for {key}")
        prefix = (enc_prefix if m.group(1) == "blocks" else dec_prefix).format(i=m.group(2))
        mod, param = m.group(3), m.group(4)
        if mod == "attn.qkv":
            for name, part in zip("qkv", v.chunk(3, dim=0)):
                out[f"{prefix}{names[name]}.{param}"] = part.clone()
        elif mod in names:
            out[f"{prefix}{names[mod]}.{param}"] = v
        else:
            raise ConfigError(f"no transformers ViTMAE name for {key}")
    return out


def hf_config_for(cfg: MAEConfig, **overrides) -> dict:
    """Keyword arguments for transformers.ViTMAEConfig describing the same model as `cfg`."""
    if not cfg.has_decoder:
        raise ConfigError("transformers' ViTMAEForPreTraining needs a decoder; this model is encoder-only")
    if cfg.decoder_downsampling != 1 or cfg.pred_downsampling != 1:
        raise ConfigError("transformers' ViTMAE has no decoder down-sampling or coarser prediction (long-seq options)")
    h, w = cfg.img_size
    d = dict(hidden_size=cfg.embed_dim, num_hidden_layers=cfg.depth, num_attention_heads=cfg.num_heads,
             intermediate_size=int(round(cfg.embed_dim * cfg.mlp_ratio)), hidden_act="gelu",
             hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, layer_norm_eps=cfg.norm_eps,
             image_size=h if h == w else [h, w], patch_size=cfg.patch_size, num_channels=cfg.in_chans,
             qkv_bias=True, decoder_num_attention_heads=cfg.decoder_num_heads,
             decoder_hidden_size=cfg.decoder_embed_dim, decoder_num_hidden_layers=cfg.decoder_depth,
             decoder_intermediate_size=int(round(cfg.decoder_embed_dim * cfg.mlp_ratio)),
             norm_pix_loss=cfg.norm_pix_loss, mask_ratio=0.75)
    d.update(overrides)
    return d


# ------------------------------------------------------------------ architecture from shapes + hints
_NAME_RE = re.compile(r"mae_vit_(?P<size>base|large|huge)_patch(?P<p>\d+)"
                      r"(?:_dec(?P<dd>\d+)d(?:(?P<dh>\d+)h)?(?P<db>\d+)b)?")
_FILE_DEC_RE = re.compile(r"dec(?P<dd>\d+)d(?P<dh>\d+)h(?P<db>\d+)b")


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


def _check_limits(cfg_like: dict):
    """Refuse absurd architectures before allocating anything (configs come from untrusted files)."""
    try:
        _check_limits_(cfg_like)
    except (TypeError, ValueError, OverflowError) as e:
        raise CheckpointError(f"the architecture in the metadata is malformed ({_one_line(e, 80)})") from None


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
    if not 0 < mlp <= 16:
        raise CheckpointError(f"mlp_ratio={mlp} is outside (0, 16]; refusing to build it")
    est = (cfg_like.get("depth", 0) * (4 + 2 * mlp) * cfg_like.get("embed_dim", 0) ** 2
           + cfg_like.get("decoder_depth", 0) * (4 + 2 * mlp) * cfg_like.get("decoder_embed_dim", 0) ** 2)
    if est > lim["params"]:
        raise CheckpointError(f"the config describes ~{est / 1e9:.1f} B parameters (limit "
                              f"{lim['params'] / 1e9:.0f} B); refusing to build it")


def infer_config(shapes: dict, hints: dict | None = None) -> tuple[MAEConfig, list[str]]:
    """MAE-named tensor shapes (+ hints: any MAEConfig fields known from metadata) -> (MAEConfig, notes).

    Derived from shapes: widths, depths, MLP ratio, native patch size (patch_embed kernel), grid (pos_embed length;
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
    _check_limits(cfg)
    try:
        return MAEConfig.from_dict(cfg), notes
    except ConfigError as e:
        raise CheckpointError(f"inconsistent architecture: {e}") from None


def arch_name(cfg: MAEConfig) -> str:
    enc = KNOWN_ENCODERS.get((cfg.embed_dim, cfg.depth), (f"ViT-{cfg.embed_dim}d{cfg.depth}b",))[0]
    name = f"{enc}/{cfg.patch_size} ({cfg.num_heads} heads)"
    if cfg.has_decoder:
        name += f" + decoder dec{cfg.decoder_embed_dim}d{cfg.decoder_num_heads}h{cfg.decoder_depth}b"
        if cfg.decoder_downsampling > 1:
            name += f" (downsampling x{cfg.decoder_downsampling}, prediction x{cfg.pred_downsampling})"
    else:
        name += ", no decoder"
    return name


# ------------------------------------------------------------------ format-specific metadata
def _jsonable(v):
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    return str(v)


def _config_from_meta(obj, what: str) -> dict:
    if isinstance(obj, str):
        try:
            obj = json.loads(obj)
        except json.JSONDecodeError:
            raise CheckpointError(f"{what} is not valid JSON") from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"{what} must be a JSON object")
    return obj


def _hints_from_hf(c: dict) -> tuple[dict, dict]:
    """transformers config.json -> (MAEConfig hints, recorded facts)."""
    if c.get("model_type") not in (None, "vit_mae"):
        raise CheckpointError(f"config.json is for model_type {c.get('model_type')!r}, not vit_mae")
    act = c.get("hidden_act", "gelu")
    if act != "gelu":
        raise CheckpointError(f"config.json hidden_act={act!r}; only exact GELU (MAE's) is supported")
    if c.get("qkv_bias", True) is False:
        raise CheckpointError("config.json qkv_bias=false is not supported (MAE uses qkv biases)")

    def num(key, default=None):
        v = c.get(key, default)
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise CheckpointError(f"config.json {key}={v!r} is not a number")
        return v

    img = c.get("image_size", 224)
    patch = c.get("patch_size", 16)
    if isinstance(patch, (list, tuple)):
        if len(set(patch)) != 1:
            raise CheckpointError(f"non-square patch size {patch} is not supported")
        patch = patch[0]
    hints = dict(img_size=tuple(img) if isinstance(img, (list, tuple)) else img, patch_size=patch,
                 embed_dim=num("hidden_size", 768), depth=num("num_hidden_layers", 12),
                 num_heads=num("num_attention_heads", 12), decoder_embed_dim=num("decoder_hidden_size", 512),
                 decoder_depth=num("decoder_num_hidden_layers", 8),
                 decoder_num_heads=num("decoder_num_attention_heads", 16),
                 norm_eps=num("layer_norm_eps", 1e-12), in_chans=num("num_channels", 3))
    _check_limits({**hints, "mlp_ratio": 4.0})
    inter, dinter = num("intermediate_size", 3072), num("decoder_intermediate_size", 2048)
    ratio = inter / hints["embed_dim"] if hints["embed_dim"] else 4.0
    if hints["decoder_embed_dim"] and abs(dinter / hints["decoder_embed_dim"] - ratio) > 1e-9:
        raise CheckpointError(f"encoder and decoder MLP ratios differ ({ratio} vs "
                              f"{dinter / hints['decoder_embed_dim']}); not supported")
    hints["mlp_ratio"] = ratio
    facts = {k: c[k] for k in ("mask_ratio", "norm_pix_loss", "transformers_version", "_name_or_path") if k in c}
    if "norm_pix_loss" in c:
        hints["norm_pix_loss"] = bool(c["norm_pix_loss"])
    return hints, facts


def _args_dict(args) -> dict:
    if isinstance(args, argparse.Namespace):
        return vars(args)
    if isinstance(args, dict):
        return args
    return {}


def _hints_from_args(a: dict, notes: list) -> dict:
    hints = {}
    if isinstance(a.get("input_size"), int):
        hints["img_size"] = a["input_size"]
    m = _NAME_RE.search(str(a.get("model", "")))
    if m:
        hints["num_heads"] = _FACTORY_HEADS[m.group("size")]
        if m.group("dh"):
            hints["decoder_num_heads"] = int(m.group("dh"))
        elif m.group("dd"):  # original grammar dec{dim}d{blocks}b: 16 heads in every MAE factory
            hints["decoder_num_heads"] = 16
        notes.append(f"head counts from the model name {a['model']} in the stored args")
    if "norm_pix_loss" in a:
        hints["norm_pix_loss"] = bool(a["norm_pix_loss"])
    for key in ("decoder_downsampling", "pred_downsampling"):
        if isinstance(a.get(key), int) and a[key] >= 1:
            hints[key] = a[key]
    return hints


# ------------------------------------------------------------------ target probe
def target_statistic(pred: torch.Tensor) -> float:
    """rms of per-patch means over rms of all values, for predicted patches (N, L, p*p*C); in [0, 1].

    A norm-pix decoder predicts patches with mean ~0 (and std ~1), so the statistic is ~0; a pixel decoder
    reproduces the image's patch means, which carry most of a photograph's energy (0.5-0.95 on scikit-image's
    photographs in ImageNet-normalised units, lower only on flat textures such as brick or grass)."""
    pred = pred.float().reshape(-1, pred.shape[-1])
    return float(pred.mean(-1).pow(2).mean().sqrt() / pred.pow(2).mean().sqrt().clamp_min(1e-8))


PROBE_NORM_BELOW, PROBE_PIXELS_ABOVE = 0.25, 0.4


def _probe_image(size) -> torch.Tensor:
    """A real photograph, (1, 3, H, W) ImageNet-normalised (the demo image, else scikit-image's astronaut)."""
    from .images import load_image, to_tensor

    try:
        from .assets import default_image

        path = default_image()
        if Path(path).is_file():
            return to_tensor(path, size)
    except Exception:  # assets not there yet: fall back to a photograph shipped with scikit-image
        pass
    import skimage.data

    return to_tensor(load_image(skimage.data.astronaut()), size)


def probe_target(model: MaskedAutoencoderViT) -> tuple[str, str]:
    """(target, how) from the model's predictions for the removed patches of a real photograph.

    Decided by target_statistic; when that falls between the thresholds, by which target (pixels or per-patch
    normalised pixels) the prediction is closer to."""
    from .masking import make_mask
    from .model import patchify

    cfg = model.cfg
    device = next(model.parameters()).device
    x = _probe_image(cfg.img_size).to(device)
    mask = make_mask(cfg.grid, 1, 0.75, seed=0)
    ids_keep, ids_restore = mask.batch(1, device)
    with torch.inference_mode():
        pred = model(x, ids_keep, ids_restore).float().cpu()
    pix = patchify(x.float().cpu(), cfg.pred_patch_size)
    if cfg.pred_downsampling == 1:
        removed = mask.mask.reshape(-1) > 0
        pred, pix = pred[:, removed], pix[:, removed]
    norm = (pix - pix.mean(-1, keepdim=True)) / (pix.var(-1, keepdim=True) + 1e-6) ** 0.5
    s = target_statistic(pred)
    mse_pix, mse_norm = float((pred - pix).pow(2).mean()), float((pred - norm).pow(2).mean())
    how = (f"output-statistics probe on a real photograph: rms(patch mean)/rms(output) = {s:.2f} (norm-pix < "
           f"{PROBE_NORM_BELOW}, pixels > {PROBE_PIXELS_ABOVE}); MSE to pixels {mse_pix:.3f}, to normalised pixels "
           f"{mse_norm:.3f}")
    if s < PROBE_NORM_BELOW:
        return TARGET_NORM, how
    if s > PROBE_PIXELS_ABOVE:
        return TARGET_PIXELS, how
    return (TARGET_NORM if mse_norm < mse_pix else TARGET_PIXELS), how + " - statistic inconclusive, decided by MSE"


# ------------------------------------------------------------------ main entry points
@dataclass
class _Plan:
    raw: _Raw
    sd: dict  # MAE-named tensors (or shapes)
    origin: dict  # MAE name -> name in the file
    cfg: MAEConfig
    info: CheckpointInfo
    fill_norm: bool = False
    target_known: bool = True


def _plan(path, tensors: bool, heads: dict | None = None) -> _Plan:
    raw = _read(path, tensors)
    notes: list[str] = []
    training: dict = {}
    hints: dict = {}
    mask_unit = None
    name = raw.source.name.lower()
    sd = raw.sd
    naming = detect_hf_naming(sd)
    # --- which format, and the metadata it carries
    if raw.hf_config is not None or naming:
        fmt = f"{FORMAT_HF} ({naming or 'hub'} key names)"
        if raw.hf_config is not None:
            hints, facts = _hints_from_hf(raw.hf_config)
            training.update(facts)
        if naming:
            sd, origin = _hf_to_mae(sd, naming)
        else:
            origin = {k: k for k in sd}
        if "norm_pix_loss" in hints:
            notes.append(f"target from config.json norm_pix_loss={hints['norm_pix_loss']}")
    else:
        origin = {k: k for k in sd}
        meta = None
        if raw.header.get("format", "").startswith("mae_core/"):
            fmt, meta = FORMAT_OURS, raw.header
        elif raw.sidecar is not None:
            fmt, meta = FORMAT_SIDECAR, raw.sidecar
        elif raw.container == "safetensors":
            fmt = FORMAT_SAFETENSORS
        else:
            a = _args_dict(raw.extra.get("args"))
            longseq = ("mask_downsampling" in a or any(k.endswith(".attn.q_bias") for k in sd)
                       or any(k.startswith(("decoder_downsample", "decoder_upsample")) for k in sd)
                       or _FILE_DEC_RE.search(name) is not None or "maskds" in name)
            fmt = FORMAT_LONGSEQ if longseq else FORMAT_MAE
            if a:
                hints = _hints_from_args(a, notes)
                training.update({k: _jsonable(v) for k, v in a.items() if k in (
                    "model", "input_size", "patch_size", "mask_ratio", "mask_downsampling", "norm_pix_loss",
                    "decoder_downsampling", "pred_downsampling", "epochs", "blr", "batch_size", "min_crop",
                    "max_crop", "no_k_bias_in_vit", "data_path")})
                if "norm_pix_loss" in hints:
                    notes.append(f"target from the stored args norm_pix_loss={hints['norm_pix_loss']}")
                if isinstance(a.get("mask_downsampling"), int):
                    mask_unit = a["mask_downsampling"]
                    notes.append(f"training mask unit {mask_unit}x{mask_unit} patches from args.mask_downsampling")
            if "epoch" in raw.extra and isinstance(raw.extra["epoch"], int):
                training["epoch"] = raw.extra["epoch"]
            m = _FILE_DEC_RE.search(name)
            if m and "decoder_num_heads" not in hints:
                hints["decoder_num_heads"] = int(m.group("dh"))
                notes.append(f"decoder heads {m.group('dh')} from the file name ({m.group(0)})")
            m = re.search(r"img(\d+)", name)
            if m and "img_size" not in hints:
                hints["img_size"] = int(m.group(1))
            m = re.search(r"maskds(\d+)", name)
            if m and mask_unit is None:
                mask_unit = int(m.group(1))
                notes.append(f"training mask unit {mask_unit}x{mask_unit} patches from the file name (maskds)")
        if meta is not None:
            if "config" not in meta:
                raise CheckpointError(f"{raw.source.name}: metadata has no 'config'")
            c = _config_from_meta(meta["config"], "metadata config")
            unknown = set(c) - {f.name for f in dataclasses.fields(MAEConfig)}
            if unknown:
                raise CheckpointError(f"metadata config has unknown fields {sorted(unknown)}")
            _check_limits(c)
            hints = {k: v for k, v in c.items() if k not in ("extra",)}
            if "training" in meta:
                training.update(_config_from_meta(meta["training"], "metadata training"))
            if isinstance(training.get("mask_unit"), int):
                mask_unit = training["mask_unit"]
            if "norm_pix_loss" in hints:
                notes.append(f"target from the checkpoint metadata (norm_pix_loss={hints['norm_pix_loss']})")
    # --- long-seq q_bias / v_bias
    sd, n_qv = _qv_bias_to_qkv(sd)
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
    shapes = {k: _shape(v) for k, v in sd.items()}
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
    target_known = True
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
        elif "_full" in name:
            target = TARGET_NORM
            notes.append("target from the file name: MAE's *_full checkpoints reconstruct normalised pixels")
        elif "visualize" in name:
            target = TARGET_PIXELS
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
    n_params = int(sum(math.prod(_shape(v)) for v in sd.values()))
    info = CheckpointInfo(path=str(raw.source), format=fmt, kind=kind, target=target, arch_name=arch_name(cfg),
                          config=cfg, n_params=n_params, training=_jsonable(training), mask_unit=int(mask_unit),
                          notes=notes, can_reconstruct=cfg.has_decoder, sha256="")
    return _Plan(raw, sd, origin, cfg, info, fill_norm, target_known)


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
    wrong = [f"{plan.origin.get(k, k)} {list(_shape(sd[k]))} != {list(expected[k])}" for k in sorted(
        set(expected) & set(sd)) if _shape(sd[k]) != expected[k]]
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
        raise CheckpointError(f"strict load failed: {_one_line(e)}") from None
    leftover = [n for n, t in list(model.named_parameters()) + list(model.named_buffers()) if t.is_meta]
    if leftover:
        raise CheckpointError(f"not loaded: {_fmt_keys(leftover)}")
    return model.to(device).eval()


def load_checkpoint(path, device="cpu", *, num_heads: int | None = None, decoder_num_heads: int | None = None,
                    probe: bool = True) -> tuple[MaskedAutoencoderViT, CheckpointInfo]:
    """Load any supported checkpoint strictly -> (model in eval mode on `device`, CheckpointInfo).

    num_heads / decoder_num_heads: head counts for architectures that are neither known nor described by metadata.
    probe: when nothing records the target, decide it from the decoder's output statistics on a real image."""
    plan = _plan(path, tensors=True, heads=dict(num_heads=num_heads, decoder_num_heads=decoder_num_heads))
    model = _build(plan, device)
    info = plan.info
    if not plan.target_known:
        if probe:
            target, how = probe_target(model)
            info.notes.append(f"target ({target}) from an {how}")
        else:
            target = TARGET_PIXELS
            info.notes.append("target not recorded and not probed: assumed pixels")
        info.target = target
        if info.kind != "long-seq":
            info.kind = "norm-pix-target" if target == TARGET_NORM else "pixel-target"
        info.config = info.config.replace(norm_pix_loss=target == TARGET_NORM)
        model.cfg = info.config
    info.sha256 = file_sha256(plan.raw.weights)
    return model, info


def inspect_checkpoint(path, *, num_heads: int | None = None, decoder_num_heads: int | None = None,
                       probe: bool = True) -> CheckpointInfo:
    """CheckpointInfo without keeping a model. Builds the model only when the target must be probed."""
    heads = dict(num_heads=num_heads, decoder_num_heads=decoder_num_heads)
    plan = _plan(path, tensors=False, heads=heads)
    if not plan.target_known and probe:
        return load_checkpoint(path, num_heads=num_heads, decoder_num_heads=decoder_num_heads, probe=True)[1]
    _check_against_model(plan)
    info = plan.info
    if not plan.target_known:
        info.target = TARGET_PIXELS
        info.notes.append("target not recorded and not probed: assumed pixels")
        if info.kind != "long-seq":
            info.kind = "pixel-target"
    info.sha256 = file_sha256(plan.raw.weights)
    return info


def find_checkpoints(directory) -> list[Path]:
    """Loadable checkpoints directly in `directory` (files, and transformers model folders), sorted by name.

    Each candidate is read (shapes only; pickles memory-mapped) and checked against its architecture; files that
    fail (corrupt, hostile, unknown architecture, resumable training states) are left out."""
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f"{directory} is not a directory")
    found = []
    for p in sorted(directory.iterdir()):
        if p.is_dir():
            if not (p / "config.json").is_file():
                continue
        elif not p.name.endswith(WEIGHT_SUFFIXES) or p.name.endswith(".resume.pt"):
            continue
        try:
            plan = _plan(p, tensors=False)
            _check_against_model(plan)
        except MAEError:
            continue
        found.append(p)
    return found


# ------------------------------------------------------------------ CLI
def format_info(info: CheckpointInfo) -> str:
    c = info.config
    h, w = c.img_size
    lines = [f"checkpoint   {info.path}",
             f"format       {info.format}",
             f"class        {info.kind}" + (f" (target: {info.target})" if info.target else ""),
             f"architecture {info.arch_name}",
             f"native       I={h}" + (f"x{w}" if w != h else "") + f", p={c.patch_size}, grid {c.grid[0]}x{c.grid[1]}"
             f", L={c.num_patches}",
             f"parameters   {info.n_params:,} ({info.n_params / 1e6:.2f} M, fixed position tables included)",
             f"mask unit    {info.mask_unit}x{info.mask_unit} patches (training)",
             f"reconstruct  {'yes' if info.can_reconstruct else 'no'}",
             f"sha256       {info.sha256}"]
    if info.training:
        lines.append("training     " + ", ".join(f"{k}={v}" for k, v in info.training.items()
                                                  if not isinstance(v, (list, dict))))
    lines += [f"note         {n}" for n in info.notes]
    return "\n".join(lines)


def cli(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m mae_core info",
                                 description="Describe a checkpoint: format, class, architecture, native I and p.")
    ap.add_argument("checkpoint", nargs="?", help="file or transformers folder (default: the embedded checkpoint)")
    ap.add_argument("--json", action="store_true", help="print JSON")
    ap.add_argument("--heads", help="ENC[,DEC] head counts for an unknown architecture without metadata")
    ap.add_argument("--no-probe", action="store_true", help="do not run the target probe")
    a = ap.parse_args(argv)
    path = a.checkpoint
    if path is None:
        try:
            from .assets import DEFAULT_CHECKPOINT
        except ImportError:
            raise CheckpointError("no checkpoint given and no embedded default available") from None
        path = DEFAULT_CHECKPOINT
    heads = [None, None]
    if a.heads:
        try:
            parts = [int(x) for x in a.heads.split(",")]
        except ValueError:
            raise ConfigError(f"--heads must be ENC or ENC,DEC integers, got {a.heads!r}") from None
        heads[: len(parts)] = parts[:2]
    info = inspect_checkpoint(path, num_heads=heads[0], decoder_num_heads=heads[1], probe=not a.no_probe)
    if a.json:
        json.dump(info.to_dict(), sys.stdout, indent=2)
        print()
    else:
        print(format_info(info))
    return 0
