"""Plotly figures of ablation rows: published curves with their provenance, and our measured sweeps.

figure_for draws one study's curves (one panel per table, setting and metric; SEEN / DERIVED / MEASURED told
apart by marker and line); measured_figures draws our sweep as one chart per part, a checkpoint keeping its colour
everywhere. Rows come from mae_core.ablations.schema; nothing here reads files.
"""
from __future__ import annotations

import math
import re
import textwrap
from collections import OrderedDict
from dataclasses import dataclass

from .. import colours as app_colours
from .schema import BASELINE, NOT_RECORDED, RELEASED_CONFIG

DEFAULT_BASELINES = ("gaussian-fill",)  # what the measured charts show beside the checkpoints unless asked
RESIZED_TAG = "(resized input)"  # in `series`: a checkpoint evaluated at an input size it was not trained on
CHECKPOINT_COLOURS = tuple(app_colours.FAMILY.values()) + app_colours.EXTRA  # colours: mae_core.colours
BASELINE_GREYS = app_colours.BASELINE_GREYS
MIXED_LINE = app_colours.MIXED_LINE  # a line joining points of different checkpoints (e.g. the same 16-px mask cell)
# x axes drawn in log scale (ticked at the values present)
LOG_SETTINGS = ("L", "pretrain_epochs", "training compute (TFLOP, estimate)")
AXIS_TITLES = {"L": "sequence length L", "mask_unit": "mask unit m (m\u00d7m patches)", "layer": "encoder layer",
               "mask_ratio": "mask ratio", "pretrain_epochs": "pre-training epochs", "decoder_depth": "decoder depth",
               "decoder_width": "decoder width"}
# short chart title and one-paragraph explanation of each part of our sweep (python -m mae_core sweep)
PART_INFO = {
    "sweep: mask unit": (
        "Mask unit m",
        "Each checkpoint at its trained input size, scored with m\u00d7m patches masked together (m = 1, 2, 4). "
        "Lower masked MSE / higher PSNR = removed pixels reconstructed better."),
    "sweep: L at fixed mask cell": (
        "Sequence length L at a fixed mask cell",
        "The mask cell (the square of pixels removed together, p\u00d7m) is held fixed while L changes: p16-m1 "
        "(L=64), p8-m2 (L=256) and p4-m4 (L=1024) remove the same 16-px cells on the same masks, so the line "
        "through them is what each 4\u00d7 longer sequence buys."),
    "sweep: cost": (
        "Cost vs L",
        "Tokens the encoder sees (Le, the visible patches), the analytic forward GFLOPs and the measured forward "
        "latency, for each checkpoint at several input sizes (checkpoints with the same patch size share Le and "
        "GFLOPs, so their lines coincide). Latency was timed on a shared CPU: indicative only."),
    "training: quality vs steps": (
        "Quality against training steps",
        "Each embedded checkpoint's run, scored at the snapshots kept along it (python -m mae_core curves): "
        "masked MSE on the two held-out demo images (5 seeds, r = 0.75, its training mask unit), as a ratio to "
        "the mean-fill and normalised-Gaussian baselines on the same masks (below 1 = better than the baseline), "
        "and the most local first-layer head's attention distance over the bundled photos as a ratio to uniform "
        "attention (below 1 = more local). Every member trains for the same steps and images; snapshots before "
        "the end are mid-schedule (the learning rate has not decayed yet)."),
    "training: quality vs compute": (
        "Quality against training compute",
        "The same snapshots against estimated training compute (3 x the forward FLOPs per image, times the images "
        "seen; log axis). A step of p4-m4 (L = 1024) costs about 20 x a step of p16-m1 (L = 64), so at equal "
        "steps the long sequence has had far more compute: read across at one compute level to compare members "
        "at equal cost."),
    "sweep: attention distance": (
        "Attention distance per layer",
        "Mean attention distance of each encoder layer on unmasked images (pixels, as a fraction of the image "
        "width, and as a ratio to uniform attention), averaged over heads: how far a layer looks. The dashed line "
        "in each checkpoint's colour is the exact level uniform attention would give on its grid (the mean "
        "distance between all pairs of patch centres, about 0.52 of the width): a layer is local only when it is "
        "clearly below it."),
}


