"""The measured sweep on tiny random checkpoints: rows in the ablation schema, values equal to direct calls."""
import math

import pytest
import torch

from mae_core import ablations as ab
from mae_core import sweep
from mae_core.assets import DEMO_IMAGES
from mae_core.attention import analyze
from mae_core.checkpoints import file_sha256, load_checkpoint, save_checkpoint
from mae_core.cli import main
from mae_core.cost import estimate_flops
from mae_core.images import load_image
from mae_core.model import MAEConfig, build_model
from mae_core.reconstruct import reconstruct

TINY = dict(embed_dim=32, depth=2, num_heads=2, decoder_embed_dim=32, decoder_depth=1, decoder_num_heads=2)


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory):
    """p16-m1 (L=4) and p8-m2 (L=16) at I=32: both mask 16-px cells, as the embedded family does at I=128."""
    d = tmp_path_factory.mktemp("ckpt")
    out = {}
    for name, p, mu in (("p16-m1", 16, 1), ("p8-m2", 8, 2)):
        torch.manual_seed(0)
        model = build_model(MAEConfig(img_size=32, patch_size=p, **TINY))
        out[name] = save_checkpoint(model, d / f"tiny-{name}.safetensors",
                                    training={"mask_unit": mu, "steps": 0, "note": "random weights, tests only"})
    return out


@pytest.fixture(scope="module")
def run(ckpts):
    notes = []
    rows = sweep.run_sweep(list(ckpts.items()), images=["flower"], seeds=(0, 1), mask_units=(1, 2),
                           image_sizes=(48,), device="cpu", latency_repeats=0, progress=False, notes=notes)
    return rows, notes


def pick(rows, **kw):
    return [r for r in rows if all(r.get(k) == v for k, v in kw.items())]


def test_rows_load_back_through_the_schema_as_measured(run, ckpts, tmp_path):
    rows, _ = run
    out = sweep.write_rows(rows, tmp_path / "measured.csv")
    back = ab.load_ablation_file(out)
    assert len(back) == len(rows) > 0
    assert {r["status"] for r in back} == {"MEASURED"} and {r["study"] for r in back} == {ab.MEASURED_STUDY}
    assert {r["table"] for r in back} == {sweep.T_L, sweep.T_UNIT, sweep.T_MAD, sweep.T_COST}
    for name, path in ckpts.items():
        own = pick(back, checkpoint=name)
        assert own and {r["checkpoint_sha256"] for r in own} == {file_sha256(path)[:12]}
    assert all(r["device"] and r["code_revision"] for r in back)
    assert {r["seed"] for r in pick(back, table=sweep.T_UNIT)} == {0, 1}
    assert {r["model"] for r in pick(back, table=sweep.T_UNIT)} == {"p16-m1", "p8-m2", "mean-fill", "gaussian-fill"}


def test_reconstruction_rows_equal_direct_calls(run, ckpts):
    rows, _ = run
    img = load_image(DEMO_IMAGES["flower"])
    model, _ = load_checkpoint(ckpts["p8-m2"])
    for mu in (1, 2):
        for seed in (0, 1):
            res = reconstruct(model, img, mask_unit=mu, mask_ratio=0.75, seed=seed)
            got = pick(rows, table=sweep.T_UNIT, model="p8-m2", mask_unit=mu, seed=seed)
            by_metric = {r["metric"]: r["value"] for r in got}
            assert by_metric[sweep.MSE] == pytest.approx(res.masked_mse, rel=1e-6)
            assert by_metric[sweep.PSNR] == pytest.approx(10 * math.log10(1 / res.masked_mse), rel=1e-6)
            assert {r["Le"] for r in got} == {res.lengths.Le} and {r["L"] for r in got} == {16}
            base = pick(rows, table=sweep.T_UNIT, model="mean-fill", mask_unit=mu, seed=seed, L=16)
            assert len(base) == 1 and base[0]["value"] == pytest.approx(res.baselines["mean_fill"], rel=1e-6)


def test_length_at_fixed_mask_cell_pairs_p16_m1_with_p8_m2(run):
    rows, _ = run
    line = pick(rows, table=sweep.T_L, series="16-px mask cells", metric=sweep.MSE)
    assert {(r["model"], r["L"], r["mask_unit"]) for r in line} == {("p16-m1", 4, 1), ("p8-m2", 16, 2)}
    # both draw the same 16-px cells for a seed, so the mask-only baselines agree across L on that line
    for seed in (0, 1):
        base = pick(rows, table=sweep.T_L, series="mean-fill, 16-px mask cells", seed=seed)
        assert {r["L"] for r in base} == {4, 16}
        assert base[0]["value"] == pytest.approx(base[1]["value"], rel=1e-9)
    # the 48-px evaluations are other L values of the same checkpoints, kept as separate, labelled lines
    off = [r for r in pick(rows, table=sweep.T_L, image_size=48, metric=sweep.MSE) if r["checkpoint"]]
    assert {(r["model"], r["L"]) for r in off} == {("p16-m1", 9), ("p8-m2", 36)}
    assert all("resized input" in r["series"] and "not its training size" in r["note"] for r in off)
    base_lines = {r["series"] for r in pick(rows, table=sweep.T_L, image_size=48, model="mean-fill")}
    assert base_lines == {"mean-fill, 16-px mask cells, p=16 (resized input)", "mean-fill, 16-px mask cells, p=8 (resized input)"}


