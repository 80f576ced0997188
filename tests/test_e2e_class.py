"""In headless Chromium, what a class sees: colours read back from the rendered pixels, the Lesson's figures above
the fold of a 1280x720 projector, the ablation charts' sources and labels at 1280 and 1400 px.

Uses the Chromium and server fixtures of tests/test_e2e.py (the system /usr/bin/chromium; skipped without it, except
under CI=true).
"""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from test_e2e import SHOTS, _open, app_url, browser, shot  # noqa: F401  (fixtures shared with test_e2e.py)

# (x, y) in page pixels and the z value of every finite cell of a heatmap, sampled near a cell corner so the
# value text printed in the cell (texttemplate) is not what is read
_CELLS_JS = """(needle) => {
  const plots = Array.from(document.querySelectorAll('.js-plotly-plot'));
  const gd = plots.find(g => JSON.stringify((g.layout.title || {}).text || g.layout.title || '').includes(needle));
  if (!gd) return null;
  gd.scrollIntoView({block: 'center'});
  const k = gd._fullData.findIndex(t => t.type === 'heatmap');
  const z = gd._fullData[k].z, xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
  const box = gd.getBoundingClientRect(), out = [];
  for (let i = 0; i < z.length; i++) for (let j = 0; j < z[i].length; j++) {
    const v = z[i][j];
    if (v === null || !isFinite(v)) continue;
    out.push([box.left + xa._offset + xa.l2p(j - 0.3), box.top + ya._offset + ya.l2p(i - 0.3), v]);
  }
  return out;
}"""


def _page(browser, width, height):  # noqa: F811
    ctx = browser.new_context(viewport={"width": width, "height": height}, device_scale_factor=1)
    return ctx, ctx.new_page()


def _cell_colours(page, needle: str) -> list[tuple[float, float]]:
    """(value, luminance on screen) of every cell of the heatmap whose title contains `needle`."""
    page.evaluate(_CELLS_JS, needle)
    page.wait_for_timeout(600)  # scrolled into view: let plotly settle
    cells = page.evaluate(_CELLS_JS, needle)
    assert cells, f"no heatmap titled {needle!r} on {page.url}"
    img = np.asarray(Image.open(io.BytesIO(page.screenshot())).convert("RGB"), dtype=float)
    out = []
    for x, y, v in cells:
        r, g, b = img[int(round(y)), int(round(x))]
        out.append((float(v), 0.2126 * r + 0.7152 * g + 0.0722 * b))
    return out


def _lowest_is_darkest(cells):
    values = np.array([c[0] for c in cells])
    lum = np.array([c[1] for c in cells])
    lo, hi = int(values.argmin()), int(values.argmax())
    assert lum[lo] <= lum.min() + 1e-6, f"lowest value {values[lo]:.4g} drawn at luminance {lum[lo]:.0f}, " \
                                        f"darker cells exist (min {lum.min():.0f})"
    assert lum[hi] >= lum.max() - 1e-6 and lum[hi] > lum[lo] + 60
    order = np.argsort(values)  # error colours: lightness rises with the value everywhere on the scale
    assert np.all(np.diff(lum[order]) >= -3), list(zip(values[order].round(4), lum[order].round(0)))


@pytest.mark.parametrize("path, needle", [("reconstruction", "Per-patch MSE"),
                                          ("sequence_grid?gmode=family&gcols=m&gm=1,2", "Masked MSE")])
def test_error_colours_on_screen_lowest_value_darkest(app_url, browser, path, needle):  # noqa: F811
    ctx, page = _page(browser, 1400, 1000)
    try:
        _open(page, f"{app_url}/{path}")
        assert not shot.problems_on(page)
        cells = _cell_colours(page, needle)
        assert len(cells) >= 3
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"colours_{path.split('?')[0]}.png"))
        _lowest_is_darkest(cells)
    finally:
        ctx.close()
