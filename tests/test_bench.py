"""The benchmark runs end to end on tiny models and both sides compute the same things (figures are printed by
``python -m mae_core bench``, never asserted as speed)."""
import json

import pytest

pytest.importorskip("transformers")

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
    assert d["targets"]


def test_bench_quick_in_process(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert cli(["--quick", "--in-process", "--repeats", "1", "--device", "cpu", "--quiet", "--out", str(out)]) == 0
    check_result(json.loads(out.read_text()), list(QUICK_ROWS))
    text = capsys.readouterr().out
    assert "speed-up" in text and "ceiling" in text and "tiny" in text


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
