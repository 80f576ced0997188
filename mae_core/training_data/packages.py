"""The listed files inside a package, without unpacking the rest: a .deb's data tree in one streaming pass of
dpkg-deb, a wheel's zip members, or the installed distribution when it is exactly the pinned version."""
from __future__ import annotations

import importlib.metadata as md
import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path

from ..errors import DataError


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
