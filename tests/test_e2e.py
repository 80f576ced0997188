"""End to end: the real `streamlit run app.py` server on a loopback port, every page opened in headless Chromium.

Fails on any exception or error element shown; saves full-page screenshots to artifacts/screenshots/<page>.png.
Uses the system Chromium (/usr/bin/chromium, Debian's package), never a downloaded browser. Without it the tests
are skipped, except under CI=true, where they fail.
"""
from __future__ import annotations

import urllib.parse

import pytest

from conftest import SHOTS, shot
from conftest import open_url as _open


@pytest.mark.parametrize("path, name", list(shot.PAGES.items()))
def test_page_opens_without_errors(app_url, page, path, name):
    _open(page, f"{app_url}/{path}")
    probs = shot.problems_on(page)
    SHOTS.mkdir(parents=True, exist_ok=True)
    shot.full_screenshot(page, SHOTS / f"{name}.png")
    assert not probs, probs
    assert page.locator("h1").count() >= 1
    assert page.locator('[data-testid="stSidebarNav"]').count() == 1


def test_shared_link_reproduces_settings_in_the_browser(app_url, page):
    _open(page, f"{app_url}/reconstruction?p=16&seed=5&r=0.5")
    assert not shot.problems_on(page)
    q = urllib.parse.parse_qs(urllib.parse.urlparse(page.url).query)
    assert q["p"] == ["16"] and q["seed"] == ["5"] and q["r"] == ["0.5"]
    assert "p=16" in page.locator('[data-testid="stMain"] [data-testid="stCaptionContainer"]').first.inner_text()


def test_bad_link_shows_a_notice_not_a_crash(app_url, page):
    _open(page, f"{app_url}/reconstruction?p=abc&m=99")
    assert not shot.problems_on(page)
    notice = page.locator('[data-testid="stAlertContentWarning"]').first.inner_text()
    assert "p=abc" in notice and "m=99" in notice


def test_impossible_setting_shows_an_error_in_place(app_url, page):
    _open(page, f"{app_url}/reconstruction?I=100&p=16")
    assert not page.locator('[data-testid="stException"]').count()
    err = page.locator('[data-testid="stAlertContentError"]')
    assert err.count() >= 1 and "not divisible" in err.first.inner_text()
    assert page.locator("h1").first.inner_text().strip() == "Reconstruction"


def _query(page) -> dict:
    return {k: v[0] for k, v in urllib.parse.parse_qs(urllib.parse.urlparse(page.url).query).items()}


def test_clicking_a_patch_moves_the_attention_query(app_url, page):
    _open(page, f"{app_url}/attention")
    before = (_query(page)["qr"], _query(page)["qc"])
    box = page.locator('[data-testid="stPlotlyChart"]').first.bounding_box()
    # the image is a square of side box.height centred in the chart: click in its top-left cell region
    page.mouse.click(box["x"] + box["width"] / 2 - box["height"] * 0.4, box["y"] + box["height"] * 0.1)
    page.wait_for_timeout(1000)
    shot.wait_idle(page)
    after = (_query(page)["qr"], _query(page)["qc"])
    assert after != before and after == ("0", "0"), (before, after)
    assert not shot.problems_on(page)


def test_painting_mask_units_changes_the_mask(app_url, page):
    _open(page, f"{app_url}/reconstruction?mask_src=custom")
    before = _query(page)["cmask"]
    page.get_by_text("box", exact=True).click()  # the box tool (the click tool toggles one unit per click)
    page.wait_for_timeout(800)
    shot.wait_idle(page)
    canvas = page.locator('[class*="st-key-paint_"] [data-testid="stPlotlyChart"]')
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    x0, y0 = box["x"] + box["width"] / 2 - box["height"] * 0.45, box["y"] + box["height"] * 0.05
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x0 + box["height"] * 0.4, y0 + box["height"] * 0.4, steps=8)  # box-select the top-left units
    page.mouse.up()
    page.wait_for_timeout(1000)
    shot.wait_idle(page)
    after = _query(page)["cmask"]
    assert after != before
    assert not shot.problems_on(page)
