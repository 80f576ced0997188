"""The bytes of what a user hands in: a path, bytes, or a file-like object (Streamlit's UploadedFile), within a size
limit checked before a file is read. Images and ablation tables each decode the bytes their own way."""
from __future__ import annotations

from pathlib import Path


def read_source(source, *, limit: int, error: type[Exception], noun: str) -> tuple[bytes, str | None]:
    """(bytes, name or None) of ``source``; ``error`` (one line, naming the ``noun``: "image", "ablation") for a
    missing file, a file or upload over ``limit`` bytes, or something that cannot be read. ``None`` returns None."""
    mb = f"{limit // 2**20} MB"
    if isinstance(source, (str, Path)):
        p = Path(source)
        if not p.is_file():
            raise error(f"no {noun} file at {p}")
        if p.stat().st_size > limit:
            raise error(f"{p.name} is larger than {mb}")
        return p.read_bytes(), p.name
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, name = bytes(source), None
    elif hasattr(source, "read"):
        data, name = source.read(), getattr(source, "name", None)
        if isinstance(data, str):
            data = data.encode("utf-8")
    else:
        raise error(f"cannot read {noun} data from a {type(source).__name__}")
    if len(data) > limit:
        raise error(f"{name or f'the {noun} file'} is larger than {mb}")
    return data, name
