"""Downloads of catalogue entries, all over 127.0.0.1 (tests/loopback.py): full download, resume after a dropped
connection (the retry sends Range, the server answers 206), corrupt bodies and wrong checksums (refused, deleted, one
line), 404, an unreachable server, the hub path (huggingface_hub against a server that answers like the hub), cached
files with the network off, and two sessions downloading the same entry at once."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import published_fixtures as pf
from loopback import FileServer, closed_port_url
from mae_core import fetch
from mae_core.catalogue import parse_entry
from mae_core.checkpoints import load_checkpoint

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def blobs():
    """The fixture files, built once: name -> bytes."""
    return {"vis": pf.official_pth(1), "pretrain": pf.official_pth(2, encoder_only=True),
            "longseq": pf.longseq_pth(3), "longseq_enc": pf.longseq_pth(4, with_decoder=False),
            "hub_bin": pf.hf_repo_files(5, "pytorch_model.bin"), "hub_st": pf.hf_repo_files(6, "model.safetensors")}


@pytest.fixture
def server():
    with FileServer() as srv:
        yield srv


@pytest.fixture
def env(monkeypatch, tmp_path):
    """A private default cache, HF cache and no library; nothing from the developer's environment."""
    monkeypatch.setenv("MAE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    for k in ("MAE_MODEL_LIBRARY", "HF_HUB_CACHE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_ENDPOINT",
              "MAE_CATALOGUE", "MAE_ALLOW_DOWNLOADS", "MAE_ALLOW_LOCAL_PATHS"):
        monkeypatch.delenv(k, raising=False)
    return tmp_path


def one_line(e) -> str:
    s = str(e.value)
    assert "\n" not in s and 0 < len(s) < 400, s
    return s


def vis_entry(url, data=None, **kw):
    extra = {"md5_prefix": pf.md5(data)[:6]} if data is not None else {}
    return parse_entry(pf.entry_dict("tiny-visualize", url=url, **(extra | kw)))


def leftovers(root: Path, entry_id: str) -> list[str]:
    """Files of an entry anywhere in the cache (final folder or staging)."""
    out = []
    for d in (root / entry_id, root / f".{entry_id}.partial"):
        if d.exists():
            out += [str(p.relative_to(root)) for p in d.rglob("*") if p.is_file()]
    return out


# ------------------------------------------------------------------ plain URLs
def test_full_download_is_checked_published_and_then_served_from_the_cache(server, env, blobs):
    data = blobs["vis"]
    url = server.add("/mae/visualize/" + pf.VIS_NAME, data)
    e = vis_entry(url, data)
    seen = []
    path = fetch.fetch(e, progress=lambda done, total: seen.append((done, total)))
    cache = env / "cache"
    assert path == cache / e.id / pf.VIS_NAME  # the published file name: the loader reads "visualize" from it
    assert path.read_bytes() == data
    assert seen[-1] == (len(data), len(data)) and len(seen) > 2  # progress in bytes, with the total
    r = fetch.read_receipt(path)
    assert r["md5"] == pf.md5(data) and r["sha256"] == hashlib.sha256(data).hexdigest()
    assert r["class"] == "pixel-target" and r["num_heads"] == 2 and r["decoder_num_heads"] == 4
    assert any("starts with the published" in c for c in r["checks"])
    assert fetch.heads_for(path) == {"num_heads": 2, "decoder_num_heads": 4}
    assert [(m, rng, st) for m, _, rng, st in server.log] == [("GET", None, 200)]
    assert not (cache / f".{e.id}.partial").exists()
    # cached: no request at all the second time, and the library finds it
    assert fetch.fetch(e) == path and len(server.log) == 1
    assert fetch.cached(e) == path
    model, info = load_checkpoint(path, **fetch.heads_for(path))
    assert info.kind == "pixel-target" and info.format == "facebookresearch/mae .pth"


def test_dropped_connection_is_resumed_with_a_range_request(server, env, blobs):
    data = blobs["vis"]
    url = server.add("/mae/" + pf.VIS_NAME, data, break_after=150_000)
    e = vis_entry(url, data)
    path = fetch.fetch(e)
    assert hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(data).digest()
    gets = server.requests("GET")
    assert len(gets) == 2
    assert gets[0][2:] == (None, 200)
    rng, status = gets[1][2:]
    assert status == 206 and rng.startswith("bytes=") and rng.endswith("-")
    start = int(rng[len("bytes="):-1])
    assert 0 < start <= 150_000  # resumed from what was written, not from zero


