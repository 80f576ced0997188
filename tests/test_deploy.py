"""The deployment recipe in deploy/, run on loopback: two dashboard replicas started exactly as
deploy/mae-explorer@.service starts them, behind Debian's nginx configured by deploy/render.py (unprivileged: every
file under a temp prefix, free ports).

Checks that both replicas serve correct results through the proxy, that every request of one browser (page,
websocket, media, and after a reload) stays on one replica, and that nginx serves the frontend bundle itself.
Needs nginx and Chromium: skipped without them, except under CI=true, where they fail (run.sh installs both).
"""
from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("mae_deploy_render", ROOT / "deploy" / "render.py")
render = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(render)
_spec = importlib.util.spec_from_file_location("mae_screenshot_deploy", ROOT / "scripts" / "screenshot.py")
shot = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(shot)


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _missing(msg: str):
    pytest.fail(msg + " - required under CI") if _ci() else pytest.skip(msg)


def read_log(path: Path) -> list[dict]:
    """The access log (deploy/nginx-mae-explorer.conf's mae_replica format) as dicts."""
    out = []
    for line in path.read_text().splitlines() if path.is_file() else []:
        m = re.search(r'"(\S+) (\S+)[^"]*" (\d+) \d+ upstream=(\S+) key=(\S+)', line)
        if m:
            out.append({"method": m[1], "path": m[2], "status": int(m[3]), "upstream": m[4], "key": m[5]})
    return out


@pytest.fixture(scope="module")
def stack(tiny_family, tmp_path_factory):
    if render.nginx_binary() is None:
        _missing("nginx is missing: install Debian's nginx package (apt-get install nginx)")
    if not Path(shot.CHROMIUM).is_file():
        _missing(f"{shot.CHROMIUM} is missing: install Debian's chromium package")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _missing("playwright is not installed (requirements-dev.txt)")
    (ROOT / "artifacts").mkdir(exist_ok=True)
    family = str(Path(next(iter(tiny_family.values()))).parent)
    with render.local_stack(2, env={"MAE_CHECKPOINT_DIR": family}, prefix=tmp_path_factory.mktemp("nginx"),
                            log_dir=ROOT / "artifacts") as s:
        yield {"url": s["url"], "replicas": set(s["replicas"]), "log": s["access_log"], "family": family}


def expected_mse(family: str, seed: int) -> str:
    """The masked MSE the Reconstruction page must show by default (p8-m2, flower, I=64, p=8, m=2, r=0.75), from the
    library directly."""
    from mae_core import assets
    from mae_core.checkpoints import load_checkpoint
    from mae_core.images import load_image
    from mae_core.reconstruct import reconstruct

    model, _ = load_checkpoint(Path(family) / "p8-m2.safetensors")
    res = reconstruct(model, load_image(assets.DEMO_IMAGES["flower"]), mask_unit=2, mask_ratio=0.75, seed=seed,
                      keep="blocks", denorm="visible")
    return f"{res.masked_mse:.4f}"


def shown_mse(page) -> str:
    page.wait_for_selector('[data-testid="stMetric"]', timeout=120_000)
    shot.wait_idle(page)
    assert not shot.problems_on(page), shot.problems_on(page)
    metric = page.locator('[data-testid="stMetric"]', has_text="masked MSE").first
    return metric.locator('[data-testid="stMetricValue"]').inner_text().strip()


