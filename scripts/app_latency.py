"""Print how long the dashboard takes to respond to one control change (AppTest, in-process, CPU).

    python scripts/app_latency.py [--checkpoint-dir DIR] [--repeats 5]

Each figure is the wall time of one rerun after a change: a new seed (a new mask -> one new inference), a cached
change back (cache hit), a patch-size change (model adaptation + inference), and one page switch. Target on a
laptop CPU with the embedded family: <= 1 s per change. For a cache hit it also prints the process CPU time of the
rerun (the script's own work; scripts/load_bench.py measures whole page views from real browsers). A benchmark that
prints, not a test.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint-dir", help="MAE_CHECKPOINT_DIR (default: the embedded family)")
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args(argv)
    if a.checkpoint_dir:
        os.environ["MAE_CHECKPOINT_DIR"] = a.checkpoint_dir
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.switch_page("app_pages/reconstruction.py")
    t0 = time.perf_counter()
    at.run()
    print(f"first open of Reconstruction (model load + inference): {time.perf_counter() - t0:.2f} s")
    if at.exception or at.error:
        print("the page shows an error:", [e.value for e in at.exception] + [e.value for e in at.error])
        return 1

    cpu = []

    def timed(change) -> float:
        change()
        t, c = time.perf_counter(), time.process_time()
        at.run()
        cpu.append(time.process_time() - c)
        return time.perf_counter() - t

    seed0 = at.number_input(key="seed").value
    new = [timed(lambda i=i: at.number_input(key="seed").set_value(1000 + i)) for i in range(a.repeats)]
    cpu.clear()
    hit = [timed(lambda: at.number_input(key="seed").set_value(seed0)) for _ in range(a.repeats)]
    hit_cpu = list(cpu)
    p0 = at.selectbox(key="p").value
    other = 16 if p0 != 16 else 8
    patch = [timed(lambda p=p: at.selectbox(key="p").set_value(p)) for p in (other, p0)]
    at.switch_page("app_pages/home.py")
    t = time.perf_counter()
    at.run()
    switch = time.perf_counter() - t
    fmt = lambda xs: f"median {statistics.median(xs):.2f} s (min {min(xs):.2f}, max {max(xs):.2f}, n={len(xs)})"  # noqa: E731
    print(f"new seed (new mask, one inference):  {fmt(new)}")
    print(f"back to a seen seed (cache hit):     {fmt(hit)}")
    print(f"  process CPU of that rerun:         {fmt(hit_cpu)}")
    print(f"patch size change (adapt + infer):   {fmt(patch)}")
    print(f"page switch to Home:                 {switch:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
