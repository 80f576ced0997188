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
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import urllib.parse
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from . import settings
from .catalogue import Entry
from .errors import MAEError

RECEIPT = "mae-fetch-receipt.json"
HUB_WEIGHTS = ("model.safetensors", "pytorch_model.bin")  # tried in this order; the files on the hub are detected
CHUNK = 1 << 16  # a dropped connection loses at most one chunk in flight

Progress = Callable[[int, "int | None"], None]


class FetchError(MAEError):
    """A download that failed or was refused (one line: which entry, what happened, what was kept).

    discard: the bytes failed a check and are deleted (an interrupted download keeps its partial file)."""

    def __init__(self, message: str, discard: bool = False):
        super().__init__(message)
        self.discard = discard


# ------------------------------------------------------------------ where things are
def _truthy(v: str | None) -> bool:
    return (v or "").strip().lower() in ("1", "true", "yes", "on")


def default_cache_dir() -> Path:
    """MAE_CACHE_DIR, else $XDG_CACHE_HOME/mae_explorer, else ~/.cache/mae_explorer (read at call time)."""
    if settings.get("MAE_CACHE_DIR"):
        return Path(settings.get("MAE_CACHE_DIR")).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "mae_explorer"


def library_dirs() -> list[Path]:
    """The operator's model library folders: MAE_MODEL_LIBRARY, os.pathsep-separated (read at call time)."""
    return [Path(p).expanduser() for p in settings.get("MAE_MODEL_LIBRARY")]


def search_dirs() -> list[Path]:
    """Where downloaded entries are looked for: the library folders first, then the default cache."""
    out = []
    for d in library_dirs() + [default_cache_dir()]:
        if d not in out:
            out.append(d)
    return out


def hf_cache_dir() -> Path:
    """huggingface_hub's cache, from HF_HUB_CACHE / HF_HOME read at call time (its constants are read at import)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def _checkpoint_in(folder: Path, entry: Entry) -> Path | None:
    if not folder.is_dir():
        return None
    if entry.hub_id:
        ok = (folder / "config.json").is_file() and any((folder / w).is_file() for w in HUB_WEIGHTS)
        return folder if ok else None
    f = folder / entry.filename
    return f if f.is_file() else None


def cached(entry: Entry, dirs=None) -> Path | None:
    """The verified local copy of an entry (a file, or a transformers folder), or None. No network."""
    for d in (search_dirs() if dirs is None else dirs):
        hit = _checkpoint_in(Path(d) / entry.id, entry)
        if hit is not None:
            return hit
    return None


def local_size(path) -> int | None:
    """Bytes of a checkpoint file, or of the weights in a transformers folder (links followed)."""
    p = Path(path)
    try:
        if p.is_dir():
            return sum((p / w).stat().st_size for w in HUB_WEIGHTS if (p / w).is_file()) or None
        return p.stat().st_size
    except OSError:
        return None


def read_receipt(path) -> dict | None:
    """The receipt written when a checkpoint passed fetch's checks, or None (not fetched, or unreadable)."""
    p = Path(path)
    r = (p if p.is_dir() else p.parent) / RECEIPT
    try:
        if r.is_file() and r.stat().st_size < 1 << 20:
            obj = json.loads(r.read_text(encoding="utf-8"))
            return obj if isinstance(obj, dict) else None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return None


def heads_for(path) -> dict:
    """Head counts recorded by fetch for a fetched checkpoint (weights do not store them), else {}: pass them on to
    mae_core.checkpoints.load_checkpoint for architectures that are not known by shape."""
    r = read_receipt(path) or {}
    out = {k: r.get(k) for k in ("num_heads", "decoder_num_heads")}
    return {k: v for k, v in out.items() if isinstance(v, int) and not isinstance(v, bool) and v > 0}


