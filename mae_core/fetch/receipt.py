"""The receipt a verified fetch leaves beside the checkpoint (mae-fetch-receipt.json): which checks passed, the
digests, and the head counts that weights do not store, read back for the loader and the app."""
from __future__ import annotations

import json
from pathlib import Path

RECEIPT = "mae-fetch-receipt.json"


def read_receipt(path) -> dict | None:
    """The receipt written when a checkpoint passed fetch's checks, or None (not fetched, or unreadable)."""
    p = Path(path)
    r = (p if p.is_dir() else p.parent) / RECEIPT
    try:
        if r.is_file() and r.stat().st_size < 1 << 20:
            obj = json.loads(r.read_text(encoding="utf-8"))
            return obj if isinstance(obj, dict) else None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return None


def heads_for(path) -> dict:
    """Head counts recorded by fetch for a fetched checkpoint (weights do not store them), else {}: pass them on to
    mae_core.checkpoints.load_checkpoint for architectures that are not known by shape."""
    r = read_receipt(path) or {}
    out = {k: r.get(k) for k in ("num_heads", "decoder_num_heads")}
    return {k: v for k, v in out.items() if isinstance(v, int) and not isinstance(v, bool) and v > 0}
