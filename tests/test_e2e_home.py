"""Home on a projector (1280x720) in headless Chromium: "start here" and the picture of a reconstruction are above
the fold. (The server and browser fixtures are in conftest.py.)"""
from __future__ import annotations

from conftest import browser_page, shot
from conftest import open_url as _open


def test_home_shows_start_here_and_a_picture_above_the_fold_at_1280x720(app_url, browser):
    with browser_page(browser, 1280, 720) as page:
        _open(page, app_url)
        assert not shot.problems_on(page)
        start = page.get_by_text("Start here.", exact=False).first
        assert start.is_visible() and start.bounding_box()["y"] < 300
        imgs = page.locator('[data-testid="stMain"] [data-testid="stImage"] img')
        assert imgs.count() == 4
        for i in range(4):
            box = imgs.nth(i).bounding_box()
            assert box["height"] > 100 and box["y"] + box["height"] <= 720, (i, box)
        page.screenshot(path=str(shot.ROOT / "artifacts" / "screenshots" / "home_1280x720.png"))


def test_a_refused_value_is_not_said_again_after_a_valid_one(app_url, browser):
    """I=5000 from a link is refused with a notice on that view; typing a valid I leaves no trace of it."""
    with browser_page(browser, 1400, 1000) as page:
        _open(page, f"{app_url}/?I=5000")
        main = page.locator('[data-testid="stMain"]')
        assert "I=5000" in main.inner_text()
        field = page.get_by_label("Image size I")
        field.fill("224")
        field.press("Enter")
        page.wait_for_timeout(800)
        shot.wait_idle(page)
        text = main.inner_text()
        assert "5000" not in text, text[:600]
        assert not shot.problems_on(page)
