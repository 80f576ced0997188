"""The fetched photographs on disk: the cache folder (MAE_DATA_DIR, else ~/.cache/mae_explorer/training_photos),
the sha256 check of each file, the list the trainer reads (one line naming the fetch command when any is
missing or changed), and the loading of one photograph as RGB, shrunk to a short side."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import settings
from ..digest import sha256_file
from ..errors import DataError
from .held_out import check_held_out
from .manifest import read_manifest

FETCH_COMMAND = "python -m mae_core data fetch"


def default_dest() -> Path:
    """MAE_DATA_DIR, else ~/.cache/mae_explorer/training_photos."""
    env = settings.get("MAE_DATA_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "mae_explorer" / "training_photos"


def _verified(path: Path, sha256: str) -> bool:
    return path.is_file() and sha256_file(path) == sha256


def training_photos(dest=None, photos=None) -> list[Path]:
    """Paths of the manifest's photographs in ``dest``, each checked against its sha256; a clear one-line error
    naming the fetch command when any is missing or changed."""
    custom = dest is not None
    dest = Path(dest) if dest else default_dest()
    photos = read_manifest() if photos is None else list(photos)
    check_held_out(photos)
    paths, bad = [], []
    for p in photos:
        path = dest / p.file_name
        (paths if _verified(path, p.sha256) else bad).append(path)
    if bad:
        cmd = FETCH_COMMAND + (f" --dest {dest}" if custom else "")
        raise DataError(f"{len(bad)} of {len(photos)} training photographs are missing or changed in {dest} "
                        f"(first: {bad[0].relative_to(dest)}); run: {cmd}")
    return paths


def load_photo(path, max_short_side: int | None = None) -> np.ndarray:
    """uint8 (H, W, 3) RGB; shrunk (aspect kept) so the short side is at most ``max_short_side``."""
    from PIL import Image

    with Image.open(path) as im:
        w, h = im.size
        scale = 1.0 if not max_short_side else min(1.0, max_short_side / min(w, h))
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        if scale < 1.0:
            im.draft("RGB", size)  # JPEG: decode at a reduced scale first
        im = im.convert("RGB")
        if im.size != size:
            im = im.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
        return np.asarray(im).copy()
