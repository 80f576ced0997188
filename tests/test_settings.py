"""mae_core.settings owns every MAE_* variable: the code reads no undeclared one, values are read at call time and
parsed with a safe fallback, and the docs' table is the generated one."""
from __future__ import annotations

import re
from pathlib import Path

from mae_core import settings

ROOT = Path(__file__).resolve().parent.parent
CODE = ["mae_core", "ui", "app_pages", "app.py", "scripts", "deploy"]
NAME = re.compile(r"\bMAE_[A-Z][A-Z0-9_]*\b")


def _code_files():
    for entry in CODE:
        p = ROOT / entry
        yield from ([p] if p.is_file() else sorted(p.rglob("*.py")) + sorted(p.rglob("*.service")))


def test_every_mae_variable_the_code_names_is_declared():
    named = {m for f in _code_files() for m in NAME.findall(f.read_text())}
    assert named, "the scan found no MAE_* name: the test would pass vacuously"
    undeclared = sorted(named - set(settings.SETTINGS))
    assert not undeclared, f"declare these in mae_core/settings.py: {undeclared}"


def test_values_are_read_at_call_time_and_bad_values_fall_back(monkeypatch):
    monkeypatch.setenv("MAE_MAX_CONCURRENT", "5")
    assert settings.get("MAE_MAX_CONCURRENT") == 5
    monkeypatch.setenv("MAE_MAX_CONCURRENT", "many")
    assert settings.get("MAE_MAX_CONCURRENT") == 2
    monkeypatch.setenv("MAE_ALLOW_LOCAL_PATHS", "no")
    assert settings.get("MAE_ALLOW_LOCAL_PATHS") is False
    monkeypatch.delenv("MAE_ALLOW_DOWNLOADS", raising=False)
    from mae_core.fetch.limits import downloads_allowed

    assert downloads_allowed() is False  # unset follows the hosted profile
    monkeypatch.setenv("MAE_ALLOW_DOWNLOADS", "1")
    assert downloads_allowed() is True
    monkeypatch.setenv("MAE_MODEL_LIBRARY", "")
    assert settings.get("MAE_MODEL_LIBRARY") == []


def test_the_family_folder_follows_the_environment_at_call_time(monkeypatch, tmp_path):
    from mae_core import assets

    monkeypatch.delenv("MAE_CHECKPOINT_DIR", raising=False)
    assert assets.family_dir() == assets.SHIPPED_DIR
    monkeypatch.setenv("MAE_CHECKPOINT_DIR", str(tmp_path))
    assert assets.default_checkpoint() == tmp_path / f"{assets.DEFAULT_NAME}.safetensors"
    assert assets.family() == {}
    (tmp_path / "p16-m1.safetensors").write_bytes(b"x")
    assert list(assets.family()) == ["p16-m1"]


def test_the_docs_table_is_the_generated_one():
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    holders = [p for p in docs if "| `MAE_MAX_CONCURRENT` |" in p.read_text()]
    assert len(holders) == 1, f"one settings table expected in the docs, found it in {holders}"
    text = holders[0].read_text()
    assert settings.table_markdown() in text, (
        f"{holders[0].relative_to(ROOT)}: the settings table differs from `python -m mae_core settings --markdown`")


def test_settings_command_lists_every_variable(capsys):
    from mae_core.cli import main

    assert main(["settings"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in settings.SETTINGS)