def downloads_allowed() -> bool:
    """MAE_ALLOW_DOWNLOADS: explicit 1/0 wins. Unset: on, except on a server set up for hosting
    (MAE_ALLOW_LOCAL_PATHS=0), where visitors must not trigger multi-GB downloads."""
    v = settings.get("MAE_ALLOW_DOWNLOADS")
    return settings.get("MAE_ALLOW_LOCAL_PATHS") if v is None else v


def _max_bytes() -> int:
    return int(settings.get("MAE_MAX_DOWNLOAD_GB") * 2**30)


def _mb(n: int) -> str:
    return f"{n / 2**20:,.1f} MB"


def _host(url: str) -> str:
    return urllib.parse.urlsplit(url).netloc or url


# ------------------------------------------------------------------ plain URLs (requests)
def _total_length(r, start: int) -> int | None:
    cr = r.headers.get("Content-Range")
    if cr and "/" in cr:
        tail = cr.rsplit("/", 1)[1].strip()
        if tail.isdigit():
            return int(tail)
    cl = r.headers.get("Content-Length")
    if cl and cl.isdigit() and r.headers.get("Content-Encoding", "identity") == "identity":
        return start + int(cl)
    return None


def _http_download(entry: Entry, part: Path, progress: Progress | None, retries: int, timeout: float,
                   session=None) -> int:
    """Download entry.url into `part`, resuming from its current length with an HTTP Range request. Returns the
    final size. A dropped connection is resumed up to `retries` times; the partial file is kept on failure."""
    import requests

    own = session is None
    s = session or requests.Session()
    limit = entry.size_bytes or _max_bytes()
    drops = 0
    restarted = False
    try:
        while True:
            have = part.stat().st_size if part.exists() else 0
            headers = {"Accept-Encoding": "identity"}
            if have:
                headers["Range"] = f"bytes={have}-"
            phase = "connect"
            try:
                with s.get(entry.url, headers=headers, stream=True, timeout=timeout) as r:
                    phase = "response"
                    if r.status_code == 416 and have:
                        total = _total_length(r, 0)
                        if total == have:
                            return have  # already complete
                        if restarted:
                            raise FetchError(f"{entry.id}: the server refuses every byte range of {entry.url}")
                        part.unlink()  # longer than the server's file: start again once
                        restarted = True
                        continue
                    _raise_for_status(entry, r)
                    mode, start = _resume_mode(entry, r, have)
                    total = _total_length(r, start)
                    _check_room(entry, part, total, start, limit)
                    if progress:
                        progress(start, total)
                    phase = "body"
                    return _write_body(entry, r, part, mode, start, total, limit, progress)
            except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError,
                    requests.exceptions.Timeout) as e:
                kept = part.stat().st_size if part.exists() else 0
                if phase == "body" and drops < retries:  # the connection broke mid-body: resume where it stopped
                    drops += 1
                    time.sleep(min(0.2 * drops, 2.0))
                    continue
                if phase == "connect":
                    why = "timed out" if isinstance(e, requests.exceptions.Timeout) else "connection failed"
                    raise FetchError(f"{entry.id}: cannot reach {_host(entry.url)} ({why}); no network? "
                                     + (f"{_mb(kept)} already downloaded are kept and resumed next time"
                                        if kept else "nothing was downloaded")) from None
                raise FetchError(f"{entry.id}: the download from {_host(entry.url)} broke off after {_mb(kept)}"
                                 f" ({drops} resumes tried); run the same fetch again to resume it") from None
            except requests.exceptions.RequestException as e:
                raise FetchError(f"{entry.id}: download failed ({type(e).__name__})") from None
    finally:
        if own:
            s.close()


def _raise_for_status(entry: Entry, r) -> None:
    if r.status_code == 404:
        raise FetchError(f"{entry.id}: the server has no file at {entry.url} (HTTP 404); the "
                         f"catalogue's URL may be out of date")
    if r.status_code >= 400:
        raise FetchError(f"{entry.id}: {_host(entry.url)} answered HTTP {r.status_code} "
                         f"{r.reason or ''} for {entry.url}".rstrip())


