"""Where fetched checkpoints are: the default cache (MAE_CACHE_DIR, else the XDG cache), the operator's library
folders (MAE_MODEL_LIBRARY), huggingface_hub's own cache, and the lookup of an entry's verified copy in them
(a file for URL entries, a transformers folder for hub entries); all read at call time, no network."""
from __future__ import annotations

import os
from pathlib import Path

from .. import settings
from ..catalogue import Entry

HUB_WEIGHTS = ("model.safetensors", "pytorch_model.bin")  # tried in this order; the files on the hub are detected


def default_cache_dir() -> Path:
    """MAE_CACHE_DIR, else $XDG_CACHE_HOME/mae_explorer, else ~/.cache/mae_explorer (read at call time)."""
    if settings.get("MAE_CACHE_DIR"):
        return Path(settings.get("MAE_CACHE_DIR")).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "mae_explorer"


def library_dirs() -> list[Path]:
    """The operator's model library folders: MAE_MODEL_LIBRARY, os.pathsep-separated (read at call time)."""
    return [Path(p).expanduser() for p in settings.get("MAE_MODEL_LIBRARY")]


def search_dirs() -> list[Path]:
    """Where downloaded entries are looked for: the library folders first, then the default cache."""
    out = []
    for d in library_dirs() + [default_cache_dir()]:
        if d not in out:
            out.append(d)
    return out


def hf_cache_dir() -> Path:
    """huggingface_hub's cache, from HF_HUB_CACHE / HF_HOME read at call time (its constants are read at import)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def _checkpoint_in(folder: Path, entry: Entry) -> Path | None:
    if not folder.is_dir():
        return None
    if entry.hub_id:
        ok = (folder / "config.json").is_file() and any((folder / w).is_file() for w in HUB_WEIGHTS)
        return folder if ok else None
    f = folder / entry.filename
    return f if f.is_file() else None


def cached(entry: Entry, dirs=None) -> Path | None:
    """The verified local copy of an entry (a file, or a transformers folder), or None. No network."""
    for d in (search_dirs() if dirs is None else dirs):
        hit = _checkpoint_in(Path(d) / entry.id, entry)
        if hit is not None:
            return hit
    return None


def local_size(path) -> int | None:
    """Bytes of a checkpoint file, or of the weights in a transformers folder (links followed)."""
    p = Path(path)
    try:
        if p.is_dir():
            return sum((p / w).stat().st_size for w in HUB_WEIGHTS if (p / w).is_file()) or None
        return p.stat().st_size
    except OSError:
        return None
