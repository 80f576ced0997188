"""Dashboard tests with streamlit.testing.v1.AppTest on a tiny random checkpoint family (fast, no training needed).

Every page renders with defaults; presets; a traingenerator-style combinatorial sweep over I/p/m/r (invalid
combinations must show st.error, never an exception); uploads (good, broken, hostile); URL round trips; the
password gate; the memory budget; and one run on the real shipped checkpoints when they exist.
"""
from __future__ import annotations

import io
import itertools
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from mae_core.errors import MAEError
from conftest import open_page, png

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
PAGES = {
    "app_pages/home.py": "Long-sequence MAE explorer",
    "app_pages/lesson.py": "Lesson: long sequences and mask units",
    "app_pages/reconstruction.py": "Reconstruction",
    "app_pages/sequence_grid.py": "Sequence length × mask unit",
    "app_pages/attention.py": "Attention & receptive field",
    "app_pages/ablations.py": "Ablation curves",
    "app_pages/representations.py": "Representations: what the encoders learned",
    "app_pages/checkpoints.py": "Checkpoints",
}
RECON = "app_pages/reconstruction.py"
TIMEOUT = 180


pytestmark = pytest.mark.usefixtures("family_env")


def problems(at: AppTest) -> list[str]:
    return [e.value for e in at.exception]


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def main_errors(at) -> list[str]:
    return [e.value for e in at.main.error]


# ------------------------------------------------------------------ every page
@pytest.mark.parametrize("page", list(PAGES))
def test_every_page_renders_with_defaults(page):
    at = open_page(page)
    assert not problems(at), problems(at)
    assert not errors(at), errors(at)
    assert [t.value for t in at.title] == [PAGES[page]]


def test_reconstruction_defaults_show_panels_metrics_and_mirror_the_url(family_env):
    at = open_page(RECON)
    labels = {m.label: m.value for m in at.metric}
    # default checkpoint p8-m2 of the tiny family: I=64, p=8 -> L=64, m=2 (its training mask unit)
    assert labels["L"] == "64"
    assert float(labels["eff. ratio"]) == pytest.approx(0.75)
    assert 0 < float(labels["masked MSE"]) < 1
    assert len(at.get("imgs")) >= 1 or len(at.get("image")) >= 1
    qp = at.query_params
    assert (qp["ckpt"], qp["I"], qp["p"], qp["m"], qp["seed"]) == ("p8-m2", "64", "8", "2", "2")


def test_home_calculator_follows_the_controls():
    at = open_page(query={"I": 224, "p": 16, "m": 1, "r": 0.75, "arch": "ViT-B"})
    assert not problems(at)
    m = {x.label: x.value for x in at.metric}
    assert m["Sequence length L = (I/p)²"] == "196"
    assert m["Encoder tokens Le"] == "49"
    from mae_core.cost import estimate_flops

    want = estimate_flops(224, 16, 49, 768, 12, 512, 8).encoder / 1e9
    assert float(m["Encoder GFLOPs"]) == pytest.approx(want, abs=0.006)
    # sanity: ViT-B/16 on all 197 tokens is ~17.6 G multiply-adds (DeiT); 50 of 197 tokens, x2 FLOPs per MAC
    assert 0.8 < float(m["Encoder GFLOPs"]) / (2 * 17.6 * 50 / 197) < 1.2
    at.selectbox(key="p").set_value(8).run()
    m = {x.label: x.value for x in at.metric}
    assert m["Sequence length L = (I/p)²"] == "784"


# ------------------------------------------------------------------ presets
@pytest.mark.parametrize("key, expected", [("mae224", (224, 16, 1)), ("lsm224", (224, 8, 2)),
                                           ("lsm448", (448, 16, 2))])
def test_presets_set_the_controls_and_say_they_run_resampled(key, expected):
    at = open_page(RECON)
    at.button(key=f"preset_{key}").click().run()
    assert not problems(at), problems(at)
    assert (at.number_input(key="I").value, at.selectbox(key="p").value, at.selectbox(key="m").value) == expected
    assert (at.query_params["I"], at.query_params["p"], at.query_params["m"]) == tuple(str(v) for v in expected)
    assert any("resampled" in w.value for w in at.warning)
    assert not errors(at), errors(at)


@pytest.mark.parametrize("key, ckpt, expected", [("orig", "p16-m1", (64, 16, 1)), ("longseq", "p8-m2", (64, 8, 2)),
                                                 ("nounit", "p8-m1", (64, 8, 1))])
def test_model_presets_switch_to_the_trained_checkpoint_and_the_url_follows(key, ckpt, expected):
    """'original MAE recipe' selects p16-m1 itself (not p8-m2 resampled to p=16), at its native I and p."""
    start = {"orig": "p8-m2", "longseq": "p16-m1", "nounit": "p8-m2"}[key]
    at = open_page(RECON, query={"ckpt": start, "I": 96, "p": 16, "m": 4})
    at.button(key=f"preset_{key}").click().run()
    assert not problems(at) and not errors(at), errors(at)
    assert at.selectbox(key="ckpt").value == ckpt and at.radio(key="ckpt_src").value == "embedded"
    assert (at.number_input(key="I").value, at.selectbox(key="p").value, at.selectbox(key="m").value) == expected
    qp = at.query_params
    assert (qp["ckpt_src"], qp["ckpt"], qp["I"], qp["p"], qp["m"]) == ("embedded", ckpt, *map(str, expected))
    assert not any("resampled" in w.value for w in [*at.info, *at.warning])  # the trained model at its own geometry
    assert f"**{ckpt}**" in at.caption[0].value
    again = open_page(RECON, query=dict(qp))  # the URL alone reproduces it
    assert again.selectbox(key="ckpt").value == ckpt and again.number_input(key="I").value == expected[0]


