"""Two checkpoint sources for the sidebar picker: "Published models" (the catalogue: what each shows, downloaded or
not, a Download button with a progress bar where downloads are allowed) and "Model library" (the folders the
operator names in MAE_MODEL_LIBRARY, listed by name: no path typing).

Each returns (path, label) of a checkpoint ready to load, or None (with the reason shown); errors are MAEErrors for
the picker to show.

Downloads run in a background thread per entry (module-level, shared by every session): a click elsewhere, which
reruns the page, does not stop a multi-GB download, and a second session pressing Download on the same entry
follows the same download. mae_core.fetch verifies the file before it counts and holds a file lock per entry, so
another process (the operator's `fetch` command) cannot interleave either.
"""
from __future__ import annotations

import threading
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from mae_core import catalogue as cat_mod
from mae_core import fetch
from mae_core.errors import MAEError

from . import resources, state
from .state import Param

SOURCES = {"published": "Published models", "library": "Model library"}


@st.cache_resource(ttl=60, show_spinner=False)
def _catalogue(files: tuple):
    return cat_mod.load_catalogue()


def catalogue() -> cat_mod.Catalogue:
    """The shipped catalogue plus MAE_CATALOGUE's files (re-read at most once a minute)."""
    return _catalogue(tuple(str(p) for p in cat_mod.extra_files()))


def library_available() -> bool:
    return bool(fetch.library_dirs())


def _size(entry, hit) -> str:
    n = entry.size_bytes or (fetch.local_size(hit) if hit else None)
    if not n:
        return "size not published"
    return f"{n / 2**30:.2f} GB" if n >= 2**30 else f"{n / 2**20:,.0f} MB" if n >= 10 * 2**20 else \
        f"{n / 2**20:.1f} MB"


@dataclass
class Job:
    """One download in a background thread; its fields are written by the thread and read by the pages."""

    entry_id: str
    done: int = 0
    total: int | None = None
    waiting: str = ""
    error: str = ""
    path: Path | None = None
    thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()


_JOBS: dict = {}  # (cache folder, entry id, location) -> Job
_JOBS_LOCK = threading.Lock()


def _job_key(entry) -> tuple:
    return str(fetch.default_cache_dir()), entry.id, entry.location


def current_job(entry) -> Job | None:
    with _JOBS_LOCK:
        return _JOBS.get(_job_key(entry))


def start_download(entry) -> Job:
    """The running download of `entry`, or a new one (never two at once for the same entry and cache)."""
    key = _job_key(entry)
    with _JOBS_LOCK:
        job = _JOBS.get(key)
        if job is not None and job.running:
            return job
        job = Job(entry.id)

        def progress(done, total):
            job.done, job.total, job.waiting = done, total, ""

        def run():
            try:
                job.path = fetch.fetch(entry, progress=progress, on_wait=lambda m: setattr(job, "waiting", m))
                with _JOBS_LOCK:  # done: the entry is cached now; only failures stay to be shown
                    if _JOBS.get(key) is job:
                        del _JOBS[key]
            except MAEError as e:
                job.error = str(e)
            except Exception as e:  # noqa: BLE001 - a thread must report, not die silently
                job.error = f"{entry.id}: the download failed ({type(e).__name__})"

        job.thread = threading.Thread(target=run, name=f"fetch-{entry.id}", daemon=True)
        _JOBS[key] = job
        job.thread.start()
    return job


def _follow(job: Job, entry, on_change=None) -> None:
    """Show the job's progress until it ends, then rerun (done) or raise its error (one line, once)."""
    bar = st.progress(0.0, text=f"Downloading {entry.id}...")
    while job.running:
        if job.waiting:
            text = job.waiting[:1].upper() + job.waiting[1:]
        elif job.total:
            text = f"Downloading {entry.id}: {job.done / 2**20:,.1f} of {job.total / 2**20:,.1f} MB"
        else:
            text = f"Downloading {entry.id}: {job.done / 2**20:,.1f} MB (size not announced)"
        bar.progress(min(job.done / job.total, 1.0) if job.total else 0.0, text=text)
        time.sleep(0.3)
    bar.empty()
    with _JOBS_LOCK:
        if _JOBS.get(_job_key(entry)) is job:
            del _JOBS[_job_key(entry)]
    if job.error:
        raise fetch.FetchError(job.error)
    if on_change is not None:
        on_change()  # a new checkpoint: the page resets to its native I and p
    st.rerun()  # draw the picker again: listed as downloaded, no Download button; the next run loads it


