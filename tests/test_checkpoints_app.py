"""The Checkpoints page (AppTest, tiny random family): what it says about a checkpoint it was given."""
from __future__ import annotations

import pytest
from conftest import open_page, tiny_ckpt

pytestmark = pytest.mark.usefixtures("family_env")


def main_errors(at) -> list[str]:
    return [e.value for e in at.main.error]


def test_checkpoints_page_shows_the_probe_evidence_beside_its_verdict(tmp_path):
    path = tiny_ckpt(tmp_path / "probe2", "unrecorded", recorded_target=False, seed=1)
    at = open_page("app_pages/checkpoints.py", {"ckpt_src": "path", "ckpt_path": str(path)})
    assert not at.exception and not main_errors(at), main_errors(at)
    beside = [m.value for m in at.main.markdown if "probe" in m.value and "0.25" in m.value]  # not only a note
    assert beside, [m.value for m in at.main.markdown]
    assert "0.4" in beside[0] and "MSE to pixels" in beside[0] and "target" in beside[0].lower(), beside[0]
