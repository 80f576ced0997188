"""A reader for Qt's binary resource bundles (.rcc), the way GCompris ships its photographs: the files in a bundle
by name, following Qt's rcc.cpp (stored and zlib payloads; Zstandard ones are reported, not read)."""
from __future__ import annotations

import struct
import zlib

from ..errors import DataError


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
