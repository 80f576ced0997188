"""The Lesson's precomputed data (scripts/lesson_data.py -> assets/lesson/lesson_data.npz), read without torch so
the Lesson's first paint is instant; ui.warmup loads it into the cache once per process."""
from __future__ import annotations

import json

import numpy as np
import streamlit as st

from mae_core import assets

DATA = assets.ROOT / "lesson" / "lesson_data.npz"
COMMAND = "python scripts/lesson_data.py"


@st.cache_data(show_spinner=False)
def _load(path: str, mtime_ns: int) -> dict:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def data() -> dict | None:
    """The precomputed arrays (None when the file is missing); 'meta' parsed from JSON."""
    if not DATA.is_file():
        return None
    d = dict(_load(str(DATA), DATA.stat().st_mtime_ns))
    d["meta"] = json.loads(str(d["meta"]))
    return d
