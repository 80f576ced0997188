"""What a visitor sees while a computation runs: a spinner, and while the inference waits for a free slot, its place
in the queue and an estimated wait.

The computation runs in the script thread inside a cached function (ui.resources), where Streamlit records every
element it draws for replay on cache hits, so the waiting notice is drawn by a watcher thread instead: it carries
the session's script context (as st.spinner's own timer does) but not the cached call's recording context.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager, nullcontext

import streamlit as st
from streamlit.runtime.scriptrunner import add_script_run_ctx, get_script_run_ctx

from .limits import LIMITER, Limiter

POLL_S = 0.25
SHOW_AFTER_S = 0.5  # as st.spinner: nothing flashes for computations that end sooner


def wait_text(status, n_slots: int) -> str:
    """The queued notice, in the visitor's terms."""
    ahead = status.position - 1
    who = "you are next" if ahead == 0 else f"{ahead} ahead of you"
    if status.wait_s is None:
        eta = "the first inference on this server is still running, so there is no estimate yet"
    else:
        eta = f"about {max(1, round(status.wait_s))} s to go (recent inferences took {status.typical_s:.1f} s each)"
    return (f"Queued: the server runs {n_slots} inference{'s' if n_slots > 1 else ''} at a time and all slots are "
            f"taken; {who}. Waiting {status.elapsed_s:.0f} s so far, {eta}.")


@contextmanager
def computing(text: str, where=None, limiter: Limiter | None = None, spinner: bool = True):
    """Run the block with a spinner (after 0.5 s; spinner=False where the page shows its own progress bar) and,
    while its inference is queued, the queue notice above it."""
    lim = limiter or LIMITER
    box = (where or st).empty()
    ctx = get_script_run_ctx()
    stop = threading.Event()
    owner = threading.get_ident()

    def watch():
        shown = None
        if stop.wait(SHOW_AFTER_S):
            return
        while not stop.is_set():
            s = lim.status(owner)
            msg = wait_text(s, lim.n) if s is not None and s.state == "queued" else None
            if msg != shown and not stop.is_set():
                if msg:
                    box.info(msg, icon=":material/hourglass_top:")
                else:
                    box.empty()
                shown = msg
            stop.wait(POLL_S)

    watcher = None
    if ctx is not None:
        watcher = threading.Thread(target=watch, name="queue-notice", daemon=True)
        add_script_run_ctx(watcher, ctx)
        watcher.start()
    try:
        with (where or st).spinner(text) if spinner else nullcontext():
            yield
    finally:
        stop.set()
        if watcher is not None:
            watcher.join(timeout=2)
        box.empty()
