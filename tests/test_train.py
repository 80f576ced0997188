"""Training command: loss falls, the checkpoint round-trips through the CLI, an interrupted run resumes."""
import csv
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors import safe_open

from mae_core import train as train_mod

TINY_ARGS = ["--image-size", "32", "--patch-size", "8", "--mask-unit", "2", "--embed-dim", "32", "--depth", "1",
             "--num-heads", "2", "--decoder-embed-dim", "32", "--decoder-depth", "1", "--decoder-num-heads", "2",
             "--batch-size", "8", "--warmup-steps", "5", "--quiet", "--threads", "1"]


def read_losses(path):
    with open(path) as f:
        return [float(r["loss"]) for r in csv.DictReader(f)]


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "mae_core", *args], capture_output=True, text=True, timeout=300)


def test_train_loss_falls_and_checkpoint_roundtrips(tmp_path):
    out = tmp_path / "ck"
    train_mod.main(TINY_ARGS + ["--steps", "60", "--lr", "3e-3", "--out", str(out), "--name", "tiny"])
    ck = out / "tiny.safetensors"
    losses = read_losses(out / "tiny.loss.csv")
    assert len(losses) == 60
    assert np.mean(losses[-10:]) < 0.8 * np.mean(losses[:5]), losses
    with safe_open(str(ck), "pt") as f:
        meta = f.metadata()
    training = json.loads(meta["training"])
    assert training["mask_unit"] == 2 and training["steps"] == 60 and training["images_seen"] == 480
    assert "skimage/data/astronaut.png" in training["training_data"]
    assert not any("china" in d or "flower" in d for d in training["training_data"])  # held out
    assert not (out / "tiny.resume.pt").exists()  # cleaned up after a finished run

    info = run_cli("info", str(ck), "--json")
    assert info.returncode == 0, info.stderr
    d = json.loads(info.stdout)
    from mae_core.checkpoints import FORMAT_OURS

    # trained with 2x2 mask units: the long-seq recipe, on pixel targets
    assert d["format"] == FORMAT_OURS and d["kind"] == "long-seq" and d["target"] == "pixels"
    assert d["mask_unit"] == 2 and d["training"]["steps"] == 60
    npz = tmp_path / "r.npz"
    rec = run_cli("reconstruct", "--checkpoint", str(ck), "--image", "assets/images/china.png", "--out", str(npz))
    assert rec.returncode == 0, rec.stderr
    z = np.load(npz)
    assert z["original"].shape == (32, 32, 3) and z["mask"].shape == (4, 4)
    # the training mask unit (2) is the default: whole 2x2 cells
    assert set(np.unique(z["mask"].reshape(2, 2, 2, 2).sum((1, 3)))) <= {0.0, 4.0}


def test_interrupted_training_resumes(tmp_path, monkeypatch):
    out = tmp_path / "ck"
    args = TINY_ARGS + ["--steps", "12", "--ckpt-every", "5", "--out", str(out), "--name", "r"]
    # reference: an uninterrupted run
    train_mod.main(args[:-2] + ["--name", "ref"])
    ref = read_losses(out / "ref.loss.csv")

    calls = {"n": 0}
    real = train_mod.CropSampler.batch

    def flaky(self, n, step):
        calls["n"] += 1
        if calls["n"] == 8:
            raise KeyboardInterrupt("simulated interruption")
        return real(self, n, step=step)

    monkeypatch.setattr(train_mod.CropSampler, "batch", flaky)
    with pytest.raises(KeyboardInterrupt):
        train_mod.main(args)
    assert (out / "r.resume.pt").exists() and not (out / "r.safetensors").exists()
    monkeypatch.setattr(train_mod.CropSampler, "batch", real)
    train_mod.main(args)
    losses = read_losses(out / "r.loss.csv")
    assert len(losses) == 12  # steps 1-5 from the resumed state, 6-12 trained after the restart
    # each step's batch depends on the step alone, so the resumed run is the uninterrupted one, step for step
    np.testing.assert_allclose(losses, ref, rtol=1e-4)
    assert not (out / "r.resume.pt").exists()


def test_data_loading_workers_give_the_same_run(tmp_path):
    """--workers N makes the batches in N processes; the trained weights are those of the in-process run."""
    from safetensors.torch import load_file

    for w in (0, 2):
        train_mod.main(TINY_ARGS + ["--steps", "4", "--workers", str(w), "--out", str(tmp_path), "--name", f"w{w}"])
    a, b = load_file(str(tmp_path / "w0.safetensors")), load_file(str(tmp_path / "w2.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert read_losses(tmp_path / "w0.loss.csv") == read_losses(tmp_path / "w2.loss.csv")


def test_bad_training_config_is_refused(tmp_path):
    r = run_cli("train", "--image-size", "30", "--patch-size", "8", "--steps", "1", "--out", str(tmp_path))
    assert r.returncode == 2 and r.stderr.startswith("error:") and "Traceback" not in r.stderr


def test_torchrun_ddp_on_cpu(tmp_path):
    """The same command scales out: torchrun with 2 CPU processes (gloo) trains one model on both."""
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    r = subprocess.run(torchrun + ["-m", "mae_core.train", *TINY_ARGS, "--steps", "4", "--out", str(tmp_path),
                                   "--name", "ddp"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    with safe_open(str(tmp_path / "ddp.safetensors"), "pt") as f:
        training = json.loads(f.metadata()["training"])
    assert training["world_size"] == 2
    assert training["images_seen"] == 4 * 8 * 2  # steps x per-process batch x processes


def test_snapshots_keep_the_weights_along_the_run(tmp_path):
    """--snapshot-every keeps the weights every N steps, labelled with their step; the last one is the final model."""
    out = tmp_path / "ck"
    train_mod.main(TINY_ARGS + ["--steps", "9", "--snapshot-every", "3", "--out", str(out), "--name", "s"])
    snaps = sorted(train_mod.snapshot_dir(out, "s").glob("*.safetensors"))
    assert [p.name for p in snaps] == ["step000003.safetensors", "step000006.safetensors", "step000009.safetensors"]
    metas = []
    for p in snaps:
        with safe_open(str(p), "pt") as f:
            metas.append(json.loads(f.metadata()["training"]))
    assert [m["steps"] for m in metas] == [3, 6, 9] and [m["images_seen"] for m in metas] == [24, 48, 72]
    assert all(m["schedule_steps"] == 9 for m in metas)
    with safe_open(str(snaps[-1]), "pt") as a, safe_open(str(out / "s.safetensors"), "pt") as b:
        assert all(a.get_tensor(k).equal(b.get_tensor(k)) for k in b.keys())
    with safe_open(str(snaps[0]), "pt") as a, safe_open(str(out / "s.safetensors"), "pt") as b:
        assert not all(a.get_tensor(k).equal(b.get_tensor(k)) for k in b.keys())  # the weights moved
