"""Start the dashboard warm: `python -m ui.serve [streamlit run options]`.

Same as `streamlit run app.py [options]`, except that this process first imports and warms everything the pages
need (ui/warmup.py: libraries, the default checkpoint, the default views) and only then starts the server, so the
first visitors find a ready process and the health check (/_stcore/health) answers only once it is ready (a
reverse proxy or a service manager can wait for that). `bash run.sh app` and the deploy/ recipe use it.

    python -m ui.serve --check    warm up, print what it did and how long it took, and exit (no server)
"""
from __future__ import annotations

import logging
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from ui import warmup

APP = Path(__file__).resolve().parent.parent / "app.py"


class _DropMessage(logging.Filter):
    def __init__(self, text: str):
        super().__init__()
        self.text = text

    def filter(self, record: logging.LogRecord) -> bool:
        return self.text not in record.getMessage()


# ---- for whoever starts a server process (scripts/screenshot.py, deploy/render.py, the tests)

def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen | None = None, timeout: float = 90.0) -> None:
    """Poll <url>/_stcore/health until it answers 200 (RuntimeError if the process exits or time runs out)."""
    deadline = time.time() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{' '.join(map(str, proc.args[:3]))} exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if time.time() > deadline:
            raise RuntimeError(f"{url} did not become healthy within {timeout:.0f} s")
        time.sleep(0.25)


def stop(proc: subprocess.Popen) -> None:
    """Terminate a process we started (kill it if it does not exit within 10 s)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def main(argv=None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    t0 = time.perf_counter()

    # The data caches are created before Streamlit's runtime exists (in memory: the ones the sessions then use);
    # Streamlit warns about that once per cache, which says nothing useful here.
    quiet = logging.getLogger("streamlit.runtime.caching.cache_data_api")
    no_runtime = _DropMessage("No runtime found")
    quiet.addFilter(no_runtime)
    try:
        report = warmup.ensure()
    finally:
        quiet.removeFilter(no_runtime)
    print(f"warm-up done in {time.perf_counter() - t0:.1f} s: "
          + ", ".join(f"{k} {v}" for k, v in report.items()), flush=True)
    if args[:1] == ["--check"]:
        return 0
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", str(APP), *args]
    return cli.main()


if __name__ == "__main__":
    sys.exit(main())
