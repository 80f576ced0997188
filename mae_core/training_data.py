"""The training photographs: natural photographs shipped inside Debian and PyPI packages.

``assets/training_photos.csv`` lists each photograph with the package (and exact version) that ships it, its path
inside the package, its sha256, its size, its licence and its credit line (``assets/TRAINING_DATA.md`` is the
readable form). Nothing is redistributed here: ``python -m mae_core data fetch`` downloads the named packages with
their own clients (``apt-get download`` for Debian, ``pip download --no-deps`` for PyPI), extracts only the listed
files into a cache folder and checks each sha256. The trainer then calls :func:`training_photos`.

The held-out demo images (scikit-learn's china and flower) are refused twice: a manifest row with a demo image's
sha256 is an error, and every fetched photograph is compared with the demo images by a perceptual hash.

``python -m mae_core data fetch [--dest DIR] [--source debian|pypi]``
``python -m mae_core data list [--dest DIR]``
``python -m mae_core data credits [--out FILE]``
"""
from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from . import settings
from .assets import DEMO_IMAGES, ROOT
from .digest import sha256_bytes, sha256_file
from .errors import DataError

MANIFEST = ROOT / "training_photos.csv"
CREDITS = ROOT / "TRAINING_DATA.md"
FETCH_COMMAND = "python -m mae_core data fetch"
MIN_SHORT_SIDE = 256

# Licences that allow redistribution and derivative works (SPDX ids; LicenseRef-Public-Domain for works the
# package states are in the public domain). Anything else (NC, ND, unknown) is refused when the manifest is read.
PERMITTED_LICENSES = frozenset({
    "CC0-1.0", "LicenseRef-Public-Domain",
    "CC-BY-1.0", "CC-BY-2.0", "CC-BY-2.5", "CC-BY-3.0", "CC-BY-4.0",
    "CC-BY-SA-2.0", "CC-BY-SA-2.5", "CC-BY-SA-3.0", "CC-BY-SA-4.0",
    "GPL-2.0-only", "GPL-2.0-or-later", "GPL-3.0-only", "GPL-3.0-or-later",
    "LGPL-2.1-only", "LGPL-2.1-or-later", "LGPL-3.0-only", "LGPL-3.0-or-later",
    "GFDL-1.2-or-later", "GFDL-1.3-or-later",
    "BSD-2-Clause", "BSD-3-Clause", "MIT", "Apache-2.0",
})
SOURCES = ("debian", "pypi")

# sha256 of scikit-learn's originals (sklearn/datasets/images); the demo PNGs' own hashes are added at run time.
HELD_OUT_SHA256 = {
    "8378025ad2519d649d02e32bd98990db4ab572357d9f09841c2fbfbb4fefad29": "scikit-learn china.jpg",
    "a77f6ec41e353afdf8bdff2ea981b2955535d8d83294f8cfa49cf4e423dd5638": "scikit-learn flower.jpg",
}
# Perceptual near-duplicate test: 16x16 difference hash (256 bits). A resized or re-compressed copy of a demo
# image is 0-5 bits away, a 5 % crop ~30; the closest unrelated photograph in the manifest is 87 bits away.
DHASH_SIZE = 16
NEAR_DUPLICATE_BITS = 32

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$")
_SHA = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Photo:
    """One manifest row: where a photograph comes from, how to check it, and under which licence."""
    id: str
    source: str           # "debian" or "pypi"
    package: str
    version: str          # exact: apt's Version (with epoch) or the PyPI release
    path: str             # inside the package (.deb data tree without "./", or the wheel)
    member: str           # inside a Qt resource bundle (.rcc) at ``path``; "" for plain files
    sha256: str           # of the photograph's own bytes
    width: int
    height: int
    license: str          # SPDX id
    credit: str
    license_note: str     # where the licence statement comes from
    origin: str           # the original's URL where the package names one
    copyright_file: str   # the package's licence file (inside the package)
    copyright_url: str

    @property
    def file_name(self) -> str:
        """Name in the cache folder: the id plus the original extension."""
        return self.id + Path(self.member or self.path).suffix.lower()

    @property
    def pin(self) -> str:
        """``apt-get download`` / ``pip download`` requirement."""
        return f"{self.package}={self.version}" if self.source == "debian" else f"{self.package}=={self.version}"

    @property
    def label(self) -> str:
        """For checkpoint metadata and messages: source, pinned package and the path inside it."""
        inner = f"{self.path}!{self.member}" if self.member else self.path
        return f"{self.source}:{self.pin}:{inner}"


COLUMNS = tuple(f.name for f in fields(Photo))