def test_two_replicas_behind_nginx_serve_correct_results_and_keep_each_browser(stack):
    from playwright.sync_api import sync_playwright

    want = {seed: expected_mse(stack["family"], seed) for seed in (5, 6)}
    by_replica = {}
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=shot.CHROMIUM, args=shot.CHROMIUM_ARGS, headless=True)
        try:
            for attempt in range(16):  # new browsers get random keys: stop once both replicas have served one
                ctx = b.new_context(viewport={"width": 1400, "height": 900})
                page = ctx.new_page()
                page.goto(stack["url"] + "/reconstruction?seed=5", wait_until="domcontentloaded")
                assert shown_mse(page) == want[5]
                key = next(c["value"] for c in ctx.cookies() if c["name"] == "mae_replica")
                # a reload with other settings: a new page request and a new websocket from the same browser
                page.goto(stack["url"] + "/reconstruction?seed=6", wait_until="domcontentloaded")
                assert shown_mse(page) == want[6]
                mine = [e for e in read_log(stack["log"]) if e["key"] == key]
                upstreams = {e["upstream"] for e in mine if e["upstream"] != "-"}
                assert len(upstreams) == 1, mine  # every proxied request of this browser on one replica
                assert any(e["path"].startswith("/_stcore/stream") for e in mine)
                assert any(e["path"].startswith("/media/") for e in mine)
                by_replica.setdefault(upstreams.pop(), key)
                ctx.close()
                if len(by_replica) == 2:
                    break
        finally:
            b.close()
    assert set(by_replica) == stack["replicas"], by_replica
    log = read_log(stack["log"])
    static = [e for e in log if e["path"].startswith("/static/")]
    assert static and all(e["upstream"] == "-" and e["status"] in (200, 304) for e in static)  # served by nginx


def test_nginx_lets_through_every_upload_that_streamlit_accepts():
    """nginx's body limit sits above Streamlit's server.maxUploadSize (.streamlit/config.toml): a file the app may
    receive is refused by the app itself, with a message in the page, never by the proxy with a bare 413. (It was
    210 MB against Streamlit's 2048 MB.) No nginx needed: this reads the rendered configuration."""
    config = (ROOT / ".streamlit" / "config.toml").read_text()  # (tomllib is Python 3.11+; the project runs on 3.10)
    max_upload_mb = int(re.search(r"^\s*maxUploadSize\s*=\s*(\d+)", config, re.M).group(1))
    text = render.site("8080", ["8501", "8502"], static_root=Path("/tmp"))
    limits = re.findall(r"^\s*client_max_body_size\s+(\d+)([kmg]?);", text, re.M | re.I)
    assert limits, "no client_max_body_size in the site"
    scale = {"": 1 / 2**20, "k": 1 / 1024, "m": 1, "g": 1024}
    for number, unit in limits:
        # above, not equal: the multipart envelope of an upload adds a few hundred bytes to the file itself
        assert int(number) * scale[unit.lower()] > max_upload_mb, (number + unit, max_upload_mb)


def test_replicas_run_the_hosted_profile(monkeypatch):
    """Each replica that deploy/ starts (from the systemd unit) reads no server path typed by a visitor and starts
    no download, whatever the operator's shell had set."""
    from mae_core import fetch
    from ui import resources

    argv, env, cwd = render.unit_command(8501, None)
    assert argv[1:4] == ["-m", "ui.serve", "--server.port"] and argv[4] == "8501" and cwd == ROOT
    assert env["MAE_MAX_CONCURRENT"] == "1" and env["OMP_NUM_THREADS"] == "1"
    for k in ("MAE_ALLOW_LOCAL_PATHS", "MAE_ALLOW_DOWNLOADS"):
        monkeypatch.setenv(k, "1")
    argv, env, _ = render.unit_command(8501, None)
    for k in ("MAE_ALLOW_LOCAL_PATHS", "MAE_ALLOW_DOWNLOADS"):
        monkeypatch.setenv(k, env[k])
    assert not resources.local_paths_allowed() and not fetch.downloads_allowed()


def test_replicas_cap_checkpoint_uploads_below_the_local_default(monkeypatch):
    """The hosted profile sets a lower checkpoint upload cap than the local default (Streamlit's maxUploadSize,
    which takes a ViT-L); the app applies it and its uploader states it."""
    from ui import resources

    _, env, _ = render.unit_command(8501, None)
    hosted = float(env["MAE_MAX_CHECKPOINT_MB"])
    monkeypatch.delenv("MAE_MAX_CHECKPOINT_MB", raising=False)
    local = resources.checkpoint_limit_mb()
    monkeypatch.setenv("MAE_MAX_CHECKPOINT_MB", env["MAE_MAX_CHECKPOINT_MB"])
    assert resources.checkpoint_limit_mb() == hosted < local