def pick_published(prefix: str, on_change, extra: list):
    """Sidebar: the catalogue with class, size, what each entry shows and whether it is downloaded."""
    sb = st.sidebar
    cat = catalogue()
    for p in cat.problems:
        sb.warning(p, icon=":material/warning:")
    ids = tuple(cat.entries)
    default = cat_mod.DEFAULT_ID if cat_mod.DEFAULT_ID in cat else ids[0]
    param = Param(f"{prefix}ckpt_pub", str, default, choices=ids)
    state.init([param])
    extra.append(param)
    where = fetch.search_dirs()
    status = {e.id: fetch.cached(e, where) for e in cat}
    eid = sb.selectbox("Published model", ids, key=f"{prefix}ckpt_pub", on_change=on_change,
                       format_func=lambda i: ("✓ " if status[i] else "") + i,
                       help="✓ = downloaded on this server. `python -m mae_core catalogue` lists the same entries.")
    e = cat.get(eid)
    hit = status[eid]
    sb.caption(f"**{e.title}** · {e.kind} · {e.architecture} · native I={e.image_size}, p={e.patch_size}, "
               f"mask unit {e.mask_unit} · {_size(e, hit)} · licence {e.licence or 'not stated'}")
    sb.caption(f"Shows: {e.shows}.")
    with sb.expander("Source and checks", expanded=False):
        st.markdown(f"- where: `{e.location}`\n- evidence: {e.evidence}\n- training: "
                    f"{e.training_data or 'not published'}" + (f", {e.epochs} epochs" if e.epochs else "")
                    + "".join(f"\n- not verified: {u}" for u in e.unverified))
        r = fetch.read_receipt(hit) if hit else None
        if r:
            st.markdown(f"Downloaded {r.get('fetched_at', '')}; checks passed:\n"
                        + "\n".join(f"- {c}" for c in r.get("checks", [])))
    if hit is not None:
        return hit, e.id
    if not fetch.downloads_allowed():
        why = ("Downloads are switched off on this server (MAE_ALLOW_DOWNLOADS=0). The operator can add this model "
               f"to the model library: `python -m mae_core fetch {e.id} --cache-dir LIBRARY`.")
        sb.button("Download", key=f"{prefix}ckpt_download", disabled=True, help=why, icon=":material/download:",
                  width="stretch")
        sb.info(f"Not on this server. {why}")
        st.info(f"**{e.id}** is not on this server, and downloads are switched off here: choose another "
                "checkpoint in the sidebar.", icon=":material/cloud_off:")
        state.mark_answered()
        return None
    host = urllib.parse.urlsplit(e.url).netloc if e.url else f"the Hugging Face hub ({e.hub_id})"
    sb.caption(f"Not downloaded yet: {_size(e, None)} from {host}. It is checked (checksum where published, "
               "strict load, architecture) before use.")
    job = current_job(e)
    if job is not None:  # running (started here or by another session), or ended while nobody was watching
        _follow(job, e, on_change)
    if not sb.button(f"Download {e.id}", key=f"{prefix}ckpt_download", type="primary", on_click=on_change,
                     icon=":material/download:", width="stretch"):  # on_change: the page resets to native I, p
        st.info(f"**{e.id}** is not downloaded yet: press **Download** in the sidebar.", icon=":material/download:")
        state.mark_answered()  # the page must not also ask for a checkpoint
        return None
    _follow(start_download(e), e)  # on_change already ran as the button's callback


def pick_library(prefix: str, on_change, extra: list):
    """Sidebar: the checkpoints of the operator's model library, by name."""
    sb = st.sidebar
    lib = resources.library()
    if not lib:
        sb.info("The model library is empty: the operator adds models with "
                "`python -m mae_core fetch ID --cache-dir LIBRARY` or by copying checkpoints into it.")
        return None
    names = tuple(lib)
    param = Param(f"{prefix}ckpt_lib", str, names[0], choices=names)
    state.init([param])
    extra.append(param)
    name = sb.selectbox("Model in the server's library", names, key=f"{prefix}ckpt_lib", on_change=on_change)
    path = lib[name]
    r = fetch.read_receipt(path)
    if r:
        sb.caption(f"{r.get('title', name)} · {r.get('class', '')} · {r.get('architecture', '')}")
    return path, name
