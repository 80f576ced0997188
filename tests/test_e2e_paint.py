"""Painting a mask in headless Chromium: a single click on a patch toggles its mask unit, the canvas sits at the
top of the results, and "Reveal all" reads as words, not nan. (The server and browser fixtures are in conftest.py.)"""
from __future__ import annotations

import re
import urllib.parse

from conftest import browser_page, shot
from conftest import open_url as _open

CANVAS = '[class*="st-key-paint_"] [data-testid="stPlotlyChart"]'


def _cmask(page) -> str:
    return urllib.parse.parse_qs(urllib.parse.urlparse(page.url).query)["cmask"][0]


def _settle(page):
    page.wait_for_timeout(800)
    shot.wait_idle(page)


def _click_patch(page, row: int, col: int, grid: int):
    box = page.locator(CANVAS).bounding_box()
    side = box["height"]  # the image is a square of the chart's height, centred in its width
    x0 = box["x"] + (box["width"] - side) / 2
    page.mouse.click(x0 + (col + 0.5) * side / grid, box["y"] + (row + 0.5) * side / grid)
    _settle(page)


def test_a_click_on_a_patch_toggles_its_mask_unit_and_the_canvas_is_above_the_fold(app_url, browser):
    with browser_page(browser, 1280, 720) as page:
        # the tiny p8-m2: 64 px / 8 = an 8 x 8 grid, 2 x 2 mask units; seed 2's mask
        _open(page, f"{app_url}/reconstruction?mask_src=custom")
        canvas = page.locator(CANVAS)
        assert canvas.count() == 1
        top = canvas.bounding_box()["y"] + page.evaluate("window.scrollY")
        assert top < 720, f"the canvas starts {top:.0f} px down the page"
        start = _cmask(page)
        _click_patch(page, 0, 0, 8)
        once = _cmask(page)
        assert once != start, "a click on a patch changed nothing"
        _click_patch(page, 1, 1, 8)  # the same 2 x 2 unit, clicked again: back as it was
        assert _cmask(page) == start
        assert not shot.problems_on(page)
        shot.full_screenshot(page, shot.ROOT / "artifacts" / "screenshots" / "paint_1280.png")


def test_reveal_all_reads_nothing_is_masked(app_url, browser):
    with browser_page(browser, 1400, 1000) as page:
        _open(page, f"{app_url}/reconstruction?mask_src=custom")
        page.get_by_role("button", name="Reveal all").click()
        _settle(page)
        text = page.locator('[data-testid="stMain"]').inner_text()
        assert "Nothing is masked: no masked error to score" in text
        assert not re.search(r"\bnan\b", text, re.I), text
        assert not shot.problems_on(page)
