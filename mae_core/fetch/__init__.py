"""Download a catalogue entry, verify it, and keep it: ``python -m mae_core fetch ID [ID ...] [--cache-dir DIR]``.

A download counts as available only after every check passed:
1. the bytes: plain URLs through ``requests``, with HTTP Range resume of an interrupted download kept in
   ``<cache>/.<id>.partial/<name>.part`` (it survives a crash or Ctrl-C); hub entries through ``huggingface_hub``
   (its own resume and cache, honouring HF_HOME, HF_ENDPOINT and HF_HUB_OFFLINE at call time);
2. the size (the server's announced length, and the catalogue's size_bytes when known) and the published checksum
   (the md5 prefix or sha256 of the entry; for hub files the hub's ETag, which is the file's sha256 for LFS files and
   its git blob sha1 otherwise);
3. mae_core.checkpoints.load_checkpoint: the safe (weights-only), strict loader;
4. the architecture, class, format, native image size and mask unit against the entry.
Only then is the staging folder renamed, in one atomic step, to ``<cache>/<id>/``, with a receipt of the checks
(``mae-fetch-receipt.json``). A failed check deletes the file and raises one line saying why.

Where files go:
- ``<cache>/<id>/<file name from the URL>`` for URL entries (the loader reads facts such as ``visualize`` or
  ``maskds2`` from the published name); ``<cache>/<id>/`` is a transformers folder for hub entries;
- the default cache is MAE_CACHE_DIR, else $XDG_CACHE_HOME/mae_explorer (~/.cache/mae_explorer); hub files then
  stay in huggingface_hub's own cache (HF_HOME) and ``<cache>/<id>/`` links to them;
- ``--cache-dir DIR`` (an operator's model library) keeps everything inside DIR, hub files included (DIR/hub), so
  the folder can be copied as a whole;
- MAE_MODEL_LIBRARY=dir1:dir2 names library folders that are searched too (``search_dirs``).

Concurrency: one file lock per entry and cache folder (``<cache>/.locks/<id>.lock``, filelock): a second session
or process asking for the same entry waits for the first and then finds the verified file.

One job per module: ``locations`` (the cache and library folders, the lookup of a verified copy), ``receipt``,
``limits`` (what the operator allows), ``url_download`` (requests, Range resume), ``hub`` (huggingface_hub),
``checksums``, ``verify`` (the strict loader against the entry) and ``pipeline`` (the lock, the staging folder and
the atomic rename). This package re-exports the public names.
"""
from __future__ import annotations

from .errors import FetchError, Progress
from .limits import downloads_allowed
from .locations import HUB_WEIGHTS, cached, default_cache_dir, hf_cache_dir, library_dirs, local_size, search_dirs
from .pipeline import fetch
from .receipt import RECEIPT, heads_for, read_receipt
from .url_download import CHUNK
from .verify import check_against_entry

__all__ = ["CHUNK", "FetchError", "HUB_WEIGHTS", "Progress", "RECEIPT", "cached", "check_against_entry", "default_cache_dir",
           "downloads_allowed", "fetch", "heads_for", "hf_cache_dir", "library_dirs", "local_size", "read_receipt",
           "search_dirs"]
