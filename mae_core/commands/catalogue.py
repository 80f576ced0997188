"""``python -m mae_core catalogue``: the published MAE checkpoints, what each shows, and whether it is downloaded.

A command of its own because it joins the catalogue (what is published) with fetch (what is on disk); fetch itself
reads the catalogue, so the listing cannot live in either without an import cycle."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..catalogue import load_catalogue
from ..fetch.locations import cached, local_size, search_dirs


def _size(n: int | None) -> str:
    if not n:
        return "size not published"
    return f"{n / 2**30:.2f} GB" if n >= 2**30 else f"{n / 2**20:.0f} MB"


def cli(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m mae_core catalogue",
                                 description="List the published MAE checkpoints: what each shows, where it is, and "
                                             "whether it is downloaded.")
    ap.add_argument("--json", action="store_true", help="print JSON (every field, plus the local path if cached)")
    ap.add_argument("--catalogue", action="append", default=[], metavar="FILE",
                    help="an extra catalogue file (JSON; repeatable; MAE_CATALOGUE also adds files)")
    ap.add_argument("--cache-dir", action="append", default=[], metavar="DIR",
                    help="also look for downloads here (default: MAE_CACHE_DIR or ~/.cache/mae_explorer, and the "
                         "MAE_MODEL_LIBRARY folders)")
    a = ap.parse_args(argv)
    cat = load_catalogue(a.catalogue)
    for p in cat.problems:
        print(f"warning: {p}", file=sys.stderr)
    dirs = [Path(d) for d in a.cache_dir] + search_dirs()
    rows = []
    for e in cat:
        hit = cached(e, dirs)
        rows.append((e, hit))
    if a.json:
        out = [e.to_dict() | {"architecture_name": e.architecture, "cached": str(hit) if hit else None,
                              "origin": e.origin} for e, hit in rows]
        json.dump(out, sys.stdout, indent=2)
        print()
        return 0
    for e, hit in rows:
        size = _size(e.size_bytes or (local_size(hit) if hit else None))
        lines = [f"{e.id}  [{e.kind}]  {e.architecture}, I={e.image_size}, mask unit {e.mask_unit}",
                 f"    {e.title}; {size}; {e.training_data or 'training data not published'}"
                 + (f", {e.epochs} epochs" if e.epochs else "") + f"; licence {e.licence or 'not stated'}",
                 f"    shows: {e.shows}",
                 *([f"    not verified: {'; '.join(e.unverified)}"] if e.unverified else []),
                 f"    {'downloaded: ' + str(hit) if hit else 'not downloaded: ' + e.location}"]
        if e.origin != "shipped":
            lines.append(f"    from {e.origin}")
        print("\n".join(lines))
    print(f"\n{len(rows)} entries; `python -m mae_core fetch ID` downloads and verifies one.")
    return 0
