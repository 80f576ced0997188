"""The checkpoint picker's "Published models" and "Model library" sources, and checkpoint uploads (limit, stale
results, zipped transformers folders), with AppTest. Downloads come from a loopback server (tests/loopback.py)."""
from __future__ import annotations

import io
import json
import os
import stat
import zipfile
from pathlib import Path

import pytest

import published_fixtures as pf
from loopback import FileServer
from mae_core import fetch
from mae_core.catalogue import load_catalogue
from mae_core.errors import CheckpointError
from ui.uploads import extract_model_zip
from conftest import open_page

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
RECON = "app_pages/reconstruction.py"
TIMEOUT = 180


@pytest.fixture(autouse=True)
def app_env(tiny_family, monkeypatch, tmp_path):
    """The tiny embedded family, a private download cache and HF cache, and no operator settings."""
    monkeypatch.setenv("MAE_CHECKPOINT_DIR", str(Path(next(iter(tiny_family.values()))).parent))
    monkeypatch.setenv("MAE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    for k in ("MAE_MODEL_LIBRARY", "MAE_CATALOGUE", "MAE_ALLOW_DOWNLOADS", "MAE_ALLOW_LOCAL_PATHS",
              "MAE_MAX_CHECKPOINT_MB", "HF_HUB_OFFLINE", "HF_ENDPOINT"):
        monkeypatch.delenv(k, raising=False)
    return tmp_path


@pytest.fixture
def server():
    with FileServer() as srv:
        yield srv


def problems(at):
    return [e.value for e in at.exception]


def main_errors(at):
    return [e.value for e in at.main.error]


def metrics(at) -> dict:
    return {m.label: m.value for m in at.metric}


def user_catalogue(tmp_path, monkeypatch, *entries) -> Path:
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"entries": list(entries)}))
    monkeypatch.setenv("MAE_CATALOGUE", str(path))
    return path


# ------------------------------------------------------------------ published models
def test_published_models_list_every_entry_with_what_it_shows():
    at = open_page(RECON, {"ckpt_src": "published"})
    assert not problems(at) and not at.error, [e.value for e in at.error]
    sel = at.selectbox(key="ckpt_pub")
    assert set(sel.options) == {e.id for e in load_catalogue(include_env=False)}
    assert sel.value == "mae-vit-large-visualize"  # the default: ViT-L pixel reconstructions
    text = " ".join(c.value for c in at.sidebar.caption)
    assert "pixel-target" in text and "ViT-L/16 + decoder dec512d16h8b" in text
    assert "size not published" in text and "Shows: colour reconstructions" in text
    assert "licence CC-BY-NC 4.0" in text
    btn = at.button(key="ckpt_download")
    assert not btn.disabled and "Download" in btn.label
    assert any("not downloaded yet" in i.value for i in at.main.info)
    assert at.query_params["ckpt_pub"] == "mae-vit-large-visualize"
    at.selectbox(key="ckpt_pub").set_value("longseq-vit-large-in1k-1600ep").run()
    text = " ".join(c.value for c in at.sidebar.caption)
    assert "long-seq" in text and "native I=448, p=16, mask unit 2" in text


def test_download_button_fetches_verifies_and_shows_the_reconstruction(server, app_env, monkeypatch):
    data = pf.official_pth(7)
    url = server.add("/mae/visualize/" + pf.VIS_NAME, data)
    user_catalogue(app_env, monkeypatch, pf.entry_dict("tiny-visualize", url=url, md5_prefix=pf.md5(data)[:6]))
    at = open_page(RECON, {"ckpt_src": "published", "ckpt_pub": "tiny-visualize"})
    assert not problems(at) and "masked MSE" not in metrics(at)
    at.button(key="ckpt_download").click().run()
    assert not problems(at) and not at.error, [e.value for e in at.error]
    m = metrics(at)
    assert m["L"] == "16" and 0 < float(m["masked MSE"]) < 10  # 32 px at p=8, the tiny model's native geometry
    assert (app_env / "cache" / "tiny-visualize" / pf.VIS_NAME).read_bytes() == data
    assert [r[3] for r in server.requests("GET")] == [200]
    # next run: listed as downloaded, loaded without a request, no Download button
    at.run()
    assert not problems(at) and "masked MSE" in metrics(at)
    assert at.selectbox(key="ckpt_pub").format_func("tiny-visualize").startswith("✓")
    assert not [b for b in at.button if b.key == "ckpt_download"]
    assert len(server.requests("GET")) == 1


def test_two_sessions_pressing_download_at_once_share_one_download(server, app_env, monkeypatch):
    import threading

    data = pf.official_pth(12)
    url = server.add("/mae/visualize/" + pf.VIS_NAME, data, delay=0.02)  # slow: both sessions press during it
    user_catalogue(app_env, monkeypatch, pf.entry_dict("tiny-visualize", url=url, md5_prefix=pf.md5(data)[:6]))
    sessions = [open_page(RECON, {"ckpt_src": "published", "ckpt_pub": "tiny-visualize"}) for _ in range(2)]
    for at in sessions:
        at.button(key="ckpt_download").click()
    threads = [threading.Thread(target=at.run) for at in sessions]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    for at in sessions:
        assert not problems(at) and not at.error, [e.value for e in at.error]
        assert metrics(at)["L"] == "16"
    assert len(server.requests("GET")) == 1  # one download, followed by both sessions
    assert (app_env / "cache" / "tiny-visualize" / pf.VIS_NAME).read_bytes() == data


