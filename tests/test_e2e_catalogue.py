"""End to end: in headless Chromium, a user picks a published model, presses Download, and the real `streamlit run`
server fetches it from a loopback file server (a small random-weight MAE in the facebookresearch/mae .pth layout),
verifies it and shows its reconstruction. Saves artifacts/screenshots/published_download.png.

Uses the system Chromium (/usr/bin/chromium); skipped without it, except under CI=true, where it fails.
"""
from __future__ import annotations

import json
from pathlib import Path

import published_fixtures as pf
from conftest import SHOTS, shot
from loopback import FileServer

ROOT = Path(__file__).resolve().parent.parent


def test_download_a_published_model_in_the_page_and_see_its_reconstruction(browser, tiny_family, tmp_path):
    data = pf.official_pth(11)
    with FileServer() as files:
        url = files.add("/mae/visualize/" + pf.VIS_NAME, data, delay=0.4)  # ~2 s: long enough to see the bar
        cat = tmp_path / "catalogue.json"
        cat.write_text(json.dumps({"entries": [pf.entry_dict("tiny-visualize", url=url,
                                                             md5_prefix=pf.md5(data)[:6])]}))
        env = {"MAE_CHECKPOINT_DIR": str(Path(next(iter(tiny_family.values()))).parent), "MAE_CATALOGUE": str(cat),
               "MAE_CACHE_DIR": str(tmp_path / "cache"), "HF_HOME": str(tmp_path / "hf"),
               "MAE_ALLOW_DOWNLOADS": "1", "MAE_MODEL_LIBRARY": ""}
        (ROOT / "artifacts").mkdir(exist_ok=True)
        with shot.server(env) as app:
            ctx = browser.new_context(viewport={"width": 1400, "height": 900})
            page = ctx.new_page()
            try:
                page.goto(f"{app}/reconstruction?ckpt_src=published&ckpt_pub=tiny-visualize",
                          wait_until="domcontentloaded")
                shot.wait_idle(page)
                assert not shot.problems_on(page)
                sidebar = page.locator('[data-testid="stSidebar"]')
                assert "not downloaded yet" in page.locator('[data-testid="stMain"]').inner_text()
                sidebar.get_by_role("button", name="Download tiny-visualize").click()
                page.locator('[data-testid="stProgress"]').first.wait_for(timeout=60_000)  # the bar shows
                SHOTS.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(SHOTS / "published_downloading.png"))
                shot.wait_idle(page, timeout_s=180)
                page.wait_for_timeout(800)
                probs = shot.problems_on(page)
                SHOTS.mkdir(parents=True, exist_ok=True)
                shot.full_screenshot(page, SHOTS / "published_download.png")
                assert not probs, probs
                main = page.locator('[data-testid="stMain"]')
                text = main.inner_text()
                assert "masked MSE" in text and "tiny-visualize" in text
                assert main.locator('[data-testid="stImage"], [data-testid="stPlotlyChart"]').count() >= 4
                # listed as downloaded now, with its size, and no Download button any more
                assert sidebar.get_by_role("button", name="Download tiny-visualize").count() == 0
                assert f"{len(data) / 2**20:.1f} MB" in sidebar.inner_text()
            finally:
                ctx.close()
        assert [r[3] for r in files.requests("GET")] == [200]
        assert (tmp_path / "cache" / "tiny-visualize" / pf.VIS_NAME).read_bytes() == data