# the quoted claims (annotations.csv: study, chart) that caption each part of our sweep
PART_QUOTES = {
    "sweep: L at fixed mask cell": (("Long-Seq MAE", "sequence length"),),
    "sweep: mask unit": (("Long-Seq MAE", "mask unit"),),
    "sweep: cost": (("Long-Seq MAE", "cost"),),
    "sweep: attention distance": (("ViT", "attention distance"),),
}


def uniform_level(row, metric: str) -> float | None:
    """The uniform-attention reference of a mean-attention-distance row in the metric's unit (px, fraction of the
    width, or ratio = 1), from its image_size and patch_size (unmasked image: the whole grid); None otherwise."""
    from ..geometry import uniform_mad

    if "attention distance" not in metric:
        return None
    if "uniform" in metric:
        return 1.0
    I, p = row.get("image_size"), row.get("patch_size")
    if not I or not p or I % p:
        return None
    ref = uniform_mad((I // p, I // p), p)
    if "width" in metric:
        return ref / I
    return ref if "px" in metric else None


def _uniform_lines(fig, prow_rows, met, prow, pcol, colours) -> None:
    """Dashed horizontal lines at the uniform-attention level of each checkpoint drawn in this panel, in its colour
    (levels within 3 % of each other share one label), y axis from 0."""
    levels: OrderedDict = OrderedDict()
    for r in prow_rows:
        lvl = uniform_level(r, met)
        if lvl is not None:
            levels.setdefault(round(lvl, 6), []).append(r)
    if not levels:
        return
    for lvl, rs in levels.items():
        models = list(OrderedDict.fromkeys(r["model"] for r in rs))
        colour = colours.get(models[0], MIXED_LINE) if len(models) == 1 else MIXED_LINE
        fig.add_hline(y=lvl, line_dash="dash", line_color=colour, line_width=1.2, row=prow, col=pcol)
    lo, hi = min(levels), max(levels)
    text = f"{lo:.3g}" if hi - lo <= 0.03 * hi and round(lo, 3) == round(hi, 3) else f"{lo:.3g}\u2013{hi:.3g}"
    sub = fig.get_subplot(prow, pcol)
    fig.add_annotation(x=1, y=hi, xref=sub.xaxis.plotly_name.replace("axis", "") + " domain",
                       yref=sub.yaxis.plotly_name.replace("axis", ""), xanchor="right", yanchor="bottom",
                       showarrow=False, text=f"uniform attention: {text}", font=dict(size=10, color="#444"))
    fig.update_yaxes(rangemode="tozero", row=prow, col=pcol)


def _num(v):
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def is_baseline(r) -> bool:
    """A MEASURED row of a classical baseline (mean-fill, gaussian-fill): it names no checkpoint."""
    return r["status"] == "MEASURED" and not r.get("checkpoint")


def is_resized(r) -> bool:
    """A MEASURED row evaluated at an input size its checkpoint was not trained on (`series` says so)."""
    return RESIZED_TAG in (r.get("series") or "")


def measured_choices(rows) -> tuple[list[str], list[str]]:
    """(checkpoint ids, baseline names) among the MEASURED rows, each sorted: what the page lets you pick."""
    ms = [r for r in rows if r["status"] == "MEASURED"]
    return (sorted({r["model"] for r in ms if not is_baseline(r)}), sorted({r["model"] for r in ms if is_baseline(r)}))


def default_selection(rows) -> tuple[list[str], list[str]]:
    """What the measured charts show first: every trained checkpoint, and the DEFAULT_BASELINES present."""
    ck, bl = measured_choices(rows)
    return ck, [b for b in bl if b in DEFAULT_BASELINES]


def select_measured(rows, checkpoints=None, baselines=None, resized: bool = True) -> list[dict]:
    """The MEASURED rows of the chosen checkpoints and baselines (None = all of them); resized=False also drops
    the resized-input evaluations."""
    out = []
    for r in rows:
        if r["status"] != "MEASURED" or (not resized and is_resized(r)):
            continue
        pick = baselines if is_baseline(r) else checkpoints
        if pick is None or r["model"] in pick:
            out.append(r)
    return out


def colour_map(rows) -> dict:
    """model -> colour for a set of MEASURED rows: each checkpoint its own colour (mae_core.colours.checkpoint, the
    same on every page whatever else is picked), baselines shades of grey."""
    ck, bl = measured_choices(rows)
    out = dict(zip(ck, app_colours.checkpoints(ck)))
    out.update({m: app_colours.baseline(i) for i, m in enumerate(bl)})
    return out


def axis_ticks(values, log: bool = False):
    """(tickvals, ticktext) at the distinct numeric x values present, or None to keep plotly's own ticks.

    Always for a log axis (plotly's minor log labels read '3 4 5 6 7 8 9 100 2 3'); for a linear axis only when
    the values are a few whole numbers (mask unit 1, 2, 4; decoder depth 1, 2, 4, 8, 12; layers)."""
    vals = sorted({f for f in (_num(v) for v in values) if f is not None})
    if not vals or (not log and (len(vals) > 8 or any(v != int(v) for v in vals))):
        return None
    if log and len(vals) > 8 and vals[0] > 0:  # many points (training compute): 1-2-5 ticks, not one per point
        lo, hi = math.floor(math.log10(vals[0])), math.ceil(math.log10(vals[-1]))
        ticks = [k * 10.0 ** e for e in range(lo, hi + 1) for k in (1, 2, 5) if vals[0] <= k * 10.0 ** e <= vals[-1]]
        vals = ticks if len(ticks) >= 2 else [vals[0], vals[-1]]
    return vals, [f"{v:g}" for v in vals]


def short_title(text: str, limit: int = 40) -> str:
    """`text` if it fits in `limit` characters; else with only the unit (first item) of a trailing parenthesis,
    'forward latency (ms, batch 1, median)' -> 'forward latency (ms)'; else without it; else cut with an ellipsis."""
    if len(text) <= limit:
        return text
    m = re.match(r"^(.*?)\s*\(([^(),]*)[,)].*\)\s*$", text)
    if m and m.group(1) and len(f"{m.group(1)} ({m.group(2).strip()})") <= limit:
        return f"{m.group(1)} ({m.group(2).strip()})"
    t = re.sub(r"\s*\([^)]*\)", "", text).strip()
    return t if len(t) <= limit else t[:limit - 1].rstrip() + "\u2026"


def _panels(rows) -> "OrderedDict[tuple, list]":
    """Plottable rows grouped by (table, setting, metric), reference rows excluded."""
    out: OrderedDict = OrderedDict()
    for r in rows:
        if r["setting"] == BASELINE or r["metric"] == RELEASED_CONFIG:
            continue
        out.setdefault((r["table"], r["setting"], r["metric"]), []).append(r)
    return out


def _series_label(r, rows_in_panel) -> str:
    if r.get("series"):
        return r["series"]
    label = r["model"]
    if r["setting"] != "L" and len({x.get("L") for x in rows_in_panel if x["model"] == r["model"]}) > 1:
        label += f" (L={r.get('L')})"
    return label


_STYLE = {
    "SEEN": dict(symbol="circle", dash="solid"),
    "DERIVED": dict(symbol="circle-open", dash="dash"),
    "MEASURED": dict(symbol="diamond", dash="solid"),
}


HOVER_WIDTH = 60  # characters a hover line holds: a wider tooltip is clipped by the chart's frame at 1400 px


def wrap_hover(text: str, width: int = HOVER_WIDTH) -> str:
    """Hover text with every line wrapped to `width` characters (plotly never wraps a tooltip itself)."""

    return "<br>".join(part for line in text.split("<br>")
                       for part in (textwrap.wrap(line, width, break_long_words=True) or [""]))


def sources(rows) -> list[dict]:
    """What a chart's points come from, one line per (study, table, source, status): how many numbers, and where
    (arXiv id and version, venue, or for our sweep the checkpoints and code revision). Shown beside each chart."""
    out: OrderedDict = OrderedDict()
    for r in rows:
        key = (r["study"], r["table"], r.get("source") or NOT_RECORDED, r["status"])
        e = out.setdefault(key, {"study": r["study"], "table": r["table"], "source": key[2], "status": r["status"],
                                 "numbers": 0, "_where": OrderedDict()})
        e["numbers"] += 1
        where = (f"arXiv {r['arxiv_id']} ({r.get('arxiv_version') or NOT_RECORDED})" if r.get("arxiv_id")
                 else r.get("venue") or "")
        if r["status"] == "MEASURED":
            where = f"{r['model']} {str(r.get('checkpoint_sha256') or '')[:12]}".strip() + (
                f", code {r['code_revision']}" if r.get("code_revision") else "")
        if where:
            e["_where"][where] = None
    return [{k: v for k, v in e.items() if k != "_where"} | {"where": "; ".join(e["_where"])}
            for e in out.values()]


def _hover(r) -> str:
    bits = [f"<b>{r['study']}</b> - {r['table']}", f"{r['model']}", f"{r['setting']} = {r['setting_value']}",
            f"{r['metric']}: {r['value']:g}", f"status: {r['status']}", f"source: {r['source']}"]
    if r.get("arxiv_id"):
        bits.append(f"arXiv {r['arxiv_id']} ({r.get('arxiv_version') or NOT_RECORDED})")
    if r.get("note"):
        bits.append("note: " + r["note"][:160])
    return wrap_hover("<br>".join(bits))


def _measured_trace(go, label, grp, setting, met, numeric_x, colours, tagged, dash=None):
    """One MEASURED series -> a Scatter of mean +- std per setting value (over images x seeds).

    Colour: the checkpoint's (colours[model]); a series joining several checkpoints (the same mask cell at
    different L) gets a neutral line with each point in its checkpoint's colour. Baselines are dotted,
    resized-input evaluations dashed. tagged=True names it '<label> [MEASURED]' (beside published curves)."""
    agg: OrderedDict = OrderedDict()
    for r in grp:
        agg.setdefault(r["setting_value"], []).append(r)
    pts = []
    for sv, rs in agg.items():
        vals = [r["value"] for r in rs]
        mean = sum(vals) / len(vals)
        std = (sum((v - mean) ** 2 for v in vals) / len(vals)) ** 0.5
        r0 = rs[0]
        cell = ", ".join(f"{k}={r0[k]}" for k in ("image_size", "patch_size", "mask_unit", "L") if r0.get(k))
        text = (f"<b>{r0['study']}</b> - {r0['table']}<br>{label}<br>checkpoint: {r0['model']}"
                f"{' (classical baseline)' if is_baseline(r0) else ''}<br>{setting} = {sv}"
                f"{f' ({cell})' if cell else ''}<br>{met}: {mean:.4g} \u00b1 {std:.2g} "
                f"(n={len(vals)}: images x seeds)<br>status: MEASURED<br>source: {r0['source']}<br>"
                f"checkpoint sha256: {r0.get('checkpoint_sha256') or '-'}<br>device: {r0.get('device') or '-'}, "
                f"code {r0.get('code_revision') or '-'}")
        if r0.get("note"):
            text += "<br>note: " + r0["note"][:160]
        text = wrap_hover(text)
        pts.append((_num(sv) if numeric_x else sv, mean, std, text, r0["model"]))
    if numeric_x:
        pts.sort(key=lambda t: t[0])
    xs, ys, es, texts, models = ([p[i] for p in pts] for i in range(5))
    order = list(OrderedDict.fromkeys(models))
    fallback = CHECKPOINT_COLOURS[0]
    if len(order) == 1:
        line_colour = colours.get(order[0], fallback)
        marker_colour = line_colour
        name = label if order[0] in label else f"{order[0]}: {label}"
    else:
        line_colour = MIXED_LINE
        marker_colour = [colours.get(m, fallback) for m in models]
        name = f"{label}: " + " \u2192 ".join(order)
    base, resized = is_baseline(grp[0]), is_resized(grp[0])
    dash = dash or ("dot" if base else "dash" if resized else "solid")
    if tagged:
        name += " [MEASURED]"
    return go.Scatter(
        x=xs, y=ys, error_y=dict(type="data", array=es, visible=True, thickness=1.2, width=3),
        mode="lines+markers" if numeric_x and len(xs) > 1 else "markers", name=name, legendgroup=name,
        legendrank=1000 + 200 * base + 100 * resized + (list(colours).index(order[0]) if order[0] in colours
                                                          else 50),
        marker=dict(symbol=_STYLE["MEASURED"]["symbol"], size=7 if base else 9, color=marker_colour,
                    line=dict(width=1, color=marker_colour)),
        opacity=0.6 if resized else 1.0, line=dict(dash=dash, color=line_colour, width=1.5 if base else 2),
        hovertext=texts, hoverinfo="text")


def _category_ticks(values, width: int = 10):
    """(tickvals, ticktext) of a categorical axis, each label wrapped to `width` characters a line and drawn level:
    side by side they never overlap (plotly's own slanted labels did, in a half-width panel)."""

    cats = list(OrderedDict.fromkeys(str(v) for v in values))
    return cats, ["<br>".join(textwrap.wrap(c, width, break_long_words=False)) or c for c in cats]


def _style_axes(fig, prow, pcol, setting, met, xs_present, numeric_x, ylimit=40):
    log = setting in LOG_SETTINGS and numeric_x
    ticks = axis_ticks(xs_present, log) if numeric_x else _category_ticks(xs_present)
    if not numeric_x:
        fig.update_xaxes(tickangle=0, tickfont_size=10, row=prow, col=pcol)
    fig.update_xaxes(title_text=AXIS_TITLES.get(setting, setting), row=prow, col=pcol, type="log" if log else None,
                     **(dict(tickmode="array", tickvals=ticks[0], ticktext=ticks[1]) if ticks else {}))
    fig.update_yaxes(title_text=short_title(met, ylimit), row=prow, col=pcol)


def _released_lines(fig, configs, setting, prow, pcol, log: bool = False) -> list[float]:
    """Vertical dotted lines at released configurations whose setting is this axis; returns their x values.

    The label is a separate annotation: plotly places an add_vline label at x in log10 units on a log axis
    (i.e. off the chart), so on log axes it is given log10(x) itself."""
    drawn = {}
    for c in configs:
        x = _num(c["setting_value"])
        if c["setting"] == setting and x is not None and (c["study"], x) not in drawn:
            drawn[(c["study"], x)] = x
            fig.add_vline(x=x, line_dash="dot", line_color=app_colours.RELEASED, row=prow, col=pcol)
            sub = fig.get_subplot(prow, pcol)
            fig.add_annotation(x=math.log10(x) if log and x > 0 else x, y=1, xref=sub.xaxis.plotly_name.replace(
                "axis", ""), yref=sub.yaxis.plotly_name.replace("axis", "") + " domain", xanchor="right",
                yanchor="top", textangle=-90, showarrow=False,  # along the line, inside the panel
                text=f"{c['study']} released: {setting}={c['setting_value']}",
                font=dict(size=10, color=app_colours.RELEASED))
    return list(drawn.values())


def figure_for(study: str, rows, measured_rows=None, table: str | None = None, metric: str | None = None,
               cols: int = 2):
    """A plotly Figure of one study's curves: one panel per (table, setting, metric).

    SEEN points are filled markers on solid lines, DERIVED points open markers on dashed lines, MEASURED
    points (ours) diamonds with mean +- std over images/seeds. Hover shows study, table, status and source.
    Rows with setting 'baseline' become horizontal dotted lines in the panels of the same study, model and
    metric whose table the baseline's table names (e.g. 'paper text (Table 1, Figure 5)'), when they lie near
    the panel's values (so a distant reference level does not flatten a 0.5-point ablation);
    'released configuration' rows become vertical dotted lines in measured panels whose x axis is that setting
    (e.g. Long-Seq MAE's L=784 on our L sweep).
    `measured_rows` are drawn in their own panels beside the study's (e.g. our sweep beside the paper); for a
    readable page of our sweeps alone see measured_figures. Categorical x values (e.g. 'pixel (w/ norm)') are
    drawn as markers only, in file order. Log axes (L, epochs) are ticked at the values present.
    """
    import plotly.graph_objects as go

    own, measured = _select(study, rows, measured_rows, table, metric)
    panels, mpanels = _panels(own), _panels(measured)
    keys = [("own", k) for k in panels] + [("measured", k) for k in mpanels]
    if not keys:
        return _released_table(study, own) or _nothing_to_plot(study, table)
    fig, plot_px, ncols = _panel_grid(keys, panels, mpanels, cols)
    rows = list(rows)
    baselines = [r for r in rows if r["study"] == study and r["setting"] == BASELINE]
    configs = [r for r in rows if r["metric"] == RELEASED_CONFIG]
    seen_legend: set = set()
    series_colours: dict = {}  # one colour per published series label across all panels
    ck_colours = colour_map(measured)  # one colour per checkpoint across all measured panels
    for i, (kind, key) in enumerate(keys):
        prow, pcol = i // ncols + 1, i % ncols + 1
        prow_rows = (panels if kind == "own" else mpanels)[key]
        tbl, setting, met = key
        numeric_x = all(_num(r["setting_value"]) is not None for r in prow_rows)
        groups: OrderedDict = OrderedDict()
        for r in prow_rows:  # published rows: one line per series, SEEN/DERIVED told apart per point
            key_ = (_series_label(r, prow_rows), "MEASURED" if r["status"] == "MEASURED" else "published")
            groups.setdefault(key_, []).append(r)
        for (label, kind_), grp in groups.items():
            if kind_ == "MEASURED":
                trace = _measured_trace(go, label, grp, setting, met, numeric_x, ck_colours, tagged=True)
            else:
                trace = _published_trace(go, label, grp, numeric_x, series_colours)
            trace.showlegend = trace.name not in seen_legend
            seen_legend.add(trace.name)
            fig.add_trace(trace, row=prow, col=pcol)
        if kind == "own":
            _baseline_lines(fig, baselines, prow_rows, tbl, met, prow, pcol)
        xs_present = [r["setting_value"] for r in prow_rows]
        if numeric_x and kind == "measured":  # labelled on the line itself, not ticked
            _released_lines(fig, configs, setting, prow, pcol, log=setting in LOG_SETTINGS)
        _style_axes(fig, prow, pcol, setting, met, xs_present, numeric_x)
    legend_px = 24 * math.ceil(len(seen_legend) / 2)  # under the panels, in the bottom margin: never over a title
    fig.update_layout(height=plot_px + 90 + 60 + legend_px,
                      title=study if table is None else f"{study} \u00b7 {table}", hovermode="closest",
                      hoverlabel=dict(align="left"), margin=dict(t=90, b=60 + legend_px),
                      legend=dict(orientation="h", x=0, xanchor="left", y=0, yref="container", yanchor="bottom"))
    return fig


def _select(study: str, rows, measured_rows, table, metric) -> tuple[list, list]:
    """The study's own rows and the measured rows, narrowed to one table and one metric when given."""
    own = [r for r in rows if r["study"] == study]
    measured = list(measured_rows or [])
    if table is not None:
        own = [r for r in own if r["table"] == table]
    if metric is not None:
        own = [r for r in own if r["metric"] == metric]
        measured = [r for r in measured if r["metric"] == metric]
    return own, measured


def _released_table(study: str, own):
    """A study with released configurations and no numeric rows: its configuration as a table (else None)."""
    import plotly.graph_objects as go

    cfg_rows = [r for r in own if r["metric"] == RELEASED_CONFIG]
    if not cfg_rows:
        return None
    cells = [[r["model"] for r in cfg_rows], [r["setting"] for r in cfg_rows],
             [r["setting_value"] for r in cfg_rows], [r["status"] for r in cfg_rows],
             [f"{r['source']}: {r['table']}" for r in cfg_rows], [r.get("note") or "" for r in cfg_rows]]
    fig = go.Figure(go.Table(header=dict(values=["model", "setting", "value", "status", "source", "note"]),
                             cells=dict(values=cells), columnwidth=[70, 90, 60, 60, 200, 260]))
    fig.update_layout(title=f"{study}: released configuration (no numeric ablation rows stored yet)",
                      height=min(900, 120 + 28 * len(cfg_rows)))
    return fig


def _nothing_to_plot(study: str, table):
    import plotly.graph_objects as go

    fig = go.Figure()
    fig.add_annotation(text=f"No plottable rows for {study!r}"
                       + (f" / {table!r}" if table else "") + " (released configurations and baselines only)"
                       , showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_layout(xaxis_visible=False, yaxis_visible=False, height=220)
    return fig


def _panel_grid(keys, panels, mpanels, cols: int):
    """(figure with one titled subplot per panel, plot height in px, columns)."""
    from plotly.subplots import make_subplots

    # a panel of more than four categories (recipes, model variants) gets the whole width: its labels need it
    cats = max((len({r["setting_value"] for r in (panels if kind == "own" else mpanels)[k]})
                for kind, k in keys if not all(_num(r["setting_value"]) is not None
                                               for r in (panels if kind == "own" else mpanels)[k])), default=0)
    ncols = 1 if cats > 4 else max(1, min(cols, len(keys)))
    nrows = math.ceil(len(keys) / ncols)
    # short titles (the full metric is in the y axis title and every point's hover); the table is named once, in
    # the figure's title, when the figure is one table
    one_table = len({k[0] for kind, k in keys if kind == "own"}) <= 1
    titles = [(short_title(k[2], 44) if one_table else f"{k[0]} \u00b7 {short_title(k[2], max(12, 44 - len(k[0])))}")
              if kind == "own" else f"ours: {PART_INFO.get(k[0], (k[0],))[0]} \u00b7 {short_title(k[2], 24)}"
              for kind, k in keys]
    # fixed pixel sizes: a panel row, and a gap that holds the x-axis title above and the next panel title below
    row_px, gap_px = 300, 120
    plot_px = nrows * row_px + (nrows - 1) * gap_px
    fig = make_subplots(rows=nrows, cols=ncols, subplot_titles=titles, horizontal_spacing=0.14,
                        vertical_spacing=gap_px / plot_px if nrows > 1 else 0.1)
    return fig, plot_px, ncols


def _published_trace(go, label: str, grp, numeric_x: bool, series_colours: dict):
    """One published series: filled markers on solid lines where SEEN, open markers on dashed lines where DERIVED;
    a colour per series label, kept across panels in ``series_colours``."""
    from plotly.colors import qualitative

    palette = qualitative.Plotly + qualitative.D3 + qualitative.Dark24
    pts = [(_num(r["setting_value"]) if numeric_x else r["setting_value"], r["value"], _hover(r), r["status"])
           for r in grp]
    if numeric_x:
        pts.sort(key=lambda t: t[0])
    xs, ys, texts = [p[0] for p in pts], [p[1] for p in pts], [p[2] for p in pts]
    statuses = [p[3] for p in pts]
    symbols = [_STYLE.get(st, _STYLE["SEEN"])["symbol"] for st in statuses]
    dash = _STYLE["DERIVED"]["dash"] if "DERIVED" in statuses else _STYLE["SEEN"]["dash"]
    name = f"{label} [{'/'.join(sorted(set(statuses), reverse=True))}]"
    colour = series_colours.setdefault(label, palette[len(series_colours) % len(palette)])
    return go.Scatter(x=xs, y=ys, mode="lines+markers" if numeric_x and len(xs) > 1 else "markers",
                      name=name, legendgroup=name,
                      marker=dict(symbol=symbols, size=9, color=colour, line=dict(width=2, color=colour)),
                      line=dict(dash=dash, color=colour), hovertext=texts, hoverinfo="text")


def _baseline_lines(fig, baselines, prow_rows, tbl: str, met: str, prow: int, pcol: int) -> None:
    """The study's baselines of the same model and metric as horizontal dotted lines, when they lie near the panel's
    values (a distant reference level would flatten a 0.5-point ablation)."""
    models = {r["model"] for r in prow_rows}
    family = tbl.split("(")[0].strip()
    lo, hi = min(r["value"] for r in prow_rows), max(r["value"] for r in prow_rows)
    pad = 2 * max(hi - lo, 1.0)
    for b in baselines:
        if b["metric"] == met and b["model"] in models and family in b["table"] and lo - pad <= b["value"] <= hi + pad:
            fig.add_hline(y=b["value"], line_dash="dot", line_color="grey", row=prow, col=pcol,
                          annotation_text=f"{b['setting_value']}: {b['value']:g} [{b['status']}]",
                          annotation_font_size=10)


@dataclass(frozen=True)
class MeasuredChart:
    """One part of our sweep drawn on its own: `title` (short), `caption` (what it shows, how many images/seeds),
    `table` (the sweep part), `figure` (a plotly Figure, one panel per metric, its own legend)."""

    table: str
    title: str
    caption: str
    figure: object


def measured_figures(measured_rows, published_rows=(), checkpoints=None, baselines=None, resized: bool = False,
                     colours: dict | None = None, cols: int = 2) -> list[MeasuredChart]:
    """Our measured sweep as one chart per part (mask unit, L at a fixed mask cell, cost, attention distance).

    Only the chosen `checkpoints` and `baselines` are drawn (None = all; see default_selection), resized-input
    evaluations only with resized=True. Each chart has one panel per metric and its own legend; a checkpoint has
    the same colour in every chart (`colours`, default colour_map(measured_rows), so pass the full set), baselines
    are grey dotted lines. 'released configuration' rows of `published_rows` become red dotted vertical lines on
    the matching axis. Returns [] when nothing is selected.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    measured_rows = [r for r in measured_rows if r["status"] == "MEASURED"]
    colours = colour_map(measured_rows) if colours is None else colours
    picked = select_measured(measured_rows, checkpoints, baselines, resized)
    configs = [r for r in published_rows if r["metric"] == RELEASED_CONFIG]
    by_table: OrderedDict = OrderedDict()
    for key, prow_rows in _panels(picked).items():
        by_table.setdefault(key[0], []).append((key, prow_rows))
    out = []
    for tbl, panel_list in by_table.items():
        ncols = max(1, min(cols, len(panel_list)))
        nrows = math.ceil(len(panel_list) / ncols)
        fig = make_subplots(rows=nrows, cols=ncols, subplot_titles=[short_title(k[2], 38) for k, _ in panel_list],
                            horizontal_spacing=0.14, vertical_spacing=0.22 if nrows > 1 else 0.1)
        fig.update_annotations(font_size=13)  # the subplot titles (the only annotations so far)
        seen, dashes = set(), {}  # a baseline drawn on several masks (e.g. L=64 and L=256): one dash per mask set
        released = []  # (study, setting, value) of the released-configuration lines drawn
        for i, ((_, setting, met), prow_rows) in enumerate(panel_list):
            prow, pcol = i // ncols + 1, i % ncols + 1
            numeric_x = all(_num(r["setting_value"]) is not None for r in prow_rows)
            groups: OrderedDict = OrderedDict()
            for r in prow_rows:
                groups.setdefault(_series_label(r, prow_rows), []).append(r)
            for label, grp in groups.items():
                dash = None
                if is_baseline(grp[0]):
                    same = dashes.setdefault(grp[0]["model"], [])
                    if label not in same:
                        same.append(label)
                    dash = ("dot", "dashdot", "longdashdot", "longdash")[same.index(label) % 4]
                trace = _measured_trace(go, label, grp, setting, met, numeric_x, colours, tagged=False, dash=dash)
                trace.showlegend = trace.name not in seen
                seen.add(trace.name)
                fig.add_trace(trace, row=prow, col=pcol)
            xs_present = [r["setting_value"] for r in prow_rows]
            if numeric_x:  # the released value is labelled on its line, not ticked (784 beside 1024 collides)
                for x in _released_lines(fig, configs, setting, prow, pcol, log=setting in LOG_SETTINGS):
                    released.append((setting, x))
            _style_axes(fig, prow, pcol, setting, met, xs_present, numeric_x, ylimit=38)
            _uniform_lines(fig, [r for r in prow_rows if not is_baseline(r)], met, prow, pcol, colours)
        title, about = PART_INFO.get(tbl, (tbl, ""))
        # the title and a legend under the panels travel with the camera-button PNG (a legend on the right was cut
        # off in a narrow download)
        legend_h = 24 * math.ceil(len(seen) / 2)  # two entries a line at most, in the container's bottom margin
        fig.update_layout(height=110 + 300 * nrows + legend_h, hovermode="closest",
                          title=dict(text=title, x=0, xanchor="left"), margin=dict(t=70, b=60 + legend_h, l=60, r=10),
                          legend=dict(font_size=12, groupclick="toggleitem", orientation="h", x=0, xanchor="left",
                                      y=0, yref="container", yanchor="bottom"),
                          hoverlabel=dict(align="left"))
        n_img = len({r.get("image") for r in picked if r["table"] == tbl and r.get("image")})
        n_seed = len({r.get("seed") for r in picked if r["table"] == tbl and r.get("seed") is not None})
        stats = (f" Points are means \u00b1 std over {n_img} image(s) \u00d7 {n_seed} seed(s) (hover for each point's "
                 "checkpoint, sizes and provenance)." if n_img * n_seed > 1 else " Hover for each point's provenance.")
        drawn = [r for r in picked if r["table"] == tbl]
        notes = ""
        if released:  # said only when drawn
            notes += " " + " ".join(sorted({f"The red dotted line is the Long-Seq MAE released "
                                            f"{AXIS_TITLES.get(st, st).split(' (')[0]} ({x:g})."
                                            for st, x in released}))
        if any(is_resized(r) for r in drawn):
            notes += (" Faded, dashed points ('resized input') evaluate a checkpoint at an image size it was not "
                      "trained on.")
        out.append(MeasuredChart(tbl, title, (about + notes + stats).strip(), fig))
    return out
