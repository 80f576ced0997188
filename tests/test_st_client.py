"""The browser-free client (scripts/st_client.py) and the load benchmark's checks (scripts/load_bench.py, ws mode):
a real `streamlit run` server on a free loopback port, a few sessions opened at the same moment over Streamlit's
websocket protocol, every shown number compared with the library's own result for that session's settings."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from conftest import load_script

ROOT = Path(__file__).resolve().parent.parent
bench = load_script("load_bench")
client = bench.st_client


@pytest.fixture(scope="module")
def family_dir(tiny_family):
    (ROOT / "artifacts").mkdir(exist_ok=True)
    return Path(next(iter(tiny_family.values()))).parent


def test_sessions_over_the_websocket_each_get_their_own_correct_numbers(family_dir):
    lib = bench.Library(family_dir)
    settings = bench.ws_settings(3, lib, ["p8-m2", "p16-m1", "p8-m1"], seed0=40)
    expected = {s: lib.shown(s) for s in settings}
    assert len({tuple(e.values()) for e in expected.values()}) == 3  # distinct numbers: a leak would show

    with bench.shot.server({"MAE_CHECKPOINT_DIR": str(family_dir)}, log_name="st-client-test.log") as url:
        assert client.xsrf_cookie(url, "/reconstruction")  # the project's config turns XSRF protection on
        views = asyncio.run(client.open_all(url, [s.link for s in settings], timeout_s=240,
                                            result_label="masked MSE"))
        missing = asyncio.run(client.open_page(url, "/no_such_page", timeout_s=60))

    checked = bench.check(views, settings, expected)
    for c in checked:
        v = c.view
        assert v.ok, (v.link, v.problems, v.errors, v.exceptions)
        assert v.title == "Reconstruction"
        assert not c.wrong, c.note
        assert set(bench.RESULT_METRICS) <= set(v.metrics)
        assert v.images >= 4 and v.media_bytes > 0  # the four panels, fetched from /media as a browser does
        assert 0 < v.t_result <= v.t_finished
        assert f"seed={c.setting.seed}" in (v.query_string or "")  # the URL the page published
    assert missing.problems and "page not found" in missing.problems[0]


def test_the_check_tells_wrong_from_leaked_numbers():
    a = bench.Setting("p8-m2", "flower", 64, 8, 2, 0.75, 1)
    b = bench.Setting("p16-m1", "china", 64, 16, 1, 0.5, 2)
    expected = {a: dict(zip(bench.RESULT_METRICS, ("0.1000", "10.00 dB", "0.2000", "0.3000"))),
                b: dict(zip(bench.RESULT_METRICS, ("0.4000", "4.00 dB", "0.5000", "0.6000")))}

    def view(s, numbers):
        v = client.PageView(link=s.link, t_result=1.0, t_finished=1.0)
        v.metrics = dict(numbers)
        v.captions = [f"**{s.ckpt}** () · image **{s.img}** · I=64 p=8 m=2 r=0.75 seed={s.seed} keep=blocks"]
        return v

    own = bench.check([view(a, expected[a]), view(b, expected[b])], [a, b], expected)
    assert [(c.ok, c.wrong, c.leaked) for c in own] == [(True, False, False)] * 2
    swapped = bench.check([view(a, expected[b]), view(b, expected[b])], [a, b], expected)
    assert (swapped[0].ok, swapped[0].wrong, swapped[0].leaked) == (False, True, True)
    assert "p16-m1" in swapped[0].note
    off = dict(expected[a], **{"masked MSE": "0.1001"})
    wrong = bench.check([view(a, off)], [a], {a: expected[a]})
    assert (wrong[0].wrong, wrong[0].leaked) == (True, False)


def test_a_new_seed_reruns_only_the_result_and_keeps_the_link(family_dir):
    """On Reconstruction the seed is drawn in a fragment: a new seed, sent as the frontend sends it, reruns that
    fragment only (no page title, no checkpoint picker sent again), shows the library's numbers for the new seed,
    and the published URL carries it."""
    lib = bench.Library(family_dir)
    s0 = bench.ws_settings(1, lib, ["p8-m2"], seed0=60)[0]
    s1 = bench.Setting(s0.ckpt, s0.img, s0.image_size, s0.patch_size, s0.mask_unit, s0.ratio, 61)
    expected = {s: lib.shown(s) for s in (s0, s1)}
    assert expected[s0] != expected[s1]
    with bench.shot.server({"MAE_CHECKPOINT_DIR": str(family_dir)}, log_name="st-client-fragment.log") as url:
        v = asyncio.run(client.open_page(url, s0.link, timeout_s=240, result_label="masked MSE",
                                         changes=[("Seed", 61)]))
    assert v.ok, (v.problems, v.errors, v.exceptions)
    assert not bench.check([v], [s0], expected)[0].wrong
    wid, fragment = v.widgets["Seed"]
    assert fragment and fragment in v.fragment_ids  # the seed is drawn inside a fragment
    (after,) = v.after
    assert not (after.problems or after.errors or after.exceptions), after.problems
    assert after.finished == ["FINISHED_FRAGMENT_RUN_SUCCESSFULLY"]
    assert after.title is None and "Image size I" not in after.widgets  # the frame and I, p were not redrawn
    assert after.widgets["Seed"] == (wid, fragment)
    assert not bench.check([after], [s1], expected)[0].wrong
    assert "seed=61" in after.query_string and f"ckpt={s0.ckpt}" in after.query_string
