"""The precision control in the app: beside the checkpoint, mirrored in the URL, defaulting to MAE_PRECISION, and
recorded with every result the pages show (caption, notes, PNG captions)."""
from __future__ import annotations

from pathlib import Path

import pytest
from conftest import open_page

APP = str(Path(__file__).resolve().parent.parent / "app.py")
RECON, ATTN = "app_pages/reconstruction.py", "app_pages/attention.py"

pytestmark = pytest.mark.usefixtures("family_env")


def texts(at) -> str:
    return "\n".join([c.value for c in at.caption] + [m.value for m in at.markdown])


def test_default_is_auto_and_runs_fp32_on_a_cpu():
    at = open_page(RECON)
    assert not at.exception and not at.error
    assert at.selectbox(key="precision").value == "auto"
    assert at.query_params["precision"] == "auto"
    assert "precision=fp32" in texts(at)


def test_bf16_from_the_url_is_used_recorded_and_kept_in_the_url():
    at = open_page(RECON, {"precision": "bf16"})
    assert not at.exception and not at.error
    assert at.selectbox(key="precision").value == "bf16"
    shown = texts(at)
    assert "precision=bf16" in shown and "ran in bf16" in shown
    assert at.query_params["precision"] == "bf16"
    at.selectbox(key="precision").set_value("fp32").run()  # a new result (cache keyed on precision), not the old one
    assert "precision=fp32" in texts(at) and "ran in bf16" not in texts(at)
    assert at.query_params["precision"] == "fp32"


def test_server_default_comes_from_mae_precision(monkeypatch):
    monkeypatch.setenv("MAE_PRECISION", "bf16")
    at = open_page(RECON)
    assert at.selectbox(key="precision").value == "bf16" and "precision=bf16" in texts(at)


def test_bad_url_value_falls_back_with_a_notice():
    at = open_page(RECON, {"precision": "fp8"})
    assert not at.exception
    assert at.selectbox(key="precision").value == "auto"
    assert any("precision" in w.value for w in at.warning)


def test_attention_page_says_its_precision():
    at = open_page(ATTN, {"precision": "bf16"})
    assert not at.exception and not at.error, [e.value for e in at.exception]
    assert "· bf16 ·" in texts(at)


def test_a_bad_mae_precision_is_said_beside_the_control(monkeypatch):
    monkeypatch.setenv("MAE_PRECISION", "fp8")
    at = open_page(RECON)
    assert not at.exception
    assert at.selectbox(key="precision").value == "auto"
    assert any("MAE_PRECISION must be one of" in w.value for w in at.sidebar.warning)
