"""The checksums of a downloaded file: md5 and sha256 in one pass and git's blob sha1 (the hub's ETag for files
outside LFS), read in 4 MB blocks, and the check of a URL download against the catalogue's published size, md5
prefix and sha256 (a mismatch deletes the file)."""
from __future__ import annotations

import hashlib
from pathlib import Path

from ..catalogue import Entry
from .errors import FetchError


def _digests(path: Path) -> dict:
    md5, sha = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    n = 0
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            md5.update(chunk)
            sha.update(chunk)
            n += len(chunk)
    return {"size_bytes": n, "md5": md5.hexdigest(), "sha256": sha.hexdigest()}


def _git_blob_sha1(path: Path) -> str:
    h = hashlib.sha1(f"blob {path.stat().st_size}\0".encode(), usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def check_download(entry: Entry, ckpt: Path) -> tuple[dict, list[str]]:
    """(receipt fields, receipt check lines) of a URL download that matches the entry's published size and
    checksums; else FetchError(discard=True)."""
    d = _digests(ckpt)
    fields = dict(file=entry.filename, size_bytes=d["size_bytes"], md5=d["md5"], sha256=d["sha256"])
    if entry.size_bytes is not None and d["size_bytes"] != entry.size_bytes:
        raise FetchError(f"{entry.id}: the download is {d['size_bytes']:,} bytes, the catalogue says "
                         f"{entry.size_bytes:,}; deleted it", discard=True)
    if entry.md5_prefix and not d["md5"].startswith(entry.md5_prefix):
        raise FetchError(f"{entry.id}: checksum mismatch: the download's md5 starts "
                         f"{d['md5'][:len(entry.md5_prefix)]}, the published md5 starts "
                         f"{entry.md5_prefix}; deleted it", discard=True)
    if entry.sha256 and d["sha256"] != entry.sha256:
        raise FetchError(f"{entry.id}: checksum mismatch: sha256 {d['sha256'][:12]}... is not the "
                         f"catalogue's {entry.sha256[:12]}...; deleted it", discard=True)
    checks = [f"size {d['size_bytes']:,} bytes" + (" = catalogue" if entry.size_bytes else " (no published size)"),
              f"md5 {d['md5']} starts with the published {entry.md5_prefix}"
              if entry.md5_prefix else "no published md5: checked by the loader only"]
    if entry.sha256:
        checks.append("sha256 = catalogue")
    return fields, checks
