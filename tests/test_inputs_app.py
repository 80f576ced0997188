"""The dashboard with the inputs users bring (AppTest, tiny random family): errors shown in the main area in the
user's terms, the target control, the fit control, folders with files that cannot be loaded."""
from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import torch
from PIL import Image
from conftest import open_page

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
RECON = "app_pages/reconstruction.py"
TIMEOUT = 180
INTERNALS = ("PytorchStreamReader", "SafetensorError", "RuntimeError", "UnpicklingError", "BytesIO", "0x",
             "Traceback", "UnidentifiedImageError")


pytestmark = pytest.mark.usefixtures("family_env")


def main_errors(at) -> list[str]:
    return [e.value for e in at.main.error]


def main_infos(at) -> list[str]:
    return [e.value for e in at.main.info]


def png(size=(40, 30), color=(200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def tiny_ckpt(folder: Path, name="mine", recorded_target=True, seed=0) -> Path:
    """A random 64-px p8 model; without a recorded target when asked (a sidecar without norm_pix_loss)."""
    from safetensors.torch import save_file

    from mae_core.model import MAEConfig, build_model
    from mae_core.checkpoints import save_checkpoint

    torch.manual_seed(seed)
    m = build_model(MAEConfig(img_size=64, patch_size=8, embed_dim=32, depth=1, num_heads=2, decoder_embed_dim=32,
                              decoder_depth=1, decoder_num_heads=2))
    folder.mkdir(parents=True, exist_ok=True)
    if recorded_target:
        return save_checkpoint(m, folder / f"{name}.safetensors")
    save_file({k: v.contiguous() for k, v in m.state_dict().items()}, str(folder / f"{name}.safetensors"))
    cfg = m.cfg.to_dict()
    del cfg["norm_pix_loss"]
    (folder / f"{name}.json").write_text(json.dumps({"config": cfg}))
    return folder / f"{name}.safetensors"


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


def test_checkpoints_page_shows_the_probe_evidence_beside_its_verdict(tmp_path):
    path = tiny_ckpt(tmp_path / "probe2", "unrecorded", recorded_target=False, seed=1)
    at = open_page("app_pages/checkpoints.py", {"ckpt_src": "path", "ckpt_path": str(path)})
    assert not at.exception and not main_errors(at), main_errors(at)
    beside = [m.value for m in at.main.markdown if "probe" in m.value and "0.25" in m.value]  # not only a note
    assert beside, [m.value for m in at.main.markdown]
    assert "0.4" in beside[0] and "MSE to pixels" in beside[0] and "target" in beside[0].lower(), beside[0]


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
