"""The download of one pinned package with its ordinary client (``apt-get download`` for Debian, ``pip download
--no-deps`` for PyPI) into a work folder, with the client's last error line when it fails."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from ..errors import DataError


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
