"""The Representations page (AppTest, tiny random family): the CKA heatmap of the default pair, the stored probe
results with the sanity-probe label, the published evidence labelled not from Hu et al., and the local-folder probe
(only where local paths are allowed), with one-line errors for bad folders."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
PAGE = "app_pages/representations.py"
pytestmark = pytest.mark.usefixtures("family_env")


@pytest.fixture(autouse=True)
def feature_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("MAE_FEATURE_DIR", str(tmp_path_factory.getbasetemp() / "features"))


def open_page(query=None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=240)
    if query:
        at.query_params.update(query)
    at.switch_page(PAGE)
    return at.run()


def charts(at):
    return [c for c in at.get("plotly_chart")]


def test_page_shows_the_default_pair_heatmap_probes_and_published_evidence():
    import json

    at = open_page()
    assert not at.exception and not at.error, ([e.value for e in at.exception], [e.value for e in at.error])
    assert at.subheader[0].value == "Layer similarity: p16-m1 against p8-m2"
    figs = [json.loads(c.proto.spec) for c in charts(at)]
    heat = figs[0]["data"][0]
    assert heat["type"] == "heatmap" and heat["zmin"] == 0 and heat["zmax"] == 1
    z = np.array(heat["z"], dtype=float)
    assert z.shape == (2, 2) and np.isfinite(z).all()  # the tiny family: depth 1 -> layers 0 and 1
    text = " ".join(m.value for m in at.markdown) + " ".join(c.value for c in at.caption)
    assert "not from Hu et al." in text
    if (ROOT / "assets" / "ablations" / "measured_representations.csv").is_file():
        assert at.selectbox(key="probe_set").value.startswith("gcompris")  # natural photographs first
        assert any("natural photographs" in c.value and "Fewer than 300" in c.value for c in at.caption)
        # the three probes side by side at the last layer, the attentive one from the stored rows
        assert any(m.value.startswith("**Three probes at the last layer, gcompris") for m in at.markdown)
        table = next(d.value for d in at.dataframe if "attentive %" in d.value.columns)
        assert list(table.columns) == ["checkpoint", "L", "m", "k-NN %", "linear %", "attentive %"]
        assert set(table["checkpoint"]) == {"p16-m1", "p8-m1", "p8-m2", "p4-m4"}
        at.selectbox(key="probe_set").set_value("digits300 (sanity probe)").run()
        assert any("sanity probe" in c.value and "not evidence" in c.value for c in at.caption)
        figs = [json.loads(c.proto.spec) for c in charts(at)]
        names = {t.get("name") for f in figs for t in f["data"] if t.get("name")}
        assert {"p16-m1", "p8-m2"} <= names
        line = next(t for f in figs for t in f["data"] if t.get("name") == "p8-m2")
        from mae_core import colours

    assert line["line"]["color"] == colours.checkpoint("p8-m2")  # p8-m2's colour on every page


def test_same_checkpoint_on_both_sides_says_the_diagonal_is_one():
    at = open_page({"cka_a": "p8-m2", "cka_b": "p8-m2"})
    assert not at.exception
    assert any("diagonal is 1 by definition" in i.value for i in at.info)


def _folder(root: Path, per_class=(3, 3)) -> Path:
    for c, n in enumerate(per_class):
        d = root / f"class{c}"
        d.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            arr = np.random.default_rng(10 * c + i).integers(0, 255, (32, 32, 3), dtype=np.uint8)
            Image.fromarray(arr).save(d / f"{i}.png")
    return root


def test_local_folder_probes_run_and_bad_folders_get_one_line(tmp_path):
    at = open_page()
    before = len(charts(at))

    def run_on(folder):
        at.text_input(key="rep_folder").input(str(folder)).run()
        at.button(key="rep_run").click().run()

    run_on(tmp_path / "nowhere")
    assert [e.value for e in at.error] == [f"no folder at {tmp_path / 'nowhere'}"]
    run_on(_folder(tmp_path / "one", per_class=(3, 1)))
    assert [e.value for e in at.error] == ["class 'class1' has 1 image: each class needs at least 2"]
    at.multiselect(key="rep_ckpts").set_value(["p8-m2"])
    run_on(_folder(tmp_path / "good", per_class=(4, 4)))
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert len(charts(at)) == before + 2  # k-NN and linear per layer for the folder


def test_hosted_profile_has_no_local_folder_input(monkeypatch):
    monkeypatch.setenv("MAE_ALLOW_LOCAL_PATHS", "0")
    at = open_page()
    assert not at.exception
    assert not [t for t in at.text_input if t.key == "rep_folder"]
