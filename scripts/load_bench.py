"""Load benchmark: N real Chromium sessions at once against a fresh dashboard server, as a class would open it.

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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", default="1,4,8", help="concurrent sessions per round, comma-separated ('' to skip)")
    ap.add_argument("--rounds", type=int, default=4, help="rounds per N (at least 2); the first, on the fresh "
                                                           "server, is reported apart")
    ap.add_argument("--server", default="serve", help="serve (python -m ui.serve, default), plain (streamlit run "
                                                       "app.py) or replicas:N (N replicas behind nginx, deploy/)")
    ap.add_argument("--bursts", type=int, default=10, help="cold bursts (fresh server each); 0 to skip")
    ap.add_argument("--burst-size", type=int, default=8)
    ap.add_argument("--burst-server", default="plain", help="server kind for the cold bursts (default plain: the "
                                                             "sessions themselves trigger the warm-up)")
    ap.add_argument("--checkpoint-dir", help="MAE_CHECKPOINT_DIR (default: the embedded family)")
    ap.add_argument("--json", help="also write every visit to this JSON file")
    a = ap.parse_args(argv)
    if a.rounds < 2:
        ap.error("--rounds must be at least 2")
    (ROOT / "artifacts").mkdir(exist_ok=True)
    env = {"MAE_CHECKPOINT_DIR": a.checkpoint_dir} if a.checkpoint_dir else {}
    if not a.server.startswith("replicas"):  # the replicas take theirs from the systemd unit
        env["MAE_MAX_CONCURRENT"] = os.environ.get("MAE_MAX_CONCURRENT", "1")
    print(f"{os.cpu_count()} CPUs; server {a.server}; MAE_MAX_CONCURRENT={env.get('MAE_MAX_CONCURRENT', 'unit')}; "
          f"family: {a.checkpoint_dir or 'embedded (assets/checkpoints)'}", flush=True)
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
