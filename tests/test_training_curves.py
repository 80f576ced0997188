"""Quality against training: a run's snapshots scored on the held-out images, against steps and compute."""
import csv
import subprocess
import sys

import pytest

from mae_core import ablations as ab
from mae_core import train as train_mod
from mae_core import training_curves as tc
from mae_core.checkpoints import load_checkpoint
from mae_core.errors import ConfigError
from mae_core.reconstruct import held_out_quality

ARGS = ["--image-size", "32", "--patch-size", "8", "--mask-unit", "2", "--embed-dim", "32", "--depth", "1",
        "--num-heads", "2", "--decoder-embed-dim", "32", "--decoder-depth", "1", "--decoder-num-heads", "2",
        "--batch-size", "4", "--warmup-steps", "2", "--quiet", "--threads", "1"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    train_mod.main(ARGS + ["--steps", "4", "--snapshot-every", "2", "--out", str(out), "--name", "tiny"])
    return out


def test_rows_score_every_snapshot_against_steps_and_compute(run, tmp_path):
    r = subprocess.run([sys.executable, "-m", "mae_core", "curves", f"tiny={run / 'tiny.snapshots'}", "--seeds", "2",
                        "--mad-images", "demo", "--out", str(tmp_path / "c.csv")], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    rows = ab.load_ablation_file(tmp_path / "c.csv")
    steps = [x for x in rows if x["table"] == tc.T_STEPS]
    assert sorted({x["setting_value"] for x in steps}, key=int) == ["2", "4"]
    assert {x["metric"] for x in steps} == {tc.MSE, tc.VS_MEAN, tc.VS_GAUSS, tc.LOCAL_HEAD}
    assert all(x["status"] == "MEASURED" and x["model"] == "tiny" and x["mask_unit"] == 2 for x in rows)
    # the numbers are what the library measures on that snapshot
    model, info = load_checkpoint(run / "tiny.snapshots" / "step000004.safetensors")
    q = held_out_quality(model, 2, seeds=2)
    got = {x["metric"]: x["value"] for x in steps if x["setting_value"] == "4"}
    assert got[tc.MSE] == pytest.approx(q["model"], rel=1e-6)
    assert got[tc.VS_MEAN] == pytest.approx(q["model"] / q["mean_fill"], rel=1e-6)
    assert got[tc.VS_GAUSS] == pytest.approx(q["model"] / q["gaussian_fill"], rel=1e-6)
    # compute grows with the images seen: 3 x forward FLOPs per image
    comp = sorted(float(x["setting_value"]) for x in rows if x["table"] == tc.T_COMPUTE and x["metric"] == tc.MSE)
    assert comp[1] == pytest.approx(2 * comp[0], rel=1e-3)
    assert comp[1] == pytest.approx(tc.training_tflop(model.cfg, 2, 16), rel=1e-3)
    assert "tiny @     4 steps" in r.stdout


def test_most_local_head_is_measured_against_the_uniform_level(run):
    """A ratio of 1 is attention spread evenly; forcing uniform first-layer attention gives exactly that."""
    import torch

    model, _ = load_checkpoint(run / "tiny.snapshots" / "step000002.safetensors")
    attn = model.blocks[0].attn
    with torch.no_grad():  # q = k = 0: every query attends uniformly to every key
        attn.qkv.weight[: 2 * attn.qkv.weight.shape[1]].zero_()
        attn.qkv.bias[: 2 * attn.qkv.weight.shape[1]].zero_()
    from mae_core.assets import DEMO_IMAGES

    ratio, head = tc.most_local_head(model, list(DEMO_IMAGES.values()))
    assert ratio == pytest.approx(1.0, abs=1e-4) and 0 <= head < 2


def test_missing_snapshots_are_one_clear_line(tmp_path):
    with pytest.raises(ConfigError, match="--snapshot-every"):
        tc.snapshots(tmp_path / "nothing.safetensors")
    (tmp_path / "x.snapshots").mkdir()
    with pytest.raises(ConfigError, match="no step"):
        tc.snapshots(tmp_path / "x.snapshots")


def test_shipped_training_curves_load_when_present():
    from mae_core.assets import ABLATION_DIR

    path = ABLATION_DIR / "training_curves.csv"
    if not path.is_file():
        pytest.skip("no training curves shipped yet")
    rows = ab.load_ablation_file(path)
    with open(path) as f:
        assert len(rows) == sum(1 for _ in csv.DictReader(f))
    assert {r["table"] for r in rows} == {tc.T_STEPS, tc.T_COMPUTE}
