"""In headless Chromium, what a class sees: colours read back from the rendered pixels, the Lesson's figures above
the fold of a 1280x720 projector, the ablation charts' sources and labels at 1280 and 1400 px.

Uses the Chromium and server fixtures of tests/conftest.py (the system /usr/bin/chromium; skipped without it, except
under CI=true).
"""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT, SHOTS, shot
from conftest import open_url as _open

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


def _page(browser, width, height):
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
def test_error_colours_on_screen_lowest_value_darkest(app_url, browser, path, needle):
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


# ------------------------------------------------------------------ the Lesson on a projector
# the Lesson's steps, counted in its list of steps (a new step is checked without touching this file)
N_STEPS = (ROOT / "app_pages" / "lesson.py").read_text(encoding="utf-8").count("\n    Step(")


@pytest.mark.parametrize("step", range(1, N_STEPS + 1))
def test_presentation_mode_shows_every_steps_main_figure_above_the_fold_at_1280x720(
        app_url, browser, step):
    ctx, page = _page(browser, 1280, 720)
    try:
        _open(page, f"{app_url}/lesson?step={step}&present=true")
        assert not shot.problems_on(page)
        page.wait_for_timeout(800)  # plotly sizes its charts after the run
        main = page.locator(".st-key-lesson_main")
        assert main.count() == 1, "every step marks its main figure"
        box = main.bounding_box()
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"lesson_present_step{step}_1280x720.png"))
        assert box["height"] > 150, box
        assert box["y"] >= 0 and box["y"] + box["height"] <= 720, (step, box)
        assert page.locator("h1").count() == 0  # the compact header: no page title above the step
    finally:
        ctx.close()


# ------------------------------------------------------------------ ablation charts a researcher can read
# every text a chart draws (titles, axis titles, tick labels, annotations), legends and hover boxes left out:
# pairs whose boxes overlap by more than a few pixels
_OVERLAPS_JS = """() => {
  const out = [];
  for (const gd of document.querySelectorAll('.js-plotly-plot')) {
    const texts = Array.from(gd.querySelectorAll('svg text')).filter(t =>
      !t.closest('.legend') && !t.closest('.hoverlayer') && !t.closest('.modebar') && t.textContent.trim() &&
      getComputedStyle(t).opacity !== '0');
    const boxes = texts.map(t => [t.textContent.trim(), t.getBoundingClientRect()]).filter(b => b[1].width > 0);
    for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
      const [ta, a] = boxes[i], [tb, b] = boxes[j];
      const w = Math.min(a.right, b.right) - Math.max(a.left, b.left);
      const h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
      if (w > 3 && h > 3) out.push(ta.slice(0, 40) + ' | ' + tb.slice(0, 40));
    }
  }
  return out;
}"""


@pytest.mark.parametrize("width, height", [(1280, 720), (1400, 1000)])
@pytest.mark.parametrize("query", ["study=MAE&table=all", "measured=true", ""])
def test_ablation_charts_labels_never_overlap_and_sources_are_beside_them(
        app_url, browser, width, height, query):
    ctx, page = _page(browser, width, height)
    try:
        _open(page, f"{app_url}/ablations?{query}")
        assert not shot.problems_on(page)
        page.wait_for_timeout(800)
        shot.full_screenshot(page, SHOTS / f"ablations_{query.split('&')[0] or 'default'}_{width}.png", width, height)
        page.wait_for_timeout(800)
        overlaps = page.evaluate(_OVERLAPS_JS)
        assert not overlaps, overlaps[:10]
        charts = page.locator('[data-testid="stPlotlyChart"]').count()
        sources = page.locator('[data-testid="stMarkdownContainer"] strong', has_text="Sources").count()
        assert charts >= 1 and sources >= charts, (charts, sources)
    finally:
        ctx.close()


# ------------------------------------------------------------------ the Lesson says what it draws
_TITLES_JS = """() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(gd => {
  const b = gd.getBoundingClientRect(), t = gd.layout.title;
  return [String((t && (t.text || t)) || '').replace(/<[^>]+>/g, ''), b.left, b.top];
})"""


