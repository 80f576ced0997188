"""``python -m mae_core fetch``: the command line of mae_core.fetch."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..catalogue import load_catalogue
from ..fetch.locations import cached, default_cache_dir
from ..fetch.pipeline import fetch
from ..fetch.receipt import read_receipt


class _Bar:
    """tqdm progress for the CLI (bytes, created on the first report)."""

    def __init__(self, desc: str):
        self.desc, self.bar = desc, None

    def __call__(self, done: int, total):
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(total=total, initial=done, unit="B", unit_scale=True, unit_divisor=1024,
                            desc=self.desc, file=sys.stderr, dynamic_ncols=True)
        elif total != self.bar.total or done < self.bar.n:  # the next file of a hub entry
            self.bar.reset(total=total)
        self.bar.update(done - self.bar.n)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def cli(argv=None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m mae_core fetch",
        description="Download catalogue entries, check them (size, published checksum, strict load, architecture) "
                    "and keep them. Prints the local path of each.")
    ap.add_argument("ids", nargs="+", metavar="ID", help="catalogue ids (python -m mae_core catalogue lists them)")
    ap.add_argument("--cache-dir", metavar="DIR",
                    help="keep everything (hub files included) in DIR, e.g. a model library named in "
                         "MAE_MODEL_LIBRARY (default: MAE_CACHE_DIR or ~/.cache/mae_explorer; hub files in HF_HOME)")
    ap.add_argument("--catalogue", action="append", default=[], metavar="FILE", help="an extra catalogue file")
    ap.add_argument("--retries", type=int, default=5, help="resumes after a dropped connection (default 5)")
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds without data before giving up")
    a = ap.parse_args(argv)
    cat = load_catalogue(a.catalogue)
    for p in cat.problems:
        print(f"warning: {p}", file=sys.stderr)
    entries = [cat.get(i) for i in a.ids]  # unknown ids fail before anything is downloaded
    for e in entries:
        root = Path(a.cache_dir).expanduser() if a.cache_dir else default_cache_dir()
        was = cached(e, [root])
        bar = _Bar(e.id)
        try:
            path = fetch(e, a.cache_dir, progress=bar, retries=a.retries, timeout=a.timeout,
                         on_wait=lambda msg: print(msg, file=sys.stderr))
        finally:
            bar.close()
        r = read_receipt(path) or {}
        how = "already downloaded and verified" if was else "downloaded and verified"
        print(f"{e.id}: {how}: {path}", file=sys.stderr)
        if r.get("architecture"):
            print(f"  {r.get('class')}, {r['architecture']}" + (f", md5 {r['md5']}" if r.get("md5") else ""),
                  file=sys.stderr)
        print(path)
    return 0
