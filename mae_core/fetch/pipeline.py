"""One fetch from start to finish: a file lock per entry and cache folder, the download into a staging folder,
every check, the receipt, and one atomic rename that makes the entry available complete or not at all (a
failed check deletes what was downloaded; an interrupted download keeps its partial file to resume)."""
from __future__ import annotations

import json
import os
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from filelock import FileLock, Timeout

from ..catalogue import Entry
from .checksums import check_download
from .errors import FetchError, Progress
from .hub import _delete_hub_blobs, _hub_checks, _hub_files, _link
from .locations import _checkpoint_in, cached, default_cache_dir, hf_cache_dir, local_size
from .receipt import RECEIPT
from .url_download import _http_download
from .verify import _verify


def fetch(entry: Entry, cache_dir=None, *, progress: Progress | None = None,
          on_wait: Callable[[str], None] | None = None, retries: int = 5, timeout: float = 30.0,
          session=None) -> Path:
    """The verified local checkpoint of `entry` (downloading it if needed) -> path of the file or folder.

    cache_dir: None = the default cache (hub files in huggingface_hub's cache); a folder = everything inside it.
    progress(done_bytes, total_bytes_or_None) is called while downloading; on_wait(message) when another
    session or process holds this entry's lock. Raises FetchError (one line) on any failure."""
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    hit = cached(entry, [root])
    if hit is not None:
        return hit
    try:
        (root / ".locks").mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise FetchError(f"{entry.id}: cannot create the cache folder {root} ({e.strerror})") from None

    lock = FileLock(str(root / ".locks" / f"{entry.id}.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if on_wait:
            on_wait(f"another session is downloading {entry.id}; waiting for it to finish")
        lock.acquire()
    try:
        hit = cached(entry, [root])  # the session we waited for may have finished it
        if hit is not None:
            return hit
        return _fetch_locked(entry, root, cache_dir is not None, progress, retries, timeout, session)
    finally:
        lock.release()


def _fetch_locked(entry, root: Path, self_contained: bool, progress, retries, timeout, session) -> Path:
    staging = root / f".{entry.id}.partial"  # beside the final folder: relative links stay valid on renaming
    final = root / entry.id
    receipt = {"id": entry.id, "title": entry.title, "source": entry.location, "catalogue": entry.origin,
               "fetched_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "checks": []}
    hub_files, preexisting = {}, set()
    try:
        if entry.url:
            staging.mkdir(parents=True, exist_ok=True)
            ckpt = staging / entry.filename
            if not ckpt.is_file():  # else: complete from an earlier run that stopped before its checks
                part = staging / (entry.filename + ".part")
                _http_download(entry, part, progress, retries, timeout, session)
                part.replace(ckpt)
            fields, checks = check_download(entry, ckpt)
            receipt.update(fields)
            receipt["checks"] += checks
        else:
            hub_cache = root / "hub" if self_contained else hf_cache_dir()
            _hub_files(entry, hub_cache, progress, hub_files, preexisting if not self_contained else set())
            receipt["checks"] += [f"{n}: {msg}" for n, msg in _hub_checks(entry, hub_files).items()]
            if staging.exists():
                shutil.rmtree(staging)
            staging.mkdir(parents=True)
            for name, pointer in hub_files.items():
                _link(Path(pointer), staging / name, final if self_contained else None)
            ckpt = staging
            receipt.update(hub_cache=str(hub_cache), files=sorted(hub_files),
                           size_bytes=local_size(staging),
                           commit=Path(hub_files["config.json"]).parent.name)
        found = _verify(entry, ckpt)
    except FetchError as e:
        # a failed check deletes what was downloaded; an interrupted download (no check failed) keeps its .part
        if e.discard:
            shutil.rmtree(staging, ignore_errors=True)
            _delete_hub_blobs(hub_files, keep=preexisting)
        raise
    receipt.update(found)
    receipt["checks"].append("strict load (weights only): passed")
    receipt["checks"].append(f"architecture {found['architecture']}, class {found['class']}: matches the catalogue")
    return _publish(entry, root, staging, final, receipt)


def _publish(entry: Entry, root: Path, staging: Path, final: Path, receipt: dict) -> Path:
    """Write the receipt into the checked staging folder and rename it to the entry's folder in one step."""
    (staging / RECEIPT).write_text(json.dumps(receipt, indent=2), encoding="utf-8")
    if final.exists() or final.is_symlink():  # a broken earlier copy (e.g. its hub cache was cleared)
        trash = root / f".{entry.id}.old-{os.getpid()}-{time.monotonic_ns()}"
        os.replace(final, trash)
        shutil.rmtree(trash, ignore_errors=True)
    os.replace(staging, final)  # one atomic rename: the entry becomes available complete or not at all
    hit = _checkpoint_in(final, entry)
    if hit is None:
        raise FetchError(f"{entry.id}: the verified copy vanished from {final}")
    return hit