def test_a_download_outlives_the_page_run_that_started_it(server, app_env, monkeypatch):
    from mae_core.catalogue import load_catalogue as load
    from ui import catalogue_picker

    data = pf.official_pth(13)
    url = server.add("/mae/visualize/" + pf.VIS_NAME, data, delay=0.03)
    cat = user_catalogue(app_env, monkeypatch, pf.entry_dict("tiny-visualize", url=url))
    entry = load([cat], include_env=False).get("tiny-visualize")
    job = catalogue_picker.start_download(entry)  # pressed in a page run that has since been replaced
    assert job.running and catalogue_picker.start_download(entry) is job  # a second press joins it
    at = open_page(RECON, {"ckpt_src": "published", "ckpt_pub": "tiny-visualize"})  # follows it, then shows it
    assert not problems(at) and not at.error, [e.value for e in at.error]
    assert "masked MSE" in metrics(at)
    assert len(server.requests("GET")) == 1 and catalogue_picker.current_job(entry) is None


def test_a_failed_download_is_one_line_in_the_main_area(server, app_env, monkeypatch):
    user_catalogue(app_env, monkeypatch, pf.entry_dict("tiny-gone", url=server.base + "/gone/" + pf.VIS_NAME))
    at = open_page(RECON, {"ckpt_src": "published", "ckpt_pub": "tiny-gone"})
    at.button(key="ckpt_download").click().run()
    assert not problems(at)
    errs = main_errors(at)
    assert len(errs) == 1 and "HTTP 404" in errs[0] and "\n" not in errs[0]
    assert "masked MSE" not in metrics(at)


def test_downloads_are_off_by_default_on_a_hosted_server_and_say_why(monkeypatch):
    monkeypatch.setenv("MAE_ALLOW_LOCAL_PATHS", "0")  # the hosted setting
    at = open_page(RECON, {"ckpt_src": "published"})
    assert not problems(at)
    btn = at.button(key="ckpt_download")
    assert btn.disabled and "MAE_ALLOW_DOWNLOADS=0" in btn.help
    info = " ".join(i.value for i in at.sidebar.info)
    assert "switched off" in info and "python -m mae_core fetch mae-vit-large-visualize --cache-dir" in info
    monkeypatch.setenv("MAE_ALLOW_DOWNLOADS", "1")  # the operator's explicit choice wins
    at = open_page(RECON, {"ckpt_src": "published"})
    assert not at.button(key="ckpt_download").disabled


# ------------------------------------------------------------------ hosted model library
def test_hosted_library_shows_the_operators_checkpoints_by_name(server, app_env, monkeypatch, tiny_family):
    data = pf.official_pth(8)
    url = server.add("/mae/visualize/" + pf.VIS_NAME, data)
    cat = user_catalogue(app_env, monkeypatch, pf.entry_dict("tiny-visualize", url=url))
    lib1, lib2 = app_env / "lib1", app_env / "lib2"
    # the operator's command pre-fetches a catalogue entry into the library...
    fetch.fetch(load_catalogue([cat], include_env=False).get("tiny-visualize"), lib1)
    # ...and copies one of their own checkpoints into another library folder
    lib2.mkdir()
    (lib2 / "ours-p16.safetensors").write_bytes(Path(tiny_family["p16-m1"]).read_bytes())
    monkeypatch.setenv("MAE_MODEL_LIBRARY", os.pathsep.join([str(lib1), str(lib2)]))
    monkeypatch.setenv("MAE_ALLOW_LOCAL_PATHS", "0")
    server.stop()  # the library needs no network
    at = open_page(RECON, {"ckpt_src": "library"})
    assert not problems(at) and not at.error, [e.value for e in at.error]
    src = at.radio(key="ckpt_src")
    assert "Model library" in src.options and "Local path" not in src.options  # no path typing when hosted
    sel = at.selectbox(key="ckpt_lib")
    assert list(sel.options) == ["tiny-visualize", "ours-p16.safetensors"]
    assert metrics(at)["L"] == "16"
    assert "pixel-target" in " ".join(c.value for c in at.sidebar.caption)
    sel.set_value("ours-p16.safetensors").run()
    assert not problems(at) and not at.error
    assert metrics(at)["L"] == "16" and at.query_params["ckpt_lib"] == "ours-p16.safetensors"
    # the same library entry counts as downloaded under Published models, even with downloads off
    at = open_page(RECON, {"ckpt_src": "published", "ckpt_pub": "tiny-visualize"})
    assert not at.error and "masked MSE" in metrics(at)