def test_mask_units_that_do_not_fit_are_skipped_and_reported(run):
    rows, notes = run
    assert not pick(rows, model="p16-m1", mask_unit=2, table=sweep.T_UNIT)  # 2x2 grid, 2x2 unit: nothing kept
    assert any("p16-m1" in n and "mask unit 2" in n and "skipped" in n for n in notes)


def test_attention_rows_equal_analyze(run, ckpts):
    rows, _ = run
    model, _ = load_checkpoint(ckpts["p16-m1"])
    res = analyze(model, load_image(DEMO_IMAGES["flower"]))
    got = pick(rows, table=sweep.T_MAD, model="p16-m1", metric=sweep.MAD_PX)
    assert sorted(r["layer"] for r in got) == [0, 1]
    for r in got:
        assert r["value"] == pytest.approx(float(res.mean_attention_distance[r["layer"]].mean()), rel=1e-5)
        assert r["setting_value"] == str(r["layer"])
    ratio = pick(rows, table=sweep.T_MAD, model="p16-m1", metric=sweep.MAD_RATIO)  # MAD / uniform attention's
    assert sorted(r["layer"] for r in ratio) == [0, 1]
    for r in ratio:
        assert r["value"] == pytest.approx(float(res.mad_ratio[r["layer"]].mean()), rel=1e-5)
        assert "uniform-attention MAD" in r["note"]


def test_cost_rows(run):
    rows, _ = run
    for name, p, L in (("p16-m1", 16, 4), ("p8-m2", 8, 16)):
        cost = {r["metric"]: r for r in pick(rows, table=sweep.T_COST, model=name, L=L)}
        le = int(cost[sweep.LE]["value"])
        assert le == cost[sweep.LE]["Le"] and 0 < le < L
        fl = estimate_flops(32, p, le, 32, 2, 32, 1)
        assert cost[sweep.GFLOPS]["value"] == pytest.approx(fl.total / 1e9)
        assert sweep.LATENCY not in cost  # latency_repeats=0: not timed (the CLI test times it)


def test_measured_rows_plot_beside_the_paper(run):
    rows, _ = run
    shipped = ab.load_all()
    published, measured = ab.split_measured(shipped + rows)
    assert all(r["status"] != "MEASURED" for r in published) and all(r["status"] == "MEASURED" for r in measured)
    assert len(published) + len(measured) == len(shipped) + len(rows) and len(measured) >= len(rows)
    fig = ab.figure_for("Long-Seq MAE", published, measured_rows=rows)
    measured = [t for t in fig.data if t.name.endswith("[MEASURED]")]
    assert measured and all(t.error_y.array is not None for t in measured)
    assert any(s.x0 == 784 for s in fig.layout.shapes)


def test_cli_quick_writes_a_loadable_file(ckpts, tmp_path, capsys):
    out = tmp_path / "q.csv"
    rc = main(["sweep", "--checkpoints", str(ckpts["p16-m1"]), str(ckpts["p8-m2"]), "--images", "china",
               "--device", "cpu", "--quick", "--no-attention", "--out", str(out)])
    assert rc == 0
    back = ab.load_ablation_file(out)
    assert {r["seed"] for r in back if r["seed"] is not None} == {0}
    assert {r["image"] for r in back if r["image"]} == {"china"}
    assert {r["mask_unit"] for r in pick(back, table=sweep.T_UNIT, model="tiny-p8-m2")} == {2}  # training unit
    lat = pick(back, table=sweep.T_COST, metric=sweep.LATENCY)
    assert {r["model"] for r in lat} == {"tiny-p16-m1", "tiny-p8-m2"} and all(r["value"] > 0 for r in lat)
    assert all("load average" in r["note"] for r in lat)
    assert "MEASURED rows" in capsys.readouterr().out


def test_cli_user_errors_are_one_line(tmp_path, capsys):
    assert main(["sweep", "--checkpoints", str(tmp_path / "missing.safetensors"), "--out",
                 str(tmp_path / "x.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no checkpoint at") and "\n" not in err
    assert main(["sweep", "--checkpoints", str(tmp_path), "--images", "nope.png", "--out",
                 str(tmp_path / "x.csv")]) == 2
    assert not (tmp_path / "x.csv").exists()