def test_pair_preset_on_the_attention_page_compares_p8_m2_with_p16_m1():
    at = open_page("app_pages/attention.py", query={"ckpt": "p8-m1", "erf": "off"})
    at.button(key="preset_pair").click().run()
    assert not problems(at) and not errors(at), errors(at)
    assert at.selectbox(key="ckpt").value == "p8-m2" and at.radio(key="cmp").value == "checkpoint"
    assert at.selectbox(key="b_ckpt").value == "p16-m1"
    assert (at.query_params["cmp"], at.query_params["b_ckpt"]) == ("checkpoint", "p16-m1")
    assert "preset_pair" not in [b.key for b in open_page(RECON).button]  # only where two models are compared


def test_presets_say_what_they_do():
    from ui import presets

    for pr in presets.MODEL_PRESETS + (presets.PAIR,) + presets.PAPER_PRESETS:
        assert len(pr.what) > 40 and pr.label
    assert [p.checkpoint for p in presets.MODEL_PRESETS] == ["p16-m1", "p8-m2", "p8-m1"]
    at = open_page(RECON)
    helps = {b.key: b.help for b in at.button if (b.key or "").startswith("preset_")}
    assert helps["preset_orig"] == presets.MODEL_PRESETS[0].what and helps["preset_lsm448"].startswith("Sets I=448")


def test_new_mask_button_changes_the_seed_and_the_mask():
    at = open_page(RECON)
    before = at.number_input(key="seed").value
    mse_before = {m.label: m.value for m in at.metric}["masked MSE"]
    at.button(key="new_mask").click().run()
    after = at.number_input(key="seed").value
    assert after != before or {m.label: m.value for m in at.metric}["masked MSE"] != mse_before


# ------------------------------------------------------------------ combinatorial sweep
def _library_says_error(I, p, m, r) -> bool:
    """Ground truth from mae_core itself: does this configuration raise a user error?"""
    from mae_core.geometry import grid_shape
    from mae_core.masking import make_mask

    try:
        make_mask(grid_shape(I, p), m, r, seed=2, keep="blocks")
    except MAEError:
        return True
    return False


SWEEP = list(itertools.product((64, 96, 100), (8, 16), (1, 2, 8), (0.5, 0.9)))


@pytest.fixture(scope="module")
def recon_session():
    return open_page(RECON)


