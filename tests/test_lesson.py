"""The Lesson page: every step renders its text, its live view and a link; each link opens its page in exactly
that state (fresh session, and inside a session that had other values); the default views need no model; and the
precomputed data equals what scripts/lesson_data.py produces from the checkpoints on disk."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from conftest import open_page

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
LESSON = "app_pages/lesson.py"
TIMEOUT = 240

_spec = importlib.util.spec_from_file_location("lesson_data", ROOT / "scripts" / "lesson_data.py")
lesson_data = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lesson_data)


pytestmark = pytest.mark.usefixtures("family_env")  # the pages run on the tiny random family; the lesson's precomputed figures are the shipped family's


def ok(at):
    assert not [e.value for e in at.exception], [e.value for e in at.exception]
    assert not [e.value for e in at.error], [e.value for e in at.error]


def links(at) -> list[tuple[str, dict]]:
    """(target page file, query parameters) of every st.page_link on the page."""
    out = []
    for pl in at.page_link:
        page = pl.proto.page
        q = {k: v[0] for k, v in parse_qs(pl.proto.query_string, keep_blank_values=True).items()}
        out.append((f"app_pages/{page or 'home'}.py", q))
    return out


def charts(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def chart_titles(at) -> list[str]:
    return [((c.get("layout", {}).get("title") or {}).get("text") or "") for c in charts(at)]


def images(at) -> list[str]:
    return [im.caption for el in at.get("image") for im in el.proto.imgs]


def plotly_array(v) -> np.ndarray:
    """A plotly array from a chart's JSON (a list, or plotly's base64 typed array with its shape)."""
    if isinstance(v, dict) and "bdata" in v:
        import base64

        a = np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
        shape = v.get("shape")
        return a.reshape([int(x) for x in str(shape).split(",")]) if shape else a
    return np.asarray(v, dtype=float)


def check_view(step: int, at: AppTest) -> None:
    """Each step's live view is there and shows what it is about."""
    if step == 1:
        assert any("p = 8" in c for c in images(at))
        assert {m.label: m.value for m in at.metric}["Sequence length L = (128/p)²"] == "256"
    elif step == 2:
        spec = charts(at)[0]
        Ls = [t for t in spec["data"] if t["name"].startswith("L =")][0]
        assert list(Ls["y"]) == [64, 256, 1024]
        le = [t for t in spec["data"] if t["name"].startswith("Le")][0]
        assert list(le["y"]) == [16, 64, 256]  # r = 0.75
    elif step == 3:
        titles = chart_titles(at)
        assert any(t.startswith("1. noise") for t in titles) and any("ids_restore" in t for t in titles)
        assert any("ids_shuffle" in t for t in titles)
        noise = next(c for c in charts(at) if c["layout"]["title"]["text"].startswith("1. noise"))
        z = plotly_array(noise["data"][0]["z"])
        outlined = {(round((sh["y0"] + sh["y1"]) / 2), round((sh["x0"] + sh["x1"]) / 2))
                    for sh in noise["layout"]["shapes"]}
        smallest = set(map(tuple, np.argwhere(z <= np.sort(z.reshape(-1))[len(outlined) - 1])))
        assert len(outlined) == 16 and outlined == smallest  # red: the len_keep smallest noise values, kept
        assert any("what the encoder sees" in c for c in images(at))
    elif step == 4:
        caps = images(at)
        assert len(caps) == 3 and caps[0].startswith("p16-m1") and caps[2].startswith("p8-m2")
    elif step == 5:
        caps = images(at)
        assert sum("masked MSE" in c for c in caps) == 3 and any("same 16-px mask" in c for c in caps)
    elif step == 6:
        assert any("not from Hu et al." in t for t in chart_titles(at))
        text = " ".join(m.value for m in at.markdown)
        assert "increases first from 8 to 16" in text  # Kong's text, quoted beside its chart
    elif step == 7:
        titles = chart_titles(at)
        assert any(t.startswith("MAD / uniform attention") for t in titles)
        assert any(t.startswith("Effective receptive field") for t in titles)
        mad = next(c for c in charts(at) if c["layout"]["title"]["text"].startswith("MAD"))
        assert any(t["name"].startswith("uniform attention") for t in mad["data"])
    elif step == 8:
        assert len(links(at)) == 3 and charts(at)


