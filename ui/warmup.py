"""Warm the server process once, before any session's page code runs.

Streamlit runs every session's script in a thread of its own, all in one process. On a fresh server, the first
sessions used to import pandas, plotly, torch... concurrently, and plotly looks pandas up in `sys.modules` without
waiting for an import in progress (`get_module("pandas", should_load=False)`): a session drawing a heatmap while
another was still importing pandas crashed with "partially initialized module 'pandas' has no attribute 'Series'".
Import locks cannot prevent that, so nothing may be imported for the first time while sessions run.

`ensure()` is therefore what app.py does before any page runs. The first caller in a process imports and exercises,
under a process-wide lock, everything the pages use (the libraries, their lazily loaded parts, the default
checkpoint and the default views); every other session waits on the same lock and then finds it all ready.
`python -m ui.serve` calls it at server start, before the server accepts a connection, so no visitor waits at all.
There are two stages: a light one (everything but torch) and the model stage. Pages whose first paint runs no model
(the Lesson) wait only for the light stage, and their code calls `ensure()` before it reaches for a model.

It ends with `gc.freeze()`: the hundreds of thousands of long-lived objects the imports create (torch, plotly,
pandas) are moved out of the cyclic collector's reach, so a full collection does not scan them all. Streamlit's
own full `gc.collect(2)` after every script run (`runner.postScriptGC`) is switched off in .streamlit/config.toml
(it still scanned the caches once per view); Python's generational collector, which remains, benefits too.
"""
from __future__ import annotations

import gc
import importlib
import inspect
import io
import logging
import pkgutil
import threading
import time

from mae_core import assets

from . import import_graph
from .pages import PAGES

log = logging.getLogger(__name__)

# The libraries a page may use, directly or through other libraries (plotly and Streamlit look several of these up
# in sys.modules without importing them). LIGHT: no torch; MODELS: torch and what uses it. The project's own modules
# are not listed: project_modules() reads them from the pages' import statements.
LIGHT = (
    "numpy", "pandas", "pyarrow", "narwhals",
    "PIL.Image", "PIL.ImageDraw", "PIL.ImageFont", "PIL.PngImagePlugin", "PIL.JpegImagePlugin",
    "plotly", "plotly.graph_objects", "plotly.io", "plotly.colors", "plotly.tools", "plotly.subplots",
    "safetensors",
    "streamlit.dataframe_util", "streamlit.elements.plotly_chart", "streamlit.elements.arrow",
    "streamlit.elements.lib.image_utils", "streamlit.elements.lib.column_config_utils", "streamlit.material_icon_names",
)
MODELS = ("torch", "torch.nn.functional", "timm", "safetensors.torch")
MODEL_LIBRARIES = ("torch", "timm", "torchvision", "transformers")


def project_modules() -> tuple[list, list]:
    """(light, models): every project module that app.py and the pages can import, split by whether loading it
    loads torch (read from the source by ui.import_graph)."""
    scripts = [import_graph.ROOT / "app.py"] + [import_graph.ROOT / pg.file for pg in PAGES]
    reach = import_graph.reachable_from(scripts)
    heavy = {m for m in reach if import_graph.loads(m, MODEL_LIBRARIES)}
    return [m for m in reach if m not in heavy], [m for m in reach if m in heavy]


# the attention page's image set (absent without scikit-image); two modules Streamlit imports during a session's
# first script run (found by logging sys.modules around each run; private, so a later Streamlit may not have them)
OPTIONAL = ("skimage.data", "streamlit.dataframe.lazy_df_adapters", "streamlit.web.skills")
# Pages whose first paint runs no model (their defaults are precomputed data; tests/test_lesson.py checks that torch
# is not imported): a session on one of them waits only for the light stage.
MODEL_FREE_PAGES = tuple(p.url_path for p in PAGES if p.model_free)

_light_lock, _models_lock = threading.Lock(), threading.Lock()
_light, _models = threading.Event(), threading.Event()
report: dict = {}  # what the warm-up did and how long each step took (printed by `python -m ui.serve`)


def needs_models(page) -> bool:
    """Whether a page (st.navigation's StreamlitPage) needs the model stage before it runs."""
    return getattr(page, "url_path", "") not in MODEL_FREE_PAGES


def is_warm(models: bool = True) -> bool:
    return (_models if models else _light).is_set()


