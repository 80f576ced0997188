"""Painting a mask (ui.paint) and the Reconstruction page's painted-mask states, with AppTest on the tiny family."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
RECON = "app_pages/reconstruction.py"

pytestmark = pytest.mark.usefixtures("family_env")


def test_a_click_toggles_one_mask_unit_and_a_drag_sets_every_unit_it_touches():
    from ui.paint import apply_selection

    mask = np.zeros((4, 4), np.float32)
    once = apply_selection(mask, [(1, 0)], mask_unit=2, toggle=True)
    assert once[:2, :2].all() and once.sum() == 4  # the whole 2x2 unit of patch (1, 0)
    assert not apply_selection(once, [(0, 1)], mask_unit=2, toggle=True).any()  # clicked again: visible again
    box = apply_selection(once, [(0, 0), (3, 3)], mask_unit=2, toggle=False, mode="removed")
    assert box[:2, :2].all() and box[2:, 2:].all() and not box[:2, 2:].any()
    assert not apply_selection(box, [(0, 0), (2, 2)], mask_unit=2, toggle=False, mode="visible").any()


def _everything_shown(at) -> str:
    parts = [m.label + " " + str(m.value) + " " + str(m.proto.delta) for m in at.metric]
    for kind in ("markdown", "caption", "info", "warning", "error", "subheader"):
        parts += [str(e.value) for e in getattr(at, kind)]
    return " ".join(parts)


def test_reveal_all_says_nothing_is_masked_instead_of_nan():
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params.update({"mask_src": "custom"})
    at.switch_page(RECON)
    at.run()
    assert "masked MSE" in [m.label for m in at.metric]
    at.button(key="paint_clear").click().run()
    assert not at.exception and not at.error
    shown = _everything_shown(at)
    assert "nan" not in shown.lower().replace("nanobind", ""), shown
    assert any("Nothing is masked: no masked error to score" in i.value for i in at.info)
    assert "masked MSE" not in [m.label for m in at.metric]
    at.button(key="paint_reset").click().run()  # back to a scored mask
    assert "masked MSE" in [m.label for m in at.metric] and not at.error