def default_dest() -> Path:
    """MAE_DATA_DIR, else ~/.cache/mae_explorer/training_photos."""
    env = settings.get("MAE_DATA_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "mae_explorer" / "training_photos"


# --------------------------------------------------------------------------------------------- manifest

def _row_to_photo(row: dict, where: str) -> Photo:
    missing = [c for c in COLUMNS if c not in row]
    if missing:
        raise DataError(f"{where}: missing column(s) {', '.join(missing)}")
    values = {c: (row[c] or "").strip() for c in COLUMNS}
    try:
        values["width"], values["height"] = int(values["width"]), int(values["height"])
    except ValueError:
        raise DataError(f"{where}: width/height must be whole numbers") from None
    p = Photo(**values)
    if not _ID.match(p.id) or ".." in p.id:
        raise DataError(f"{where}: id {p.id!r} must be a relative path of letters, digits, '.', '_', '-'")
    if p.source not in SOURCES:
        raise DataError(f"{where} ({p.id}): source must be one of {', '.join(SOURCES)}, not {p.source!r}")
    if not (p.package and p.version and p.path):
        raise DataError(f"{where} ({p.id}): package, version and path are required")
    if not _SHA.match(p.sha256):
        raise DataError(f"{where} ({p.id}): sha256 must be 64 lowercase hex digits")
    if min(p.width, p.height) < MIN_SHORT_SIDE:
        raise DataError(f"{where} ({p.id}): {p.width}x{p.height} is below the {MIN_SHORT_SIDE}-px short side")
    if p.license not in PERMITTED_LICENSES:
        raise DataError(f"{where} ({p.id}): licence {p.license!r} is not one that allows redistribution and "
                        "derivative use")
    if not p.credit:
        raise DataError(f"{where} ({p.id}): credit line is empty")
    if not p.copyright_file:
        raise DataError(f"{where} ({p.id}): copyright_file is empty")
    return p


def held_out_sha256() -> dict:
    """sha256 -> name of every held-out demo image (scikit-learn's originals and our PNG crops)."""
    out = dict(HELD_OUT_SHA256)
    for name, path in DEMO_IMAGES.items():
        if Path(path).is_file():
            out[sha256_file(path)] = f"demo image {name} ({Path(path).name})"
    return out


def check_held_out(photos) -> None:
    """Refuse any manifest entry that is byte-identical to a held-out demo image."""
    banned = held_out_sha256()
    for p in photos:
        if p.sha256 in banned:
            raise DataError(f"{p.id} is the held-out {banned[p.sha256]}: the demo images must stay out of training")


def read_manifest(path=None) -> list[Photo]:
    """The manifest's photographs, validated (schema, licence, size, unique ids, held-out rule)."""
    path = Path(path or MANIFEST)
    if not path.is_file():
        raise DataError(f"training-photo manifest not found: {path}")
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        photos = [_row_to_photo(row, f"{path.name} line {i + 2}") for i, row in enumerate(reader)]
    if not photos:
        raise DataError(f"{path} lists no photographs")
    dup = [k for k, n in Counter(p.id for p in photos).items() if n > 1]
    if dup:
        raise DataError(f"{path.name}: duplicate id {dup[0]}")
    versions = {}
    for p in photos:
        if versions.setdefault((p.source, p.package), p.version) != p.version:
            raise DataError(f"{path.name}: {p.package} is pinned to two versions ({versions[(p.source, p.package)]}, "
                            f"{p.version})")
    check_held_out(photos)
    return photos


# ------------------------------------------------------------------------------- held-out perceptual check

def dhash(image, size: int = DHASH_SIZE) -> np.ndarray:
    """Difference hash: sign of horizontal gradients of a (size+1) x size grey thumbnail, as size*size bools."""
    from PIL import Image

    g = np.asarray(image.convert("L").resize((size + 1, size), Image.Resampling.LANCZOS), dtype=np.float32)
    return (g[:, 1:] > g[:, :-1]).ravel()


def _hashes(image) -> list:
    """Hashes of the whole image and of its centre square (the demo PNGs are centre crops)."""
    w, h = image.size
    s = min(w, h)
    left, top = (w - s) // 2, (h - s) // 2
    return [dhash(image), dhash(image.crop((left, top, left + s, top + s)))]


_DEMO_HASHES = None


def _demo_hashes() -> dict:
    global _DEMO_HASHES
    if _DEMO_HASHES is None:
        from PIL import Image, ImageOps

        out = {}
        for name, path in DEMO_IMAGES.items():
            with Image.open(path) as im:
                im = im.convert("RGB")
                out[name] = _hashes(im) + _hashes(ImageOps.mirror(im))
        _DEMO_HASHES = out
    return _DEMO_HASHES


def near_demo(image) -> str | None:
    """The demo image that ``image`` (PIL) is a near-duplicate of (resized, re-compressed, cropped, flipped), or
    None."""
    image = image.convert("RGB")
    mine = _hashes(image)
    for name, refs in _demo_hashes().items():
        if min(int(np.count_nonzero(a != b)) for a in mine for b in refs) <= NEAR_DUPLICATE_BITS:
            return name
    return None


# -------------------------------------------------------------------------------------- package readers

def rcc_entries(data: bytes) -> dict:
    """Files in a Qt binary resource bundle (.rcc), name -> bytes.

    Hand-written because nothing outside Qt reads the format (GCompris ships its photographs this way); it
    follows Qt's rcc.cpp: a "qres" header, a tree of 14-byte (format 1) or 22-byte (formats 2-3) nodes, UTF-16
    names, and zlib-compressed (qCompress) or stored payloads. Zstandard payloads are reported, not read."""
    if data[:4] != b"qres" or len(data) < 20:
        raise DataError("not a Qt resource bundle (no 'qres' header)")
    version, tree, payload, names = struct.unpack(">IIII", data[4:20])
    if version not in (1, 2, 3):
        raise DataError(f"unsupported Qt resource format version {version}")
    node_size = 14 if version == 1 else 22
    out = {}

    def name_at(offset):
        (n,) = struct.unpack(">H", data[names + offset:names + offset + 2])
        return data[names + offset + 6:names + offset + 6 + 2 * n].decode("utf-16-be")

    def walk(index, prefix, depth):
        if depth > 64:
            raise DataError("Qt resource bundle: directory tree too deep")
        o = tree + index * node_size
        name_offset, flags = struct.unpack(">IH", data[o:o + 6])
        path = f"{prefix}/{name_at(name_offset)}" if index else ""
        if flags & 2:  # directory
            count, first = struct.unpack(">II", data[o + 6:o + 14])
            for child in range(first, first + count):
                walk(child, path, depth + 1)
            return
        (data_offset,) = struct.unpack(">I", data[o + 10:o + 14])
        start = payload + data_offset
        (size,) = struct.unpack(">I", data[start:start + 4])
        raw = data[start + 4:start + 4 + size]
        if flags & 4:
            out[path] = None  # Zstandard: not supported
        elif flags & 1:
            out[path] = zlib.decompress(raw[4:])  # qCompress: 4-byte big-endian length, then zlib
        else:
            out[path] = raw

    try:
        walk(0, "", 0)
    except (struct.error, zlib.error, UnicodeDecodeError) as e:
        raise DataError(f"damaged Qt resource bundle ({e})") from None
    return out


def deb_files(deb_path, wanted) -> dict:
    """{path: bytes} for the wanted paths of a .deb's data tree, read in one streaming pass of
    ``dpkg-deb --fsys-tarfile`` (which handles every compression dpkg supports)."""
    if shutil.which("dpkg-deb") is None:
        raise DataError("dpkg-deb not found: extracting Debian packages needs a Debian/Ubuntu system")
    wanted = {w[2:] if w.startswith("./") else w.lstrip("/") for w in wanted}
    found = {}
    proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb_path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
            for member in tar:
                name = member.name[2:] if member.name.startswith("./") else member.name
                if name in wanted and member.isfile():
                    found[name] = tar.extractfile(member).read()
                    if len(found) == len(wanted):
                        break
    except tarfile.TarError as e:
        raise DataError(f"cannot read {Path(deb_path).name}: {e}") from None
    finally:
        proc.stdout.close()
        err = proc.stderr.read().decode(errors="replace").strip()
        proc.stderr.close()
        rc = proc.wait()
    if rc != 0 and len(found) < len(wanted):  # a non-zero exit after we stopped reading early is only SIGPIPE
        raise DataError(f"dpkg-deb could not read {Path(deb_path).name}: {err.splitlines()[-1] if err else rc}")
    return found


def wheel_files(wheel_path, wanted) -> dict:
    """{path: bytes} for the wanted paths of a wheel (a zip)."""
    try:
        with zipfile.ZipFile(wheel_path) as z:
            names = set(z.namelist())
            return {w: z.read(w) for w in wanted if w in names}
    except zipfile.BadZipFile as e:
        raise DataError(f"cannot read {Path(wheel_path).name}: {e}") from None


def installed_files(package, version, wanted) -> dict:
    """{path: bytes} from the installed distribution when it is exactly the pinned version (no download)."""
    import importlib.metadata as md

    try:
        dist = md.distribution(package)
    except md.PackageNotFoundError:
        return {}
    if dist.version != version:
        return {}
    out = {}
    for w in wanted:
        p = Path(dist.locate_file(w))
        if p.is_file():
            out[w] = p.read_bytes()
    return out


def read_package(archive, wanted) -> dict:
    """{path: bytes} for the wanted paths of a downloaded .deb or .whl."""
    archive = Path(archive)
    if archive.suffix == ".deb":
        return deb_files(archive, wanted)
    if archive.suffix == ".whl":
        return wheel_files(archive, wanted)
    raise DataError(f"unknown package file type: {archive.name}")


# ------------------------------------------------------------------------------------------- downloads

def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip() and not ln.startswith("W: Download is")]
    return lines[-1] if lines else "no output"


