"""Evidence charts: rows that other studies measured on a claim of the long-seq paper (``evidence`` column, e.g.
'mask unit'), each table drawn as its own chart, titled with the study and, unless the study is Hu et al.'s,
"not from Hu et al.", with the rows' caveats printed on the chart itself.

Layout: a table whose metrics share a unit (top-1 % on six benchmarks, COCO AP) is one panel with one line per
metric over the varied setting; a table of categorical recipes with metrics in different units (Pixio's Table 6:
k-NN %, depth error, mIoU) is one small bar panel per metric, 'lower is better' said where it applies.
"""
from __future__ import annotations

import math
import textwrap
from collections import OrderedDict
from dataclasses import dataclass

from .. import colours
from .figures import AXIS_TITLES, _hover, _num, axis_ticks, wrap_hover
from .schema import HU_ET_AL_ARXIV

NOT_FROM_HU = "not from Hu et al."


@dataclass(frozen=True)
class EvidenceChart:
    """One evidence table drawn: `title` (study, table, what varies, 'not from Hu et al.'), `caveats` (printed on
    the figure too), `figure` (plotly), the rows it draws."""

    study: str
    table: str
    setting: str
    title: str
    caveats: tuple
    figure: object
    rows: tuple


def is_evidence(r) -> bool:
    return bool(r.get("evidence"))


def from_hu_et_al(r) -> bool:
    return r.get("arxiv_id") == HU_ET_AL_ARXIV


def evidence_studies(rows) -> list[str]:
    """Studies with evidence rows, in first-seen order."""
    return list(OrderedDict.fromkeys(r["study"] for r in rows if is_evidence(r)))


def study_label(study: str, rows) -> str:
    """'Kong et al. 2023 (CVPR 2023) - not from Hu et al.' for a selector or a heading."""
    rs = [r for r in rows if r["study"] == study]
    where = next((r.get("venue") or (f"arXiv {r['arxiv_id']}" if r.get("arxiv_id") else "") for r in rs), "")
    tag = "" if any(from_hu_et_al(r) for r in rs) or not any(is_evidence(r) for r in rs) else f" \u2013 {NOT_FROM_HU}"
    return f"{study}{f' ({where})' if where else ''}{tag}"


def _wrapped(text: str, width: int = 110) -> str:
    return "<br>".join(textwrap.wrap(text, width))


def _x_label(setting: str, grp) -> tuple[str, dict]:
    """Axis title and tick text per x value (mask units in px also give k x k)."""
    if setting == "mask unit (px)":
        ticks = {}
        for r in grp:
            k = r.get("mask_unit")
            ticks[_num(r["setting_value"])] = f"{r['setting_value']} px" + (f" ({k}\u00d7{k})" if k else "")
        return "mask unit (pixels; k\u00d7k patches of the ViT)", ticks
    return AXIS_TITLES.get(setting, setting), {}


def _line_chart(go, grp, setting):
    fig = go.Figure()
    by_metric: OrderedDict = OrderedDict()
    for r in grp:
        by_metric.setdefault(r["metric"], []).append(r)
    for i, (met, rs) in enumerate(by_metric.items()):
        pts = sorted(((_num(r["setting_value"]), r["value"], _hover(r) + wrap_hover(
            f"<br>caveat: {r['caveat'][:200]}" if r.get("caveat") else "")) for r in rs), key=lambda t: t[0])
        colour = colours.series(i)
        fig.add_trace(go.Scatter(x=[p[0] for p in pts], y=[p[1] for p in pts], mode="lines+markers",
                                 name=met, line=dict(color=colour), marker=dict(size=9, color=colour),
                                 hovertext=[p[2] for p in pts], hoverinfo="text"))
    xtitle, ticks = _x_label(setting, grp)
    xs = [_num(r["setting_value"]) for r in grp]
    if ticks:
        vals = sorted(ticks)
        fig.update_xaxes(type="log", tickmode="array", tickvals=vals, ticktext=[ticks[v] for v in vals])
    else:
        t = axis_ticks(xs)
        if t:
            fig.update_xaxes(tickmode="array", tickvals=t[0], ticktext=t[1])
    units = {m.split("(")[-1].rstrip(")") if "(" in m else "" for m in by_metric}
    ytitle = "linear probe top-1 (%)" if all("linear probe top-1" in m for m in by_metric) else \
        ("COCO AP" if all(m.startswith("COCO AP") for m in by_metric) else ", ".join(sorted(units)) or "value")
    fig.update_layout(xaxis_title=xtitle, yaxis_title=ytitle, height=420,
                      legend=dict(orientation="h", y=-0.22, x=0, font_size=11, title_text=""))
    fig.update_yaxes(rangemode="tozero")
    return fig


