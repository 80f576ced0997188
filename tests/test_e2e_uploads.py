"""Checkpoint uploads in headless Chromium: a file of any name reaches the app, whose message replaces the previous
file's, and an upload is used on the next page without a second upload. (Fixtures are test_e2e's.)"""
from __future__ import annotations

from pathlib import Path

from conftest import browser_page, shot
from conftest import open_url as _open

DROP = '[data-testid="stSidebar"] [data-testid="stFileUploaderDropzoneInput"]'


def _upload(page, name: str, data: bytes):
    page.locator(DROP).set_input_files({"name": name, "mimeType": "application/octet-stream", "buffer": data})
    page.wait_for_timeout(1200)
    shot.wait_idle(page)


def _main_errors(page) -> list[str]:
    loc = page.locator('[data-testid="stMain"] [data-testid="stAlertContentError"]')
    return [loc.nth(i).inner_text() for i in range(loc.count())]


def test_a_second_refused_upload_replaces_the_first_ones_message_and_a_good_one_follows_to_the_next_page(
        app_url, browser, tiny_family):
    with browser_page(browser, 1400, 1000) as page:
        _open(page, f"{app_url}/reconstruction?ckpt_src=upload")
        _upload(page, "junk.safetensors", b"\x00" * 300)
        errs = _main_errors(page)
        assert len(errs) == 1 and "junk.safetensors" in errs[0], errs
        _upload(page, "notes.txt", b"hello")  # a browser type filter would have kept junk's message up
        errs = _main_errors(page)
        assert len(errs) == 1 and "notes.txt" in errs[0] and "junk" not in errs[0], errs
        _upload(page, "mine.safetensors", Path(tiny_family["p16-m1"]).read_bytes())
        assert not _main_errors(page)
        page.get_by_role("link", name="Attention & receptive field").click()  # the sidebar menu: same session
        page.wait_for_timeout(1000)
        shot.wait_idle(page)
        assert "Using mine.safetensors" in page.locator('[data-testid="stSidebar"]').inner_text()
        assert "mine.safetensors" in page.locator('[data-testid="stMain"]').inner_text()
        assert not _main_errors(page) and not shot.problems_on(page)