def download(source: str, package: str, version: str, workdir) -> Path:
    """Download one pinned package into ``workdir`` with its ordinary client; returns the .deb or .whl."""
    workdir = Path(workdir)
    if source == "debian":
        if shutil.which("apt-get") is None:
            raise DataError(f"apt-get not found: {package} is a Debian package, so fetching it needs a Debian/Ubuntu "
                            f"system with apt (use --source pypi for the PyPI photographs only)")
        cmd = ["apt-get", "download", f"{package}={version}"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd[1:1] = ["-o", "APT::Sandbox::User=root"]  # apt's _apt user cannot write into a root-owned temp dir
        r = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True)
        debs = sorted(workdir.glob("*.deb"))
        if r.returncode != 0 or not debs:
            raise DataError(f"apt-get could not download {package}={version} ({_last_line(r.stderr or r.stdout)}); "
                            "run 'apt-get update' first; the manifest pins Debian 12 (bookworm) versions")
        return debs[0]
    if source == "pypi":
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet",
               "--disable-pip-version-check", "-d", str(workdir), f"{package}=={version}"]
        r = subprocess.run(cmd, capture_output=True, text=True)
        wheels = sorted(workdir.glob("*.whl"))
        if r.returncode != 0 or not wheels:
            raise DataError(f"pip could not download {package}=={version} ({_last_line(r.stderr or r.stdout)})")
        return wheels[0]
    raise DataError(f"unknown source {source!r}")


