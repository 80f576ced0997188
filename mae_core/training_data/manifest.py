"""The manifest of training photographs (assets/training_photos.csv): one Photo per row, naming the package and
exact version that ships it, its path inside, its sha256, size, licence and credit line, validated when read
(schema, a licence that allows redistribution and derivatives, the short side, unique ids, one pin per
package, and no held-out demo image)."""
from __future__ import annotations

import csv
import re
from collections import Counter
from dataclasses import dataclass, fields
from pathlib import Path

from ..assets import ROOT
from ..errors import DataError
from .held_out import check_held_out

MANIFEST = ROOT / "training_photos.csv"
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