def ensure(models: bool = True) -> dict:
    """Warm this process once (thread-safe; callers during the warm-up wait for it): the light stage (everything
    but torch), and with models=True the model stage too (torch and the code that uses it, the default checkpoint
    and views). Returns the report. Code that goes from a model-free page to a model calls ensure() first."""
    if not _light.is_set():
        with _light_lock:
            if not _light.is_set():
                _warm_light()
                _light.set()
    if models and not _models.is_set():
        with _models_lock:
            if not _models.is_set():
                _warm_models()
                _models.set()
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


def _import(names) -> None:
    for m in names:
        importlib.import_module(m)


def _graph_objects() -> None:
    """Every plotly graph-object class. plotly imports each trace type and each nested property class (bar.marker,
    layout.legend.title...) the first time a figure uses it, ~1,500 modules in all: importing them here (1 s, ~45
    MB) covers every figure any page builds, instead of a list that the next chart would outgrow."""

    import plotly.graph_objs as go

    for m in pkgutil.walk_packages(go.__path__, "plotly.graph_objs.", onerror=lambda name: None):
        if not m.name.startswith("plotly.graph_objs._figurewidget"):  # needs Jupyter's ipywidgets
            importlib.import_module(m.name)


def _exercise_libraries() -> None:
    """First uses that load more code: PIL's format plugins, plotly's per-trace classes and validators, pandas
    to Arrow, CSV both ways."""

    import numpy as np
    import pandas as pd
    import plotly.graph_objects as go
    import plotly.io as pio
    import plotly.tools
    from PIL import Image
    from streamlit import dataframe_util


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
    # slide-ready downloads: PIL's FreeType fonts, text layout
    from ui import render

    render.png_bytes(render.slide(render.montage([np.zeros((8, 8, 3))], ["x"]), "title", "subtitle"))
    # the Lesson's precomputed data (an .npz: zipfile and its codecs), into its cache
    from ui import lesson_data

    lesson_data.data()


def _default_model_and_views() -> None:
    """Load the default checkpoint into the shared model cache and build the default Reconstruction view (the
    page every shared link starts from), so the first visitors get them from the cache."""
    from ui import views

    views.warm_defaults()


def _optional() -> None:
    for m in OPTIONAL:
        try:
            importlib.import_module(m)
        except ImportError:
            pass


# What `streamlit run` imports as it starts the server, after the warm-up (the module table below must know them)
SERVER = ("streamlit.web.cli", "streamlit.web.bootstrap", "streamlit.web.server.server",
          "streamlit.web.server.starlette.starlette_app", "streamlit.web.server.starlette.starlette_websocket",
          "streamlit.web.server.starlette.starlette_routes", "starlette.applications", "starlette.routing",
          "starlette.staticfiles", "starlette.websockets", "starlette.middleware.sessions", "uvicorn",
          "anyio._backends._asyncio", "itsdangerous")


def _module_table() -> None:
    """Streamlit's first element in a process calls inspect.stack() (delta_generator's one-time "use streamlit run"
    check), which fills inspect's module table: the real path of every loaded module's file, 0.2-0.3 s of CPU that
    the first visitor of a fresh server paid. The server's own modules are imported first, then the table is filled
    (inspect.getmodule scans sys.modules when a file is not in it yet)."""

    for m in SERVER:
        try:
            importlib.import_module(m)
        except ImportError:
            pass
    inspect.getmodule(compile("", "<warm-up>", "exec"), "<warm-up>")


def _freeze(stage: str, t0: float) -> None:
    # Collect what the warm-up left behind, then take everything alive now out of the cyclic collector's scans.
    gc.collect()
    gc.freeze()
    report["frozen objects"] = gc.get_freeze_count()
    report[f"{stage} total"] = round(time.perf_counter() - t0, 3)
    log.info("warm-up (%s) done in %.1f s: %s", stage, report[f"{stage} total"], report)


def _warm_light() -> None:
    t0 = time.perf_counter()
    _step("light imports", lambda: _import(LIGHT + tuple(project_modules()[0])), required=True)
    _step("plotly graph objects", _graph_objects, required=True)
    _step("optional imports", _optional)
    _step("libraries", _exercise_libraries, required=True)
    _freeze("light", t0)


def _warm_models() -> None:
    t0 = time.perf_counter()
    _step("model imports", lambda: _import(MODELS + tuple(project_modules()[1])), required=True)
    _step("default views", _default_model_and_views)
    _step("inspect's module table", _module_table)
    _freeze("models", t0)
