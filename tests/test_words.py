"""What a newcomer reads: the result line and the baseline comparisons in words, one definition of a long sequence,
the same default seed in the app and the reconstruct command, and where to start on Home (AppTest, tiny family)."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from conftest import open_page

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
RECON = "app_pages/reconstruction.py"

pytestmark = pytest.mark.usefixtures("family_env")


def test_the_result_line_and_the_baseline_deltas_are_words():
    at = open_page(RECON)
    line = at.main.caption[0].value
    # the tiny p8-m2: 32 wide, 1 block, 2 heads, 8-px patches; decoder 32 wide, 1 block, 2 heads
    assert "encoder: ViT, 32 wide, 1 block, 2 heads, 8-px patches; decoder: 32 wide, 1 block, 2 heads" in line
    assert "whole mask units" in line and "keep=" not in line and not re.search(r"ViT-\d+d\d+b|dec\d+d\d+h", line)
    deltas = [str(m.proto.delta) for m in at.metric if m.label.endswith("fill MSE")]
    assert deltas and all(re.fullmatch(r"model (better|worse) by 0\.\d{4}|model about the same", d) for d in deltas), \
        deltas


def test_one_definition_of_a_long_sequence_apart_from_the_mask_unit():
    from mae_core.geometry import sequence_class

    assert sequence_class(128, 8) == sequence_class(128, 4) == "long"  # p8-m1 and p8-m2 alike, and p4-m4
    assert sequence_class(128, 16) == sequence_class(224, 16) == "standard" and sequence_class(224, 8) == "long"
    at = open_page("app_pages/checkpoints.py")
    rows = at.dataframe[0].value.set_index("checkpoint")
    assert rows.loc["p8-m1", "sequence"] == rows.loc["p8-m2", "sequence"] == "long"
    assert rows.loc["p16-m1", "sequence"] == "standard"
    assert list(rows["m"] if "m" in rows else rows["trained m"]) == [2, 1, 1]
    shown = " ".join(str(v) for v in rows.to_numpy().ravel())
    assert "pixel-target" not in shown and "long-seq" not in shown
    at = open_page("app_pages/checkpoints.py", {"ckpt": "p8-m1"})
    detail = " ".join(md.value for md in at.main.markdown)
    assert "**Sequence** :blue-badge[long: L=64" in detail and "**mask unit** :gray-badge[1×1" in detail


def test_the_reconstruct_command_and_the_app_draw_the_same_default_mask(family_env, tmp_path):
    from mae_core.masking import make_mask
    from mae_core.reconstruct import cli
    from ui import pickers

    out = tmp_path / "r.npz"
    assert cli(["--checkpoint", str(family_env["p8-m2"]), "--image", str(ROOT / "assets/images/flower.png"),
                "--out", str(out)]) == 0
    want = make_mask((8, 8), 2, 0.75, seed=pickers.DEFAULT_SEED).mask.numpy()
    assert np.array_equal(np.load(out)["mask"], want)


def test_home_says_where_to_start_and_shows_a_reconstruction_at_the_top():
    at = open_page()
    assert at.main.markdown[0].value.startswith("**Start here.**")
    assert any(c.value.startswith("The trained **p8-m2**") and "masked MSE 0." in c.value for c in at.main.caption)
    links = [pl.proto.page for pl in at.main.get("page_link")]
    assert any("lesson" in x for x in links) and any("reconstruction" in x for x in links)