def test_an_interrupted_fetch_keeps_its_partial_file_and_the_next_fetch_resumes_it(server, env, blobs):
    data = blobs["vis"]
    url = server.add("/mae/" + pf.VIS_NAME, data, break_after=200_000)
    e = vis_entry(url, data)
    with pytest.raises(fetch.FetchError, match="broke off") as ex:
        fetch.fetch(e, retries=0)
    assert "again to resume" in one_line(ex)
    part = env / "cache" / f".{e.id}.partial" / (pf.VIS_NAME + ".part")
    have = part.stat().st_size
    assert 0 < have < len(data)
    assert fetch.cached(e) is None  # not available before its checks
    path = fetch.fetch(e)
    assert path.read_bytes() == data
    assert server.requests("GET")[-1][2:] == (f"bytes={have}-", 206)


def test_corrupt_body_fails_the_published_checksum_and_is_deleted(server, env, blobs):
    data = blobs["vis"]
    url = server.add("/mae/" + pf.VIS_NAME, data, corrupt=True)
    e = vis_entry(url, data)
    with pytest.raises(fetch.FetchError, match="checksum mismatch") as ex:
        fetch.fetch(e)
    msg = one_line(ex)
    assert pf.md5(data)[:6] in msg and "deleted" in msg
    assert leftovers(env / "cache", e.id) == [] and fetch.cached(e) is None


def test_wrong_published_checksum_is_refused_and_deleted(server, env, blobs):
    data = blobs["vis"]
    url = server.add("/mae/" + pf.VIS_NAME, data)
    wrong = "0" * 6 if not pf.md5(data).startswith("0" * 6) else "f" * 6
    e = vis_entry(url, md5_prefix=wrong)
    with pytest.raises(fetch.FetchError, match=f"published md5 starts {wrong}") as ex:
        fetch.fetch(e)
    one_line(ex)
    assert leftovers(env / "cache", e.id) == []


def test_a_body_that_is_not_a_checkpoint_is_refused_by_the_strict_loader(server, env):
    # a captive portal answering 200 with a web page, for an entry without a published checksum
    url = server.add("/mae/" + pf.VIS_NAME, b"<html><body>Sign in to the Wi-Fi</body></html>" * 50)
    e = vis_entry(url)
    with pytest.raises(fetch.FetchError, match="strict loader") as ex:
        fetch.fetch(e)
    assert "deleted" in one_line(ex)
    assert leftovers(env / "cache", e.id) == []


def test_a_file_of_another_architecture_is_refused(server, env, blobs):
    url = server.add("/mae/" + pf.VIS_NAME, blobs["vis"])
    d = pf.entry_dict("tiny-visualize", url=url)
    d["architecture"]["decoder"]["embed_dim"] = 64  # the catalogue expects a 64-wide decoder; the file has 48
    e = parse_entry(d)
    with pytest.raises(fetch.FetchError, match="does not match the catalogue") as ex:
        fetch.fetch(e)
    assert "decoder 48 wide" in one_line(ex) and "dec64d4h1b" in one_line(ex)
    assert leftovers(env / "cache", e.id) == []


def test_a_file_with_another_target_is_refused(server, env, blobs):
    url = server.add("/long_seq_mae/in1k/" + pf.LONGSEQ_NAME, blobs["longseq"])  # its args say norm_pix_loss
    e = parse_entry(pf.entry_dict("tiny-longseq", url=url, kind="long-seq", fmt="facebookresearch/long_seq_mae .pth",
                                  mask_unit=2, target="pixels"))
    with pytest.raises(fetch.FetchError, match=r"target normalised pixels \(expected pixels\)") as ex:
        fetch.fetch(e)
    one_line(ex)


def test_404_says_so_in_one_line(server, env):
    e = vis_entry(server.base + "/mae/nothing_here.pth")
    with pytest.raises(fetch.FetchError, match="HTTP 404") as ex:
        fetch.fetch(e)
    one_line(ex)
    assert fetch.cached(e) is None


def test_unreachable_server_says_so_in_one_line(env):
    e = vis_entry(closed_port_url("/mae/" + pf.VIS_NAME))
    with pytest.raises(fetch.FetchError, match="cannot reach 127.0.0.1") as ex:
        fetch.fetch(e, timeout=5)
    assert "nothing was downloaded" in one_line(ex)


def test_long_seq_release_layout_is_verified_as_long_seq(server, env, blobs):
    url = server.add("/long_seq_mae/in1k/" + pf.LONGSEQ_NAME, blobs["longseq"])
    e = parse_entry(pf.entry_dict("tiny-longseq", url=url, kind="long-seq", fmt="facebookresearch/long_seq_mae .pth",
                                  decoder="unverified", mask_unit=2))
    path = fetch.fetch(e)
    r = fetch.read_receipt(path)
    assert r["class"] == "long-seq" and r["mask_unit"] == 2 and r["has_decoder"]
    assert any("q_bias" in n for n in r["notes"])


