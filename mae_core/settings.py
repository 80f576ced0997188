"""Every ``MAE_*`` environment variable, in one table: its default, what it means, and how it is read.

Torch-free and read at call time: ``settings.get("MAE_MAX_CONCURRENT")`` parses the variable now, so tests and
servers can change it without re-importing anything (a few values, such as the inference slots, are read once per
process by their user on purpose, and their meaning says so). An unparseable value falls back on the default.
``python -m mae_core settings`` prints the table, the deployment docs hold the same table (a test compares them), and
a test fails when the code reads an ``MAE_*`` name that is not declared here.
"""
from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from typing import Callable


def _flag(v: str) -> bool:
    s = v.strip().lower()
    if s in ("1", "true", "yes", "on"):
        return True
    if s in ("0", "false", "no", "off"):
        return False
    raise ValueError(v)


def _paths(v: str) -> list[str]:
    return [p for p in v.split(os.pathsep) if p.strip()]


@dataclass(frozen=True)
class Setting:
    name: str
    default: object  # the parsed default; None = unset
    parse: Callable[[str], object]
    shown_default: str  # the default as the docs table says it
    meaning: str


SETTINGS: dict[str, Setting] = {s.name: s for s in [
    Setting("MAE_MAX_CONCURRENT", 2, int, "2",
            "inferences running at once across all sessions (per server process, read when it starts); the others "
            "queue, first come first served, and see their place and an estimated wait"),
    Setting("MAE_BUSY_TIMEOUT_S", 120, int, "120",
            "how long a session waits for a slot before being asked to retry"),
    Setting("MAE_MEMORY_BUDGET_MB", 4096, int, "4096",
            "settings whose estimated peak memory exceeds this are refused before running (the Home page shows the "
            "formula)"),
    Setting("MAE_ALLOW_LOCAL_PATHS", True, _flag, "1",
            "set to 0 on a shared server: visitors then load only the embedded family, published models already on "
            "the server, the model library or uploads"),
    Setting("MAE_ALLOW_DOWNLOADS", None, _flag, "1 (0 when `MAE_ALLOW_LOCAL_PATHS=0`)",
            "whether visitors may download published models; when off, the Download button is disabled and says how "
            "the operator adds a model"),
    Setting("MAE_MODEL_LIBRARY", [], _paths, "unset",
            "folders (`dir1:dir2`) whose checkpoints every visitor can pick by name (\"Model library\"). Fill one "
            "with `python -m mae_core fetch ID [ID ...] --cache-dir DIR` (entries appear by id, hub files stored "
            "inside DIR) or copy checkpoints into it (they appear by file name)"),
    Setting("MAE_CACHE_DIR", None, str, "~/.cache/mae_explorer",
            "where `fetch` and the Download button keep published models"),
    Setting("MAE_CATALOGUE", [], _paths, "unset", "extra catalogue files (`a.json:b.json`)"),
    Setting("MAE_MAX_DOWNLOAD_GB", 16.0, float, "16", "refuse downloads announced larger than this"),
    Setting("MAE_MAX_IMAGE_MB", 20, int, "20", "largest image upload"),
    Setting("MAE_MAX_CHECKPOINT_MB", None, float, "Streamlit's `server.maxUploadSize` (2048)",
            "largest checkpoint upload, never above `server.maxUploadSize` (the hosted unit sets 200); a checkpoint "
            "may be a transformers folder as a `.zip` (at most 64 files, unpacked size within the limit, no links or "
            "paths leaving the folder)"),
    Setting("MAE_MAX_KEPT_UPLOADS", 8, int, "8", "uploaded checkpoints kept in the temp folder (oldest deleted first)"),
    Setting("MAE_CHECKPOINT_DIR", None, str, "assets/checkpoints", "serve another family of checkpoints"),
    Setting("MAE_DEVICE", "auto", str, "auto",
            "where models run: `auto` (CUDA when present, else CPU), `cpu` or `cuda`"),
    Setting("MAE_PRECISION", "auto", str, "auto",
            "the precision of the linear layers when a page does not choose one: `auto` (TF32 on CUDA, float32 on "
            "CPU), `fp32`, `tf32` or `bf16`; statistics always stay float32"),
    Setting("MAE_COMPILE", False, _flag, "0",
            "1: compile the reconstruction forward for fixed shapes on CUDA (torch.compile, reduce-overhead; the "
            "first call's compile time is in the notes); never on a CPU"),
    Setting("MAE_FEATURE_DIR", None, str, "~/.cache/mae_explorer/features",
            "where `python -m mae_core features` and the Representations page cache per-layer features"),
    Setting("MAE_DATA_DIR", None, str, "~/.cache/mae_explorer/training_photos",
            "where `python -m mae_core data fetch` keeps the training photographs"),
    Setting("MAE_CODE_REVISION", None, str, "unset (the git commit)",
            "the code revision recorded in trained checkpoints, for a copy without `.git`"),
]}


def get(name: str):
    """The setting's value now: the environment variable parsed, or its default when unset, empty or unparseable."""
    s = SETTINGS[name]  # KeyError for an undeclared name: declare it above first
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return s.default
    try:
        return s.parse(raw.strip())
    except ValueError:
        return s.default


def table_markdown() -> str:
    """The settings as the docs' markdown table."""
    rows = ["| variable | default | what it does |", "|---|---|---|"]
    rows += [f"| `{s.name}` | {s.shown_default} | {s.meaning} |" for s in SETTINGS.values()]
    return "\n".join(rows)


def cli(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m mae_core settings",
                                 description="The MAE_* environment variables: default, meaning and current value.")
    ap.add_argument("--markdown", action="store_true", help="print the docs' markdown table")
    a = ap.parse_args(argv)
    if a.markdown:
        print(table_markdown())
        return 0
    for s in SETTINGS.values():
        now = os.environ.get(s.name)
        print(f"{s.name}={now if now is not None else ''}  (default {s.shown_default})\n    {s.meaning}")
    return 0
