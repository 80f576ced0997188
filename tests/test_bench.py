"""The benchmark runs end to end on tiny models and both sides compute the same things (figures are printed by
``python -m mae_core bench``, never asserted as speed)."""
import json

import pytest

pytest.importorskip("transformers")

from mae_core import bench  # noqa: E402
from mae_core.bench import QUICK_ROWS, cli  # noqa: E402


def check_result(d, keys):
    assert [r["key"] for r in d["rows"]] == keys
    for r in d["rows"]:
        for side in ("ours", "hf"):
            assert r[side]["latency_ms"] > 0 and r[side]["peak_mem_mb"] >= 0
            assert r[side]["recon_ms"] + r[side]["attention_ms"] == pytest.approx(r[side]["latency_ms"], rel=0.5)
        assert r["speedup"] == pytest.approx(r["hf"]["latency_ms"] / r["ours"]["latency_ms"])
        # the floor (our forwards without any analysis) is measured on our side only, and gives the ceiling
        assert r["ours"]["bare_forwards_ms"] > 0 and "bare_forwards_ms" not in r["hf"]
        assert r["speedup_ceiling"] == pytest.approx(r["hf"]["latency_ms"] / r["ours"]["bare_forwards_ms"])
        diff = r["max_abs_diff"]
        assert set(diff) == {"recon", "cls", "query", "rollout", "mad"}
        # the same reconstruction and the same attention numbers as transformers' eager ViTMAE
        assert diff["recon"] < 1e-4 and diff["cls"] < 1e-5 and diff["query"] < 1e-5 and diff["rollout"] < 1e-5
        assert diff["mad"] < 1e-3, f"mean attention distance differs from the HF-derived value by {diff['mad']} px"
        for side in ("ours", "hf"):
            assert r[side]["latency_p90_ms"] >= r[side]["latency_ms"] and r[side]["precision"] == d["precision"]
        assert r["floor_ratio"] == pytest.approx(r["ours"]["latency_ms"] / r["ours"]["bare_forwards_ms"])
        assert set(r["deviation"]) == {"ours", "hf", "hf_fp32"}
        assert set(r["deviation"]["ours"]) == {"recon_px", "cls_of_peak", "query_of_peak", "rollout_of_peak",
                                               "mad_rel"}
    assert d["targets"] and d["loadavg_start"] and d["loadavg_end"]


def test_bench_quick_in_process(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert cli(["--quick", "--in-process", "--repeats", "1", "--device", "cpu", "--quiet", "--out", str(out)]) == 0
    check_result(json.loads(out.read_text()), list(QUICK_ROWS))
    text = capsys.readouterr().out
    assert "vs HF" in text and "/floor" in text and "tiny" in text
    # the current CPU targets, graded from the run's own figures (here: not measured, tiny rows only)
    assert "3.0x" not in text
    assert ">= 1.1x faster than HF at L=196" in text and "<= 1.2x the floor at L=784" in text
    assert "not measured in this run" in text
    d = json.loads(out.read_text())
    assert d["precision"] == "fp32" and d["repeats"] == 1
    for r in d["rows"]:  # fp32 on a CPU: our own result is the reference, so it deviates by nothing
        assert r["deviation"]["ours"] == {k: 0.0 for k in r["deviation"]["ours"]}
        assert "hf_fp32" not in r  # the same as hf in fp32


def test_bench_bf16_runs_hf_in_bf16_and_in_fp32_and_measures_the_deviation(tmp_path):
    out = tmp_path / "bench.json"
    assert cli(["--quick", "--rows", "tiny-L64", "--in-process", "--repeats", "1", "--device", "cpu", "--quiet",
                "--precision", "bf16", "--out", str(out)]) == 0
    d = json.loads(out.read_text())
    r = d["rows"][0]
    assert d["precision"] == "bf16" and r["ours"]["precision"] == "bf16" and r["hf"]["precision"] == "bf16"
    assert r["hf_fp32"]["precision"] == "fp32" and r["hf_fp32"]["latency_ms"] > 0
    dv = r["deviation"]
    assert 0 < dv["ours"]["recon_px"] <= 1e-2 and 0 < dv["ours"]["mad_rel"] <= 5e-3
    assert dv["hf_fp32"]["cls_of_peak"] < 1e-4  # transformers in fp32 is our fp32 result
    assert r["speedup_fp32"] == pytest.approx(r["hf_fp32"]["latency_ms"] / r["ours"]["latency_ms"])


def test_bench_rows_and_default_selection():
    assert set(bench.ROWS) == {"B16-224", "B8-224", "L16-448", "L8-448", "H14-448"}
    assert {bench.MAEConfig(**c).num_patches for _, c in bench.ROWS.values()} == {196, 784, 3136, 1024}
    assert set(bench.DEFAULT_ROWS["cuda"]) == set(bench.ROWS)
    assert set(bench.DEFAULT_ROWS["cpu"]) == {"B16-224", "B8-224"}


def test_gpu_targets_are_graded_from_the_figures():
    dv = dict(recon_px=1e-3, cls_of_peak=2e-3, query_of_peak=1e-3, rollout_of_peak=1e-3, mad_rel=1e-3)
    row = lambda key, L, speedup, floor, mem: dict(key=key, L=L, speedup=speedup, floor_ratio=floor,  # noqa: E731
                                                   memory_ratio=mem, ours=dict(latency_ms=8.0),
                                                   deviation=dict(ours=dv))
    got = {t["what"]: t["status"] for t in bench._targets(
        [row("L16-448", 784, 2.0, 1.2, 0.1), row("L8-448", 3136, 2.5, 1.4, 0.04)], "cuda", "bf16")}
    assert got[">= 1.5x faster than HF eager in the same precision at every row"] == "met"
    assert got[">= 3.0x faster than HF at L=3136"] == "NOT met"
    assert got["ours <= 1.3x the floor at every row with L >= 784"] == "NOT met"
    assert got["ViT-L/16@448 reconstruction + full analysis <= 10.0 ms median in bf16"] == "met"
    assert got["peak memory <= 0.05 x HF at L=3136"] == "met"
    assert got["maps and rollout within 0.01 of their peak of our fp32 result"] == "met"


def test_bench_isolated_subprocess(tmp_path):
    out = tmp_path / "bench.json"
    assert cli(["--quick", "--rows", "tiny-L16", "--repeats", "1", "--device", "cpu", "--quiet",
                "--out", str(out)]) == 0
    d = json.loads(out.read_text())
    assert d["isolated_processes"] is True
    check_result(d, ["tiny-L16"])


def test_bench_rejects_unknown_rows():
    from mae_core.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown rows"):
        cli(["--quick", "--rows", "nope"])