STEP_TARGETS = {1: "app_pages/home.py", 2: "app_pages/home.py", 3: "app_pages/reconstruction.py",
                4: "app_pages/sequence_grid.py", 5: "app_pages/sequence_grid.py", 6: "app_pages/ablations.py",
                7: "app_pages/attention.py", 8: "app_pages/reconstruction.py"}


def check_target(target: str, query: dict) -> AppTest:
    """Open the linked page in a fresh session: every linked value is in use (the page publishes what its controls
    hold, so a value it did not take would show up changed in the URL, with a notice)."""
    at = open_page(target, query)
    ok(at)
    assert not any("could not be used" in w.value for w in at.warning), [w.value for w in at.warning]
    for k, v in query.items():
        if k == "link":
            continue
        assert at.query_params.get(k) == v, (target, k, at.query_params.get(k), v)
    assert "link" not in at.query_params
    return at


@pytest.mark.parametrize("step", range(1, 9))
def test_every_step_shows_its_view_and_a_link_that_opens_the_page_in_that_state(step):
    at = open_page(LESSON, {"step": step})
    ok(at)
    assert [t.value for t in at.title] == ["Lesson: long sequences and mask units"]
    assert any(h.value.startswith(f"{step}. ") for h in at.header)
    assert at.query_params["step"] == str(step)
    check_view(step, at)
    found = links(at)
    assert found and found[0][0] == STEP_TARGETS[step]
    for target, query in found:
        assert query.get("link") == "1"
        check_target(target, query)


def test_step_links_follow_the_lessons_own_controls():
    at = open_page(LESSON, {"step": 3, "lseed": 11})
    ok(at)
    (target, q), = links(at)
    assert q["seed"] == "11" and q["ckpt"] == "p16-m1" and q["m"] == "1"
    rec = check_target(target, q)
    assert rec.number_input(key="seed").value == 11 and rec.selectbox(key="ckpt").value == "p16-m1"
    at = open_page(LESSON, {"step": 5, "limg": "china", "lseed": 4})
    ok(at)
    (target, q), = links(at)
    assert (q["img"], q["seed"], q["grows"], q["gpx"]) == ("china", "4", "p16-m1,p8-m1,p8-m2", "16")
    grid = check_target(target, q)
    assert grid.multiselect(key="grows").value == ["p16-m1", "p8-m1", "p8-m2"]
    assert sum("MSE" in c.value for c in grid.caption) == 3  # one 16-px column, three trained models


def test_a_link_wins_over_the_values_a_session_already_has():
    """Following a lesson link inside a session that set other values opens exactly the linked state."""
    at = open_page("app_pages/reconstruction.py", {"ckpt": "p8-m1", "p": 8, "seed": 9, "img": "china"})
    ok(at)
    at.selectbox(key="keep").set_value("exact").run()
    at.query_params.clear()
    open_page(LESSON, {"step": 3}, at=at)
    ok(at)
    (target, q), = links(at)
    at.query_params.clear()
    open_page(target, q, at=at)
    ok(at)
    assert at.selectbox(key="ckpt").value == "p16-m1" and at.selectbox(key="p").value == int(q["p"])
    assert at.number_input(key="seed").value == int(q["seed"]) and at.selectbox(key="img").value == q["img"]
    assert at.selectbox(key="keep").value == "blocks"
    assert "link" not in at.query_params
    # afterwards the session's own changes win again (the link applies once)
    at.number_input(key="seed").set_value(5).run()
    assert at.number_input(key="seed").value == 5 and at.query_params["seed"] == "5"


def test_next_and_back_buttons_walk_the_steps():
    at = open_page(LESSON)
    ok(at)
    assert at.query_params["step"] == "1"
    at.button(key="lesson_next").click().run()
    assert at.query_params["step"] == "2" and any(h.value.startswith("2. ") for h in at.header)
    at.button(key="lesson_back").click().run()
    assert at.query_params["step"] == "1"


