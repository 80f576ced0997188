"""Home on a projector (1280x720) in headless Chromium: "start here" and the picture of a reconstruction are above
the fold. (The server and browser fixtures are test_e2e's.)"""
from __future__ import annotations

from test_e2e import _open, app_url, browser, shot  # noqa: F401  (fixtures reused, not copied)


def test_home_shows_start_here_and_a_picture_above_the_fold_at_1280x720(app_url, browser):  # noqa: F811
    ctx = browser.new_context(viewport={"width": 1280, "height": 720})
    page = ctx.new_page()
    try:
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
    finally:
        ctx.close()