def test_long_seq_release_without_decoder_is_kept_as_attention_only(server, env, blobs):
    url = server.add("/long_seq_mae/in1k/" + pf.LONGSEQ_NAME, blobs["longseq_enc"])
    e = parse_entry(pf.entry_dict("tiny-longseq", url=url, kind="long-seq", fmt="facebookresearch/long_seq_mae .pth",
                                  decoder="unverified", mask_unit=2))
    r = fetch.read_receipt(fetch.fetch(e))
    assert r["class"] == "encoder-only" and not r["has_decoder"]
    # but where the catalogue says the decoder is expected, a file without it is refused
    e2 = parse_entry(pf.entry_dict("tiny-longseq2", url=url, kind="long-seq",
                                   fmt="facebookresearch/long_seq_mae .pth", mask_unit=2))
    with pytest.raises(fetch.FetchError, match="no decoder"):
        fetch.fetch(e2)


def test_two_sessions_downloading_the_same_entry_get_one_verified_file(server, env, blobs):
    data = blobs["vis"]
    url = server.add("/mae/" + pf.VIS_NAME, data, delay=0.05)  # slow: both start while the first is running
    e = vis_entry(url, data)
    results, waits, errors = [], [], []
    barrier = threading.Barrier(2)

    def session():
        barrier.wait()
        try:
            results.append(fetch.fetch(e, on_wait=waits.append))
        except Exception as ex:  # noqa: BLE001 - reported below
            errors.append(ex)

    threads = [threading.Thread(target=session) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert len(results) == 2 and results[0] == results[1]
    assert results[0].read_bytes() == data
    assert len(server.requests("GET")) == 1  # the second session waited and found the verified file
    assert len(waits) == 1 and "another session" in waits[0]
    assert sorted(p.name for p in (env / "cache").iterdir()) == [".locks", e.id]


# ------------------------------------------------------------------ the hub path
def hub_entry(repo="facebook/vit-mae-tiny", entry_id="hf-tiny"):
    return parse_entry(pf.entry_dict(entry_id, hub_id=repo, fmt="transformers ViTMAE"))


def test_hub_download_through_huggingface_hub_then_offline(server, env, blobs, monkeypatch):
    server.add_hub_repo("facebook/vit-mae-tiny", blobs["hub_bin"])  # no model.safetensors: pytorch_model.bin found
    monkeypatch.setenv("HF_ENDPOINT", server.base)
    e = hub_entry()
    seen = []
    path = fetch.fetch(e, progress=lambda d, t: seen.append((d, t)))
    assert path == env / "cache" / e.id and (path / "config.json").is_file()
    # the bytes live in huggingface_hub's cache under HF_HOME; our folder links to them
    blob = Path(os.path.realpath(path / "pytorch_model.bin"))
    assert blob.is_relative_to(env / "hf" / "hub") and blob.read_bytes() == blobs["hub_bin"]["pytorch_model.bin"]
    assert blob.name == hashlib.sha256(blob.read_bytes()).hexdigest()  # the hub's ETag, checked
    heads = [(m, p.rsplit("/", 1)[1], s) for m, p, _, s in server.log if m == "HEAD"]
    assert ("HEAD", "model.safetensors", 404) in heads and ("HEAD", "pytorch_model.bin", 200) in heads
    assert seen and seen[-1][0] == len(blobs["hub_bin"]["pytorch_model.bin"])
    r = fetch.read_receipt(path)
    assert r["format"] == "transformers ViTMAE (hub key names)" and r["class"] == "pixel-target"
    assert any("matches the hub's ETag" in c for c in r["checks"])
    model, info = load_checkpoint(path)
    assert info.config.num_heads == 2  # from config.json
    # network off: the verified copy is used without a request
    n = len(server.log)
    server.stop()
    assert fetch.fetch(e) == path and len(server.log) == n
    # and with HF_HUB_OFFLINE=1, huggingface_hub's own cache is enough to publish it again
    shutil.rmtree(path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    again = fetch.fetch(e)
    assert again == path and (again / "pytorch_model.bin").read_bytes() == blobs["hub_bin"]["pytorch_model.bin"]
    assert len(server.log) == n


def test_hub_offline_without_a_cached_copy_says_so(env, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(fetch.FetchError, match="HF_HUB_OFFLINE=1") as ex:
        fetch.fetch(hub_entry())
    assert "not in the Hugging Face cache" in one_line(ex)


def test_hub_missing_repo_and_corrupt_weights(server, env, blobs, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", server.base)
    with pytest.raises(fetch.FetchError, match="no model repository facebook/nope") as ex:
        fetch.fetch(hub_entry("facebook/nope", "hf-nope"))
    one_line(ex)
    files = blobs["hub_st"]
    server.add_hub_repo("facebook/vit-mae-bad", files, **{"model.safetensors": {"corrupt": True}})
    with pytest.raises(fetch.FetchError, match="does not match the hub's checksum") as ex:
        fetch.fetch(hub_entry("facebook/vit-mae-bad", "hf-bad"))
    one_line(ex)
    blobs_dir = env / "hf" / "hub" / "models--facebook--vit-mae-bad" / "blobs"
    assert not any(p.stat().st_size > 10_000 for p in blobs_dir.iterdir())  # the corrupt weights were deleted


def test_library_fetch_keeps_hub_files_inside_and_can_be_moved(server, env, blobs, monkeypatch):
    server.add_hub_repo("facebook/vit-mae-tiny", blobs["hub_st"])
    monkeypatch.setenv("HF_ENDPOINT", server.base)
    lib = env / "library"
    path = fetch.fetch(hub_entry(), lib)
    assert path == lib / "hf-tiny" and not (env / "hf").exists()  # nothing outside the library
    moved = env / "elsewhere"
    shutil.move(str(lib), str(moved))
    server.stop()
    assert fetch.cached(hub_entry(), [moved]) == moved / "hf-tiny"
    _, info = load_checkpoint(moved / "hf-tiny")
    assert info.format.startswith("transformers ViTMAE")


# ------------------------------------------------------------------ command line
def test_cli_fetch_shows_progress_and_catalogue_lists_it(server, env, blobs, tmp_path):
    data = blobs["vis"]
    url = server.add("/mae/visualize/" + pf.VIS_NAME, data)
    cat = tmp_path / "mine.json"
    cat.write_text(json.dumps({"entries": [pf.entry_dict("tiny-visualize", url=url, md5_prefix=pf.md5(data)[:8])]}))
    lib = tmp_path / "lib"
    run_env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-m", "mae_core", "fetch", "tiny-visualize", "--catalogue", str(cat),
                        "--cache-dir", str(lib)], capture_output=True, text=True, cwd=ROOT, env=run_env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(lib / "tiny-visualize" / pf.VIS_NAME)
    assert "100%" in r.stderr and "downloaded and verified" in r.stderr  # tqdm's bar, then the result
    r = subprocess.run([sys.executable, "-m", "mae_core", "catalogue", "--json", "--catalogue", str(cat),
                        "--cache-dir", str(lib)], capture_output=True, text=True, cwd=ROOT, env=run_env, timeout=120)
    assert r.returncode == 0, r.stderr
    rows = {x["id"]: x for x in json.loads(r.stdout)}
    assert rows["tiny-visualize"]["cached"] == str(lib / "tiny-visualize" / pf.VIS_NAME)
    assert rows["mae-vit-large-visualize"]["cached"] is None and len(rows) == 20
    # errors: one line on stderr, exit code 2
    r = subprocess.run([sys.executable, "-m", "mae_core", "fetch", "no-such-model"], capture_output=True, text=True,
                       cwd=ROOT, env=run_env, timeout=120)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "no catalogue entry" in r.stderr


def test_cli_hub_fetch_honours_hf_home_and_hf_endpoint_set_before_start(server, env, blobs, tmp_path):
    server.add_hub_repo("facebook/vit-mae-tiny", blobs["hub_bin"])
    cat = tmp_path / "hub.json"
    cat.write_text(json.dumps([pf.entry_dict("hf-tiny", hub_id="facebook/vit-mae-tiny", fmt="transformers ViTMAE")]))
    run_env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_ENDPOINT": server.base, "HF_HOME": str(tmp_path / "hfh"),
               "MAE_CACHE_DIR": str(tmp_path / "c")}
    r = subprocess.run([sys.executable, "-m", "mae_core", "fetch", "hf-tiny", "--catalogue", str(cat)],
                       capture_output=True, text=True, cwd=ROOT, env=run_env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(tmp_path / "c" / "hf-tiny")
    assert (tmp_path / "hfh" / "hub" / "models--facebook--vit-mae-tiny" / "blobs").is_dir()


def test_the_package_keeps_each_public_name_and_says_which_module_owns_it():
    """`from mae_core.fetch import X` keeps working for every public name; a monkeypatch must target the owner."""
    from mae_core.fetch import errors, limits, locations, pipeline, receipt, url_download, verify

    owners = {errors: ["FetchError", "Progress"], receipt: ["RECEIPT", "read_receipt", "heads_for"],
              locations: ["HUB_WEIGHTS", "cached", "default_cache_dir", "hf_cache_dir", "library_dirs",
                          "local_size", "search_dirs"],
              limits: ["downloads_allowed"], url_download: ["CHUNK"], verify: ["check_against_entry"],
              pipeline: ["fetch"]}
    for module, names in owners.items():
        for name in names:
            assert getattr(fetch, name) is getattr(module, name), name
    assert sorted(fetch.__all__) == sorted(n for ns in owners.values() for n in ns)
