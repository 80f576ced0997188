"""Where the server's CPU goes in one warm page view, per page: a real server, real sessions, cProfile.

    python scripts/profile_views.py [--pages reconstruction,attention] [--top 20] [--views 3] [--checkpoint-dir DIR]

For each page: a warm server (`python -m ui.serve`) is opened by one session (its results are then cached), then
by `--views` new sessions, one after another (reconstruction_new: each on a new seed, so each computes), over
Streamlit's websocket protocol (scripts/st_client.py). It prints the server process's CPU seconds per warm view
(from /proc, no profiler running), then, on a second server whose script runs are profiled (cProfile around each
script run, in the script thread: the page code, Streamlit's element marshalling and its post-run work), the top
entries of one warm view by own time and by cumulative time. The websocket sending (the server's event loop) is in the /proc figure, not in the profile.
A benchmark that prints, not a test.
"""
from __future__ import annotations

import argparse
import asyncio
import cProfile
import importlib.util
import io
import itertools
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
_spec = importlib.util.spec_from_file_location("mae_st_client", ROOT / "scripts" / "st_client.py")
st_client = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = st_client
_spec.loader.exec_module(st_client)

PAGES = {"home": "/", "lesson": "/lesson", "reconstruction": "/reconstruction", "sequence_grid": "/sequence_grid",
         "attention": "/attention", "ablations": "/ablations", "checkpoints": "/checkpoints",
         # a view whose result is not cached yet (a new seed each time: one inference), as a class on its own
         # settings opens it
         "reconstruction_new": "/reconstruction?seed={n}"}
_new = itertools.count(7000)


def _serve_profiled(out_dir: str, args: list[str]) -> int:
    """The server, with every script run profiled into out_dir/<n>-<page>.prof (+ .json: its thread CPU)."""
    from streamlit.runtime.scriptrunner.script_runner import ScriptRunner

    from ui import serve

    run, counter = ScriptRunner._run_script, itertools.count()

    def profiled(self, rerun_data):
        pr, c0 = cProfile.Profile(), time.thread_time()
        pr.enable()
        try:
            return run(self, rerun_data)
        finally:
            pr.disable()
            name = f"{next(counter):04d}-{rerun_data.page_name or 'home'}"
            pr.dump_stats(Path(out_dir) / f"{name}.prof")
            (Path(out_dir) / f"{name}.json").write_text(json.dumps({"thread_cpu_s": time.thread_time() - c0}))

    ScriptRunner._run_script = profiled
    return serve.main(args)


def _cpu(pid: int) -> float:
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


class Server:
    def __init__(self, env: dict, profile_dir: str | None = None):
        from ui.serve import free_port

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        opts = ["--server.port", str(self.port), "--server.address", "127.0.0.1", "--server.headless", "true"]
        cmd = ([sys.executable, __file__, "--serve-profiled", profile_dir, "--", *opts] if profile_dir else
               [sys.executable, "-m", "ui.serve", *opts])
        (ROOT / "artifacts").mkdir(exist_ok=True)
        self.log = open(ROOT / "artifacts" / f"profile-views{'-prof' if profile_dir else ''}.log", "w")
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **env}, stdout=self.log,
                                     stderr=subprocess.STDOUT)

    def __enter__(self):
        from ui.serve import wait_healthy

        wait_healthy(self.url, self.proc, timeout=300)
        return self

    def __exit__(self, *exc):
        from ui.serve import stop

        stop(self.proc)
        self.log.close()


def open_one(url: str, link: str) -> object:
    link = link.format(n=next(_new))
    v = asyncio.run(st_client.open_page(url, link, timeout_s=300))
    if not v.ok:
        raise SystemExit(f"{link}: {v.problems + v.errors + v.exceptions}")
    return v


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--serve-profiled"]:
        return _serve_profiled(argv[1], argv[3:])
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", default=",".join(PAGES), help="comma-separated: " + ", ".join(PAGES))
    ap.add_argument("--views", type=int, default=3, help="warm views per page for the CPU figure")
    ap.add_argument("--top", type=int, default=20)
    ap.add_argument("--checkpoint-dir", help="MAE_CHECKPOINT_DIR (default: the embedded family)")
    a = ap.parse_args(argv)
    pages = [p.strip() for p in a.pages.split(",") if p.strip()]
    bad = [p for p in pages if p not in PAGES]
    if bad:
        print(f"error: unknown page {bad[0]!r} (one of {', '.join(PAGES)})", file=sys.stderr)
        return 2
    env = {"MAE_CHECKPOINT_DIR": a.checkpoint_dir} if a.checkpoint_dir else {}
    print(f"load average {Path('/proc/loadavg').read_text().split()[:3]}", flush=True)
    with Server(env) as s:
        for page in pages:
            open_one(s.url, PAGES[page])  # its results into the caches
            c0 = _cpu(s.proc.pid)
            t = time.perf_counter()
            for _ in range(a.views):
                open_one(s.url, PAGES[page])
            time.sleep(0.3)
            print(f"{page}: server CPU per warm view {(_cpu(s.proc.pid) - c0) / a.views:.3f} s "
                  f"(wall {(time.perf_counter() - t) / a.views:.2f} s per view, {a.views} views)", flush=True)
    with tempfile.TemporaryDirectory() as d, Server(env, profile_dir=d) as s:
        for page in pages:
            open_one(s.url, PAGES[page])
            time.sleep(1.0)  # the run's profile is written just after the client sees its end
            before = set(Path(d).glob("*.prof"))
            open_one(s.url, PAGES[page])
            time.sleep(1.0)
            new = sorted(set(Path(d).glob("*.prof")) - before)
            cpu = sum(json.loads(p.with_suffix(".json").read_text())["thread_cpu_s"] for p in new)
            for key, label in (("tottime", "own time"), ("cumulative", "cumulative")):
                buf = io.StringIO()
                st = pstats.Stats(*map(str, new), stream=buf)
                st.strip_dirs().sort_stats(key).print_stats(a.top)
                lines = [ln for ln in buf.getvalue().splitlines() if ln.strip()]
                start = next(i for i, ln in enumerate(lines) if ln.lstrip().startswith("ncalls"))
                print(f"\n== {page}: one warm view, {len(new)} script run(s), script-thread CPU {cpu:.3f} s "
                      f"(profiled); top {a.top} by {label}")
                print("\n".join(lines[start:]))
    print(f"load average {Path('/proc/loadavg').read_text().split()[:3]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
