"""Reading checkpoint containers safely: torch pickles (weights only), safetensors, transformers folders.

Nothing here builds a model or decides a format; it returns the tensors (or only their shapes) and the metadata
that came with them. Pickles are read only with ``torch.load(weights_only=True)`` inside
``safe_globals([argparse.Namespace])``; there is no unsafe fallback.
"""
from __future__ import annotations

import argparse
import json
import pickle
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..digest import sha256_files
from ..errors import CheckpointError

MAX_JSON_BYTES = 4 * 2**20
WEIGHT_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt", ".safetensors")
_POS_RE = re.compile(r"(pos_embed|position_embeddings)$")  # small tables read even for shapes only


@dataclass
class Raw:
    source: Path  # what the user gave (file or directory)
    weights: Path  # the file holding the tensors (hashed)
    container: str  # "pickle" | "safetensors"
    sd: dict  # name -> tensor
    header: dict = field(default_factory=dict)  # safetensors metadata
    extra: dict = field(default_factory=dict)  # other top-level entries of a pickle (e.g. args)
    hf_config: dict | None = None
    sidecar: dict | None = None


def one_line(e: BaseException, limit: int = 160) -> str:
    text = " ".join(str(e).split())
    return (text[:limit] + "...") if len(text) > limit else text


_TRUNCATION_SIGNS = ("central directory", "unexpected end", "eof", "incomplete", "not fully covered",
                     "invalid header length", "truncated", "out of bounds", "too short")


def _unreadable(path: Path, what: str, e: BaseException) -> str:
    """A one-line, user-worded reason why a weights file could not be read (the library's wording stays out)."""
    text = f"{type(e).__name__} {e}".lower()
    if isinstance(e, (EOFError, zipfile.BadZipFile)) or any(s in text for s in _TRUNCATION_SIGNS):
        return f"{path.name} is not a complete {what} (it may be truncated or still downloading)"
    if isinstance(e, MemoryError):
        return f"{path.name} is too large to read into memory here"
    return f"{path.name} is a damaged {what} or one this reader cannot open (it may be truncated or corrupt)"


def read_json(path: Path, what: str) -> dict:
    if path.stat().st_size > MAX_JSON_BYTES:
        raise CheckpointError(f"{what} {path.name} is larger than {MAX_JSON_BYTES // 2**20} MB; refusing to parse it")
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{what} {path.name} is not valid JSON ({one_line(e, 80)})") from None
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
        raise CheckpointError(_unreadable(path, "PyTorch checkpoint", e)) from None


def _read_safetensors(path: Path, tensors: bool = True):
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            header = dict(f.metadata() or {})
            sd = {k: f.get_tensor(k) if tensors or _POS_RE.search(k) else tuple(f.get_slice(k).get_shape())
                  for k in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(_unreadable(path, "safetensors file", e)) from None
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


def read_raw(path, tensors: bool = True) -> Raw:
    """Read tensors (or only their shapes when tensors=False and the container allows it) and all metadata."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {path}")
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise CheckpointError(f"{path} is a directory without config.json (not a transformers model folder)")
        hf_config = read_json(path / "config.json", "config")
        weights = _hf_weights(path)
        if weights.name.endswith(".index.json"):  # sharded safetensors
            index = read_json(weights, "index")
            files = sorted(set((index.get("weight_map") or {}).values()))
            if not files or any("/" in f or "\\" in f or f.startswith(".") for f in files):
                raise CheckpointError(f"{weights.name} has no usable weight_map")
            sd = {}
            for f in files:
                sd.update(_read_safetensors(path / f, tensors)[1])
            return Raw(path, weights, "safetensors", sd, hf_config=hf_config)
        raw = _read_file(weights, tensors)
        raw.source, raw.hf_config = path, hf_config
        return raw
    return _read_file(path, tensors)


def _read_file(path: Path, tensors: bool) -> Raw:
    kind = _sniff(path)
    sidecar_path = path.with_suffix(".json")
    sidecar = read_json(sidecar_path, "sidecar") if sidecar_path.is_file() else None
    if kind == "safetensors":
        header, sd = _read_safetensors(path, tensors)
        return Raw(path, path, "safetensors", sd, header=header, sidecar=sidecar)
    sd, extra = _unwrap_pickle(safe_torch_load(path), path)
    bad = [k for k, v in sd.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(f"{path.name}: state dict entries that are not tensors: {bad[:5]}")
    if not tensors:
        sd = {k: v if _POS_RE.search(k) else tuple(v.shape) for k, v in sd.items()}
    return Raw(path, path, "pickle", sd, extra=extra, sidecar=sidecar)


def file_sha256(path) -> str:
    """sha256 of a checkpoint's content (of the weights file for a transformers directory; of the index and then
    every shard, in name order, for a sharded one)."""
    path = Path(path)
    if path.is_dir():
        path = _hf_weights(path)
    files = [path]
    if path.name.endswith(".index.json"):
        files += [path.parent / f for f in sorted(set((read_json(path, "index").get("weight_map") or {}).values()))]
    return sha256_files(files)