def _resume_mode(entry: Entry, r, have: int) -> tuple[str, int]:
    """(file mode, first byte) for the response: append after `have` bytes to a 206 that starts there, else write
    the whole file (a server that ignores Range restarts the download)."""
    if have and r.status_code == 206:
        cr = r.headers.get("Content-Range", "")
        if not cr.replace(" ", "").startswith(f"bytes{have}-"):
            raise FetchError(f"{entry.id}: the server answered the resume at byte {have} with "
                             f"Content-Range {cr!r}")
        return "ab", have
    return "wb", 0


def _check_room(entry: Entry, part: Path, total: int | None, start: int, limit: int) -> None:
    """Refuse an announced size over the limit (the catalogue's size, else MAE_MAX_DOWNLOAD_GB) or the free disk."""
    if total is None:
        return
    if total > limit:
        raise FetchError(f"{entry.id}: the server announces {_mb(total)}, more than "
                         + (f"the catalogue's size {_mb(limit)}" if entry.size_bytes else
                            f"the download limit {_mb(limit)} (MAE_MAX_DOWNLOAD_GB)"))
    free = shutil.disk_usage(part.parent).free
    if total - start > free:
        raise FetchError(f"{entry.id}: needs {_mb(total - start)} but only {_mb(free)} are "
                         f"free in {part.parent}")


def _write_body(entry: Entry, r, part: Path, mode: str, start: int, total: int | None, limit: int,
                progress: Progress | None) -> int:
    """Stream the body into `part`; -> bytes now in it. Past `limit` the file is refused; a body shorter than
    announced raises requests' ChunkedEncodingError, which the caller resumes."""
    import requests

    done = start
    with open(part, mode) as f:
        for chunk in r.iter_content(CHUNK):
            if not chunk:
                continue
            f.write(chunk)
            done += len(chunk)
            if done > limit:
                raise FetchError(f"{entry.id}: the server sent more than {_mb(limit)}; refused "
                                 f"and deleted it", discard=True)
            if progress:
                progress(done, total)
    if total is not None and done != total:
        raise requests.exceptions.ChunkedEncodingError(f"{done} of {total} bytes")
    return done


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


# ------------------------------------------------------------------ hub (huggingface_hub)
def _tqdm_for(progress: Progress | None):
    """A tqdm class for huggingface_hub that forwards its byte counts to `progress` (None: its own bar)."""
    if progress is None:
        return None
    from tqdm.auto import tqdm

    class _Forward(tqdm):
        def __init__(self, *a, **k):
            k["disable"] = True
            super().__init__(*a, **k)
            self._done = int(k.get("initial") or 0)
            self._total = k.get("total")

        def update(self, n=1):
            self._done += int(n or 0)
            progress(self._done, self._total)

    return _Forward