@pytest.mark.parametrize("I, p, m, r", SWEEP)
def test_sweep_invalid_settings_show_an_error_never_an_exception(recon_session, I, p, m, r):
    at = recon_session
    at.number_input(key="I").set_value(I)
    at.selectbox(key="p").set_value(p)
    at.selectbox(key="m").set_value(m)
    at.slider(key="r").set_value(r)
    at.run()
    assert not problems(at), problems(at)
    if _library_says_error(I, p, m, r):
        assert errors(at), f"expected an st.error for I={I} p={p} m={m} r={r}"
        assert not any(x.label == "masked MSE" for x in at.metric)
    else:
        assert not errors(at), errors(at)
        mets = {x.label: x.value for x in at.metric}
        assert mets["L"] == str((I // p) ** 2)
    assert at.query_params["I"] == str(I) and at.query_params["p"] == str(p)


def test_sweep_covers_valid_and_invalid_cases():
    verdicts = {_library_says_error(*c) for c in SWEEP}
    assert verdicts == {True, False}


# ------------------------------------------------------------------ uploads
def test_image_upload_good_broken_and_bomb():
    at = open_page(RECON, query={"img": "upload"})
    assert not problems(at)
    at.file_uploader(key="img_upload").set_value(("red.png", png(), "image/png")).run()
    assert not problems(at) and not errors(at), errors(at)
    assert "red.png" in at.caption[0].value
    at.file_uploader(key="img_upload").set_value(("broken.png", b"\x89PNG\r\n\x1a\nnot really", "image/png")).run()
    assert not problems(at)
    assert any("not a readable image" in e for e in errors(at))
    assert [t.value for t in at.title] == ["Reconstruction"]  # the page itself still rendered
    # a PNG header claiming 20000 x 20000 pixels: refused before decoding
    buf = io.BytesIO()
    Image.new("L", (1, 1)).save(buf, format="PNG")
    data = bytearray(buf.getvalue())
    data[16:24] = (20000).to_bytes(4, "big") + (20000).to_bytes(4, "big")
    at.file_uploader(key="img_upload").set_value(("bomb.png", bytes(data), "image/png")).run()
    assert not problems(at)
    assert errors(at)


class _Evil:
    def __reduce__(self):
        return (os.system, (f"touch {ROOT / 'artifacts' / 'PWNED'}",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol:UserWarning")  # torch notes the hostile pickle's protocol
def test_checkpoint_uploads_hostile_broken_and_good(family_env, tmp_path):
    marker = ROOT / "artifacts" / "PWNED"
    marker.unlink(missing_ok=True)
    at = open_page(RECON, query={"ckpt_src": "upload"})
    assert not problems(at)
    hostile = pickle.dumps({"model": _Evil()})
    at.file_uploader(key="ckpt_upload").set_value(("evil.pth", hostile, "application/octet-stream")).run()
    assert not problems(at)
    assert errors(at), "a hostile pickle must be refused with a message"
    assert not marker.exists(), "the hostile pickle was executed"
    at.file_uploader(key="ckpt_upload").set_value(("junk.safetensors", os.urandom(300), "application/octet-stream"))
    at.run()
    assert not problems(at) and errors(at)
    good = Path(family_env["p16-m1"]).read_bytes()
    at.file_uploader(key="ckpt_upload").set_value(("mine.safetensors", good, "application/octet-stream")).run()
    assert not problems(at) and not errors(at), errors(at)
    assert "mine.safetensors" in at.caption[0].value
    assert {m.label: m.value for m in at.metric}["L"] == "16"  # p16 at its native 64 px: 4 x 4


def test_local_path_file_folder_and_missing(family_env):
    folder = Path(family_env["p8-m1"]).parent
    at = open_page(RECON, query={"ckpt_src": "path", "ckpt_path": str(folder)})
    assert not problems(at) and not errors(at), errors(at)
    assert at.selectbox(key="ckpt_file").value.endswith(".safetensors")
    at.text_input(key="ckpt_path").set_value(str(folder / "nope.safetensors")).run()
    assert not problems(at)
    assert any("no checkpoint" in e for e in errors(at))


def test_local_paths_can_be_switched_off_for_a_shared_server(monkeypatch, family_env):
    monkeypatch.setenv("MAE_ALLOW_LOCAL_PATHS", "0")
    at = open_page(RECON, query={"ckpt_src": "path", "ckpt_path": str(family_env["p8-m1"])})
    assert not problems(at)
    assert "path" not in at.radio(key="ckpt_src").options
    assert at.radio(key="ckpt_src").value == "embedded"
    assert any("ckpt_src=path" in w.value for w in at.warning)


def test_encoder_only_checkpoint_explains_and_attention_still_works(tmp_path):
    import torch

    from mae_core.model import MAEConfig, build_model
    from mae_core.checkpoints import save_checkpoint

    torch.manual_seed(0)
    cfg = MAEConfig(img_size=64, patch_size=16, embed_dim=32, depth=1, num_heads=2, has_decoder=False)
    path = save_checkpoint(build_model(cfg), tmp_path / "enc.safetensors")
    q = {"ckpt_src": "path", "ckpt_path": str(path)}
    at = open_page(RECON, query=q)
    assert not problems(at) and not errors(at), errors(at)
    assert any("encoder-only" in w.value for w in at.warning)
    at = open_page("app_pages/attention.py", query=q)
    assert not problems(at) and not errors(at), errors(at)


def test_norm_pix_checkpoint_offers_denormalisation_and_flags_the_leak(tmp_path):
    import torch

    from mae_core.model import MAEConfig, build_model
    from mae_core.checkpoints import save_checkpoint

    torch.manual_seed(0)
    cfg = MAEConfig(img_size=64, patch_size=16, embed_dim=32, depth=1, num_heads=2, decoder_embed_dim=32,
                    decoder_depth=1, decoder_num_heads=2, norm_pix_loss=True)
    path = save_checkpoint(build_model(cfg), tmp_path / "np.safetensors", training={"target": "normalised pixels"})
    at = open_page(RECON, query={"ckpt_src": "path", "ckpt_path": str(path)})
    assert not problems(at) and not errors(at), errors(at)
    assert at.radio(key="denorm").value == "visible"
    assert not any("leak" in w.value.lower() for w in at.warning)
    at.radio(key="denorm").set_value("ground-truth").run()
    assert any("leak" in w.value.lower() for w in at.warning)


# ------------------------------------------------------------------ URL state
def test_query_params_round_trip_reproduces_the_view():
    at = open_page(RECON)
    at.selectbox(key="p").set_value(16)
    at.slider(key="r").set_value(0.5)
    at.number_input(key="seed").set_value(7)
    at.selectbox(key="keep").set_value("exact")
    at.selectbox(key="img").set_value("china")
    at.run()
    shared = dict(at.query_params)
    metrics = {m.label: m.value for m in at.metric}
    again = open_page(RECON, query=shared)
    assert not problems(again) and not errors(again)
    assert again.selectbox(key="p").value == 16
    assert again.slider(key="r").value == pytest.approx(0.5)
    assert again.number_input(key="seed").value == 7
    assert again.selectbox(key="keep").value == "exact"
    assert again.selectbox(key="img").value == "china"
    assert {m.label: m.value for m in again.metric}["masked MSE"] == metrics["masked MSE"]


def test_invalid_query_params_fall_back_to_defaults_with_a_notice():
    at = open_page(RECON, query={"p": "abc", "r": "5", "ckpt": "nope", "seed": "-3", "m": "7", "keep": "x",
                                 "I": "1e9"})
    assert not problems(at), problems(at)
    assert not errors(at), errors(at)
    notice = " ".join(w.value for w in at.warning)
    for name in ("p=abc", "r=5", "ckpt=nope", "seed=-3", "m=7", "keep=x", "I=1e9"):
        assert name in notice
    assert at.selectbox(key="p").value == 8 and at.selectbox(key="ckpt").value == "p8-m2"
    assert at.query_params["p"] == "8"  # the URL is rewritten with what is shown


def test_values_survive_a_page_switch():
    at = open_page(RECON)
    at.selectbox(key="p").set_value(16).run()
    at.switch_page("app_pages/home.py").run()
    assert at.selectbox(key="p").value == 16
    at.switch_page(RECON).run()
    assert at.selectbox(key="p").value == 16 and at.query_params["p"] == "16"


def test_custom_mask_from_the_url():
    from ui.paint import encode

    grid = np.zeros((8, 8), dtype=np.float32)
    grid[:4] = 1  # top half removed
    at = open_page(RECON, query={"mask_src": "custom", "cmask": encode(grid)})
    assert not problems(at) and not errors(at), errors(at)
    m = {x.label: x.value for x in at.metric}
    assert float(m["eff. ratio"]) == pytest.approx(0.5)
    assert at.query_params["cmask"] == encode(grid)


# ------------------------------------------------------------------ other pages' features
def test_grid_page_family_and_resampled_modes():
    at = open_page("app_pages/sequence_grid.py")
    assert not problems(at) and not errors(at)
    captions = " ".join(c.value for c in at.caption)
    assert "n/a" in captions  # 8-px masks on 16-px patches
    at.radio(key="gmode").set_value("resampled").run()
    assert not problems(at) and not errors(at), errors(at)
    at.radio(key="gshow").set_value("error").run()
    assert not problems(at)


def test_grid_masks_are_identical_down_a_column():
    """Same seed and the same pixel mask size -> the same pixel mask for p16-m1 and p8-m2 (the fair comparison)."""
    from mae_core.masking import make_mask, pixel_mask

    a = pixel_mask(make_mask((4, 4), 1, 0.75, 2), 16)
    b = pixel_mask(make_mask((8, 8), 2, 0.75, 2), 8)
    assert np.array_equal(a, b)


@pytest.mark.parametrize("cmp", ["patch", "checkpoint"])
def test_attention_comparisons(cmp):
    at = open_page("app_pages/attention.py", query={"cmp": cmp})
    assert not problems(at) and not errors(at), errors(at)
    at.slider(key="qr").set_value(1).run()
    assert not problems(at)


def plotly_array(v) -> np.ndarray:
    """A plotly trace array from a chart's JSON spec (plain list, or plotly's base64 typed array)."""
    if isinstance(v, dict) and "bdata" in v:
        import base64

        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
    return np.asarray(v, dtype=float)


def chart(at: AppTest, title_start: str) -> dict:
    """The JSON spec of the plotly chart whose title starts with `title_start`."""
    import json

    for c in at.get("plotly_chart"):
        spec = json.loads(c.proto.spec)
        title = (spec.get("layout", {}).get("title") or {}).get("text") or ""
        if title.startswith(title_start):
            return spec
    raise AssertionError(f"no chart titled {title_start!r}")


def test_attention_mad_over_the_image_set_matches_the_library(family_env):
    """'MAD over the bundled photos': the dots are mae_core's mad_over_images mean and the bars its std."""
    from mae_core import assets
    from mae_core.attention import mad_over_images
    from mae_core.checkpoints import load_checkpoint
    from mae_core.images import load_image

    at = open_page("app_pages/attention.py", query={"mad_over": "set", "mad_unit": "px"})
    assert not problems(at) and not errors(at), errors(at)
    fig = chart(at, "Mean attention distance")
    dots = next(t for t in fig["data"] if t.get("mode") == "markers")
    model, _ = load_checkpoint(family_env[assets.DEFAULT_NAME])
    images = [load_image(p) for p in assets.image_set().values()]
    assert len(images) == 2 + len(assets.TRAINING_IMAGES)
    ref = mad_over_images(model, images)
    np.testing.assert_allclose(plotly_array(dots["y"]), ref.mean_attention_distance.reshape(-1), rtol=1e-4)
    np.testing.assert_allclose(plotly_array(dots["error_y"]["array"]), ref.std.reshape(-1), rtol=1e-3, atol=1e-4)
    at.radio(key="mad_over").set_value("image").run()
    fig1 = chart(at, "Mean attention distance")
    one = next(t for t in fig1["data"] if t.get("mode") == "markers")
    assert "array" not in (one.get("error_y") or {})
    assert not np.allclose(plotly_array(one["y"]), plotly_array(dots["y"]))


@pytest.mark.parametrize("unit", ["fraction", "px", "ratio"])
def test_attention_mad_chart_draws_the_uniform_reference_from_zero(family_env, unit):
    """Every MAD chart has a dashed line at the exact uniform-attention MAD of its grid, in the chart's unit, and a
    y axis from 0; with a comparison checkpoint each model gets its own line."""
    from mae_core.geometry import uniform_mad

    at = open_page("app_pages/attention.py", query={"mad_unit": unit, "cmp": "checkpoint", "b_ckpt": "p16-m1",
                                                    "erf": "off"})
    assert not problems(at) and not errors(at), errors(at)
    fig = chart(at, "Mean attention distance")
    lines = {t["name"]: plotly_array(t["y"]) for t in fig["data"] if t["name"].startswith("uniform attention")}
    want = {64: uniform_mad((8, 8), 8), 16: uniform_mad((4, 4), 16)}  # tiny family: I=64, p8-m2 and p16-m1
    assert len(lines) == 2
    for L, ref_px in want.items():
        y = next(v for k, v in lines.items() if f"L={L}:" in k)
        expected = {"fraction": ref_px / 64, "px": ref_px, "ratio": 1.0}[unit]
        np.testing.assert_allclose(y, expected, rtol=1e-6)
    assert fig["layout"]["yaxis"]["rangemode"] == "tozero"
    captions = " ".join(c.value for c in at.caption)
    assert "uniform attention" in captions and f"{want[64]:.1f} px" in captions


def test_attention_effective_receptive_field_matches_the_library(family_env):
    """The ERF chart's radii are mae_core.receptive_field's for the query token, over this image or the photo set,
    for both checkpoints side by side; one map per layer."""
    from mae_core import assets
    from mae_core.checkpoints import load_checkpoint
    from mae_core.images import load_image
    from mae_core.receptive_field import effective_receptive_field

    at = open_page("app_pages/attention.py", query={"erf": "image", "qr": 2, "qc": 5, "cmp": "checkpoint",
                                                    "b_ckpt": "p16-m1"})
    assert not problems(at) and not errors(at), errors(at)
    fig = chart(at, "Effective receptive field")
    model, _ = load_checkpoint(family_env["p8-m2"])
    ref = effective_receptive_field(model, [load_image(assets.DEMO_IMAGES[assets.DEFAULT_IMAGE])], token=(2, 5))
    r90 = next(t for t in fig["data"] if t["name"].startswith("p8-m2") and "90 % of the mass" in t["name"])
    np.testing.assert_allclose(plotly_array(r90["y"]), ref.radius[:, 1] / 64, rtol=1e-6)
    assert any(t["name"].startswith("p16-m1") for t in fig["data"])  # the comparison checkpoint beside it
    assert any("whole image" in t["name"] for t in fig["data"]) and fig["layout"]["yaxis"]["rangemode"] == "tozero"
    assert sum("90 % within" in (i.caption or "") for i in _images(at)) == 2  # one layer each (tiny models)
    at.radio(key="erf").set_value("set").run()
    assert not problems(at) and not errors(at), errors(at)
    r90_set = next(t for t in chart(at, "Effective receptive field")["data"]
                   if t["name"].startswith("p8-m2") and "90 %" in t["name"])
    full = effective_receptive_field(model, [load_image(p) for p in assets.image_set().values()], token=(2, 5))
    np.testing.assert_allclose(plotly_array(r90_set["y"]), full.radius[:, 1] / 64, rtol=1e-6)
    np.testing.assert_allclose(plotly_array(r90_set["error_y"]["array"]), full.radius_std[:, 1] / 64, rtol=1e-5)


def _images(at: AppTest):
    """st.image elements (AppTest has no typed accessor): objects with a .caption."""
    out = []
    for el in at.get("image"):
        for im in el.proto.imgs:
            out.append(type("Img", (), {"caption": im.caption})())
    return out


def test_ablation_upload_valid_and_invalid():
    from mae_core import ablations as ab

    rows = ab.load_all()
    good = ab.to_csv(rows[:3]).replace(rows[0]["study"], "My study")
    at = open_page("app_pages/ablations.py")
    assert not problems(at)
    at.file_uploader(key="abl_upload").set_value(("mine.csv", good.encode(), "text/csv")).run()
    assert not problems(at) and not errors(at), errors(at)
    assert any(o.startswith("My study") for o in at.selectbox(key="study").options)  # labels carry the venue
    bad = ",".join(ab.COLUMNS) + "\n" + ",".join(["x"] * len(ab.COLUMNS)) + "\n"
    at.file_uploader(key="abl_upload").set_value(("bad.csv", bad.encode(), "text/csv")).run()
    assert not problems(at)
    assert any("bad.csv" in e for e in errors(at))
    assert len(at.dataframe) >= 1  # the per-row problems table


# ------------------------------------------------------------------ slide-ready downloads
@pytest.fixture
def downloads(monkeypatch):
    """Every st.download_button call of the runs in this test: {key: (file_name, data)} (AppTest keeps no bytes)."""
    from streamlit.delta_generator import DeltaGenerator

    seen = {}
    real = DeltaGenerator.download_button

    def spy(self, label, data, file_name=None, *args, **kwargs):
        seen[kwargs.get("key") or label] = (file_name, data() if callable(data) else data)
        return real(self, label, data, file_name, *args, **kwargs)

    monkeypatch.setattr(DeltaGenerator, "download_button", spy)
    import streamlit as st

    monkeypatch.setattr(st, "download_button", lambda *a, **k: spy(st._main, *a, **k))  # bound at import time
    return seen


def _png(data) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def _ink(region: np.ndarray) -> int:
    """Pixels that are not white (text, lines, images) in an RGB region."""
    return int((region.min(axis=-1) < 200).sum())


def test_grid_png_has_row_and_column_labels_mse_values_and_a_title(downloads, monkeypatch):
    from ui import render

    calls = []
    real = render.labelled_grid
    monkeypatch.setattr(render, "labelled_grid", lambda *a, **k: calls.append((a, k)) or real(*a, **k))
    at = open_page("app_pages/sequence_grid.py", query={"gpx": "16,32", "img": "china", "seed": 5,
                                                         "grows": "p16-m1,p8-m2"})
    assert not problems(at) and not errors(at), errors(at)
    name, data = downloads["dl_grid_png"]
    assert "china" in name and "seed5" in name and "p16-m1" in name and name.endswith(".png")
    (cells, row_labels, col_labels, cell_text), kw = calls[-1]
    assert [r.split("\n")[0] for r in row_labels] == ["p16-m1", "p8-m2"]
    assert col_labels == ["16-px mask", "32-px mask"]
    on_page = [c.value.split("MSE **")[1].rstrip("*") for c in at.caption if "MSE **" in c.value]
    assert [t.split()[1] for row in cell_text for t in row] == on_page  # the PNG shows the page's MSE values
    assert "china" in kw["subtitle"] and "seed 5" in kw["subtitle"] and kw["title"]
    png = _png(data)
    assert png.shape[0] > 2 * 160 and _ink(png[:48]) > 50  # a title line above the grid (type scaled to the slide)
    assert png.shape[1] >= render.SLIDE_WIDTH  # slide-sized


def test_labelled_grid_draws_labels_values_and_title():
    from ui import render

    cells = [[np.full((16, 16, 3), 0.5)] * 2] * 2
    bare = np.asarray(render.grid_montage(cells, target=64))
    out = np.asarray(render.labelled_grid(cells, ["row A", "row B"], ["col 1", "col 2"],
                                          [["MSE 0.1", "MSE 0.2"], ["MSE 0.3", "n/a"]], title="A title",
                                          subtitle="image x", target=64))
    assert out.shape[1] > bare.shape[1] and out.shape[0] > bare.shape[0]
    plain = np.asarray(render.labelled_grid(cells, ["", ""], ["", ""], None, target=64))
    assert _ink(out) > _ink(plain) + 200  # labels, values and the title are drawn
    assert _ink(plain[:, :40]) < _ink(out[:, :40])  # row labels on the left


def test_reconstruction_downloads_carry_title_checkpoint_image_and_values(downloads):
    at = open_page(RECON, query={"img": "china", "seed": 3})
    assert not problems(at) and not errors(at), errors(at)
    for key in ("dl_orig", "dl_masked", "dl_recon", "dl_pasted", "dl_all"):
        name, data = downloads[key]
        assert "p8-m2" in name and "china" in name and "s3" in name, name
        png = _png(data)
        assert _ink(png[:48]) > 30, key  # a header with the title (type scaled to the slide)
    mse = {m.label: m.value for m in at.metric}["masked MSE"]
    assert all(_png(downloads[k][1]).shape[0] > 64 for k in ("dl_recon", "dl_all"))
    from ui import render

    # slide-sized for a projector: every panel and the four-panel figure at least SLIDE_WIDTH (1600) px wide
    assert all(_png(downloads[k][1]).shape[1] >= render.SLIDE_WIDTH >= 1600
               for k in ("dl_orig", "dl_masked", "dl_recon", "dl_pasted", "dl_all"))
    import json

    for chart in at.get("plotly_chart"):  # the camera button's PNG: laid out EXPORT_WIDTH wide, saved at 2x
        opts = json.loads(chart.proto.config)["toImageButtonOptions"]
        assert opts["width"] * opts["scale"] >= 1600
    name, _ = downloads["dl_metrics"]
    assert "china" in name and "p8-m2" in name and float(mse) > 0


def test_attention_downloads_are_named_by_checkpoint_and_image(downloads):
    at = open_page("app_pages/attention.py", query={"img": "china", "erf": "image"})
    assert not problems(at) and not errors(at), errors(at)
    for key in ("dl_a_CLS", "dl_a_query", "dl_a_rollout", "dl_heads", "dl_erf_0", "dl_mad", "dl_erf"):
        name, data = downloads[key]
        assert "p8-m2" in name and "china" in name, (key, name)
        if name.endswith(".png"):
            assert _ink(_png(data)[:48]) > 30, key


def test_one_colour_direction_for_error_and_one_grey_for_visible_patches():
    """Bright = high error on the per-patch error map, the grid's error cells and the grid's MSE heatmap; visible
    (unscored) patches are the same light grey on both pages."""
    import json

    from ui import render

    rec = open_page(RECON)
    grid = open_page("app_pages/sequence_grid.py", query={"gshow": "error"})
    err_el = next(c for c in rec.get("plotly_chart") if "Per-patch MSE" in c.proto.spec)
    mse_el = next(c for c in grid.get("plotly_chart") if "Masked MSE" in c.proto.spec)
    assert err_el.proto.theme == mse_el.proto.theme == ""  # no Streamlit theme re-colouring either of them
    err, mse = json.loads(err_el.proto.spec), json.loads(mse_el.proto.spec)
    from mae_core import colours

    want = [(round(float(a), 9), c) for a, c in colours.colorscale(colours.ERROR)]
    for fig in (err, mse):
        hm = next(t for t in fig["data"] if t["type"] == "heatmap")
        assert [(round(float(a), 9), c) for a, c in hm["colorscale"]] == want and not hm.get("reversescale")
    # Streamlit's frontend rewrites #000001-#000040 in any figure (its theme placeholders), whatever the theme
    assert not colours.placeholders(err_el.proto.spec) and not colours.placeholders(mse_el.proto.spec)
    assert err["layout"]["plot_bgcolor"] == render.NOT_SCORED
    cell = render.colorize(np.array([[np.nan, 0.0], [0.5, 1.0]]), quantity=colours.ERROR)
    arr = np.asarray(cell)
    s = arr.shape[0] // 2
    assert tuple(arr[0, 0]) == render.NOT_SCORED_RGB == (225, 225, 225)
    assert arr[s, s].sum() > arr[0, s].sum()  # 1.0 brighter than 0.0


# ------------------------------------------------------------------ hosted-demo guards
def test_memory_budget_refuses_huge_configurations_before_running():
    # I=1024, p=2: L = 262,144 tokens; one encoder attention matrix alone would be ~34 GB
    at = open_page(RECON, query={"I": 1024, "p": 2})
    assert not problems(at)
    assert any("budget" in e for e in errors(at)), errors(at)
    assert not any(x.label == "masked MSE" for x in at.metric)


def test_memory_budget_is_configurable(monkeypatch):
    import ui.limits

    at = open_page(RECON)
    assert not errors(at)
    est_mb = float({m.label: m.value for m in at.metric}["mem. est."].split()[0].replace(",", ""))
    monkeypatch.setattr(ui.limits, "MEMORY_BUDGET_MB", est_mb / 2)
    at = open_page(RECON, query={"seed": 99})  # a fresh configuration: not a cached result
    assert not problems(at)
    assert any("budget" in e for e in errors(at)), errors(at)


def test_password_gate():
    at = open_page(secrets={"auth": {"password": "s3cret"}})
    assert not problems(at)
    assert [t.value for t in at.title] == ["Long-sequence MAE explorer"] and not at.metric
    at.text_input(key="gate_password").set_value("wrong")
    at.button[0].click().run()
    assert any("Wrong password" in e for e in errors(at))
    at.text_input(key="gate_password").set_value("s3cret")
    at.button[0].click().run()
    assert not problems(at)
    assert any(m.label.startswith("Sequence length") for m in at.metric)


def test_no_gate_without_a_secret():
    at = open_page()
    assert any(m.label.startswith("Sequence length") for m in at.metric)


# ------------------------------------------------------------------ the real shipped checkpoints
def test_real_embedded_family_when_present():
    from conftest import shipped_family
    from mae_core.checkpoints import load_checkpoint

    real = shipped_family()
    if len(real) < 3:
        pytest.skip(f"the trained family is not in assets/checkpoints/ yet (found: {sorted(real) or 'none'})")
    old = os.environ.pop("MAE_CHECKPOINT_DIR")
    try:
        for page in (RECON, "app_pages/sequence_grid.py", "app_pages/checkpoints.py"):
            at = open_page(page)
            assert not problems(at) and not errors(at), (page, errors(at))
        # the family caption says what the family was trained on, read from the checkpoints' metadata
        n = {len(load_checkpoint(p)[1].training["training_data"]) for p in real.values()}
        assert len(n) == 1 and any(f"Trained on the same {n.pop()} photographs" in c.value for c in at.caption)
        at = open_page(RECON)
        m = {x.label: x.value for x in at.metric}
        # a trained model must beat filling the holes with the mean colour on a held-out image
        assert float(m["masked MSE"]) < float(m["mean-fill MSE"])
    finally:
        os.environ["MAE_CHECKPOINT_DIR"] = old


# ------------------------------------------------------------------ UI helpers without a session
def test_param_parsing_and_validation():
    from ui.state import Param

    p = Param("p", int, 8, choices=(4, 8, 16))
    assert p.parse(" 16 ") == 16
    for bad in ("abc", "7", "", "1e3"):
        with pytest.raises(ValueError):
            p.parse(bad)
    r = Param("r", float, 0.75, lo=0.05, hi=0.95, step=0.05)
    assert r.parse("0.73") == pytest.approx(0.75)
    for bad in ("nan", "inf", "2", "-0.5"):
        with pytest.raises(ValueError):
            r.parse(bad)
    lst = Param("gps", list, [16, 8], choices=(4, 8, 16), item=int)
    assert lst.parse("16,4") == [16, 4] and lst.dump([16, 4]) == "16,4"
    for bad in ("16,16", "16,5", "a"):
        with pytest.raises(ValueError):
            lst.parse(bad)
    b = Param("measured", bool, True)
    assert b.parse("false") is False and b.dump(True) == "true"


def test_custom_mask_encoding_round_trip_and_rejections():
    from ui.paint import decode, encode

    rng = np.random.default_rng(0)
    m = (rng.random((7, 5)) > 0.5).astype(np.float32)
    assert np.array_equal(decode(encode(m), (7, 5)), m)
    for bad, grid in ((encode(m), (5, 7)), ("7x5:zz", (7, 5)), ("junk", (7, 5)), ("7x5:", (7, 5))):
        with pytest.raises(ValueError):
            decode(bad, grid)


def test_limiter_caps_concurrency_and_times_out():
    import threading

    from ui.limits import BusyError, Limiter

    lim = Limiter(1)
    entered, release = threading.Event(), threading.Event()

    def hold():
        with lim.slot():
            entered.set()
            release.wait(5)

    t = threading.Thread(target=hold)
    t.start()
    assert entered.wait(5)
    assert lim.busy and lim.in_use == 1
    with pytest.raises(BusyError):
        with lim.slot(timeout=0.05):
            pass
    release.set()
    t.join(5)
    assert not lim.busy
    with lim.slot(timeout=1):
        assert lim.in_use == 1
    assert lim.in_use == 0


def test_memory_estimate_formula():
    from mae_core.cost import estimate_memory, param_count

    n = param_count(768, 12, 512, 8, 16)
    assert 100e6 < n < 125e6  # MAE ViT-B/16 with its 8-block decoder: ~112 M parameters
    e = estimate_memory(L=196, Le=49, Ld=196, embed_dim=768, depth=12, num_heads=12, dec_dim=512, dec_depth=8,
                        dec_heads=16, n_params=n)
    assert e.encoder_attention == 4 * 12 * 50**2
    assert e.decoder_attention == 4 * 16 * 197**2
    assert e.peak == e.weights + max(e.encoder_attention + e.encoder_activations,
                                     e.decoder_attention + e.decoder_activations)
    bigger = estimate_memory(L=784, Le=196, Ld=784, embed_dim=768, depth=12, num_heads=12, dec_dim=512, dec_depth=8,
                             dec_heads=16, n_params=n)
    assert bigger.peak > e.peak


def test_ablation_measured_toggle_adds_our_rows():
    from mae_core import ablations as ab
    from mae_core.representations.results import is_representation_row

    _, measured = ab.split_measured(ab.load_all(skip_bad=True, problems=[]))
    measured = [r for r in measured if not is_representation_row(r)]  # drawn on the Representations page
    if not measured:
        pytest.skip("no measured sweep file in assets/ablations/ yet")
    at = open_page("app_pages/ablations.py")
    n_off = len(at.dataframe[0].value)
    at.toggle(key="measured").set_value(True).run()
    assert not problems(at) and not errors(at)
    assert len(at.dataframe[0].value) == n_off + len(measured)
    assert at.query_params["measured"] == "true"


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the no-GPU message")
def test_cuda_requested_without_a_gpu_is_a_clear_message(monkeypatch):
    from ui import resources

    resources._load.clear()  # models are cached per process: load afresh under the new device setting
    monkeypatch.setenv("MAE_DEVICE", "cuda")
    try:
        at = open_page("app_pages/reconstruction.py")
        assert not at.exception
        assert any("no GPU is available" in e for e in errors(at)), errors(at)
    finally:
        resources._load.clear()


def test_ablation_measured_charts_default_to_the_checkpoints_and_gaussian_fill():
    from mae_core import ablations as ab

    _, measured = ab.split_measured(ab.load_all(skip_bad=True, problems=[]))
    if not measured:
        pytest.skip("no measured sweep file in assets/ablations/ yet")
    at = open_page("app_pages/ablations.py", query={"measured": "true"})
    assert not problems(at) and not errors(at), errors(at)
    ck, bl = ab.default_selection(measured)
    assert at.multiselect(key="mck").value == ck and at.multiselect(key="mbl").value == bl
    assert at.toggle(key="mrs").value is False
    assert at.query_params["mbl"] == ",".join(bl)  # the picked series are part of the shareable URL
    at.multiselect(key="mck").set_value([]).run()
    at.multiselect(key="mbl").set_value([]).run()
    assert not problems(at) and any("Pick at least one" in i.value for i in at.info)


# ------------------------------------------------------------------ key facts readable, never truncated
def _metric_parents(block, parent=None, out=None):
    """(metric, the block that holds it) for every st.metric under `block`."""
    out = [] if out is None else out
    for child in getattr(block, "children", {}).values():
        if type(child).__name__ == "Metric":
            out.append((child, parent if parent is not None else block))
        else:
            _metric_parents(child, child, out)
    return out


def _wrapping_row(block) -> bool:
    fc = getattr(getattr(block, "proto", None), "flex_container", None)
    return type(block).__name__ == "Block" and fc is not None and fc.wrap and fc.direction == fc.HORIZONTAL


@pytest.mark.parametrize("page", ["app_pages/checkpoints.py", RECON])
def test_metric_tiles_wrap_instead_of_truncating_and_the_class_is_whole(page):
    at = open_page(page)
    assert not at.exception and not main_errors(at), main_errors(at)
    found = _metric_parents(at.main)
    assert found
    cramped = [m.label for m, parent in found if not _wrapping_row(parent)]
    assert not cramped, f"metric tiles in fixed columns (cut on a narrow page): {cramped}"
    if "checkpoints" in page:
        assert "Class" not in [m.label for m, _ in found]  # a badge, which never truncates
        assert any("**Sequence** :" in md.value and "-badge[" in md.value for md in at.main.markdown)
