"""Cached checkpoints, images and results.

Models: st.cache_resource keyed by (path, sha256, target) - one shared, never-mutated model per file and target
choice (an explicit target is a new model object over the same weights, mae_core.checkpoints.retarget); variants at
another image/patch size come from mae_core.reconstruct.prepare, which builds new models. Results: keyed by
(checkpoint sha, target, image hash, fit, configuration, seed); reconstructions are shared read-only objects
(st.cache_resource: a new one is not pickled, a hit is not unpickled), the other results st.cache_data. The
expensive call inside takes an inference slot.
"""
from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st

from mae_core import assets, settings
from mae_core.catalogue import load_catalogue
from mae_core.errors import CheckpointError, ImageError, MAEError
from mae_core.fetch.locations import cached, library_dirs
from mae_core.fetch.receipt import heads_for
from mae_core.images import image_hash, load_image

from .limits import LIMITER, MEMORY_BUDGET_MB
from .uploads import extract_model_zip

MAX_IMAGE_UPLOAD_MB = settings.get("MAE_MAX_IMAGE_MB")
UPLOAD_DIR = Path(tempfile.gettempdir()) / "mae_explorer_uploads"
CHECKPOINT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin", ".ckpt")
UPLOAD_SUFFIXES = CHECKPOINT_SUFFIXES + (".zip",)  # .zip: a transformers model folder


def checkpoint_limit_mb() -> float:
    """The largest checkpoint upload this app accepts: MAE_MAX_CHECKPOINT_MB (read at call time; a hosted demo sets
    a lower cap, deploy/mae-explorer@.service) but never above Streamlit's server.maxUploadSize (upload_cap_mb, 2048
    MB in .streamlit/config.toml), which is the default: locally a ViT-L checkpoint (about 1.3 GB) uploads. The
    uploader states this number and the browser refuses bigger files with it."""
    cap = float(upload_cap_mb())
    limit = settings.get("MAE_MAX_CHECKPOINT_MB")
    return cap if limit is None else min(cap, limit)


def upload_cap_mb() -> int:
    """Streamlit's server.maxUploadSize: the hard cap the browser enforces (its own message beside the file)."""
    try:
        return max(1, int(st.get_option("server.maxUploadSize")))
    except (RuntimeError, ValueError, TypeError):
        return 200


# ------------------------------------------------------------------ where things are
def local_paths_allowed() -> bool:
    """Reading server-side paths typed by the user; switch off on a shared server with MAE_ALLOW_LOCAL_PATHS=0."""
    return settings.get("MAE_ALLOW_LOCAL_PATHS")


# ------------------------------------------------------------------ checkpoints
@st.cache_data(max_entries=256, show_spinner=False)
def _sha256(path: str, mtime_ns: int, size: int) -> str:
    """The library's content hash, cached on (path, mtime, size) so each rerun does not re-read the file."""
    from mae_core.checkpoints import file_sha256 as content_sha256

    return content_sha256(path)


def file_sha256(path) -> str:
    """sha256 of a file, cached on (path, mtime, size) so a retrained checkpoint is picked up.

    For a model folder (transformers layout) it is a hash of its files' names, sizes and mtimes: a cache key,
    not a content hash (the loaded CheckpointInfo.sha256 is the weights' content hash)."""
    p = Path(path)
    try:
        st_ = p.stat()
    except OSError:
        raise CheckpointError(f"no checkpoint at {p}") from None
    if p.is_dir():
        h = hashlib.sha256(str(p.resolve()).encode())
        for f in sorted(p.iterdir()):
            if f.is_file():
                fs = f.stat()
                h.update(f"{f.name}:{fs.st_size}:{fs.st_mtime_ns}".encode())
        return "dir-" + h.hexdigest()
    if not p.is_file():
        raise CheckpointError(f"{p} is not a file")
    return _sha256(str(p.resolve()), st_.st_mtime_ns, st_.st_size)


