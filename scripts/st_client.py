"""A browser-free Streamlit client: opens a page over the app's own websocket protocol, as the frontend does.

    python scripts/st_client.py http://127.0.0.1:8501 "/reconstruction?seed=3"   # prints what the page showed

What a browser does, and this module too (streamlit 1.67, the Starlette server):
1. GET the page, then /_stcore/health, whose answer sets the `_streamlit_xsrf` cookie
   (server.enableXsrfProtection = true), and /_stcore/host-config;
2. open ws://host/_stcore/stream with the subprotocols "streamlit, <xsrf cookie value>" (the second entry is the
   XSRF token the server checks against the cookie), the cookie and an Origin header;
3. send one BackMsg `rerun_script` whose ClientState carries the query string (without "?") and the page name
   (the URL path: st.navigation matches it against each page's url_pathname; page_script_hash stays empty);
4. read ForwardMsgs (new_session, deltas, page_info_changed, ...) until `script_finished` says the run completed;
   images are fetched from their /media URLs as the browser would.

No library offers this (Streamlit's AppTest runs the script in-process, without the server, its sessions or its
websocket), hence this small client. It keeps only what a load test checks: the title, metrics, captions, errors,
exceptions and the times they arrived. Loopback use; every wait has a timeout.
"""
from __future__ import annotations

import asyncio
import http.cookies
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field

# Imported here, not on the first page opened: importing Streamlit takes a second or two, which would be counted
# in the first burst's times.
from streamlit.proto.Alert_pb2 import Alert
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from websockets.asyncio.client import connect

XSRF_COOKIE = "_streamlit_xsrf"


@dataclass
class PageView:
    """What one session saw while its page ran: texts and the seconds (from the first request) they arrived."""

    link: str
    title: str | None = None
    metrics: dict = field(default_factory=dict)  # label -> value, as shown
    captions: list = field(default_factory=list)  # markdown / caption bodies
    errors: list = field(default_factory=list)  # st.error bodies
    exceptions: list = field(default_factory=list)  # exception messages shown in the page
    images: int = 0
    media_bytes: int = 0
    received_bytes: int = 0
    query_string: str | None = None  # the URL the server last published (page_info_changed)
    finished: list = field(default_factory=list)  # script_finished statuses, in order
    problems: list = field(default_factory=list)  # transport / protocol / timeout problems
    t_connected: float | None = None
    t_title: float | None = None
    t_result: float | None = None  # the first time `result_label` was shown as a metric
    t_finished: float | None = None  # the script run completed (media fetched too)
    widgets: dict = field(default_factory=dict)  # label -> (widget id, fragment id or "") of number inputs
    fragment_ids: set = field(default_factory=set)  # fragments that drew something in this run
    after: list = field(default_factory=list)  # PageViews of the runs that `changes` triggered, in order

    @property
    def ok(self) -> bool:
        return not (self.problems or self.errors or self.exceptions) and self.t_finished is not None


def split_link(link: str) -> tuple[str, str]:
    """'/reconstruction?seed=3' -> ('reconstruction', 'seed=3')."""
    path, _, query = link.lstrip("/").partition("?")
    return path.strip("/"), query


def _get(url: str, cookie: str | None = None, timeout: float = 30.0) -> tuple[bytes, dict]:
    req = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.read(), r.headers


def xsrf_cookie(base_url: str, link: str = "/", timeout: float = 30.0) -> str | None:
    """What the frontend fetches before it opens the websocket: the page's HTML, then /_stcore/health (which sets
    the XSRF cookie) and /_stcore/host-config. Returns the cookie's value (None when XSRF protection is off)."""
    base = base_url.rstrip("/")
    _get(base + link, timeout=timeout)
    _, headers = _get(base + "/_stcore/health", timeout=timeout)
    token = None
    for raw in headers.get_all("Set-Cookie") or []:
        c = http.cookies.SimpleCookie()
        c.load(raw)
        if XSRF_COOKIE in c:
            token = c[XSRF_COOKIE].value
    _get(base + "/_stcore/host-config", cookie=f"{XSRF_COOKIE}={token}" if token else None, timeout=timeout)
    return token


def rerun_message(page: str, query: str, widget: tuple | None = None, fragment_id: str = "") -> bytes:
    """The BackMsg the frontend sends when a page opens: rerun the script for this page and query string; with
    widget=(id, int value), the one it sends when a number input changes (fragment_id: rerun only that fragment)."""
    msg = BackMsg()
    cs = msg.rerun_script
    cs.query_string = query
    cs.page_name = page
    cs.page_script_hash = ""
    cs.widget_states.SetInParent()
    if widget is not None:
        w = cs.widget_states.widgets.add()
        w.id, w.int_value = widget[0], int(widget[1])
    if fragment_id:
        cs.fragment_id = fragment_id
    cs.context_info.url = ""
    return msg.SerializeToString()


def _text_of(el) -> tuple[str, str | None]:
    kind = el.WhichOneof("type")
    if kind == "heading":
        return kind, el.heading.body
    if kind == "markdown":
        return kind, el.markdown.body
    if kind == "alert":
        return kind, el.alert.body
    if kind == "exception":
        return kind, f"{el.exception.type}: {el.exception.message}"
    return kind, None


