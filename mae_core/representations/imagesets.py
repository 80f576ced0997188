"""Sets of images to take features of: a labelled folder (one subfolder per class), the bundled photographs, a list
of files, and the labelled sets that ship inside installed packages (written once into a folder of the same form).

An ImageSet is only names and paths; images are decoded when features are taken (an unreadable file is skipped there
and counted). Its ``digest`` (content hash of every file, with its relative path and label) is the cache key.
"""
from __future__ import annotations

import csv
import hashlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..assets import image_set
from ..errors import ConfigError, DataError
from ..training_data.downloads import download
from ..training_data.packages import deb_files
from ..training_data.rcc import rcc_entries

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"})
BUILTIN = {
    "digits": "scikit-learn's load_digits: 1797 images, 8x8 grey, 10 classes (handwritten digits; a sanity probe, "
              "not natural images)",
    "digits300": "the first 30 images of each class of scikit-learn's load_digits: 300 images, 8x8 grey, 10 classes "
                 "(a sanity probe, not natural images)",
    "lfw": "scikit-image's lfw_subset: 200 images, 25x25 grey, face / non-face (a sanity probe, not natural images)",
    "gcompris": "GCompris's sorting-game photographs (Debian gcompris-qt-data 3.1-2, downloaded with apt-get): 140 "
                "photographs, 320 px, 5 classes (fishes, monuments, renewable energy, tools, household objects); "
                "fewer than 300 images",
}
# The GCompris sorting game's photograph folders (Debian 12 gcompris-qt-data 3.1-2, categorization.rcc) and the
# class each becomes; per-file credits and licences are in each folder's README inside the bundle.
GCOMPRIS = dict(source="debian", package="gcompris-qt-data", version="3.1-2",
                path="usr/share/gcompris-qt/rcc/categorization.rcc",
                sha256="984852ac8377a224c94e26a5bc8a13d0a589612030902c6d76c14509fef3c984",
                prefix="/gcompris/src/activities/categorization/resource/images/",
                classes={"fishes": "fishes", "monuments": "monuments", "renewable": "renewable energy",
                         "tools": "tools", "others": "household objects"})


@dataclass(frozen=True)
class ImageSet:
    name: str
    paths: tuple  # of Path
    labels: tuple | None = None  # int per path (index into classes), None for an unlabelled set
    classes: tuple = ()
    root: str = ""
    _digest: list = field(default_factory=list, compare=False, hash=False, repr=False)

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def labelled(self) -> bool:
        return self.labels is not None

    @property
    def names(self) -> list[str]:
        root = Path(self.root) if self.root else None
        out = []
        for p in self.paths:
            try:
                out.append(str(Path(p).relative_to(root)) if root else Path(p).name)
            except ValueError:
                out.append(Path(p).name)
        return out

    def digest(self) -> str:
        """sha256 over (relative name, label, file content) of every image, in order (computed once)."""
        if not self._digest:
            h = hashlib.sha256()
            labels = self.labels or (None,) * len(self.paths)
            for name, label, p in zip(self.names, labels, self.paths):
                h.update(f"{name}\0{label}\0".encode())
                try:
                    with open(p, "rb") as f:
                        for chunk in iter(lambda: f.read(1 << 20), b""):
                            h.update(chunk)
                except OSError:
                    h.update(b"<unreadable>")
            self._digest.append(h.hexdigest())
        return self._digest[0]


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                  and not p.name.startswith("."))