def _hub_files(entry: Entry, hub_cache: Path, progress: Progress | None, files: dict, preexisting: set) -> None:
    """Download (or find in the cache) config.json and the weights of a hub entry into `files` ({name: snapshot
    path}); `preexisting` gets the names that were already in the cache before this call."""
    from huggingface_hub import hf_hub_download, try_to_load_from_cache
    from huggingface_hub.errors import (EntryNotFoundError, GatedRepoError, HfHubHTTPError,
                                        LocalEntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError)

    offline = _truthy(os.environ.get("HF_HUB_OFFLINE")) or _truthy(os.environ.get("TRANSFORMERS_OFFLINE"))
    endpoint = (os.environ.get("HF_ENDPOINT") or "").rstrip("/") or None
    where = endpoint or "https://huggingface.co"
    kw = dict(repo_id=entry.hub_id, revision=entry.revision, cache_dir=str(hub_cache), endpoint=endpoint,
              local_files_only=offline, tqdm_class=_tqdm_for(progress))

    def get(name: str, optional: bool = False) -> str:
        try:
            before = try_to_load_from_cache(entry.hub_id, name, cache_dir=str(hub_cache), revision=entry.revision)
            path = hf_hub_download(filename=name, **kw)
            if isinstance(before, str) and os.path.realpath(before) == os.path.realpath(path):
                preexisting.add(name)
            return path
        except GatedRepoError:
            raise FetchError(f"{entry.id}: {entry.hub_id} is gated on {where}; log in with a token that has "
                             f"access") from None
        except RepositoryNotFoundError:
            raise FetchError(f"{entry.id}: {where} has no model repository {entry.hub_id}") from None
        except RevisionNotFoundError:
            raise FetchError(f"{entry.id}: {entry.hub_id} has no revision {entry.revision!r}") from None
        except LocalEntryNotFoundError:
            if offline and optional:
                raise  # look for the next weights file in the cache
            if offline:
                raise FetchError(f"{entry.id}: {entry.hub_id}/{name} is not in the Hugging Face cache ({hub_cache}) "
                                 f"and HF_HUB_OFFLINE=1 forbids downloading it") from None
            raise FetchError(f"{entry.id}: cannot reach the hub at {where} and {entry.hub_id}/{name} is not in the "
                             f"Hugging Face cache ({hub_cache})") from None
        except HfHubHTTPError as e:
            status = getattr(getattr(e, "response", None), "status_code", "?")
            if isinstance(e, EntryNotFoundError):
                raise
            raise FetchError(f"{entry.id}: the hub at {where} answered HTTP {status} for "
                             f"{entry.hub_id}/{name}") from None
        except OSError as e:  # size mismatch, disk full, ...
            raise FetchError(f"{entry.id}: downloading {entry.hub_id}/{name} failed "
                             f"({' '.join(str(e).split())[:120]})") from None

    try:
        files["config.json"] = get("config.json")
    except EntryNotFoundError:
        raise FetchError(f"{entry.id}: {entry.hub_id} has no config.json (not a transformers model)") from None
    for name in HUB_WEIGHTS:
        try:
            files[name] = get(name, optional=True)
            break
        except EntryNotFoundError:  # remote: not in this repo; local (offline): not cached
            continue
    else:
        raise FetchError(f"{entry.id}: {entry.hub_id} has neither " + " nor ".join(HUB_WEIGHTS)
                         + (" in the cache (HF_HUB_OFFLINE=1)" if offline else ""))


def _link(src: Path, dst: Path, final_dir: Path | None) -> None:
    """dst -> src; relative to where dst will live after publishing (final_dir) so a library folder can move."""
    target = os.path.relpath(os.path.abspath(src), os.path.abspath(final_dir)) if final_dir is not None \
        else os.path.abspath(src)
    try:
        os.symlink(target, dst)
    except OSError:  # no symlinks on this file system: a copy
        shutil.copy2(src, dst)


def _hub_checks(entry: Entry, files: dict) -> dict:
    """The hub's ETag is the blob's file name in its cache: sha256 (LFS files) or git blob sha1; check it."""
    out = {}
    for name, pointer in files.items():
        blob = Path(os.path.realpath(pointer))
        etag = blob.name
        if len(etag) == 64 and all(c in "0123456789abcdef" for c in etag):
            got, kind = _digests(blob)["sha256"], "sha256"
        elif len(etag) == 40 and all(c in "0123456789abcdef" for c in etag):
            got, kind = _git_blob_sha1(blob), "git sha1"
        else:
            out[name] = "hub ETag is not a content hash: not checked"
            continue
        if got != etag:
            raise FetchError(f"{entry.id}: {name} does not match the hub's checksum ({kind} {got[:12]}... != "
                             f"{etag[:12]}...); deleted it", discard=True)
        out[name] = f"{kind} matches the hub's ETag {etag[:12]}..."
    return out


