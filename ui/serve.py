"""Start the dashboard warm: `python -m ui.serve [streamlit run options]`.

Same as `streamlit run app.py [options]`, except that this process first imports and warms everything the pages
need (ui/warmup.py: libraries, the default checkpoint, the default views) and only then starts the server, so the
first visitors find a ready process and the health check (/_stcore/health) answers only once it is ready (a
reverse proxy or a service manager can wait for that). `bash run.sh app` and the deploy/ recipe use it.

    python -m ui.serve --check    warm up, print what it did and how long it took, and exit (no server)
"""
from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

APP = Path(__file__).resolve().parent.parent / "app.py"


class _DropMessage(logging.Filter):
    def __init__(self, text: str):
        super().__init__()
        self.text = text

    def filter(self, record: logging.LogRecord) -> bool:
        return self.text not in record.getMessage()


def main(argv=None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    t0 = time.perf_counter()
    from ui import warmup

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