def test_lesson_step_3_panels_read_1_2_3_and_step_8_caption_names_only_what_is_drawn(app_url, browser):
    ctx, page = _page(browser, 1400, 1000)
    try:
        _open(page, f"{app_url}/lesson?step=3")
        page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length >= 3", timeout=30000)
        page.wait_for_timeout(800)
        panels = {t[:1]: (x, y) for t, x, y in page.evaluate(_TITLES_JS) if t[:1] and t[:1] in "123"}
        assert set(panels) == {"1", "2", "3"}, page.evaluate(_TITLES_JS)  # Streamlit bolds titles: tags dropped
        reading = sorted(panels, key=lambda k: (round(panels[k][1] / 50), panels[k][0]))  # rows, then left to right
        assert reading == ["1", "2", "3"], panels

        _open(page, f"{app_url}/lesson?step={N_STEPS}")  # the last step: "Now try it"
        page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length >= 1", timeout=30000)
        page.wait_for_timeout(800)
        caption = page.locator('[data-testid="stCaptionContainer"]', has_text="only L changes").inner_text()
        drawn = page.evaluate("""() => { const gd = document.querySelector('.js-plotly-plot');
            return {shapes: (gd.layout.shapes || []).length, title: String((gd.layout.title || {}).text || ''),
                    names: gd.data.map(t => t.name || '')}; }""")
        assert ("red dotted" in caption) == (drawn["shapes"] > 0), (caption, drawn["shapes"])
        assert ("resized input" in caption.lower()) == any("resized input" in n for n in drawn["names"])
        assert drawn["title"]  # the camera button's PNG says what it shows

        _open(page, f"{app_url}/lesson?step=6")
        text = page.locator('[data-testid="stMain"]').inner_text()
        assert "Takeaway:" in text
        assert "IN-1K k-NN top-1 rises from 37.9 % to 59.5 %" in text  # a number with what it measures
    finally:
        ctx.close()


_POINT_JS = """(i) => {
  const gd = document.querySelectorAll('.js-plotly-plot')[i];
  gd.scrollIntoView({block: 'center'});
  const b = gd.getBoundingClientRect(), out = [];
  gd._fullData.forEach(t => { if (t.type !== 'scatter' || !t.hovertext) return;
    const xa = gd._fullLayout[t.xaxis.replace('x', 'xaxis')], ya = gd._fullLayout[t.yaxis.replace('y', 'yaxis')];
    t.x.forEach((x, k) => out.push([b.left + xa._offset + xa.d2p(x), b.top + ya._offset + ya.d2p(t.y[k])])); });
  return {points: out, box: [b.left, b.top, b.right, b.bottom]};
}"""


def test_ablation_hover_boxes_stay_inside_the_window_at_1400(app_url, browser):
    """A point's tooltip (study, table, source, caveat) is whole: inside the window, not cut at either side."""
    ctx, page = _page(browser, 1400, 1000)
    try:
        _open(page, f"{app_url}/ablations")
        page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length >= 1", timeout=30000)
        checked = 0
        for i in range(min(2, page.locator(".js-plotly-plot").count())):
            page.evaluate(_POINT_JS, i)
            page.wait_for_timeout(500)
            pts = page.evaluate(_POINT_JS, i)["points"]
            for x, y in (pts[0], pts[-1]):  # the leftmost and rightmost points of the first and last series
                page.mouse.move(x, y)
                page.wait_for_timeout(400)
                box = page.evaluate("""() => { const h = document.querySelector('.hoverlayer .hovertext');
                    if (!h) return null; const r = h.getBoundingClientRect();
                    return [r.left, r.top, r.right, r.bottom]; }""")
                assert box, f"no tooltip at ({x:.0f}, {y:.0f}) of chart {i}"
                assert box[0] >= 0 and box[2] <= 1400 and box[2] - box[0] < 700, box
                checked += 1
        assert checked >= 2
    finally:
        ctx.close()


def test_the_long_seq_configuration_table_shows_every_row_without_an_inner_scroll(app_url, browser):
    ctx, page = _page(browser, 1280, 720)
    try:
        _open(page, f"{app_url}/ablations?study=Long-Seq%20MAE")
        assert not shot.problems_on(page)
        assert page.locator(".js-plotly-plot .table").count() == 0  # not a plotly table in its own scroll box
        grid = page.locator('[data-testid="stDataFrame"]').first
        grid.scroll_into_view_if_needed()
        page.wait_for_timeout(800)
        assert grid.count() == 1
        inner = page.evaluate("""() => { const s = document.querySelector('[data-testid="stDataFrame"] .dvn-scroller');
            return s ? [s.scrollHeight, s.clientHeight] : null; }""")  # the grid draws on a canvas: measure it
        assert inner and inner[1] > 100 and inner[0] <= inner[1] + 2, inner  # every row fits: nothing hidden below
    finally:
        ctx.close()