def test_changed_settings_are_computed_live():
    at = open_page(LESSON, {"step": 5, "lseed": 7})
    ok(at)
    caps = [c for c in images(at) if "masked MSE" in c]
    assert len(caps) == 3 and "seed 7" in " ".join(images(at))
    at = open_page(LESSON, {"step": 4, "lseed": 7})
    ok(at)


FIRST_PAINT = r"""
import os, sys
os.environ["MAE_CHECKPOINT_DIR"] = sys.argv[1]
from streamlit.testing.v1 import AppTest
for step in (1, 2, 3, 4, 5, 6, 7):
    at = AppTest.from_file(sys.argv[2], default_timeout=120)
    at.query_params["step"] = str(step)
    at.switch_page("app_pages/lesson.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert "torch" not in sys.modules, f"step {step} imported torch"
print("no model needed")
"""


@pytest.mark.skipif(not (ROOT / "assets" / "lesson" / "lesson_data.npz").is_file(), reason="no lesson data")
def test_the_default_views_need_no_model(family_env):
    """First paint instant: with the default settings no step imports torch (precomputed data only)."""
    folder = str(Path(next(iter(family_env.values()))).parent)
    r = subprocess.run([sys.executable, "-c", FIRST_PAINT, folder, APP], cwd=ROOT, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0 and "no model needed" in r.stdout, r.stderr[-2000:]


# ------------------------------------------------------------------ the precomputed data
def _shipped():
    d = ROOT / "assets" / "checkpoints"
    names = ("p16-m1", "p8-m1", "p8-m2", "p4-m4")
    return d if all((d / f"{n}.safetensors").is_file() for n in names) else None


@pytest.mark.skipif(_shipped() is None, reason="the shipped checkpoints are not in assets/checkpoints/")
def test_precomputed_data_is_what_the_script_produces_from_the_checkpoints_on_disk():
    """A retrain (same names, new weights) fails this until `python scripts/lesson_data.py` is run again."""
    stored = lesson_data.load()
    meta = json.loads(str(stored["meta"]))
    for name, rec in meta["checkpoints"].items():  # cheap and exact: the weights the data came from
        assert rec["sha256"] == lesson_data.sha256(_shipped() / f"{name}.safetensors"), \
            f"{name} changed since the lesson data was made: run {lesson_data.COMMAND}"
    fresh = lesson_data.build(_shipped(), progress=False)
    assert set(fresh) == set(stored)
    assert json.loads(str(fresh["meta"])) == meta
    for k in fresh:
        if k == "meta":
            continue
        a, b = fresh[k], stored[k]
        assert a.shape == b.shape and a.dtype == b.dtype, k
        if a.dtype == np.uint8:  # images: rounding of a float may differ by one level across CPUs
            assert np.abs(a.astype(int) - b.astype(int)).max() <= 1, k
        elif k.endswith("radius") or k.endswith("radius_std"):  # radii are pixel distances: a boundary may move
            np.testing.assert_allclose(a, b, atol=1.5, err_msg=k)
        else:
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-7, err_msg=k)


def test_the_data_reader_and_the_script_agree_on_keys():
    if not lesson_data.OUT.is_file():
        pytest.skip("no lesson data")
    from ui import lesson

    d = lesson.data()
    assert d is not None and d["meta"]["command"] == lesson_data.COMMAND == lesson.COMMAND
    for name, m in lesson_data.SETTINGS["steps"]:
        assert lesson.steps_from(d, name, m) is not None
    for n in lesson_data.SETTINGS["recon"]:
        assert d[f"recon/{n}/pasted"].shape == (128, 128, 3)


@pytest.mark.parametrize("step", range(1, (ROOT / LESSON).read_text(encoding="utf-8").count("\n    Step(") + 1))
def test_presentation_mode_shows_the_same_step_with_a_one_line_header(step):
    at = open_page(LESSON, {"step": step, "present": "true"})
    ok(at)
    assert not at.title and not at.header  # the title, citation and big step header give way to one line
    assert any(m.value.startswith(f"### {step}. ") for m in at.markdown)
    assert at.query_params["present"] == "true" and at.toggle(key="present").value
    check_view(step, at)