# ------------------------------------------------------------------ uploads
def test_an_over_limit_upload_replaces_the_previous_result_with_one_line(monkeypatch, tiny_family):
    good = Path(tiny_family["p8-m1"]).read_bytes()
    big = Path(tiny_family["p16-m1"]).read_bytes()
    limit = (len(good) + len(big)) / 2 / 2**20
    monkeypatch.setenv("MAE_MAX_CHECKPOINT_MB", str(limit))  # configurable, read at use
    at = open_page(RECON, {"ckpt_src": "upload"})
    # the uploader states the app's limit (the browser refuses bigger files with it); a file that reaches the app
    # anyway gets the app's own message
    assert at.file_uploader(key="ckpt_upload").proto.max_upload_size_mb == 1  # the widget's cap in whole MB
    assert f"up to {limit:.2f} MB" in at.file_uploader(key="ckpt_upload").label
    at.file_uploader(key="ckpt_upload").set_value(("mine.safetensors", good, "application/octet-stream")).run()
    assert not problems(at) and "masked MSE" in metrics(at)
    at.file_uploader(key="ckpt_upload").set_value(("bigger.safetensors", big, "application/octet-stream")).run()
    assert not problems(at)
    errs = main_errors(at)
    assert len(errs) == 1 and "bigger.safetensors" in errs[0] and "upload limit" in errs[0]
    assert "MAE_MAX_CHECKPOINT_MB" in errs[0] and "\n" not in errs[0]
    assert "masked MSE" not in metrics(at)  # the previous checkpoint's results are gone
    assert "mine.safetensors" not in " ".join(c.value for c in at.main.caption)


def _zip(files: dict, folder: str = "vit-mae-tiny", links: dict | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(f"{folder}/{name}" if folder else name, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            z.writestr(info, target)
    return buf.getvalue()


def test_a_zipped_transformers_folder_uploads_and_reconstructs():
    files = pf.hf_repo_files(9, "model.safetensors")
    at = open_page(RECON, {"ckpt_src": "upload"})
    at.file_uploader(key="ckpt_upload").set_value(("vit-mae-tiny.zip", _zip(files | {"README.md": b"# hi"}),
                                                   "application/zip")).run()
    assert not problems(at) and not at.error, [e.value for e in at.error]
    assert metrics(at)["L"] == "16" and "vit-mae-tiny.zip" in at.main.caption[0].value
    bad = _zip({"config.json": files["config.json"], "../../escape.json": b"{}"}, folder="")
    at.file_uploader(key="ckpt_upload").set_value(("evil.zip", bad, "application/zip")).run()
    errs = main_errors(at)
    assert not problems(at) and len(errs) == 1 and "leaves its folder" in errs[0]
    assert "masked MSE" not in metrics(at)


@pytest.mark.parametrize("case, match", [
    ("absolute", "unsafe path"), ("dotdot", "leaves its folder"), ("symlink", "symbolic link"),
    ("bomb", "zip bomb"), ("too_big", "unpacks to more than"), ("many", "entries"), ("no_config", "no config.json"),
    ("two_folders", "more than one folder"), ("not_zip", "cannot be read"), ("backslash", "unsafe path"),
])
def test_unsafe_zips_are_refused_and_leave_nothing(tmp_path, case, match):
    cfg = b'{"model_type": "vit_mae"}'
    data = {
        "absolute": lambda: _zip({"/etc/config.json": cfg}, folder=""),
        "dotdot": lambda: _zip({"a/../../config.json": cfg}, folder=""),
        "symlink": lambda: _zip({"config.json": cfg}, links={"vit/model.safetensors": "/etc/passwd"}),
        "bomb": lambda: _zip({"config.json": cfg, "model.safetensors": bytes(3 * 2**19)}),  # 1.5 MB of zeros
        "too_big": lambda: _zip({"config.json": cfg, "model.safetensors": os.urandom(3 * 2**20)}),
        "many": lambda: _zip({f"f{i}.json": cfg for i in range(70)}),
        "no_config": lambda: _zip({"model.safetensors": b"x" * 100}),
        "two_folders": lambda: _zip({"a/config.json": cfg, "b/model.safetensors": b"x"}, folder=""),
        "not_zip": lambda: b"PK\x03\x04 but not really a zip",
        "backslash": lambda: _zip({"..\\config.json": cfg}, folder=""),
    }[case]()
    dest = tmp_path / "out" / "model"
    with pytest.raises(CheckpointError, match=match) as e:
        extract_model_zip(data, dest, max_bytes=2 * 2**20)
    assert "\n" not in str(e.value)
    assert not dest.exists()
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_good_zip_unpacks_only_the_model_files(tmp_path):
    files = pf.hf_repo_files(10, "pytorch_model.bin")
    out = extract_model_zip(_zip(files | {".gitattributes": b"*"}), tmp_path / "m", max_bytes=2**26)
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "pytorch_model.bin"]
    assert (out / "pytorch_model.bin").read_bytes() == files["pytorch_model.bin"]
