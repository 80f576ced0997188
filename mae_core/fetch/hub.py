"""The files of a hub entry through huggingface_hub: config.json and the first weights file the repository has,
from its cache or downloaded (honouring HF_ENDPOINT and HF_HUB_OFFLINE at call time), each checked against
the hub's ETag, linked into the staging folder, and deleted again when a later check fails."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..catalogue import Entry
from .checksums import _digests, _git_blob_sha1
from .errors import FetchError, Progress
from .locations import HUB_WEIGHTS


def _truthy(v: str | None) -> bool:
    return (v or "").strip().lower() in ("1", "true", "yes", "on")


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