# ---------------------------------------------------------------------------------------------- fetch

def _verified(path: Path, sha256: str) -> bool:
    return path.is_file() and sha256_file(path) == sha256


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _photo_bytes(p: Photo, files: dict, rcc_cache: dict) -> bytes | None:
    data = files.get(p.path)
    if data is None or not p.member:
        return data
    if p.path not in rcc_cache:
        rcc_cache[p.path] = rcc_entries(data)
    got = rcc_cache[p.path].get(p.member, b"")
    if got is None:
        raise DataError(f"{p.id}: {p.member} is Zstandard-compressed in {p.path}, which this reader does not support")
    return got or None


def _check_not_demo(p: Photo, data: bytes) -> None:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            im.draft("RGB", (512, 512))
            name = near_demo(im)
    except OSError as e:
        raise DataError(f"{p.id}: cannot decode the image ({e})") from None
    if name:
        raise DataError(f"{p.id} looks like the held-out demo image {name!r}: refused (the demo images must stay "
                        "out of training)")


def fetch(dest=None, photos=None, sources=SOURCES, progress: bool = True, downloader=None) -> dict:
    """Download, extract and verify the manifest's photographs into ``dest``; returns counts.

    Idempotent: files already present with the right sha256 are kept, and a package whose photographs are all
    present is not downloaded. A file whose sha256 does not match is deleted and reported as a one-line error
    naming it (after the other packages have been processed). ``downloader(source, package, version, workdir)``
    defaults to :func:`download`; tests point it at local packages."""
    dest = Path(dest) if dest else default_dest()
    photos = read_manifest() if photos is None else list(photos)
    check_held_out(photos)
    downloader = downloader or download
    photos = [p for p in photos if p.source in sources]
    groups = {}
    for p in photos:
        groups.setdefault((p.source, p.package, p.version), []).append(p)
    counts = Counter()
    mismatched, missing = [], []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(photos), desc="training photos", unit="photo")
    try:
        for (source, package, version), group in groups.items():
            todo = []
            for p in group:
                target = dest / p.file_name
                if _verified(target, p.sha256):
                    counts["kept"] += 1
                    if bar:
                        bar.update(1)
                else:
                    target.unlink(missing_ok=True)  # a changed file: delete it, it will be extracted again
                    todo.append(p)
            if not todo:
                continue
            if bar:
                bar.set_postfix_str(package)
            wanted = {p.path for p in todo} | {group[0].copyright_file}
            files = installed_files(package, version, wanted) if source == "pypi" else {}
            if any(p.path not in files for p in todo):
                with tempfile.TemporaryDirectory(prefix="mae-photos-") as tmp:
                    archive = downloader(source, package, version, tmp)
                    files = read_package(archive, wanted)
                counts["downloaded"] += 1
            rcc_cache = {}
            for p in todo:
                data = _photo_bytes(p, files, rcc_cache)
                if data is None:
                    missing.append(p)
                elif sha256_bytes(data) != p.sha256:
                    mismatched.append(p)
                else:
                    _check_not_demo(p, data)
                    _write_atomic(dest / p.file_name, data)
                    counts["extracted"] += 1
                if bar:
                    bar.update(1)
            lic = files.get(group[0].copyright_file)
            if lic is not None:
                _write_atomic(dest / package / "COPYRIGHT", lic)
    finally:
        if bar:
            bar.close()
    if mismatched:
        p = mismatched[0]
        more = f" (and {len(mismatched) - 1} more)" if len(mismatched) > 1 else ""
        raise DataError(f"sha256 mismatch for {p.id} ({p.pin}: {p.path}{'!' + p.member if p.member else ''}): "
                        f"not kept{more}")
    if missing:
        p = missing[0]
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise DataError(f"{p.path}{'!' + p.member if p.member else ''} is not in {p.pin} (for {p.id}){more}")
    counts["total"] = len(photos)
    return dict(counts)