@st.cache_resource(max_entries=32, show_spinner=False)
def _inspect(path: str, sha: str):
    from mae_core.checkpoints import inspect_checkpoint

    try:
        return inspect_checkpoint(path, **heads_for(path))  # head counts a fetched checkpoint's receipt records
    except MAEError:
        raise
    except Exception:
        raise CheckpointError(f"{Path(path).name} could not be read: it is not a checkpoint this app can read "
                              f"(or it is damaged)") from None


def inspect(path):
    """CheckpointInfo without keeping a model (cached on path + sha256)."""
    return _inspect(str(Path(path).resolve()), file_sha256(path))


def loss_curve(path, info=None):
    """The training loss CSV written next to one of our checkpoints (<name>.loss.csv), as a DataFrame, or None."""
    import pandas as pd

    p = Path(path)
    name = (getattr(info, "training", None) or {}).get("loss_csv") if info is not None else None
    candidates = [p.parent / Path(name).name] if name else []
    candidates.append(p.with_name(p.name.split(".")[0] + ".loss.csv"))
    for c in candidates:
        if c.is_file() and c.stat().st_size < 50 * 2**20:
            try:
                df = pd.read_csv(c)
            except (ValueError, OSError):
                return None
            return df if {"step", "loss"} <= set(df.columns) else None
    return None


@st.cache_resource(max_entries=8, show_spinner=False)
def _load(path: str, sha: str, target: str = "auto"):
    from mae_core.checkpoints import load_checkpoint, retarget

    if target != "auto":  # the auto model (cached) under another target: a new object, the shared one untouched
        model, info = _load(path, sha, "auto")
        return retarget(model, info, target)
    try:
        # MAE_DEVICE: auto (CUDA when present, else CPU), cpu or cuda; adapted variants and results follow it
        from mae_core.precision import resolve_device

        model, info = load_checkpoint(path, device=resolve_device(settings.get("MAE_DEVICE")),
                                      **heads_for(path))  # head counts a fetched checkpoint's receipt records
    except MAEError:
        raise
    except Exception:  # a hostile or corrupt file must give a message in the user's terms, not a traceback
        raise CheckpointError(f"{Path(path).name} could not be loaded: it is not a checkpoint this app can read "
                              f"(or it is damaged)") from None
    model.eval()
    for prm in model.parameters():
        prm.requires_grad_(False)
    return model, info


def load(path, target: str = "auto"):
    """(model, info, sha256) for a checkpoint file; the model is shared across sessions: never mutate it.

    target: "auto" (what the file records, else the probe) | "pixels" | "norm-pix" (wins over both)."""
    sha = file_sha256(path)
    model, info = _load(str(Path(path).resolve()), sha, target)
    return model, info, sha


@st.cache_data(ttl=30, show_spinner=False)
def find(directory: str) -> list[str]:
    """Checkpoint files in a folder (mae_core.checkpoints.find_checkpoints), as strings."""
    from mae_core.checkpoints import find_checkpoints

    d = Path(directory).expanduser()
    if not d.is_dir():
        raise CheckpointError(f"{d} is not a folder")
    found = find_checkpoints(d)
    return [str(getattr(x, "path", x)) for x in found]


@st.cache_data(ttl=30, show_spinner=False)
def _library(dirs: tuple) -> dict:
    from mae_core.checkpoints import find_checkpoints

    entries = list(load_catalogue())
    out = {}

    def add(name: str, path: Path):
        key, n = name, 2
        while key in out:
            key, n = f"{name} ({n})", n + 1
        out[key] = str(path)

    for d in map(Path, dirs):
        if not d.is_dir():
            continue
        taken = set()
        for e in entries:  # catalogue entries fetched into this folder: by their id
            hit = cached(e, [d])
            if hit is not None:
                add(e.id, hit)
                taken.add(Path(hit).resolve())
        try:
            found = find_checkpoints(d)  # anything else loadable directly in the folder: by its name
        except MAEError:
            found = []
        for p in found:
            if Path(p).resolve() not in taken and not Path(p).name.startswith("."):
                add(Path(p).name, p)
    return out


