"""Packs: a small JPEG copy of the verified photographs with an index of their manifest labels, to take to
another machine and train on with ``train --data OUT``; reading a pack, or any folder of a user's own images."""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import DataError
from .manifest import read_manifest
from .store import load_photo, training_photos

PACK_INDEX = "pack.json"


def pack(out, short_side: int = 512, quality: int = 95, dest=None, photos=None, progress: bool = True) -> Path:
    """Write the verified photographs, shrunk to ``short_side`` and re-encoded as JPEG, into folder ``out`` with
    an index (``pack.json``) of each file's manifest label: a small copy of the set to take to another machine
    (a GPU box without the package archives) and train on with ``train --data OUT``."""
    from PIL import Image

    photos = read_manifest() if photos is None else list(photos)
    paths = training_photos(dest, photos)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    it = zip(photos, paths)
    if progress:
        from tqdm import tqdm

        it = tqdm(list(it), desc="pack", unit="photo")
    for i, (p, path) in enumerate(it):
        name = f"{i:04d}.jpg"
        Image.fromarray(load_photo(path, short_side)).save(out / name, quality=quality)
        files[name] = p.label
    index = {"short_side": short_side, "jpeg_quality": quality, "files": files}
    (out / PACK_INDEX).write_text(json.dumps(index, indent=1), encoding="utf-8")
    return out


def read_pack(folder) -> tuple[list[Path], list[str]]:
    """(image paths, labels) of a folder written by :func:`pack`; a folder without an index lists its images
    (labelled by file name), so ``train --data DIR`` also takes a user's own folder of photographs."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"training data folder not found: {folder}")
    index = folder / PACK_INDEX
    if index.is_file():
        meta = json.loads(index.read_text(encoding="utf-8"))
        files = meta["files"]
        paths = [folder / f for f in files]
        missing = [p for p in paths if not p.is_file()]
        if missing:
            raise DataError(f"{len(missing)} image(s) listed in {index} are missing (first: {missing[0].name})")
        note = f"packed: short side {meta['short_side']}, JPEG q{meta['jpeg_quality']}"
        return paths, [f"{lab} [{note}]" for lab in files.values()]
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp"))
    if not paths:
        raise DataError(f"no .jpg/.png/.webp images in {folder}")
    return paths, [f"folder:{p.relative_to(folder)}" for p in paths]
