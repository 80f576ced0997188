"""Load benchmark: N sessions at once against a fresh dashboard server, as a class would open it.

    python scripts/load_bench.py --mode ws [--n 30] [--rounds 2] [--bursts 1] [--ckpts p8-m2,p16-m1,p8-m1] [--json FILE]

The ws mode opens the sessions without a browser, over Streamlit's websocket protocol (scripts/st_client.py), each
on its own Reconstruction settings, and checks every number shown against the library's own result for those
settings (wrong numbers, and leaked ones: another session's). It prints p50 / p95 / max time to result, errors,
the server's CPU per view and peak RSS, for a warm server (new settings, then cached ones) and for a burst on a
freshly started server. docs/load-bench.md explains every figure.

The browser mode (the default) uses real Chromium sessions:

    python scripts/load_bench.py [--n 1,4,8] [--rounds 4] [--server serve|plain|replicas:N] [--bursts 10]
                                 [--burst-size 8] [--burst-server plain] [--checkpoint-dir DIR] [--json FILE]

Prints, for each N, on a freshly started server: p50 / p95 time to first title and time to result (the
Reconstruction metrics on the page) over rounds of N sessions opened at the same moment on N distinct URL states
(new seeds: every session needs its own inference; the first round, on the fresh server, is reported apart); the
server's CPU seconds per page view, for views that compute and for views whose result is cached, opened by new
browsers (which download Streamlit's 9 MB frontend) and by returning ones (frontend in their HTTP cache); and the
server's peak resident memory (VmHWM) and the machine's load average. Then it starts `--bursts` fresh servers and
opens `--burst-size` distinct deep links on each at the same moment, counting the sessions that crashed (an
exception or error shown, the wrong page, or no result).

Uses Debian's Chromium (/usr/bin/chromium) through Playwright, never a downloaded browser, and the embedded
checkpoint family unless --checkpoint-dir is given. A benchmark that prints figures, not a test; tests/test_hosted.py
runs a small cold burst (4 sessions, correctness only) from the same functions.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
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
_spec = importlib.util.spec_from_file_location("mae_st_client", ROOT / "scripts" / "st_client.py")
st_client = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = st_client  # dataclasses look their module up there
_spec.loader.exec_module(st_client)

TITLES = {
    "": "Long-sequence MAE explorer",
    "reconstruction": "Reconstruction",
    "sequence_grid": "Sequence length × mask unit",
    "attention": "Attention & receptive field",
    "ablations": "Ablation curves",
    "checkpoints": "Checkpoints",
}

# What one look at the page reports (runs in the browser).
_PROBE = """() => {
  const q = s => Array.from(document.querySelectorAll(s));
  const h1 = document.querySelector('[data-testid="stMain"] h1');
  return {
    title: h1 ? h1.innerText.trim() : null,
    exceptions: q('[data-testid="stException"]').map(e => e.innerText.slice(0, 400)),
    errors: q('[data-testid="stAlertContentError"]').map(e => e.innerText.slice(0, 400)),
    running: q('[data-testid="stStatusWidget"], [data-testid="stSkeleton"], [data-testid="stSpinner"]').length > 0,
    result: q('[data-testid="stMetricLabel"]').some(e => e.innerText.includes('masked MSE')),
  };
}"""


@dataclass
class Visit:
    """One browser session opening one link."""

    link: str
    expected_title: str
    title: str | None = None
    t_title: float | None = None  # seconds from navigation start to the page's title on screen
    t_result: float | None = None  # ... to the result (reconstruction metrics), or to idle on other pages
    problems: list = field(default_factory=list)

    @property
    def crashed(self) -> bool:
        return bool(self.problems) or self.title != self.expected_title or self.t_result is None


def page_of(link: str) -> str:
    return link.lstrip("/").split("?", 1)[0]


def distinct_links(n: int, start_seed: int = 100, page: str = "reconstruction") -> list[str]:
    """n URL states of one page that each need their own inference (different seeds; images alternate)."""
    imgs = ("flower", "china")
    return [f"/{page}?img={imgs[i % 2]}&seed={start_seed + i}" for i in range(n)]


def burst_links(n: int, family: list[str] | None = None) -> list[str]:
    """n distinct deep links over every page, Reconstruction first (the issue's burst: a class following links)."""
    fam = family or ["p8-m2", "p16-m1", "p8-m1"]
    base = [f"/reconstruction?ckpt={fam[0]}&img=china&seed=11",
            "/attention?img=flower",
            "/sequence_grid?seed=3&img=china",
            "/checkpoints",
            f"/reconstruction?ckpt={fam[1 % len(fam)]}&img=flower&seed=12",
            "/ablations?measured=true",
            "/?I=224&p=16&m=1",
            f"/reconstruction?ckpt={fam[2 % len(fam)]}&img=china&seed=13"]
    out = base[:n]
    i = 0
    while len(out) < n:  # more sessions than base links: further distinct Reconstruction states
        out.append(f"/reconstruction?img=flower&seed={200 + i}")
        i += 1
    return out


async def visit(browser, base_url: str, link: str, timeout_s: float = 120.0, settle_s: float = 1.0,
                viewport=(1400, 900), on_page=None, context=None) -> Visit:
    """Open `link` in a fresh browser context (a new visitor), or in a new tab of `context` (a returning one), and
    wait for its result; returns what was seen."""
    v = Visit(link=link, expected_title=TITLES.get(page_of(link), "?"))
    ctx = context or await browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
    page = None
    try:
        page = await ctx.new_page()
        if on_page is not None:
            await on_page(page)
        wants_result = page_of(link) == "reconstruction"
        t0 = time.perf_counter()
        await page.goto(base_url + link, wait_until="commit", timeout=timeout_s * 1000)
        quiet_since = None
        while True:
            now = time.perf_counter() - t0
            try:
                s = await page.evaluate(_PROBE)
            except Exception:  # navigating / not ready yet
                s = {"title": None, "exceptions": [], "errors": [], "running": True, "result": False}
            if s["title"] and v.t_title is None:
                v.t_title = now
            if s["exceptions"] or s["errors"]:
                v.title, v.problems = s["title"], s["exceptions"] + s["errors"]
                if not s["running"]:
                    break
            if wants_result and s["result"] and v.t_result is None:
                v.t_result = now
            done = (s["result"] if wants_result else bool(s["title"])) and not s["running"]
            if done:
                quiet_since = quiet_since if quiet_since is not None else now
                if now - quiet_since >= settle_s:  # nothing re-ran: the page is complete
                    if v.t_result is None:
                        v.t_result = quiet_since
                    v.title = s["title"]
                    break
            else:
                quiet_since = None
            if now > timeout_s:
                v.title = s["title"]
                v.problems.append(f"no result within {timeout_s:.0f} s")
                break
            await asyncio.sleep(0.1)
    finally:
        if context is None:
            await ctx.close()
        elif page is not None:
            await page.close()
    return v


async def burst(browser, base_url: str, links: list[str], **kw) -> list[Visit]:
    """Open every link at the same moment, each in its own browser context."""
    return list(await asyncio.gather(*(visit(browser, base_url, link, **kw) for link in links)))


@contextlib.asynccontextmanager
async def chromium():
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=shot.CHROMIUM, args=shot.CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            await b.close()


# ------------------------------------------------------------------ the server process, from /proc
def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children() -> dict:
    """pid -> parent pid of every process on the machine."""
    out = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                out[int(d.name)] = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    return out


def client_cpu_seconds(exclude: list[int]) -> float:
    """CPU time of this benchmark's browsers: every descendant of this process (Playwright's driver, Chromium and
    its renderers, the ones that exited included through their parents' cutime/cstime), minus the servers under
    test and their descendants. On a 2-core machine the browsers share the cores with the server: this is the floor
    their own work puts under the time to result."""
    parents = _children()
    kids: dict = {}
    for pid, ppid in parents.items():
        kids.setdefault(ppid, []).append(pid)
    skip, stack = set(), list(exclude)
    while stack:
        pid = stack.pop()
        skip.add(pid)
        stack += kids.get(pid, [])
    total, stack = 0.0, list(kids.get(os.getpid(), []))
    while stack:
        pid = stack.pop()
        if pid in skip:
            continue
        try:
            f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(x) for x in f[11:15]) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            pass
        stack += kids.get(pid, [])
    return total


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set size (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def pct(xs, q: float) -> float:
    """The q-th percentile (nearest rank) of xs."""
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = max(0, min(len(xs) - 1, int(round(q / 100 * len(xs) + 0.5)) - 1))
    return xs[k]


# ------------------------------------------------------------------ servers under test
@contextlib.contextmanager
def serving(kind: str, env: dict, log_name: str):
    """Yields (base URL, server pids) of a freshly started server:
    "serve"  python -m ui.serve (warmed up before it listens: bash run.sh app, the deploy/ recipe);
    "plain"  streamlit run app.py (the first sessions wait for the in-app warm-up);
    "replicas:N"  N replicas behind nginx, started by deploy/render.py's local_stack as the systemd unit would."""
    if kind.startswith("replicas"):
        spec = importlib.util.spec_from_file_location("mae_deploy_render", ROOT / "deploy" / "render.py")
        render = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(render)
        n = int(kind.split(":", 1)[1]) if ":" in kind else 2
        with render.local_stack(n, env=env, log_dir=ROOT / "artifacts") as st_:
            yield st_["url"], st_["pids"]
        return
    with shot.server(env, log_name=log_name, with_process=True, warm=kind == "serve") as (url, proc):
        yield url, [proc.pid]


# ------------------------------------------------------------------ the benchmark
async def returning_browsers(browser, url: str, n: int) -> list:
    """n browsers that have loaded the app once: its frontend bundle is in their HTTP cache, as for every view after
    a visitor's first."""
    ctxs = [await browser.new_context(viewport={"width": 1400, "height": 900}) for _ in range(n)]
    for c in ctxs:
        p = await c.new_page()
        await p.goto(url + "/checkpoints", wait_until="load")
        await asyncio.sleep(1)
        await p.close()
    return ctxs


async def bench_n(n: int, rounds: int, env: dict, seed0: int, kind: str = "serve") -> dict:
    """A fresh server; `rounds` rounds of n sessions at once on n new URL states (each needs an inference); then
    the same states again, cached: by new browsers, and by returning browsers."""
    out = {"n": n, "server": kind, "visits": [], "cold_visits": []}
    with serving(kind, env, f"load-bench-n{n}.log") as (url, pids):
        cpu = lambda: sum(cpu_seconds(p) for p in pids)  # noqa: E731
        async with chromium() as browser:
            seen = []
            out["load_before"] = os.getloadavg()[0]
            for r in range(rounds):
                if r == 1:  # CPU of computing views: the rounds after the first (cold) one
                    cpu0, client0 = cpu(), client_cpu_seconds(pids)
                links = distinct_links(n, seed0 + 1000 * n + 100 * r)
                vs = await burst(browser, url, links)
                (out["cold_visits"] if r == 0 else out["visits"]).extend(vs)
                seen += links
            cpu1, client1 = cpu(), client_cpu_seconds(pids)
            cached = []
            for i in range(0, len(seen), n):
                cached += await burst(browser, url, seen[i:i + n])
            cpu2 = cpu()
            ctxs = await returning_browsers(browser, url, n)
            await asyncio.sleep(2)
            cpu3 = cpu()
            returning = []
            for i in range(0, len(seen), n):
                returning += await asyncio.gather(*(visit(browser, url, link, context=c)
                                                    for c, link in zip(ctxs, seen[i:i + n])))
            cpu4 = cpu()
            for c in ctxs:
                await c.close()
        out["cached_visits"], out["returning_visits"] = cached, returning
        out["cpu_per_view_s"] = (cpu1 - cpu0) / max(1, len(seen) - n)
        out["browser_cpu_per_view_s"] = (client1 - client0) / max(1, len(seen) - n)
        out["load_after"] = os.getloadavg()[0]
        out["cpu_per_cached_view_s"] = (cpu2 - cpu1) / max(1, len(cached))
        out["cpu_per_returning_view_s"] = (cpu4 - cpu3) / max(1, len(returning))
        out["peak_rss_mb"] = max(peak_rss_mb(p) for p in pids)
        out["servers"] = len(pids)
    return out


async def cold_bursts(count: int, size: int, env: dict, kind: str = "plain") -> list[list[Visit]]:
    """`count` fresh servers, each opened by `size` sessions at once on distinct deep links (the moment it answers
    its health check)."""
    runs = []
    async with chromium() as browser:
        for i in range(count):
            with serving(kind, env, f"cold-burst-{i}.log") as (url, _):
                runs.append(await burst(browser, url, burst_links(size)))
    return runs


def _p(xs, q=None) -> str:
    xs = [x for x in xs if x is not None]
    if not xs:
        return "n/a"
    return f"{(statistics.median(xs) if q is None else pct(xs, q)):.2f} s"


def summarise(res: dict) -> str:
    ok = lambda vs: [v for v in vs if not v.crashed]  # noqa: E731
    warm = ok(res["visits"]) or ok(res["cold_visits"])
    tr, tt = [v.t_result for v in warm], [v.t_title for v in warm]
    crashed = sum(v.crashed for k in ("visits", "cold_visits", "cached_visits", "returning_visits") for v in res[k])
    first = [v.t_result for v in ok(res["cold_visits"])]
    return (f"N={res['n']}: time to result p50 {_p(tr)} / p95 {_p(tr, 95)}; to title p50 {_p(tt)} / "
            f"p95 {_p(tt, 95)}\n"
            f"      first round on the fresh server: time to result p50 {_p(first)} / p95 {_p(first, 95)}\n"
            f"      cached result, new browser: to result p50 {_p([v.t_result for v in ok(res['cached_visits'])])}; "
            f"returning browser: p50 {_p([v.t_result for v in ok(res['returning_visits'])])}\n"
            f"      browser CPU per view (the client's own share of the cores): "
            f"{res['browser_cpu_per_view_s']:.2f} s\n"
            f"      server CPU per view: {res['cpu_per_view_s']:.3f} s computing, "
            f"{res['cpu_per_cached_view_s']:.3f} s cached (new browser), "
            f"{res['cpu_per_returning_view_s']:.3f} s cached (returning browser); "
            f"peak RSS {res['peak_rss_mb']:.0f} MB (per server process, {res['servers']} process(es)); "
            f"crashed sessions {crashed}; machine load average {res['load_before']:.1f} -> {res['load_after']:.1f}")


# ------------------------------------------------------------------ browser-free mode: Streamlit's websocket protocol
RESULT_METRICS = ("masked MSE", "PSNR (removed)", "mean-fill MSE", "Gaussian-fill MSE")


@dataclass(frozen=True)
class Setting:
    """One session's Reconstruction settings: everything in its link, so the expected numbers are unambiguous."""

    ckpt: str
    img: str
    image_size: int
    patch_size: int
    mask_unit: int
    ratio: float
    seed: int

    @property
    def link(self) -> str:
        return (f"/reconstruction?ckpt={self.ckpt}&img={self.img}&I={self.image_size}&p={self.patch_size}"
                f"&m={self.mask_unit}&r={self.ratio:g}&seed={self.seed}")


class Library:
    """The library's own results (mae_core, no Streamlit) for the settings the sessions open, in this process."""

    def __init__(self, family_dir: Path):
        self.dir = family_dir
        self._models: dict = {}
        self._images: dict = {}

    def model(self, name: str):
        if name not in self._models:
            from mae_core.checkpoints import load_checkpoint

            model, info = load_checkpoint(self.dir / f"{name}.safetensors")
            self._models[name] = (model, max(1, int(getattr(info, "mask_unit", 1) or 1)))
        return self._models[name]

    def native(self, name: str) -> tuple[int, int, int]:
        """(I, p, m) the checkpoint was trained at."""
        model, m = self.model(name)
        return int(model.cfg.img_size[0]), int(model.cfg.patch_size), m

    def shown(self, s: Setting) -> dict:
        """The metrics the Reconstruction page shows for this setting, formatted as the page formats them."""
        from mae_core import assets
        from mae_core.reconstruct import prepare, reconstruct

        model, _ = self.model(s.ckpt)
        model, _ = prepare(model, (s.image_size, s.image_size), s.patch_size)
        if s.img not in self._images:
            self._images[s.img] = assets.image_set()[s.img]
        res = reconstruct(model, self._images[s.img], mask_unit=s.mask_unit, mask_ratio=s.ratio, seed=s.seed)
        return {"masked MSE": f"{res.masked_mse:.4f}", "PSNR (removed)": f"{res.psnr:.2f} dB",
                "mean-fill MSE": f"{res.baselines['mean_fill']:.4f}",
                "Gaussian-fill MSE": f"{res.baselines['gaussian_fill']:.4f}"}


def ws_settings(n: int, lib: Library, ckpts: list[str], seed0: int) -> list[Setting]:
    """n distinct settings, each needing its own inference: checkpoints and images alternate, ratios vary, seeds
    are new."""
    imgs, ratios = ("flower", "china"), (0.75, 0.5, 0.85, 0.6)
    out = []
    for i in range(n):
        name = ckpts[i % len(ckpts)]
        I, p, m = lib.native(name)
        out.append(Setting(name, imgs[(i // len(ckpts)) % 2], I, p, m, ratios[i % len(ratios)], seed0 + i))
    return out


@dataclass
class Checked:
    """One session, checked against the library."""

    setting: Setting
    view: object  # st_client.PageView
    wrong: bool = False  # shows numbers that are not its own
    leaked: bool = False  # ... and they are another session's
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.view.ok and not self.wrong and self.view.t_result is not None


def check(views: list, settings: list[Setting], expected: dict) -> list[Checked]:
    """Each session's shown metrics against the library's numbers for its own settings; numbers that match
    another session's settings instead are counted as leaked."""
    others = {tuple(expected[s][k] for k in RESULT_METRICS): s for s in settings}
    out = []
    for v, s in zip(views, settings):
        c = Checked(s, v)
        shown = tuple(v.metrics.get(k) for k in RESULT_METRICS)
        mine = tuple(expected[s][k] for k in RESULT_METRICS)
        caption_ok = any(f"**{s.ckpt}**" in t and f"seed={s.seed}" in t and f"image **{s.img}**" in t
                         for t in v.captions)
        if v.metrics and (shown != mine or not caption_ok):
            c.wrong = True
            owner = others.get(shown)
            c.leaked = owner is not None and owner != s
            c.note = f"shows {dict(zip(RESULT_METRICS, shown))}, expected {dict(zip(RESULT_METRICS, mine))}" + \
                (f" (the numbers of {owner.link})" if c.leaked else "") + ("" if caption_ok else "; caption wrong")
        out.append(c)
    return out


def _cpu_rss(pids):
    return sum(cpu_seconds(p) for p in pids), max(peak_rss_mb(p) for p in pids)


async def ws_round(url: str, pids: list[int], settings: list[Setting], expected: dict, timeout_s: float) -> dict:
    """One burst: every setting opened at the same moment as its own session; what it cost the server."""
    load0 = Path("/proc/loadavg").read_text().split()[:3]
    cpu0, _ = _cpu_rss(pids)
    client0 = time.process_time()
    views = await st_client.open_all(url, [s.link for s in settings], timeout_s=timeout_s, result_label="masked MSE")
    await asyncio.sleep(0.5)  # the server's post-run work (garbage collection, message cache) belongs to the views
    cpu1, rss = _cpu_rss(pids)
    checked = check(views, settings, expected)
    return {"n": len(settings), "checked": checked, "cpu_per_view_s": (cpu1 - cpu0) / len(settings),
            "client_cpu_per_view_s": (time.process_time() - client0) / len(settings), "peak_rss_mb": rss,
            "load_before": " ".join(load0), "load_after": " ".join(Path("/proc/loadavg").read_text().split()[:3])}


def ws_summary(label: str, r: dict) -> str:
    cs = r["checked"]
    tr = [c.view.t_result for c in cs if c.ok]
    errors = [c for c in cs if not c.view.ok or c.view.t_result is None]
    line = (f"{label}: {r['n']} sessions; time to result p50 {_p(tr)} / p95 {_p(tr, 95)} / max "
            f"{(max(tr) if tr else float('nan')):.2f} s; errors {len(errors)}, wrong {sum(c.wrong for c in cs)}, "
            f"leaked {sum(c.leaked for c in cs)}; server CPU per view {r['cpu_per_view_s']:.3f} s; "
            f"peak RSS {r['peak_rss_mb']:.0f} MB; client CPU per view {r['client_cpu_per_view_s']:.3f} s; "
            f"load {r['load_before']} -> {r['load_after']}")
    for c in cs:
        if not c.ok:
            why = c.note or "; ".join(c.view.problems + c.view.errors + c.view.exceptions)[:300] or "no result"
            line += f"\n    {c.setting.link}: {why}"
    return line


async def ws_bench(n: int, rounds: int, env: dict, family_dir: Path, ckpts: list[str], cold: bool,
                   kind: str = "serve", timeout_s: float = 180.0) -> list[tuple[str, dict]]:
    """Warm: a server started (and warmed) once, one round of n to settle it, then `rounds` rounds of n new
    settings (each an inference) and one round of settings already seen (cached results). Cold: n sessions the
    moment a freshly started server answers its health check."""
    lib = Library(family_dir)
    total = (1 if cold else rounds + 1)
    sets = [ws_settings(n, lib, ckpts, seed0=5000 + 1000 * r + (500 if cold else 0)) for r in range(total)]
    expected = {s: lib.shown(s) for ss in sets for s in ss}  # before the server starts: not on its cores
    out = []
    with serving(kind, env, f"ws-bench-{'cold' if cold else 'warm'}-n{n}.log") as (url, pids):
        if cold:
            out.append((f"cold burst ({kind}, fresh server)", await ws_round(url, pids, sets[0], expected, timeout_s)))
            return out
        await ws_round(url, pids, sets[0], expected, timeout_s)  # settles the server; not reported
        for r in range(1, total):
            out.append((f"warm round {r} (new settings)", await ws_round(url, pids, sets[r], expected, timeout_s)))
        out.append(("warm, cached results", await ws_round(url, pids, sets[-1], expected, timeout_s)))
    return out


def ws_main(a, env: dict) -> int:
    family_dir = Path(a.checkpoint_dir) if a.checkpoint_dir else ROOT / "assets" / "checkpoints"
    ckpts = [c.strip() for c in a.ckpts.split(",") if c.strip()]
    missing = [c for c in ckpts if not (family_dir / f"{c}.safetensors").is_file()]
    if missing:
        print(f"error: no checkpoint {missing[0]}.safetensors in {family_dir}", file=sys.stderr)
        return 2
    report, bad = [], 0
    for n in [int(x) for x in a.n.split(",") if x.strip()]:
        runs = []
        if a.rounds:
            runs += asyncio.run(ws_bench(n, a.rounds, env, family_dir, ckpts, cold=False, kind=a.server))
        for _ in range(a.bursts):
            runs += asyncio.run(ws_bench(n, 1, env, family_dir, ckpts, cold=True, kind=a.burst_server))
        for label, r in runs:
            print(ws_summary(f"N={n}, {label}", r), flush=True)
            bad += sum(not c.ok for c in r["checked"])
            report.append({"label": label, **{k: v for k, v in r.items() if k != "checked"},
                           "sessions": [{"link": c.setting.link, "wrong": c.wrong, "leaked": c.leaked,
                                         "note": c.note, **asdict(c.view)} for c in r["checked"]]})
    if a.json:
        Path(a.json).write_text(json.dumps(report, indent=1, default=lambda o: sorted(o) if isinstance(o, set)
                                           else str(o)))
    return 1 if bad else 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mode", choices=("browser", "ws"), default="browser",
                    help="browser: real Chromium sessions (default); ws: sessions over Streamlit's websocket "
                         "protocol (scripts/st_client.py), no browser on the cores, every number checked")
    ap.add_argument("--n", default=None, help="concurrent sessions per round, comma-separated ('' to skip); "
                                              "default 1,4,8 (browser) or 30 (ws)")
    ap.add_argument("--rounds", type=int, default=None, help="rounds per N (at least 2; default 4 in browser "
                                                             "mode, where the first, on the fresh server, is "
                                                             "reported apart; 2 in ws mode, after a settling one)")
    ap.add_argument("--server", default="serve", help="serve (python -m ui.serve, default), plain (streamlit run "
                                                       "app.py) or replicas:N (N replicas behind nginx, deploy/)")
    ap.add_argument("--bursts", type=int, default=None, help="cold bursts (fresh server each); 0 to skip; default "
                                                             "10 (browser) or 1 (ws)")
    ap.add_argument("--burst-size", type=int, default=8, help="sessions per cold burst (browser mode; ws mode uses "
                                                              "each N)")
    ap.add_argument("--burst-server", default=None, help="server kind for the cold bursts (default plain in "
                                                         "browser mode: the sessions themselves trigger the "
                                                         "warm-up; serve in ws mode: what run.sh and deploy/ "
                                                         "start)")
    ap.add_argument("--ckpts", default="p8-m2,p16-m1,p8-m1", help="ws mode: the checkpoints the sessions use, "
                                                                  "in turn (names in the family folder)")
    ap.add_argument("--checkpoint-dir", help="MAE_CHECKPOINT_DIR (default: the embedded family)")
    ap.add_argument("--json", help="also write every visit to this JSON file")
    a = ap.parse_args(argv)
    ws = a.mode == "ws"
    a.n = ("30" if ws else "1,4,8") if a.n is None else a.n
    a.rounds = (2 if ws else 4) if a.rounds is None else a.rounds
    a.bursts = (1 if ws else 10) if a.bursts is None else a.bursts
    a.burst_server = a.burst_server or ("serve" if ws else "plain")
    if a.rounds < (1 if ws else 2):
        ap.error("--rounds must be at least 1 (ws) or 2 (browser)")
    (ROOT / "artifacts").mkdir(exist_ok=True)
    env = {"MAE_CHECKPOINT_DIR": a.checkpoint_dir} if a.checkpoint_dir else {}
    if not a.server.startswith("replicas"):  # the replicas take theirs from the systemd unit
        env["MAE_MAX_CONCURRENT"] = os.environ.get("MAE_MAX_CONCURRENT", "1")
    print(f"{os.cpu_count()} CPUs; mode {a.mode}; server {a.server}; "
          f"MAE_MAX_CONCURRENT={env.get('MAE_MAX_CONCURRENT', 'unit')}; "
          f"family: {a.checkpoint_dir or 'embedded (assets/checkpoints)'}", flush=True)
    if ws:
        return ws_main(a, env)
    report = {"n": [], "bursts": []}
    ns = [int(x) for x in a.n.split(",") if x.strip()]
    results = {}
    for n in ns:
        res = asyncio.run(bench_n(n, a.rounds, env, seed0=1000, kind=a.server))
        results[n] = res
        print(summarise(res), flush=True)
        report["n"].append({k: ([asdict(v) for v in x] if isinstance(x, list) else x) for k, x in res.items()})
    if 1 in results:
        base = [v.t_result for v in results[1]["visits"] if not v.crashed]
        if base:
            med1 = statistics.median(base)
            for n, res in results.items():
                tr = [v.t_result for v in res["visits"] if not v.crashed]
                if tr:
                    print(f"N={n}: p95 time to result / N=1 median = {pct(tr, 95) / med1:.1f}x")
    if a.bursts:
        runs = asyncio.run(cold_bursts(a.bursts, a.burst_size, env, kind=a.burst_server))
        for i, run in enumerate(runs):
            bad = [v for v in run if v.crashed]
            print(f"cold burst {i + 1} ({a.burst_server}): {len(bad)} of {len(run)} sessions crashed"
                  + "".join(f"\n    {v.link}: title {v.title!r}; {'; '.join(v.problems)[:300]}" for v in bad),
                  flush=True)
            report["bursts"].append([asdict(v) for v in run])
        total = sum(v.crashed for run in runs for v in run)
        print(f"cold bursts: {total} crashed sessions in {len(runs)} bursts of {a.burst_size}")
    if a.json:
        Path(a.json).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