def library() -> dict:
    """name -> path of the checkpoints in the operator's model library (MAE_MODEL_LIBRARY=dir1:dir2): catalogue
    entries fetched there (`python -m mae_core fetch ID --cache-dir DIR`) by id, other checkpoints by file name."""

    dirs = tuple(str(d) for d in library_dirs())
    return _library(dirs) if dirs else {}


@st.cache_data(ttl=30, show_spinner=False)
def scan(directory: str) -> tuple[list[str], list[tuple[str, str]]]:
    """(loadable checkpoints, [(skipped file, one-line reason)]) of a folder (mae_core.checkpoints.scan_checkpoints)."""
    from mae_core.checkpoints import scan_checkpoints

    d = Path(directory).expanduser()
    if not d.is_dir():
        raise CheckpointError(f"{d} is not a folder")
    s = scan_checkpoints(d)
    return [str(p) for p in s.found], [(str(p), why) for p, why in s.skipped]


MAX_KEPT_UPLOADS = settings.get("MAE_MAX_KEPT_UPLOADS")


def _prune_uploads(keep: int, spare: Path | None = None) -> None:
    """Delete the oldest uploaded checkpoints beyond `keep` (a shared server must not fill its disk)."""
    if not UPLOAD_DIR.is_dir():
        return
    folders = sorted((d for d in UPLOAD_DIR.iterdir() if d.is_dir() and d != spare),
                     key=lambda d: d.stat().st_mtime, reverse=True)
    for d in folders[max(0, keep):]:
        shutil.rmtree(d, ignore_errors=True)


def _safe_name(name: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name or "upload").name)[:80] or "upload"
    return stem


def save_upload(data: bytes, name: str) -> Path:
    """Write an uploaded checkpoint to a private temp file named by its content hash (stable cache key); a .zip
    (a transformers model folder) is unpacked, with bounds, into a folder (ui.uploads).

    Only the size and the suffix are checked here; loading goes through mae_core.checkpoints (safetensors, or
    torch.load with weights_only=True), which never executes code from the file."""
    if not data:
        raise CheckpointError(f"{_safe_name(name)} is empty (0 bytes)")
    limit = checkpoint_limit_mb()
    if len(data) > limit * 2**20:
        raise CheckpointError(f"{_safe_name(name)} is {len(data) / 2**20:,.0f} MB, over this server's "
                              f"{limit:,.0f} MB upload limit (MAE_MAX_CHECKPOINT_MB): pick it under Published "
                              f"models or the model library, or give a local path")
    safe = _safe_name(name)
    if not safe.lower().endswith(UPLOAD_SUFFIXES):
        raise CheckpointError(f"{safe} is not a checkpoint file this app reads: expected one of "
                              f"{', '.join(UPLOAD_SUFFIXES)}")
    sha = hashlib.sha256(data).hexdigest()
    folder = UPLOAD_DIR / sha[:16]
    _prune_uploads(keep=MAX_KEPT_UPLOADS - 1, spare=folder)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    if safe.lower().endswith(".zip"):

        target = folder / (safe[:-4] or "model")
        if not (target / "config.json").is_file():
            shutil.rmtree(target, ignore_errors=True)
            extract_model_zip(data, target, int(limit * 2**20))
        return target
    path = folder / safe
    if not path.is_file() or path.stat().st_size != len(data):
        tmp = folder / (safe + ".part")
        tmp.write_bytes(data)
        tmp.replace(path)
    return path


# ------------------------------------------------------------------ images
@st.cache_data(max_entries=32, show_spinner=False)
def _decode(data: bytes):
    img = load_image(data)
    return img, image_hash(img)