def _bar_chart(go, grp, cols: int = 3):
    from plotly.subplots import make_subplots

    mets = list(OrderedDict.fromkeys(r["metric"] for r in grp))
    cats = list(OrderedDict.fromkeys(r["setting_value"] for r in grp))
    ncols = min(cols, len(mets))
    nrows = math.ceil(len(mets) / ncols)
    fig = make_subplots(rows=nrows, cols=ncols, subplot_titles=[m.replace(" (", "<br>(") for m in mets],
                        vertical_spacing=0.3 if nrows > 1 else 0.1, horizontal_spacing=0.1)
    short = [c.split(" (")[0] for c in cats]
    for i, met in enumerate(mets):
        rs = {r["setting_value"]: r for r in grp if r["metric"] == met}
        fig.add_trace(go.Bar(x=short, y=[rs[c]["value"] if c in rs else None for c in cats],
                             marker_color=[colours.series(j) for j in range(len(cats))],
                             text=[f"{rs[c]['value']:g}" if c in rs else "" for c in cats], textposition="outside",
                             hovertext=[_hover(rs[c]) if c in rs else "" for c in cats], hoverinfo="text",
                             showlegend=False, cliponaxis=False), row=i // ncols + 1, col=i % ncols + 1)
    fig.update_yaxes(rangemode="tozero")
    fig.update_annotations(font_size=12)
    if short != cats:  # the ticks were shortened: say in full what each one is
        legend = "; ".join(f"{s}: {c}" for s, c in zip(short, cats))
        fig.add_annotation(text=_wrapped(legend, 140), x=0.5, y=-0.12, xref="paper", yref="paper", showarrow=False,
                           font=dict(size=11, color="#333"))
    fig.update_layout(height=max(300, 250 * nrows + 80))
    return fig


def evidence_figures(rows, study: str | None = None, evidence: str | None = None) -> list[EvidenceChart]:
    """One EvidenceChart per (study, table, varied setting) of the evidence rows (optionally of one study / one
    claim). The title names the study and its venue, what varies, and says "not from Hu et al." unless the rows
    carry Hu et al.'s arXiv id; the distinct caveats are printed in a box on the figure."""
    import plotly.graph_objects as go

    picked = [r for r in rows if is_evidence(r) and (study is None or r["study"] == study)
              and (evidence is None or r["evidence"] == evidence)]
    groups: OrderedDict = OrderedDict()
    for r in picked:
        groups.setdefault((r["study"], r["table"], r["setting"]), []).append(r)
    order = {s: i for i, s in enumerate(OrderedDict.fromkeys(r["study"] for r in picked))}
    keys = sorted(groups, key=lambda k: (order[k[0]], "mask unit" not in k[2]))  # the mask unit itself first
    out = []
    for st, tbl, setting in keys:
        grp = groups[(st, tbl, setting)]
        numeric = all(_num(r["setting_value"]) is not None for r in grp)
        what = {"mask_ratio": "mask ratio", "mask unit (px)": "mask unit", "recipe": "two recipes"}.get(setting,
                                                                                                       setting)
        ours = all(from_hu_et_al(r) for r in grp)
        venue = next((r.get("venue") or (f"arXiv {r['arxiv_id']}" if r.get("arxiv_id") else "") for r in grp), "")
        title = f"{st}{f' ({venue})' if venue else ''} \u00b7 {tbl}: {what}" \
            + ("" if ours else f" \u00b7 {NOT_FROM_HU}")
        caveats = tuple(OrderedDict.fromkeys(r["caveat"] for r in grp if r.get("caveat")))
        fig = _line_chart(go, grp, setting) if numeric else _bar_chart(go, grp)
        box = _wrapped(" ".join(caveats), 95) if caveats else ""
        lines = box.count("<br>") + 1 if box else 0
        lift = 0 if numeric else 34  # above the bar panels' two-line titles
        top = 40 + 16 * lines + lift
        if box:
            fig.add_annotation(text=box, x=0, y=1.0, xref="paper", yref="paper", xanchor="left", yanchor="bottom",
                               align="left", showarrow=False, bgcolor="#fff4e5", bordercolor="#e0a040",
                               borderwidth=1, font=dict(size=11, color="#5a3d00"), yshift=8 + lift)
        height = fig.layout.height or 380
        fig.update_layout(title=dict(text=f"<b>{_wrapped(title, 80)}</b>", y=0.995, yanchor="top", font_size=14),
                          height=height + top, margin=dict(t=top + 44, l=60, r=20, b=90 if not numeric else 40))
        out.append(EvidenceChart(st, tbl, setting, title, caveats, fig, tuple(grp)))
    return out