async def _read_run(ws, v: PageView, t0: float, result_label, fetch, media: list) -> None:
    """Read ForwardMsgs into `v` until the script run (or fragment run) has finished."""
    while True:
        data = await ws.recv()
        v.received_bytes += len(data)
        msg = ForwardMsg()
        msg.ParseFromString(data)
        kind = msg.WhichOneof("type")
        now = time.perf_counter() - t0
        if kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
            if msg.delta.fragment_id:
                v.fragment_ids.add(msg.delta.fragment_id)
            el = msg.delta.new_element
            what, text = _text_of(el)
            if what == "heading" and v.title is None and el.heading.tag == "h1":
                v.title, v.t_title = text, now
            elif what == "markdown":
                v.captions.append(text)
            elif what == "alert" and el.alert.format == Alert.ERROR:
                v.errors.append(text)
            elif what == "exception":
                v.exceptions.append(text)
            elif what == "metric":
                v.metrics[el.metric.label] = el.metric.body
                if result_label is not None and el.metric.label == result_label and v.t_result is None:
                    v.t_result = now
            elif what == "number_input":
                v.widgets[el.number_input.label] = (el.number_input.id, msg.delta.fragment_id)
            elif what == "imgs":
                for im in el.imgs.imgs:
                    v.images += 1
                    if fetch is not None and im.url.startswith("/"):
                        media.append(asyncio.create_task(fetch(im.url, v)))
        elif kind == "page_info_changed":
            v.query_string = msg.page_info_changed.query_string
        elif kind == "page_not_found":
            v.problems.append(f"page not found: {msg.page_not_found.page_name!r}")
        elif kind == "ref_hash":
            v.problems.append("the server sent a cached-message reference to a client with no cache")
        elif kind == "script_finished":
            status = ForwardMsg.ScriptFinishedStatus.Name(msg.script_finished)
            v.finished.append(status)
            if status == "FINISHED_WITH_COMPILE_ERROR":
                v.problems.append("the script did not compile")
                return
            if status in ("FINISHED_SUCCESSFULLY", "FINISHED_FRAGMENT_RUN_SUCCESSFULLY"):
                return


async def open_page(base_url: str, link: str, timeout_s: float = 120.0, result_label: str | None = None,
                    fetch_media: bool = True, t0: float | None = None, changes=()) -> PageView:
    """Open `link` as a new visitor and follow the script run to its end; then make each of `changes`, (number
    input label, new value), as the frontend sends it (only that widget's new state, and its fragment's id when it
    is drawn in one), each run read into a PageView in `.after`. Never raises for what the server does (transport
    failures, timeouts and protocol surprises go to PageView.problems)."""
    v = PageView(link=link)
    t0 = time.perf_counter() if t0 is None else t0
    base = base_url.rstrip("/")
    page, query = split_link(link)
    media: list[asyncio.Task] = []
    cookie = None

    async def fetch(url: str, into: PageView):
        body, _ = await asyncio.to_thread(_get, urllib.parse.urljoin(base + "/", url.lstrip("/")), cookie)
        into.media_bytes += len(body)

    try:
        async with asyncio.timeout(timeout_s):
            token = await asyncio.to_thread(xsrf_cookie, base, link)
            cookie = f"{XSRF_COOKIE}={token}" if token else None
            ws_url = "ws" + base[len("http"):] + "/_stcore/stream"
            protocols = ["streamlit", token] if token else ["streamlit"]
            async with connect(ws_url, subprotocols=protocols, origin=base,
                               additional_headers={"Cookie": cookie} if cookie else None, max_size=2**28,
                               compression=None, open_timeout=timeout_s) as ws:
                v.t_connected = time.perf_counter() - t0
                await ws.send(rerun_message(page, query))
                await _read_run(ws, v, t0, result_label, fetch if fetch_media else None, media)
                if media:
                    await asyncio.gather(*media)
                v.t_finished = time.perf_counter() - t0
                last, known = v, dict(v.widgets)  # widgets drawn so far (a fragment run redraws only its own)
                for label, value in changes:
                    if label not in known:
                        v.problems.append(f"no number input {label!r} on the page")
                        break
                    wid, fid = known[label]
                    nxt = PageView(link=link, query_string=last.query_string)
                    t1 = time.perf_counter()
                    await ws.send(rerun_message(page, last.query_string or query, (wid, value), fid))
                    await _read_run(ws, nxt, t1, result_label, None, media)
                    nxt.t_finished = time.perf_counter() - t1
                    v.after.append(nxt)
                    last = nxt
                    known.update(nxt.widgets)
    except TimeoutError:
        v.problems.append(f"no end of run within {timeout_s:.0f} s")
    except Exception as e:  # connection refused or dropped, HTTP errors: reported, not raised
        v.problems.append(f"{type(e).__name__}: {str(e)[:200]}")
    finally:
        for t in media:
            t.cancel()
    return v


async def open_all(base_url: str, links: list[str], **kw) -> list[PageView]:
    """Open every link at the same moment, each as its own session; times are counted from that moment."""
    t0 = time.perf_counter()
    return list(await asyncio.gather(*(open_page(base_url, link, t0=t0, **kw) for link in links)))


def main(argv=None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print("usage: python scripts/st_client.py BASE_URL LINK", file=sys.stderr)
        return 2
    v = asyncio.run(open_page(args[0], args[1], result_label="masked MSE"))
    print(f"{v.link}: title {v.title!r}; connected {v.t_connected}; result {v.t_result}; finished {v.t_finished}")
    for k, val in v.metrics.items():
        print(f"  {k}: {val}")
    for p in v.problems + v.errors + v.exceptions:
        print("  problem:", p)
    return 0 if v.ok else 1


if __name__ == "__main__":
    sys.exit(main())