def image_from_bytes(data: bytes):
    """(PIL RGB image, content hash) of uploaded bytes; ImageError for anything unusable."""
    if len(data) > MAX_IMAGE_UPLOAD_MB * 2**20:
        raise ImageError(f"the image is larger than {MAX_IMAGE_UPLOAD_MB} MB")
    return _decode(bytes(data))


@st.cache_data(max_entries=32, show_spinner=False)
def demo_image(name: str):
    """(PIL RGB image, content hash) of a shipped demo image or another photo of mae_core.assets.image_set()."""
    path = assets.image_set().get(name)
    if path is None:
        raise ImageError(f"unknown demo image {name!r}")
    img = load_image(path)
    return img, image_hash(img)


# ------------------------------------------------------------------ results
def prepared(model, image_size: int, patch_size: int):
    """The model at (I, p), cached by mae_core.reconstruct.prepare (a new model when either differs)."""
    from mae_core.reconstruct import prepare

    return prepare(model, (image_size, image_size), patch_size)


@dataclass(frozen=True)
class ReconRequest:
    """Everything one reconstruction depends on, and so its cache key. path and sha name the checkpoint, image_key
    the image's hash (the image itself is passed beside the request, unhashed).

    mask_grid: a user-drawn mask as a tuple of row tuples (1 = removed), or None for a random mask; target: the
    checkpoint's target choice (see load); fit: how a non-square photo is fitted (stretch/crop/pad); precision:
    auto | fp32 | tf32 | bf16 (None: the server's MAE_PRECISION, else auto)."""

    path: str
    sha: str
    image_key: str
    image_size: int
    patch_size: int
    mask_unit: int
    mask_ratio: float
    seed: int
    keep: str = "blocks"
    denorm: str = "visible"
    mask_grid: tuple | None = None
    target: str = "auto"
    fit: str = "stretch"
    precision: str | None = None


@dataclass(frozen=True)
class AttentionRequest:
    """Everything one attention analysis of the full image depends on (no masking), and so its cache key."""

    path: str
    sha: str
    image_key: str
    image_size: int
    patch_size: int
    query: tuple | None = None
    head_fusion: str = "mean"
    stack: str = "encoder"
    fit: str = "stretch"
    precision: str | None = None


@st.cache_resource(max_entries=96, show_spinner=False)  # shared, read only: no pickling of each new result
def reconstruction(req: ReconRequest, _img):
    """mae_core.reconstruct.reconstruct of `_img` for the request, cached on the request."""
    from mae_core.reconstruct import reconstruct

    model, _, _ = load(req.path, req.target)
    model, _ = prepared(model, req.image_size, req.patch_size)
    mask = np.asarray(req.mask_grid, dtype=np.float32) if req.mask_grid is not None else None
    with LIMITER.slot():
        return reconstruct(model, _img, mask=mask, mask_unit=req.mask_unit, mask_ratio=req.mask_ratio, seed=req.seed,
                           keep=req.keep, denorm=req.denorm, fit=req.fit, precision=_precision(req.precision))


@st.cache_data(max_entries=48, show_spinner=False)
def attention(req: AttentionRequest, _img):
    """mae_core.attention.analyze of `_img` for the request, cached on the request. Its working memory is capped by
    MAE_MEMORY_BUDGET_MB (on a GPU a whole layer per block when it fits)."""
    from mae_core.attention import analyze

    model, _, _ = load(req.path)
    model, _ = prepared(model, req.image_size, req.patch_size)
    with LIMITER.slot():
        return analyze(model, _img, query=req.query, layers=req.stack, head_fusion=req.head_fusion, fit=req.fit,
                       precision=_precision(req.precision), budget_mb=MEMORY_BUDGET_MB)


def _precision(precision: str | None) -> str:
    """The asked precision, else the server's MAE_PRECISION (read at call time), else auto."""
    from mae_core.precision import precision_from_env

    return precision or precision_from_env()
