"""Start the dashboard on a free loopback port and save a full-page screenshot of every page.

    python scripts/screenshot.py [--out artifacts/screenshots] [--checkpoint-dir DIR] [--page home ...]

Uses the system Chromium (/usr/bin/chromium) through Playwright; never downloads a browser. Prints, per page,
whether an exception or error element was shown. tests/test_e2e.py uses the same functions.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ui.pages import PAGES as APP_PAGES  # noqa: E402
from ui.serve import free_port, stop, wait_healthy  # noqa: E402
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
# url path -> screenshot name (app.py's pages; their URL paths are the file names)
PAGES = {p.url_path: p.name for p in APP_PAGES}


@contextlib.contextmanager
def server(env_extra: dict | None = None, port: int | None = None, timeout: float = 90.0, log_name: str =
           "streamlit-server.log", with_process: bool = False, args: list[str] | None = None,
           warm: bool = False):
    """`streamlit run app.py [args]` on 127.0.0.1:<port>, or `python -m ui.serve [args]` with warm=True (warmed up
    before it listens); yields the base URL (and the process with with_process=True); stops the process it
    started."""
    port = port or free_port()
    env = {**os.environ, **(env_extra or {})}
    env.setdefault("MAE_MAX_CONCURRENT", "2")
    start = ["-m", "ui.serve"] if warm else ["-m", "streamlit", "run", str(ROOT / "app.py")]
    cmd = [sys.executable, *start, "--server.headless", "true",
           "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
           "--client.showErrorDetails", "full", *(args or [])]
    log = open(ROOT / "artifacts" / log_name, "w") if (ROOT / "artifacts").is_dir() else subprocess.DEVNULL
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc, timeout)
        yield (url, proc) if with_process else url
    finally:
        stop(proc)
        if log is not subprocess.DEVNULL:
            log.close()


def wait_idle(page, timeout_s: float = 90.0, settle_s: float = 1.5) -> None:
    """Wait until the app has rendered and no script run is in progress for `settle_s` seconds."""
    page.wait_for_selector('[data-testid="stMain"]', timeout=timeout_s * 1000)
    deadline = time.time() + timeout_s
    quiet_since = None
    while time.time() < deadline:
        running = page.locator('[data-testid="stStatusWidget"]').count() > 0 or \
            page.locator('[data-testid="stSkeleton"]').count() > 0 or \
            page.locator('[data-testid="stSpinner"]').count() > 0
        if running:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.time()
        elif time.time() - quiet_since >= settle_s:
            return
        time.sleep(0.25)
    raise TimeoutError(f"the app was still running after {timeout_s:.0f} s")


def problems_on(page) -> list[str]:
    """Texts of exception and error elements shown on the page."""
    out = []
    for sel, what in (('[data-testid="stException"]', "exception"), ('[data-testid="stAlertContentError"]', "error")):
        loc = page.locator(sel)
        for i in range(loc.count()):
            out.append(f"{what}: {loc.nth(i).inner_text()[:400]}")
    return out


def full_screenshot(page, path, width: int = 1400, height: int = 900) -> None:
    """Screenshot of the whole app: Streamlit scrolls inside its main container, so the viewport is grown to the
    content's height first (capped at 12000 px) and restored afterwards."""
    h = page.evaluate("""() => Math.max(document.body.scrollHeight,
        ...Array.from(document.querySelectorAll('[data-testid="stMain"], [data-testid="stSidebarContent"],'
          + ' [data-testid="stAppScrollToBottomContainer"], section')).map(e => e.scrollHeight))""")
    page.set_viewport_size({"width": width, "height": int(min(max(height, h + 40), 12000))})
    page.wait_for_timeout(1200)
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size({"width": width, "height": height})


def capture(base_url: str, out_dir: Path, pages=None, width: int = 1400, height: int = 900) -> dict:
    """Visit each page, wait until idle, save <out_dir>/<name>.png; returns name -> list of problems shown."""
    from playwright.sync_api import sync_playwright

    out_dir.mkdir(parents=True, exist_ok=True)
    results = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            ctx = browser.new_context(viewport={"width": width, "height": height})
            page = ctx.new_page()
            for path, name in (pages or PAGES).items():
                page.goto(f"{base_url}/{path}", wait_until="domcontentloaded")
                wait_idle(page)
                page.wait_for_timeout(800)  # plotly draws after the run finishes
                full_screenshot(page, out_dir / f"{name}.png", width, height)
                results[name] = problems_on(page)
        finally:
            browser.close()
    return results


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "artifacts" / "screenshots"))
    ap.add_argument("--checkpoint-dir", help="MAE_CHECKPOINT_DIR for the server (default: the embedded family)")
    ap.add_argument("--page", action="append", help="url path(s) to capture ('' = home); default all")
    a = ap.parse_args(argv)
    (ROOT / "artifacts").mkdir(exist_ok=True)
    env = {"MAE_CHECKPOINT_DIR": a.checkpoint_dir} if a.checkpoint_dir else {}
    import re

    pages = {p: PAGES.get(p) or re.sub(r"[^A-Za-z0-9_.-]+", "_", p).strip("_") or "home" for p in a.page} \
        if a.page else None
    with server(env) as url:
        results = capture(url, Path(a.out), pages)
    bad = 0
    for name, probs in results.items():
        print(f"{name}: {'ok' if not probs else '; '.join(probs)}")
        bad += bool(probs)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