def labelled_folder(root, min_per_class: int = 2) -> ImageSet:
    """A folder with one subfolder of images per class (ImageNet / Imagenette layout) -> ImageSet.

    One-line ConfigError for: no such folder, no class subfolders with images, fewer than 2 classes, a class
    with fewer than ``min_per_class`` images."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise ConfigError(f"no folder at {root}")
    classes, paths, labels = [], [], []
    loose = _image_files(root)
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = sorted(p for p in sub.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                       and not p.name.startswith("."))
        if not files:
            continue
        classes.append(sub.name)
        paths += files
        labels += [len(classes) - 1] * len(files)
    if not classes:
        extra = f" (it has {len(loose)} images directly inside)" if loose else ""
        raise ConfigError(f"{root.name or root} has no classes: put the images in one subfolder per class{extra}")
    if len(classes) < 2:
        raise ConfigError(f"{root.name or root} has one class ({classes[0]}); a probe needs at least 2 subfolders")
    counts = np.bincount(labels, minlength=len(classes))
    for c, n in zip(classes, counts):
        if n < min_per_class:
            raise ConfigError(f"class {c!r} has {n} image{'s' if n != 1 else ''}: each class needs at least "
                              f"{min_per_class}")
    return ImageSet(root.name, tuple(paths), tuple(labels), tuple(classes), str(root))


def bundled_photos() -> ImageSet:
    """The 17 bundled photographs (the demo images, then scikit-image's photographs): unlabelled."""

    items = image_set()
    return ImageSet("bundled photographs", tuple(items.values()))


def image_files(paths, name: str = "images") -> ImageSet:
    paths = tuple(Path(p) for p in paths)
    if not paths:
        raise ConfigError("no images given")
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise ConfigError(f"no image file at {missing[0]}")
    return ImageSet(name, paths)


def image_folder(root) -> ImageSet:
    """Every image in a folder, recursively: labelled when it has class subfolders, else unlabelled."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise ConfigError(f"no folder at {root}")
    if any(p.is_dir() and _image_files(p) for p in root.iterdir()):
        return labelled_folder(root)
    files = _image_files(root)
    if not files:
        raise ConfigError(f"{root} has no images (PNG, JPEG, WebP, BMP, GIF or TIFF)")
    return ImageSet(root.name, tuple(files), root=str(root))


def builtin_dir() -> Path:
    """Where the package-shipped labelled sets are written as folders: MAE_DATA_DIR/probe_sets, else
    ~/.cache/mae_explorer/probe_sets."""
    env = os.environ.get("MAE_DATA_DIR")
    base = Path(env).expanduser() if env else Path.home() / ".cache" / "mae_explorer"
    return base / "probe_sets"


def _builtin_arrays(name: str):
    if name in ("digits", "digits300"):
        from sklearn.datasets import load_digits

        d = load_digits()
        imgs = (d.images / 16.0 * 255).round().astype(np.uint8)
        keep = np.arange(len(imgs))
        if name == "digits300":
            keep = np.concatenate([np.flatnonzero(d.target == c)[:30] for c in range(10)])
        return imgs[keep], d.target[keep].astype(int), [str(i) for i in range(10)]
    if name == "lfw":
        from skimage.data import lfw_subset

        imgs = (lfw_subset() * 255).round().clip(0, 255).astype(np.uint8)
        return imgs, np.array([0] * 100 + [1] * 100), ["face", "non-face"]  # skimage: the first 100 are faces
    raise ConfigError(f"unknown built-in set {name!r}; choose from {', '.join(BUILTIN)}")


def _readme_credits(text: str) -> dict:
    """GCompris README blocks (Copyright / Source / License / Files) -> file name -> (credit, source, licence)."""
    out, cur, files = {}, {}, False
    for line in text.splitlines() + [""]:
        line = line.strip()
        if not line:
            files = False
            continue
        key, _, val = line.partition(":")
        if not files and key in ("Copyright", "Source", "License"):
            cur[key] = val.strip()
        elif not files and key == "Files":
            files = True
        elif files:
            out[line] = (cur.get("Copyright", ""), cur.get("Source", ""), cur.get("License", ""))
    return out


def gcompris_set(folder: Path) -> None:
    """Download GCompris's data package with apt-get, check the bundle's sha256, and write its sorting-game
    photographs as class folders with a CREDITS.csv (file, class, credit, source, licence)."""
    g = GCOMPRIS
    with tempfile.TemporaryDirectory() as tmp:
        deb = download(g["source"], g["package"], g["version"], tmp)
        data = deb_files(deb, [g["path"]]).get(g["path"])
    if data is None or hashlib.sha256(data).hexdigest() != g["sha256"]:
        raise DataError(f"{g['package']}={g['version']}: {g['path']} is missing or differs from the pinned sha256")
    entries = rcc_entries(data)
    rows = []
    for sub, cls in g["classes"].items():
        credits = _readme_credits(entries.get(f"{g['prefix']}{sub}/README", b"").decode("utf-8", "replace"))
        out = folder / cls
        out.mkdir(parents=True, exist_ok=True)
        for key in sorted(k for k in entries if k.startswith(f"{g['prefix']}{sub}/") and k.endswith(".webp")):
            name = key.rsplit("/", 1)[-1]
            (out / name).write_bytes(entries[key])
            rows.append((f"{cls}/{name}", cls) + credits.get(name, ("", "", "not stated")))
    with open(folder / "CREDITS.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "class", "credit", "source", "licence"])
        w.writerows(rows)


def builtin_set(name: str, dest=None) -> ImageSet:
    """A labelled set shipped inside a package, written once as image files into class folders."""
    from PIL import Image

    if name not in BUILTIN:
        raise ConfigError(f"unknown built-in set {name!r}; choose from {', '.join(BUILTIN)}")
    folder = Path(dest or builtin_dir()) / name
    done = folder / ".complete"
    if name == "gcompris" and not done.is_file():
        gcompris_set(folder)
        done.write_text(BUILTIN[name] + "\n")
    if not done.is_file():
        imgs, labels, classes = _builtin_arrays(name)
        for i, (img, y) in enumerate(zip(imgs, labels)):
            sub = folder / classes[y]
            sub.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img).save(sub / f"{i:05d}.png")
        done.write_text(BUILTIN[name] + "\n")
    return labelled_folder(folder)
