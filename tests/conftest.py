"""Shared fixtures. The dashboard tests run on a tiny random-weight checkpoint family written to a temp folder
(MAE_CHECKPOINT_DIR points there), so they are fast and independent of the training jobs."""
from __future__ import annotations

import contextlib
import csv
from pathlib import Path

import pytest

from mae_core import assets

ROOT = Path(__file__).resolve().parent.parent

# Three of the family's members, each with its patch size and training mask unit (p, m), at a tiny scale.
TINY_FAMILY = {n: (assets.MEMBERS[n].patch_size, assets.MEMBERS[n].mask_unit) for n in ("p8-m2", "p8-m1", "p16-m1")}


def write_tiny_family(folder, image_size: int = 64, embed_dim: int = 32, depth: int = 1, num_heads: int = 2,
                      decoder_embed_dim: int = 32, decoder_depth: int = 1, decoder_num_heads: int = 2,
                      seed: int = 0) -> dict:
    """Random-weight MAEs named like the embedded family, in our .safetensors format, with a loss CSV each.

    Returns name -> path. Used by the app tests (tiny) and for running the app before training finishes."""
    import torch

    from mae_core.model import MAEConfig, build_model
    from mae_core.checkpoints import save_checkpoint

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for i, (name, (p, m)) in enumerate(TINY_FAMILY.items()):
        torch.manual_seed(seed + i)
        cfg = MAEConfig(img_size=image_size, patch_size=p, embed_dim=embed_dim, depth=depth, num_heads=num_heads,
                        decoder_embed_dim=decoder_embed_dim, decoder_depth=decoder_depth,
                        decoder_num_heads=decoder_num_heads, name=name)
        path = save_checkpoint(build_model(cfg), folder / f"{name}.safetensors",
                               training={"mask_unit": m, "mask_ratio": 0.75, "steps": 3, "target": "pixels",
                                         "note": "random weights (test fixture)", "loss_csv": f"{name}.loss.csv"})
        with open(folder / f"{name}.loss.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["step", "loss", "lr"])
            w.writerows([(1, 1.0, 1e-4), (2, 0.9, 1e-4), (3, 0.85, 1e-4)])
        out[name] = path
    return out


@pytest.fixture(scope="session")
def tiny_family(tmp_path_factory):
    """A tiny random family (name -> path) in a session temp folder. Point MAE_CHECKPOINT_DIR at its folder only
    where needed (and restore it): other test files run the CLI in subprocesses that inherit the environment."""
    return write_tiny_family(tmp_path_factory.mktemp("family"))


@pytest.fixture(scope="module")
def family_env(tiny_family):
    """MAE_CHECKPOINT_DIR -> the tiny family for the requesting module only (restored afterwards); -> name -> path.
    The dashboard test modules use it for every test (pytestmark usefixtures)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MAE_CHECKPOINT_DIR", str(Path(next(iter(tiny_family.values()))).parent))
        yield tiny_family


def randomise(module, seed: int):
    """Every parameter random (LayerNorm weights around 1), except the fixed sin-cos position tables; -> module
    in eval mode."""
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if "pos_embed" in name or "position_embeddings" in name:
                continue
            noise = torch.randn(p.shape, generator=g) * 0.2
            p.copy_(noise + 1.0 if ("norm" in name and name.endswith("weight")) else noise)
    return module.eval()


def shipped_family() -> dict:
    """The real embedded checkpoints under assets/checkpoints/ that exist now (trained by our own command)."""
    return {n: p for n, p in assets.family(assets.SHIPPED_DIR).items() if n in TINY_FAMILY}


# ------------------------------------------------------------------ files users bring
def png(size=(40, 30), color=(200, 30, 30)) -> bytes:
    """A plain-colour PNG's bytes, as an upload."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def tiny_ckpt(folder: Path, name="mine", recorded_target=True, seed=0) -> Path:
    """A random 64-px p8 model; without a recorded target when asked (a sidecar without norm_pix_loss)."""
    import json

    import torch
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


# ------------------------------------------------------------------ markers (registered in pyproject.toml)
# Applied here from what a test uses, so that a new browser or deployment test is marked without remembering to:
# anything that starts headless Chromium needs one of these fixtures, and every test of test_deploy.py runs nginx.
BROWSER_FIXTURES = {"browser", "app_url", "family_dir", "one_slot_url"}
DEPLOY_MODULES = {"test_deploy"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if BROWSER_FIXTURES & set(item.fixturenames):
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.slow)
        if item.module.__name__.rpartition(".")[2] in DEPLOY_MODULES:
            item.add_marker(pytest.mark.deploy)
            item.add_marker(pytest.mark.slow)


# ------------------------------------------------------------------ the app in AppTest
APP = str(ROOT / "app.py")


def open_page(page: str | None = None, query: dict | None = None, secrets: dict | None = None, at=None,
              timeout: float = 240):
    """A fresh session of the whole app (router, gate, URL state) opened on `page` with the given URL parameters,
    as when someone follows a shared link; `at` continues an existing session instead."""
    from streamlit.testing.v1 import AppTest

    at = at or AppTest.from_file(APP, default_timeout=timeout)
    for k, v in (secrets or {}).items():
        at.secrets[k] = v
    if query:
        at.query_params.update({k: str(v) for k, v in query.items()})
    if page:
        at.switch_page(page)
    return at.run()


# ------------------------------------------------------------------ headless Chromium against a real server
# The system Chromium (/usr/bin/chromium, Debian's package), never a downloaded browser. Without it the browser tests
# are skipped, except under CI=true, where they fail. Module-scoped: one browser and one server per test module, closed
# before the next module (whose own playwright or asyncio loop would clash with a live sync one).
SHOTS = ROOT / "artifacts" / "screenshots"


def load_script(name: str):
    """scripts/<name>.py as the module mae_<name> (registered in sys.modules: dataclasses look their module up)."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location(f"mae_{name}", ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


shot = load_script("screenshot")  # scripts/screenshot.py: the server, the waits and the problem finder


def in_ci() -> bool:
    import os

    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="module")
def browser():
    if not Path(shot.CHROMIUM).is_file():
        msg = f"{shot.CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium)"
        if in_ci():
            pytest.fail(msg + " - required under CI")
        pytest.skip(msg)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if in_ci():
            pytest.fail("playwright is not installed (requirements-dev.txt) - required under CI")
        pytest.skip("playwright is not installed (pip install -r requirements-dev.txt)")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=shot.CHROMIUM, args=shot.CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def app_url(tiny_family, browser):
    """`streamlit run app.py` on a free loopback port, serving the tiny family."""
    (ROOT / "artifacts").mkdir(exist_ok=True)
    with shot.server({"MAE_CHECKPOINT_DIR": str(Path(next(iter(tiny_family.values()))).parent)}) as url:
        yield url


@pytest.fixture
def page(browser):
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    p = ctx.new_page()
    yield p
    ctx.close()


def open_url(page, url):
    """Open `url` and wait until Streamlit has finished its run (and plotly has drawn)."""
    page.goto(url, wait_until="domcontentloaded")
    shot.wait_idle(page)
    page.wait_for_timeout(500)


@contextlib.contextmanager
def browser_page(browser, width: int = 1400, height: int = 1000):
    """A page of a fresh browser context at width x height, closed afterwards."""
    ctx = browser.new_context(viewport={"width": width, "height": height})
    try:
        yield ctx.new_page()
    finally:
        ctx.close()
