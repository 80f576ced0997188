"""Content hashes: the one sha256 helper (torch-free), used for checkpoints, photographs, image sets and caches."""
from __future__ import annotations

import hashlib
from pathlib import Path


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_files(paths) -> str:
    """sha256 of the files' bytes, read in order as one stream (a single file's is its ordinary sha256)."""
    h = hashlib.sha256()
    for path in paths:
        with open(Path(path), "rb") as f:
            for block in iter(lambda: f.read(1 << 22), b""):
                h.update(block)
    return h.hexdigest()


def sha256_file(path) -> str:
    return sha256_files([path])
