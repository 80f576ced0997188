"""Warm the server process once, before any session's page code runs.

Streamlit runs every session's script in a thread of its own, all in one process. On a fresh server, the first
sessions used to import pandas, plotly, torch... concurrently, and plotly looks pandas up in `sys.modules` without
waiting for an import in progress (`get_module("pandas", should_load=False)`): a session drawing a heatmap while
another was still importing pandas crashed with "partially initialized module 'pandas' has no attribute 'Series'".
Import locks cannot prevent that, so nothing may be imported for the first time while sessions run.

`ensure()` is therefore the first thing app.py does. The first caller in a process imports and exercises, under a
process-wide lock, everything the pages use (the libraries, their lazily loaded parts, the default checkpoint and
the default views); every other session waits on the same lock and then finds it all ready. `python -m ui.serve`
calls it at server start, before the server accepts a connection, so no visitor waits for it at all.

It ends with `gc.freeze()`: the hundreds of thousands of long-lived objects the imports create (torch, plotly,
pandas) are moved out of the cyclic collector's reach. Streamlit runs a full `gc.collect(2)` after every script run
(`runner.postScriptGC`), which otherwise scans them all: 0.7 s of CPU per page view on this project's 2-core
machine, the largest single cost of a cached view.
"""
from __future__ import annotations

import gc
import importlib
import logging
import threading
import time

log = logging.getLogger(__name__)

# Everything a page may import, directly or through the libraries (plotly and Streamlit look several of these up in
# sys.modules without importing them), in dependency order.
MODULES = (
    "numpy", "pandas", "pyarrow", "narwhals",
    "PIL.Image", "PIL.ImageDraw", "PIL.ImageFont", "PIL.PngImagePlugin", "PIL.JpegImagePlugin",
    "plotly", "plotly.graph_objects", "plotly.io", "plotly.colors", "plotly.tools",
    "torch", "torch.nn.functional", "timm", "safetensors", "safetensors.torch",
    "streamlit.dataframe_util", "streamlit.elements.plotly_chart", "streamlit.elements.arrow",
    "streamlit.elements.lib.image_utils", "streamlit.elements.lib.column_config_utils", "streamlit.material_icon_names",
    "mae_core.errors", "mae_core.assets", "mae_core.geometry", "mae_core.masking", "mae_core.images",
    "mae_core.model", "mae_core.ourformat", "mae_core.checkpoints", "mae_core.reconstruct", "mae_core.attention",
    "mae_core.ablations",
    "ui.state", "ui.gate", "ui.limits", "ui.render", "ui.paint", "ui.resources", "ui.pickers", "ui.views",
    "ui.progress",
)
OPTIONAL_MODULES = ("skimage.data",)  # the attention page's image set; absent without scikit-image

_lock = threading.Lock()
_done = threading.Event()
report: dict = {}  # what the warm-up did and how long each step took (shown by `python -m ui.serve --check`)


def is_warm() -> bool:
    return _done.is_set()


def ensure(views: bool = True) -> dict:
    """Warm this process once (thread-safe; callers during the warm-up wait for it). Returns the report."""
    if _done.is_set():
        return report
    with _lock:
        if not _done.is_set():
            _warm(views)
            _done.set()
    return report


def _step(name: str, fn, required: bool = False) -> None:
    t = time.perf_counter()
    try:
        fn()
        report[name] = round(time.perf_counter() - t, 3)
    except Exception as e:  # optional steps only make the first view faster; their failure is not fatal
        if required:
            raise
        report[name] = f"skipped ({type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ''})"
        log.warning("warm-up step %s skipped: %s", name, report[name])


def _import_all() -> None:
    for m in MODULES:
        importlib.import_module(m)
    for m in OPTIONAL_MODULES:
        try:
            importlib.import_module(m)
        except ImportError:
            pass


def _exercise_libraries() -> None:
    """First uses that load more code: PIL's format plugins, plotly's per-trace classes and validators, pandas
    to Arrow, CSV both ways."""
    import io

    import numpy as np
    import pandas as pd
    import plotly.graph_objects as go
    import plotly.io as pio
    import plotly.tools
    from PIL import Image

    from streamlit import dataframe_util

    from mae_core import assets

    Image.init()
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, format="PNG")
    Image.new("RGB", (8, 8)).save(io.BytesIO(), format="JPEG")
    Image.open(io.BytesIO(buf.getvalue())).load()
    z = np.arange(6, dtype=float).reshape(2, 3)
    fig = go.Figure()
    fig.add_trace(go.Image(z=np.zeros((2, 3, 3), np.uint8)))
    fig.add_trace(go.Heatmap(z=z, customdata=z, colorbar=dict(title="x"), hoverongaps=False))
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="markers+lines", error_y=dict(type="data", array=[0.1, 0.1]),
                             marker=dict(symbol="diamond"), line=dict(dash="dot")))
    fig.add_trace(go.Bar(x=["a"], y=[1]))
    fig.update_xaxes(type="log", dtick=1, showgrid=False)
    fig.update_yaxes(scaleanchor="x", autorange="reversed")
    fig.update_layout(height=300, legend=dict(orientation="h"), margin=dict(l=0, r=0, t=0, b=0))
    pio.to_json(plotly.tools.return_figure_from_figure_or_data(fig, validate_figure=True), validate=False)
    from plotly.colors import get_colorscale, sample_colorscale

    sample_colorscale(get_colorscale("Inferno"), [0.0, 1.0])
    df = pd.DataFrame({"a": [1, 2], "b": ["x", "y"], "c": [0.5, None]})
    dataframe_util.convert_anything_to_arrow_bytes(df)
    dataframe_util.convert_anything_to_arrow_bytes([{"metric": "x", "value": "1"}])
    pd.read_csv(io.StringIO(df.to_csv(index=False)))
    df["a"].rolling(2, min_periods=1).mean()
    # a figure of pandas columns (plotly goes through narwhals), as the Checkpoints page's loss curve
    pio.to_json(plotly.tools.return_figure_from_figure_or_data(
        go.Figure(go.Scatter(x=df["a"], y=df["a"].rolling(2, min_periods=1).mean())), validate_figure=True))
    # the Ablations page's figures (subplots, annotations, shapes, legends), from the shipped data
    from mae_core import ablations as ab

    rows = ab.load_all(skip_bad=True, problems=[])
    published, measured = ab.split_measured(rows)
    figs = [ab.figure_for(study, published, None) for study in ab.studies(published)]
    if measured:
        ck, bl = ab.default_selection(measured)
        figs += [c.figure for c in ab.measured_figures(measured, published, ck, bl, resized=True,
                                                       colours=ab.colour_map(measured))]
    for f in figs:
        pio.to_json(plotly.tools.return_figure_from_figure_or_data(f, validate_figure=True), validate=False)
    assets.image_set()


def _default_model_and_views() -> None:
    """Load the default checkpoint into the shared model cache and build the default Reconstruction view (the
    page every shared link starts from), so the first visitors get them from the cache."""
    from ui import views

    views.warm_defaults()


def _warm(views: bool) -> None:
    t0 = time.perf_counter()
    _step("imports", _import_all, required=True)
    _step("libraries", _exercise_libraries, required=True)
    if views:
        _step("default views", _default_model_and_views)
    # Collect what the warm-up left behind, then take everything alive now out of the cyclic collector's scans.
    gc.collect()
    gc.freeze()
    report["frozen objects"] = gc.get_freeze_count()
    report["total"] = round(time.perf_counter() - t0, 3)
    log.info("warm-up done in %.1f s: %s", report["total"], report)