# ---------------------------------------------------------------------------------------------- loader

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


# ----------------------------------------------------------------------------------------------- packs

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


# ----------------------------------------------------------------------------------------- summaries

def summary(photos, dest=None) -> str:
    dest = Path(dest) if dest else default_dest()
    by_pkg = Counter((p.source, p.package, p.version) for p in photos)
    fetched = Counter((p.source, p.package, p.version) for p in photos if _verified(dest / p.file_name, p.sha256))
    by_lic = Counter(p.license for p in photos)
    lines = [f"{len(photos)} photographs from {len(by_pkg)} packages; fetched into {dest}: {sum(fetched.values())}",
             "", f"{'source':<7} {'package':<30} {'version':<22} {'photos':>6} {'fetched':>8}"]
    for key, n in sorted(by_pkg.items()):
        lines.append(f"{key[0]:<7} {key[1]:<30} {key[2]:<22} {n:>6} {fetched[key]:>8}")
    lines += ["", f"{'licence':<28} {'photos':>6}"]
    lines += [f"{lic:<28} {n:>6}" for lic, n in by_lic.most_common()]
    return "\n".join(lines)


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def credits_markdown(photos) -> str:
    """The licence and credit table for every photograph (assets/TRAINING_DATA.md)."""
    by_pkg = {}
    for p in photos:
        by_pkg.setdefault((p.source, p.package, p.version), []).append(p)
    lic = Counter(p.license for p in photos)
    out = ["# Training photographs", "",
           "<!-- generated by `python -m mae_core data credits` from assets/training_photos.csv; do not edit -->", "",
           f"{len(photos)} natural photographs from {len(by_pkg)} packages, used to train the embedded MAE family "
           "with `--data photos`. They are not stored in this repository: "
           f"`{FETCH_COMMAND}` downloads the packages below and extracts only these files (each checked against its "
           "sha256). The held-out demo images (scikit-learn's `china.jpg` and `flower.jpg`) are not among them.", "",
           "Licences: " + ", ".join(f"{k} ({n})" for k, n in lic.most_common()) + ". `LicenseRef-Public-Domain` "
           "marks works the package states are in the public domain.", ""]
    for (source, package, version), group in by_pkg.items():
        g0 = group[0]
        where = "Debian 12 (bookworm) package" if source == "debian" else "PyPI package"
        out += [f"## {package} {version}", "",
                f"{where} `{package}` {version}; licence file `{g0.copyright_file}`"
                + (f" ({g0.copyright_url})" if g0.copyright_url else "") + ".", "",
                "| photograph | size | licence | credit | note |", "|---|---|---|---|---|"]
        for p in group:
            name = p.id.split("/", 1)[1] if "/" in p.id else p.id
            note = p.license_note + (f"; original: {p.origin}" if p.origin else "")
            out.append(f"| `{_md(name)}` | {p.width}×{p.height} | {p.license} | {_md(p.credit)} | {_md(note)} |")
        out.append("")
    return "\n".join(out)
