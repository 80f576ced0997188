"""One colour meaning per quantity and one colour per checkpoint (mae_core.colours), which Streamlit's theme cannot
alter: no figure the app draws sets a colour that Streamlit's frontend rewrites (#000001 ... #000040), the PNG
renderers colour a value as the charts do, and a checkpoint has the same colour on the Lesson, the Attention page
and the Ablation curves."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from mae_core import colours

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")

pytestmark = pytest.mark.usefixtures("family_env")


def _rgb(css: str) -> tuple:
    return tuple(int(x) for x in re.findall(r"\d+", css)[:3])


def _lightness(rgb) -> float:
    r, g, b = rgb
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def test_no_colour_of_the_module_is_a_streamlit_placeholder():
    every = [c for q in colours.SCALES for _, c in colours.colorscale(q)]
    every += list(colours.FAMILY.values()) + list(colours.EXTRA) + list(colours.BASELINE_GREYS) + list(colours.SERIES)
    every += [colours.MIXED_LINE, colours.RELEASED, colours.REFERENCE, colours.KEPT, colours.DROPPED, colours.OUTLINE,
              colours.ENCODER, colours.DECODER, colours.TOTAL]
    assert all(c.startswith("rgb(") for c in every)
    assert colours.placeholders(json.dumps({"data": [{"colorscale": colours.colorscale(colours.ERROR)}]})) == []
    assert colours.placeholders('{"data": [{"marker": {"color": "#000004"}}]}') == ["#000004"]


def test_error_scale_is_dark_for_low_and_bright_for_high_in_charts_and_pngs():
    from ui import render

    lut = colours.lut(colours.ERROR)
    light = np.array([_lightness(c) for c in lut])
    assert np.all(np.diff(light) > -1.0) and light[0] < 10 and light[-1] > 230  # lightness rises with the error
    assert _rgb(colours.colorscale(colours.ERROR)[0][1]) == tuple(lut[0])
    png = np.asarray(render.colorize(np.array([[0.0, 1.0]]), quantity=colours.ERROR))
    assert tuple(png[0, 0]) == tuple(lut[0]) and tuple(png[0, -1]) == tuple(lut[-1])


def test_a_checkpoint_has_one_colour_whatever_is_drawn_beside_it():
    assert colours.checkpoints(["p8-m2", "p16-m1"]) == [colours.checkpoint("p8-m2"), colours.checkpoint("p16-m1")]
    assert colours.checkpoints(["p4-m4"])[0] == colours.FAMILY["p4-m4"]
    assert colours.checkpoint("my_upload") == colours.checkpoint("my_upload")
    a, b = colours.checkpoints(["p8-m2", "p8-m2"])
    assert a != b  # the same checkpoint drawn twice still gives two series apart


def _open(page, query=None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=240)
    at.query_params.update({k: str(v) for k, v in (query or {}).items()})
    at.switch_page(page)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _specs(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def _checkpoint_colours(specs) -> dict:
    """checkpoint name -> set of colours its series are drawn in (traces named after one family member)."""
    out: dict = {}
    for spec in specs:
        for t in spec["data"]:
            name = t.get("name") or ""
            m = re.match(r"^(p\d+-m\d+)\b(?!.*\u2192)", name)
            colour = (t.get("line") or {}).get("color") or (t.get("marker") or {}).get("color")
            if m and isinstance(colour, str):
                out.setdefault(m.group(1), set()).add(colour)
    return out


PAGES = [("app_pages/lesson.py", {"step": s}) for s in (2, 3, 6, 7, 8)] + [
    ("app_pages/reconstruction.py", {}), ("app_pages/sequence_grid.py", {"gshow": "error"}),
    ("app_pages/attention.py", {}), ("app_pages/ablations.py", {"measured": "true"})]


@pytest.mark.parametrize("page, query", PAGES)
def test_no_chart_sets_a_colour_the_streamlit_theme_rewrites(page, query):
    at = _open(page, query)
    specs = [c.proto.spec for c in at.get("plotly_chart")]
    assert specs
    for s in specs:
        assert not colours.placeholders(s), (page, query, colours.placeholders(s)[:5])


def test_model_colours_are_the_same_in_lesson_steps_7_and_8_and_on_the_ablation_page():
    seen = {}
    for page, q in (("app_pages/lesson.py", {"step": 7}), ("app_pages/lesson.py", {"step": 8}),
                    ("app_pages/ablations.py", {"measured": "true"})):
        for name, cs in _checkpoint_colours(_specs(_open(page, q))).items():
            assert cs == {colours.checkpoint(name)}, (page, q, name, cs)
            seen.setdefault(name, set()).add((page, q.get("step")))
    assert {"p16-m1", "p8-m2"} <= set(seen) and all(len(v) >= 2 for k, v in seen.items() if k in ("p16-m1", "p8-m2"))
