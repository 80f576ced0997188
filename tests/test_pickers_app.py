"""The sidebar pickers (ui.pickers, ui.presets, ui.catalogue_picker) as a user meets them, with AppTest on the tiny
family: presets that say what they do to the current checkpoint before the click, messages that belong to the
current input, and uploads kept for the browser session."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from conftest import open_page, png, tiny_ckpt

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
RECON = "app_pages/reconstruction.py"
ATTN = "app_pages/attention.py"
TIMEOUT = 180
INTERNALS = ("PytorchStreamReader", "SafetensorError", "RuntimeError", "UnpicklingError", "BytesIO", "0x",
             "Traceback", "UnidentifiedImageError")

pytestmark = pytest.mark.usefixtures("family_env")


def problems(at) -> list[str]:
    return [e.value for e in at.exception]


def texts(elements) -> list[str]:
    return [e.value for e in elements]


def metrics(at) -> dict:
    return {m.label: m.value for m in at.metric}


def main_errors(at) -> list[str]:
    return [e.value for e in at.main.error]


def main_infos(at) -> list[str]:
    return [e.value for e in at.main.info]


# ------------------------------------------------------------------ geometry presets
def test_geometry_presets_say_before_the_click_what_they_do_to_the_current_checkpoint():
    from ui import presets

    at = open_page(RECON, {"ckpt": "p8-m1"})
    buttons = {b.key: b for b in at.button}
    for pr in presets.PAPER_PRESETS:
        b = buttons[f"preset_{pr.key}"]
        # the tiny p8-m1 is 64 px / 8: every paper geometry resamples it, and the button says so before the click
        assert "Resamples p8-m1" in b.help and "outside what it was trained on" in b.help, b.help
        assert b.proto.icon == ":material/warning:"
    side = " ".join(texts(at.sidebar.caption))
    assert "on **p8-m1**" in side and "resample it outside its training geometry" in side
    # names that cannot be mistaken: model presets switch, geometry presets name a geometry
    assert all(pr.label.startswith("Switch to ") for pr in presets.MODEL_PRESETS)
    assert not any("Switch" in pr.label or "recipe" in pr.label for pr in presets.PAPER_PRESETS)


def test_a_geometry_preset_that_is_the_checkpoints_own_is_marked_native():
    from ui import presets

    pr = presets.PAPER_PRESETS[0]
    eff = presets.effect(pr, "mae-vit-base", pr.image_size, pr.patch_size)
    assert eff.kind == "native" and "own geometry" in eff.text
    eff = presets.effect(pr, "p8-m1", 128, 8)
    assert eff.kind == "resampled" and "L=256" in eff.text and "L=196" in eff.text


def test_after_a_geometry_preset_the_page_warns_that_the_model_runs_resampled():
    at = open_page(RECON, {"ckpt": "p8-m1"})
    at.button(key="preset_lsm224").click().run()
    assert not problems(at) and not at.error
    warn = " ".join(texts(at.warning))
    assert "Preset **224/8, m=2: long-seq MAE's geometry**" in warn and "outside what it was trained on" in warn
    m = metrics(at)
    gauss = float(m["Gaussian-fill MSE"])
    if float(m["masked MSE"]) > gauss:  # the figures that make the view 'broken' are said on the page
        assert "worse than a Gaussian fill" in warn and f"{gauss:.4f}" in warn


@pytest.mark.skipif(not (ROOT / "assets" / "checkpoints" / "p8-m1.safetensors").is_file(),
                    reason="the shipped family is not on disk")
def test_shipped_p8_m1_at_224_8_is_flagged_as_worse_than_a_classical_fill(monkeypatch):
    """The shipped p8-m1 resampled to 224/8, m=2 scores near the mean fill: the page says it is off-distribution."""
    monkeypatch.setenv("MAE_CHECKPOINT_DIR", str(ROOT / "assets" / "checkpoints"))
    at = open_page(RECON, {"ckpt": "p8-m1"})
    at.button(key="preset_lsm224").click().run()
    assert not problems(at) and not at.error
    m = metrics(at)
    assert float(m["masked MSE"]) > float(m["Gaussian-fill MSE"])
    assert any("worse than a Gaussian fill" in w for w in texts(at.warning))


# ------------------------------------------------------------------ messages that belong to the current input
def test_the_preset_banner_appears_only_after_a_click_and_names_the_right_mask_unit():
    at = open_page(RECON, {"I": 224, "p": 16, "m": 2})  # typed (or linked), no preset clicked
    assert not problems(at)
    assert not any("Preset **" in w for w in texts(at.warning) + texts(at.info))
    at.button(key="preset_mae224").click().run()
    assert any("Preset **224/16, m=1" in w for w in texts(at.warning))
    at.selectbox(key="m").set_value(2).run()  # no longer what the preset set
    assert not any("Preset **" in w for w in texts(at.warning) + texts(at.info))


def test_a_link_value_that_was_refused_is_said_at_once_and_not_again_after_a_valid_one():
    at = open_page(query={"I": 5000})  # Home
    assert any("I=5000" in w for w in texts(at.warning)), texts(at.warning)
    at.number_input(key="I").set_value(224).run()
    assert not any("5000" in w for w in texts(at.warning)), texts(at.warning)


def test_a_refused_upload_replaces_the_previous_files_message(tmp_path):
    at = open_page(RECON, {"ckpt_src": "upload"})
    up = at.file_uploader(key="ckpt_upload")
    up.set_value(("junk.safetensors", b"\x00" * 300, "application/octet-stream")).run()
    assert not problems(at)
    assert any("junk.safetensors" in e for e in texts(at.main.error))
    # a file the browser would have filtered by type now reaches the app, whose message replaces the previous one
    at.file_uploader(key="ckpt_upload").set_value(("notes.txt", b"hello", "text/plain")).run()
    assert not problems(at), problems(at)
    errs = texts(at.main.error)
    assert len(errs) == 1 and "notes.txt" in errs[0] and "junk" not in errs[0], errs


def test_a_checkpoint_of_another_kind_of_model_is_named_and_explained(tmp_path):
    path = tmp_path / "resnet18.safetensors"
    save_file({"conv1.weight": torch.zeros(8, 3, 7, 7), "layer1.0.bn1.weight": torch.zeros(8),
               "fc.weight": torch.zeros(10, 8)}, str(path))
    at = open_page(RECON, {"ckpt_src": "upload"})
    at.file_uploader(key="ckpt_upload").set_value(("resnet18.safetensors", path.read_bytes(),
                                                   "application/octet-stream")).run()
    errs = texts(at.main.error)
    assert len(errs) == 1, errs
    assert errs[0].startswith("resnet18.safetensors is not an MAE checkpoint: it has no patch-embedding weights")
    assert "ResNet" in errs[0] and "missing key" not in errs[0]


def test_the_attention_budget_message_suggests_only_what_the_page_controls():
    at = open_page(ATTN, {"I": 1024, "p": 2, "erf": "off"})
    assert not problems(at)
    budget = [e for e in texts(at.main.error) if "budget" in e]
    assert budget and "mask ratio" not in budget[0] and "larger patch size" in budget[0], budget


def test_a_published_model_not_downloaded_is_not_also_asked_for(monkeypatch, tmp_path):
    monkeypatch.setenv("MAE_CACHE_DIR", str(tmp_path / "cache"))
    for k in ("MAE_MODEL_LIBRARY", "MAE_CATALOGUE", "MAE_ALLOW_DOWNLOADS"):
        monkeypatch.delenv(k, raising=False)
    at = open_page(RECON, {"ckpt_src": "published"})
    assert not problems(at)
    infos = texts(at.main.info)
    assert any("not downloaded yet" in i for i in infos), infos
    assert not any("Choose a checkpoint" in i for i in infos), infos
    monkeypatch.setenv("MAE_ALLOW_DOWNLOADS", "0")
    at = open_page(RECON, {"ckpt_src": "published"})
    infos = texts(at.main.info)
    assert any("not on this server" in i for i in infos) and not any("Choose a checkpoint" in i for i in infos)


# ------------------------------------------------------------------ state kept for the browser session
def test_an_uploaded_checkpoint_is_used_on_every_page_without_a_second_upload(family_env):
    good = Path(family_env["p16-m1"]).read_bytes()
    at = open_page(RECON, {"ckpt_src": "upload"})
    at.file_uploader(key="ckpt_upload").set_value(("mine.safetensors", good, "application/octet-stream")).run()
    assert not at.error and "**mine.safetensors**" in at.main.caption[0].value
    at.switch_page(ATTN).run()  # the uploader there starts empty
    assert not problems(at) and not at.main.error, texts(at.main.error)
    assert any("Using **mine.safetensors**" in c for c in texts(at.sidebar.caption))
    assert any("mine.safetensors" in md for md in texts(at.main.markdown))
    at.switch_page("app_pages/checkpoints.py").run()
    assert any(h.value == "mine.safetensors" for h in at.subheader)


def test_the_comparison_starts_with_another_checkpoint_than_the_main_one():
    at = open_page(ATTN, {"cmp": "checkpoint", "erf": "off"})  # main: p8-m2, the default
    assert not problems(at)
    assert at.selectbox(key="b_ckpt").value == "p16-m1"  # the trained pair
    at = open_page(ATTN, {"ckpt": "p8-m1", "cmp": "checkpoint", "erf": "off"})
    assert at.selectbox(key="b_ckpt").value != "p8-m1"


def test_the_uploader_states_the_limit_the_app_applies(monkeypatch):
    from ui import resources

    monkeypatch.delenv("MAE_MAX_CHECKPOINT_MB", raising=False)
    at = open_page(RECON, {"ckpt_src": "upload"})
    up = at.file_uploader(key="ckpt_upload")
    assert up.proto.max_upload_size_mb >= 1500  # a ViT-L checkpoint (about 1.3 GB) uploads locally
    assert f"up to {up.proto.max_upload_size_mb:,} MB" in up.label
    monkeypatch.setenv("MAE_MAX_CHECKPOINT_MB", "200")  # what a hosted operator sets
    at = open_page(RECON, {"ckpt_src": "upload"})
    up = at.file_uploader(key="ckpt_upload")
    assert up.proto.max_upload_size_mb == 200 and "up to 200 MB" in up.label
    assert resources.checkpoint_limit_mb() == 200


# ------------------------------------------------------------------ errors where the user is looking
def test_broken_checkpoint_upload_shows_one_line_in_the_main_area(tmp_path):
    from mae_core.model import MAEConfig, build_model

    m = build_model(MAEConfig(img_size=64, patch_size=8, embed_dim=32, depth=1, num_heads=2, decoder_embed_dim=32,
                              decoder_depth=1, decoder_num_heads=2))
    torch.save({"model": m.state_dict()}, tmp_path / "model.pth")
    cut = (tmp_path / "model.pth").read_bytes()
    cut = cut[: len(cut) // 2]
    at = open_page(RECON)
    at.radio(key="ckpt_src").set_value("upload").run()
    at.file_uploader(key="ckpt_upload").set_value(("model.pth", cut, "application/octet-stream")).run()
    assert not at.exception
    errs = main_errors(at)
    assert len(errs) == 1, errs
    assert errs[0].startswith("model.pth is not a complete") and "truncated or still downloading" in errs[0]
    assert not [w for w in INTERNALS if w in errs[0]], errs[0]
    assert not any("Choose a checkpoint" in i for i in main_infos(at)), main_infos(at)


def test_broken_image_upload_shows_one_line_in_the_main_area():
    at = open_page(RECON)
    at.selectbox(key="img").set_value("upload").run()
    at.file_uploader(key="img_upload").set_value(("photo.png", png()[:60], "image/png")).run()
    assert not at.exception
    errs = main_errors(at)
    assert len(errs) == 1 and "not a readable image" in errs[0], errs
    assert "photo.png" in errs[0]
    assert not [w for w in INTERNALS if w in errs[0]], errs[0]
    assert not any("Choose a checkpoint" in i for i in main_infos(at)), main_infos(at)


@pytest.mark.parametrize("page", ["app_pages/sequence_grid.py", "app_pages/attention.py",
                                  "app_pages/checkpoints.py"])
def test_a_missing_path_is_reported_in_the_main_area_of_every_page(page, tmp_path):
    at = open_page(page, {"gmode": "resampled"} if "grid" in page else None)
    at.radio(key="ckpt_src").set_value("path").run()
    at.text_input(key="ckpt_path").set_value(str(tmp_path / "nope.pth")).run()
    assert not at.exception
    assert any("no checkpoint at" in e for e in main_errors(at)), (main_errors(at), [e.value for e in at.error])
    assert not any(i.startswith("Choose") for i in main_infos(at)), main_infos(at)


def test_a_folder_lists_what_it_skipped_and_why(tmp_path):
    good = tiny_ckpt(tmp_path / "models", "good")
    (tmp_path / "models" / "cut.safetensors").write_bytes(good.read_bytes()[:100])
    at = open_page(RECON)
    at.radio(key="ckpt_src").set_value("path").run()
    at.text_input(key="ckpt_path").set_value(str(tmp_path / "models")).run()
    assert not at.exception and not main_errors(at), main_errors(at)
    assert at.selectbox(key="ckpt_file").options == ["good.safetensors"]
    side = " ".join(c.value for c in at.sidebar.caption) + " ".join(m.value for m in at.sidebar.markdown)
    assert "cut.safetensors" in side and "truncated" in side, side


# ------------------------------------------------------------------ the target control
def test_target_control_overrides_the_probe_without_touching_the_shared_model(tmp_path):
    from ui import resources

    path = tiny_ckpt(tmp_path / "probe", "unrecorded", recorded_target=False)
    at = open_page(RECON, {"ckpt_src": "path", "ckpt_path": str(path)})
    assert not at.exception and not main_errors(at), main_errors(at)
    target = at.selectbox(key="target")
    assert target.value == "auto" and "probe" in target.format_func("auto")
    _, auto_info, _ = resources.load(path)
    assert auto_info.target_source == "probe"
    probed_norm = auto_info.target == "normalised pixels"
    assert ("denorm" in [r.key for r in at.radio]) == probed_norm
    other = "pixels" if probed_norm else "norm-pix"  # the opposite of what the probe said
    at.selectbox(key="target").set_value(other).run()
    assert not at.exception and not main_errors(at), main_errors(at)
    assert at.query_params["target"] in (other, [other])
    assert ("denorm" in [r.key for r in at.radio]) == (other == "norm-pix")  # the norm-pix controls follow
    assert any(m.label.startswith("statistics-fill") for m in at.metric) == (other == "norm-pix")
    rows = {r["metric"]: r["value"] for r in at.dataframe[0].value.to_dict("records")}
    assert rows["target_choice"] == other
    assert rows["target"] == ("normalised pixels" if other == "norm-pix" else "pixels")
    # the cached, shared auto model is another object and still says what the probe decided
    model, info, _ = resources.load(path)
    assert info.target_source == "probe" and model.cfg.norm_pix_loss == probed_norm
    over, over_info, _ = resources.load(path, target=other)
    assert over is not model and over.cfg.norm_pix_loss == (other == "norm-pix")
    assert over_info.target_source == "your choice"


# ------------------------------------------------------------------ the fit control
def test_fit_control_is_in_the_url_and_the_results(tmp_path):
    at = open_page(RECON)
    at.selectbox(key="img").set_value("upload").run()
    at.file_uploader(key="img_upload").set_value(("wide.png", png((120, 40)), "image/png")).run()
    assert at.radio(key="fit").value == "stretch"
    at.radio(key="fit").set_value("pad").run()
    assert not at.exception and not main_errors(at), main_errors(at)
    assert at.query_params["fit"] in ("pad", ["pad"])
    rows = {r["metric"]: r["value"] for r in at.dataframe[0].value.to_dict("records")}
    assert rows["fit"] == "pad"
    assert any("pad" in c.value and "grey" in c.value for c in at.main.caption)


@pytest.mark.parametrize("page", ["app_pages/sequence_grid.py", "app_pages/attention.py"])
def test_fit_from_a_link_reaches_every_page_that_shows_an_image(page):
    at = open_page(page, {"fit": "crop"})
    assert not at.exception and not main_errors(at), main_errors(at)
    assert at.radio(key="fit").value == "crop"
    assert at.query_params["fit"] in ("crop", ["crop"])