def _delete_hub_blobs(files: dict, keep=()) -> None:
    for name, pointer in files.items():
        if name in keep:
            continue
        blob = os.path.realpath(pointer)
        for p in (pointer, blob):
            try:
                os.unlink(p)
            except OSError:
                pass


# ------------------------------------------------------------------ verification
def check_against_entry(entry: Entry, info) -> list[str]:
    """Differences between what the loader found (CheckpointInfo) and what the entry says; [] when they agree."""
    c = info.config
    bad = []
    if not info.format.startswith(entry.format):
        bad.append(f"format {info.format} (expected {entry.format})")
    got = (c.embed_dim, c.depth, c.patch_size)
    want = (entry.embed_dim, entry.depth, entry.patch_size)
    if got != want:
        bad.append(f"encoder width/depth/patch {got} (expected {want}, {entry.encoder}/{entry.patch_size})")
    if tuple(c.img_size) != (entry.image_size, entry.image_size):
        bad.append(f"native image size {c.img_size[0]}x{c.img_size[1]} (expected {entry.image_size})")
    dec = entry.decoder
    if dec is None and c.has_decoder:
        bad.append("a decoder (expected encoder only)")
    elif dec is not None and not c.has_decoder and dec.presence != "unverified":
        bad.append(f"no decoder (expected {dec.name})")
    elif dec is not None and c.has_decoder and (c.decoder_embed_dim, c.decoder_depth) != (dec.embed_dim, dec.depth):
        bad.append(f"decoder {c.decoder_embed_dim} wide, {c.decoder_depth} blocks (expected {dec.name})")
    kind = entry.kind if (dec is None or c.has_decoder) else "encoder-only"
    if info.kind != kind:
        bad.append(f"class {info.kind} (expected {kind})")
    if c.has_decoder and entry.target and info.target != entry.target:
        bad.append(f"target {info.target} (expected {entry.target})")
    if c.has_decoder and int(info.mask_unit) != entry.mask_unit:
        bad.append(f"training mask unit {info.mask_unit} (expected {entry.mask_unit})")
    return bad


def _verify(entry: Entry, ckpt: Path) -> dict:
    from .checkpoints import load_checkpoint

    try:
        model, info = load_checkpoint(ckpt, probe=False, **entry.heads)
    except MAEError as e:
        raise FetchError(f"{entry.id}: refused by the strict loader ({' '.join(str(e).split())[:200]}); "
                         f"deleted it", discard=True) from None
    del model
    bad = check_against_entry(entry, info)
    if bad:
        raise FetchError(f"{entry.id}: the file does not match the catalogue: {'; '.join(bad)}; deleted it",
                         discard=True)
    return {"format": info.format, "class": info.kind, "architecture": info.arch_name, "sha256": info.sha256,
            "mask_unit": info.mask_unit, "num_heads": info.config.num_heads,
            "decoder_num_heads": info.config.decoder_num_heads if info.config.has_decoder else None,
            "has_decoder": info.config.has_decoder, "notes": list(info.notes)}


# ------------------------------------------------------------------ fetch
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
    from filelock import FileLock, Timeout

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
            d = _digests(ckpt)
            receipt.update(file=entry.filename, size_bytes=d["size_bytes"], md5=d["md5"], sha256=d["sha256"])
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
            receipt["checks"].append(
                f"size {d['size_bytes']:,} bytes" + (" = catalogue" if entry.size_bytes else " (no published size)"))
            receipt["checks"].append(f"md5 {d['md5']} starts with the published {entry.md5_prefix}"
                                     if entry.md5_prefix else "no published md5: checked by the loader only")
            if entry.sha256:
                receipt["checks"].append("sha256 = catalogue")
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


__all__ = ["FetchError", "RECEIPT", "cached", "check_against_entry", "default_cache_dir",
           "downloads_allowed", "fetch", "heads_for", "hf_cache_dir", "library_dirs", "local_size", "read_receipt",
           "search_dirs"]
