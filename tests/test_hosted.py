"""A hosted team demo, end to end: real `streamlit run` servers on loopback ports and Debian's Chromium.

- a session waiting for the inference slot sees its place in the queue.

Without Chromium (or Playwright) the tests are skipped, except under CI=true, where they fail (as tests/test_e2e.py).
"""
from __future__ import annotations

import asyncio
import importlib.util
import os
import sys
import time
import urllib.parse
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("mae_load_bench", ROOT / "scripts" / "load_bench.py")
bench = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = bench  # dataclasses look their module up there
_spec.loader.exec_module(bench)
shot = bench.shot


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _need_browser():
    if not Path(shot.CHROMIUM).is_file():
        msg = f"{shot.CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium)"
        pytest.fail(msg + " - required under CI") if _ci() else pytest.skip(msg)
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        msg = "playwright is not installed (requirements-dev.txt)"
        pytest.fail(msg + " - required under CI") if _ci() else pytest.skip(msg)


@pytest.fixture(scope="module")
def family_dir(tiny_family):
    _need_browser()
    (ROOT / "artifacts").mkdir(exist_ok=True)
    return str(Path(next(iter(tiny_family.values()))).parent)


# ------------------------------------------------------------------ a server with one inference slot
@pytest.fixture(scope="module")
def one_slot_url(family_dir):
    """A server with a single inference slot (the queue test needs one; the others do not mind)."""
    with shot.server({"MAE_CHECKPOINT_DIR": family_dir, "MAE_MAX_CONCURRENT": "1"},
                     log_name="hosted-one-slot.log") as url:
        yield url


# ------------------------------------------------------------------ 4. a waiting visitor sees the queue
def test_a_waiting_session_sees_its_place_in_the_queue(one_slot_url, family_dir):
    """With one inference slot, a second visitor whose inference waits behind a long one is told that it is queued,
    its place and (after one inference has finished) an estimate; both then get their results."""
    from playwright.sync_api import sync_playwright

    slow = "/reconstruction?I=1024&p=8&m=2&seed={}"  # ~5 s on 2 cores with the tiny model
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=shot.CHROMIUM, args=shot.CHROMIUM_ARGS, headless=True)
        try:
            a = b.new_context(viewport={"width": 1400, "height": 900}).new_page()
            c = b.new_context(viewport={"width": 1400, "height": 900}).new_page()
            # one finished inference first, so the server has a duration to estimate from
            a.goto(one_slot_url + slow.format(40), wait_until="domcontentloaded")
            a.wait_for_selector('[data-testid="stMetric"]', timeout=120_000)
            a.goto(one_slot_url + slow.format(41), wait_until="domcontentloaded")
            a.wait_for_selector('[data-testid="stSpinner"]', timeout=60_000)  # A's inference runs (> 0.5 s)
            c.goto(one_slot_url + slow.format(42), wait_until="domcontentloaded")
            notice = c.locator('[data-testid="stAlertContentInfo"]', has_text="Queued")
            notice.first.wait_for(timeout=60_000)
            text = notice.first.inner_text()
            assert "you are next" in text and "s to go" in text, text
            c.wait_for_selector('[data-testid="stMetric"]', timeout=120_000)
            shot.wait_idle(c)
            assert notice.count() == 0  # gone once its inference ran
            for p in (a, c):
                shot.wait_idle(p)
                assert not shot.problems_on(p), shot.problems_on(p)
                assert p.locator('[data-testid="stMetricLabel"]', has_text="masked MSE").count() == 1
        finally:
            b.close()




# ------------------------------------------------------------------ the pieces, without a browser
def test_the_limiter_queues_first_come_first_served_with_positions_and_estimates():
    import threading

    from ui.limits import BusyError, Limiter

    lim = Limiter(1)
    assert lim.status(threading.get_ident()) is None and lim.typical_s() is None
    with lim.slot():
        time.sleep(0.05)
    assert lim.typical_s() == pytest.approx(0.05, abs=0.04)

    release, order, started = threading.Event(), [], {}

    def job(name, hold):
        started[name] = threading.get_ident()
        with lim.slot(timeout=10):
            order.append(name)
            if hold:
                release.wait(10)

    first = threading.Thread(target=job, args=("first", True))
    first.start()
    while not lim.busy:
        time.sleep(0.01)
    waiters = []
    for name in ("second", "third"):
        t = threading.Thread(target=job, args=(name, False))
        t.start()
        waiters.append(t)
        while lim.waiting < len(waiters):
            time.sleep(0.01)
    s1, s2, s3 = (lim.status(started[n]) for n in ("first", "second", "third"))
    assert s1.state == "running" and (s2.state, s2.position) == ("queued", 1) and (s3.state, s3.position) == \
        ("queued", 2)
    # one slot, ~0.05 s per inference: the second starts when the first ends, the third one inference later
    assert s2.wait_s <= s3.wait_s and s3.wait_s - s2.wait_s == pytest.approx(lim.typical_s(), abs=0.01)
    with pytest.raises(BusyError):  # a short wait gives up cleanly and leaves the queue as it was
        with lim.slot(timeout=0.05):
            pass
    assert lim.waiting == 2
    release.set()
    for t in [first, *waiters]:
        t.join(10)
    assert order == ["first", "second", "third"] and lim.in_use == 0 and lim.waiting == 0


def test_wait_text_says_place_and_estimate():
    from ui.limits import SlotStatus
    from ui.progress import wait_text

    t = wait_text(SlotStatus("queued", 3, 4.2, 2.5, 6.4), n_slots=2)
    assert "2 ahead of you" in t and "about 6 s to go" in t and "2.5 s each" in t and "2 inferences" in t
    assert "you are next" in wait_text(SlotStatus("queued", 1, 0.0, 1.0, 0.3), 1)
    assert "no estimate yet" in wait_text(SlotStatus("queued", 1, 0.0, None, None), 1)
