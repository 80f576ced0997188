"""How long a control change takes to show its new figure, in headless Chromium on a warm server.

    python scripts/control_latency.py [--repeats 6] [--page reconstruction --page lesson --page attention]
                                      [--checkpoint-dir DIR] [--url http://127.0.0.1:8501] [--json FILE]

Starts `python -m ui.serve` on a free loopback port (or uses --url), opens each page once, then changes one control
at a time as a person would (types a seed and presses Enter, moves a slider with the keyboard, picks an option,
clicks a patch of the query map), each change to a new value. For every change it prints the time from the input
to the new figure painted: the watched images or plotly charts of the page show new content, fully loaded, and a
frame has been drawn after that; and the time until the whole run is over (the status widget gone). Per page and
control: median and p95. Uses Debian's Chromium (/usr/bin/chromium) through Playwright, never a downloaded browser.
A benchmark that prints figures, not a test.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("mae_screenshot", ROOT / "scripts" / "screenshot.py")
shot = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(shot)

# What is on screen: every image (by source, and whether it has loaded) and every plotly chart (by a hash of its
# data) in the main area, and whether a script run is in progress.
_SIGNATURE = """() => {
  const h = s => { let x = 0; for (let i = 0; i < s.length; i++) x = (x * 31 + s.charCodeAt(i)) | 0; return x; };
  const main = document.querySelector('[data-testid="stMain"]');
  if (!main) return null;
  const imgs = Array.from(main.querySelectorAll('img')).map(i =>
      i.src.slice(-48) + ((i.complete && i.naturalWidth > 0) ? '' : '#loading'));
  // long arrays (an image trace's pixels) are hashed from 512 evenly spaced samples
  const thin = (k, v) => {
    if (k === 'selectedpoints' || k === 'selections') return undefined;  // a click's own selection is not news
    if (v && (ArrayBuffer.isView(v) || Array.isArray(v)) && v.length > 512) {
      const out = [v.length];
      for (let i = 0; i < 512; i++) out.push(v[Math.floor(i * v.length / 512)]);
      return out;
    }
    return ArrayBuffer.isView(v) ? Array.from(v) : v;
  };
  const plots = Array.from(main.querySelectorAll('.js-plotly-plot')).map(g => {
      try { return String(h(JSON.stringify(g.data, thin))); } catch (e) { return '?'; } });
  const running = document.querySelector('[data-testid="stStatusWidget"]') !== null;
  return {imgs, plots, running};
}"""
_TWO_FRAMES = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))"


@dataclass
class Change:
    page: str
    control: str
    value: str
    painted_s: float | None = None  # input -> new figure on screen
    idle_s: float | None = None  # input -> the run is over (no status widget for 0.3 s after the new figure)
    problems: list = field(default_factory=list)


def _changed(before: dict, now: dict | None, what: str) -> bool:
    if not now:
        return False
    if any(s.endswith("#loading") for s in now["imgs"]):
        return False
    return any(len(now[w]) >= len(before[w]) and now[w] != before[w] for w in what.split("+"))


def wait_idle(page, timeout_s: float = 120.0, settle_s: float = 0.6) -> None:
    shot.wait_idle(page, timeout_s=timeout_s, settle_s=settle_s)


def measure(page, page_name: str, control: str, value, act, watch: str, timeout_s: float = 60.0) -> Change:
    """Do `act()` (one control change) and time it until `watch` ('imgs', 'plots' or 'imgs+plots') shows new
    content."""
    c = Change(page_name, control, str(value))
    wait_idle(page)
    before = page.evaluate(_SIGNATURE)
    t0, quiet = time.perf_counter(), None
    act()
    while True:
        now = page.evaluate(_SIGNATURE)
        el = time.perf_counter() - t0
        if c.painted_s is None and _changed(before, now, watch):
            page.evaluate(_TWO_FRAMES)
            c.painted_s = time.perf_counter() - t0
        if c.painted_s is not None and now and not now["running"]:
            quiet = el if quiet is None else quiet
            if el - quiet >= 0.3:  # no run for 0.3 s: the page is done
                c.idle_s = max(quiet, c.painted_s)
                break
        else:
            quiet = None
        if el > timeout_s:
            c.problems.append(f"nothing new within {timeout_s:.0f} s")
            break
        page.wait_for_timeout(15)
    c.problems += shot.problems_on(page)
    return c


# ------------------------------------------------------------------ the controls, as a person uses them
def type_number(page, label: str, value) -> None:
    box = page.locator('[data-testid="stNumberInput"]').filter(has_text=label).locator("input").first
    box.fill(str(value))
    box.press("Enter")


def slider_step(page, label: str, key: str = "ArrowRight") -> None:
    page.get_by_role("slider", name=label).first.press(key)


def select(page, label: str, option: str) -> None:
    page.locator('[data-testid="stSelectbox"]').filter(has_text=label).first.click()
    page.get_by_role("option", name=option, exact=True).first.click()


def click_patch(page, key: str, row: int, col: int) -> None:
    """Click the centre of patch (row, col) on a plotly patch map (its axes are patch indices)."""
    xy = page.evaluate("""([key, row, col]) => {
      const gd = document.querySelector(`.st-key-${key} .js-plotly-plot`);
      const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, r = gd.getBoundingClientRect();
      return [r.left + xa._offset + xa.l2p(col), r.top + ya._offset + ya.l2p(row)];
    }""", [key, row, col])
    page.mouse.click(*xy)


def scenarios(repeats: int) -> dict:
    """page -> (link, [(control, value, action(page), watched)]) with `repeats` new values per control."""
    seeds = [9001 + i for i in range(repeats)]
    rec = [("seed", s, lambda p, s=s: type_number(p, "Seed", s), "imgs") for s in seeds]
    rec += [("r", "+/-0.05", lambda p, i=i: slider_step(p, "Mask ratio r", "ArrowLeft" if i % 2 else "ArrowRight"),
             "imgs") for i in range(repeats)]
    les = [("seed (step 3)", s, lambda p, s=s: type_number(p, "Seed", s), "plots") for s in seeds]
    les2 = [("r (step 2)", "+/-0.05", lambda p, i=i: slider_step(p, "Mask ratio r", "ArrowLeft" if i % 2 else
                                                                  "ArrowRight"), "plots") for i in range(repeats)]
    spots = [(3, 4), (11, 9), (6, 13), (13, 2), (8, 6), (2, 11)]  # (row, col) on the default 16 x 16 grid
    att = [("query click", f"{r},{c}", lambda p, r=r, c=c: click_patch(p, "query_click", r, c),
             "imgs+plots")
           for r, c in (spots * (repeats // len(spots) + 1))[:repeats]]
    att += [("layer", "-/+1", lambda p, i=i: slider_step(p, "Layer", "ArrowLeft" if i % 2 == 0 else "ArrowRight"),
             "imgs") for i in range(repeats)]
    heads = ["head 0", "head 1", "head 2", "mean over heads"]
    att += [("head", heads[i % len(heads)], lambda p, h=heads[i % len(heads)]: select(p, "Head", h), "imgs")
            for i in range(repeats)]
    return {"reconstruction": [("/reconstruction", rec)],
            "lesson": [("/lesson?step=3", les), ("/lesson?step=2", les2)],
            "attention": [("/attention?erf=off", att)]}


def pct(xs, q: float) -> float:
    xs = sorted(xs)
    return xs[max(0, min(len(xs) - 1, int(round(q / 100 * len(xs) + 0.5)) - 1))] if xs else float("nan")


def run(url: str, pages: list[str], repeats: int) -> list[Change]:
    from playwright.sync_api import sync_playwright

    out = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=shot.CHROMIUM, args=shot.CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            for name in pages:
                for link, changes in scenarios(repeats)[name]:
                    page.goto(url + link, wait_until="domcontentloaded")
                    wait_idle(page)
                    page.wait_for_timeout(800)
                    for control, value, act, watch in changes:
                        c = measure(page, name, control, value, lambda: act(page), watch)
                        out.append(c)
                        print(f"  {name:15s} {control:14s} {c.value:>12s}: painted "
                              f"{c.painted_s if c.painted_s is None else round(c.painted_s, 2)} s, idle "
                              f"{c.idle_s if c.idle_s is None else round(c.idle_s, 2)} s"
                              + (f"  {'; '.join(c.problems)[:200]}" if c.problems else ""), flush=True)
        finally:
            browser.close()
    return out


def summary(changes: list[Change]) -> str:
    lines = []
    for name in dict.fromkeys(c.page for c in changes):
        cs = [c for c in changes if c.page == name]
        ok = [c.painted_s for c in cs if c.painted_s is not None and not c.problems]
        idle = [c.idle_s for c in cs if c.idle_s is not None and not c.problems]
        per = "; ".join(f"{k} {statistics.median(v):.2f}" for k in dict.fromkeys(c.control for c in cs)
                        if (v := [c.painted_s for c in cs if c.control == k and c.painted_s is not None]))
        lines.append(f"{name}: control -> new figure painted median {statistics.median(ok) if ok else float('nan'):.2f}"
                     f" s, p95 {pct(ok, 95):.2f} s (n={len(ok)}, failed {len(cs) - len(ok)}); run over: median "
                     f"{statistics.median(idle) if idle else float('nan'):.2f} s, p95 {pct(idle, 95):.2f} s"
                     f"\n    median painted per control: {per}")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--page", action="append", choices=("reconstruction", "lesson", "attention"),
                    help="pages to measure (default all three)")
    ap.add_argument("--repeats", type=int, default=6, help="changes per control")
    ap.add_argument("--url", help="an already running, warm server (default: start python -m ui.serve)")
    ap.add_argument("--checkpoint-dir", help="MAE_CHECKPOINT_DIR (default: the embedded family)")
    ap.add_argument("--json", help="also write every change to this JSON file")
    a = ap.parse_args(argv)
    if not Path(shot.CHROMIUM).is_file():
        print(f"error: {shot.CHROMIUM} is missing (apt-get install chromium)", file=sys.stderr)
        return 2
    pages = a.page or ["reconstruction", "lesson", "attention"]
    print(f"{os.cpu_count()} CPUs; load average {' '.join(Path('/proc/loadavg').read_text().split()[:3])}",
          flush=True)
    if a.url:
        changes = run(a.url.rstrip("/"), pages, a.repeats)
    else:
        (ROOT / "artifacts").mkdir(exist_ok=True)
        env = {"MAE_CHECKPOINT_DIR": a.checkpoint_dir} if a.checkpoint_dir else {}
        with shot.server(env, log_name="control-latency.log", warm=True) as url:
            changes = run(url, pages, a.repeats)
    print(summary(changes))
    print(f"load average {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
    if a.json:
        Path(a.json).write_text(json.dumps([asdict(c) for c in changes], indent=1))
    return 1 if any(c.problems or c.painted_s is None for c in changes) else 0


if __name__ == "__main__":
    sys.exit(main())
