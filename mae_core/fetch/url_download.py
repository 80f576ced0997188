"""The download of a plain-URL entry through requests: an HTTP Range resume of the partial file after a dropped
connection (up to `retries` times), refusal of a size over the limit or the free disk before writing, and a
body cut off past the limit; every failure is one FetchError line that says what was kept."""
from __future__ import annotations

import shutil
import time
import urllib.parse
from pathlib import Path

from ..catalogue import Entry
from .errors import FetchError, Progress
from .limits import _max_bytes

CHUNK = 1 << 16  # a dropped connection loses at most one chunk in flight


def _mb(n: int) -> str:
    return f"{n / 2**20:,.1f} MB"


def _host(url: str) -> str:
    return urllib.parse.urlsplit(url).netloc or url


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
