"""Ablation curves: what other studies measured on the mask unit, published MAE / long-seq MAE numbers with their
sources, our measured sweeps, your own CSV. Each quote sits beside the chart it is about."""
from dataclasses import dataclass

import streamlit as st

from mae_core import ablations as ab
from mae_core import assets
from mae_core.representations.results import is_representation_row
from ui import quotes, render, state
from ui.state import Param

EVIDENCE = "mask unit"  # every study's evidence on the mask unit, drawn together (the page opens on it)


@dataclass(frozen=True)
class Selection:
    """What the sidebar's curve controls picked among the published rows."""
    study: str  # a study's name, or EVIDENCE
    table: str  # "all" or one table / figure
    metric: str  # "all" or one metric
    show_measured: bool
    evidence_studies: list  # the studies that measured the mask unit

    @property
    def is_evidence(self) -> bool:
        return is_evidence(self.study, self.evidence_studies)

    def in_study(self, r) -> bool:
        return in_study(self.study, self.evidence_studies, r)


def in_study(study: str, evidence_studies: list, r) -> bool:
    """Whether a row belongs to the study picked (EVIDENCE: to any study that measured the mask unit)."""
    return r["study"] in evidence_studies if study == EVIDENCE else r["study"] == study


def is_evidence(study: str, evidence_studies: list) -> bool:
    return study == EVIDENCE or study in evidence_studies


def draw_intro():
    st.title("Ablation curves")
    st.caption("Beside every chart: where its numbers come from, with their status (SEEN = read in the source, "
               "DERIVED = worked out from it, MEASURED = ours); hover a point for its own. The long-seq paper's own "
               "tables were not available to us, so the mask-unit evidence comes from two later studies, each marked "
               "*not from Hu et al.*")


def show_sources(rows):
    """The chart's sources as text beside it (ab.sources): one line per source and status."""
    lines = [f"- **{s_['status']}**, {s_['numbers']} number{'s' if s_['numbers'] != 1 else ''} of {s_['study']} "
             f"{s_['table']}: {s_['source']}" + (f" ({s_['where']})" if s_["where"] else "")
             for s_ in ab.sources(rows)]
    if lines:
        st.markdown("**Sources**\n" + "\n".join(lines))


@st.cache_data(show_spinner=False)
def _load(stamp):
    problems = []
    rows = ab.load_all(skip_bad=True, problems=problems)
    return rows, problems


def _stamp():
    files = ab.data_files(assets.ABLATION_DIR) if assets.ABLATION_DIR.is_dir() else []
    return tuple((f.name, f.stat().st_mtime_ns) for f in files)


def draw_upload():
    """The sidebar's CSV upload -> (its validated rows, the upload); what is wrong with it in the main area."""
    sb = st.sidebar
    sb.subheader("Your data")
    up = sb.file_uploader("Add a CSV in the same schema", type=["csv"], key="abl_upload",
                          max_upload_size=max(1, ab.MAX_FILE_BYTES // 2**20),
                          help="Columns: " + ", ".join(ab.REQUIRED) + " (required) and any of the optional ones; "
                               "see the schema below.")
    user_rows = []
    if up is not None:
        try:
            user_rows = ab.load_ablation_file(up.getvalue())
            for r in user_rows:
                r["origin"] = f"{up.name}:{str(r.get('origin', '')).split(':')[-1]}"
            sb.success(f"{up.name}: {len(user_rows)} rows added.")
        except ab.AblationError as e:
            st.error(f"{up.name} was not loaded: {str(e).splitlines()[0]}")
            if e.problems:
                st.dataframe([{"problem": p} for p in e.problems[:200]], hide_index=True, width="stretch",
                             height=min(400, 38 + 35 * len(e.problems[:200])))
                if len(e.problems) > 200:
                    st.caption(f"... and {len(e.problems) - 200} more.")
    return user_rows, up


def draw_curve_controls(published: list, measured: list) -> Selection:
    """Study, table / figure, metric and the measured-curves switch, in the sidebar."""
    sb = st.sidebar
    evidence_studies = ab.evidence_studies(published)
    study_names = ([EVIDENCE] if evidence_studies else []) + evidence_studies \
        + [s_ for s_ in ab.studies(published) if s_ not in evidence_studies] or ["(no data)"]
    default_study = study_names[0]
    params = [Param("study", str, default_study, choices=tuple(study_names))]
    state.init(params)
    sb.subheader("Curves")
    study = sb.selectbox("Study", study_names, key="study", format_func=lambda s_: (
        f"The mask unit: {' and '.join(evidence_studies)} \u2013 {ab.NOT_FROM_HU}" if s_ == EVIDENCE
        else ab.study_label(s_, published)))
    picked = [r for r in published if in_study(study, evidence_studies, r)]
    tables = ["all"] + list(dict.fromkeys(r["table"] for r in picked))
    metrics = ["all"] + sorted({r["metric"] for r in picked if r["metric"] != ab.RELEASED_CONFIG})
    # default: all of an evidence study's tables; else the study's mask-ratio figure when it has one, else its first
    # table
    default_table = "all" if is_evidence(study, evidence_studies) else next(
        (t for t in tables[1:] if any(r["table"] == t and r["setting"] == "mask_ratio" for r in published)),
        tables[1] if len(tables) > 1 else "all")
    more = [Param("table", str, default_table, choices=tuple(tables)),
            Param("metric", str, "all", choices=tuple(metrics)),
            Param("measured", bool, False)]  # off by default: the published curves first, ours on request
    state.init(more)
    table = sb.selectbox("Table / figure", tables, key="table")
    metric = sb.selectbox("Metric", metrics, key="metric")
    show_measured = sb.toggle(f"Show our measured curves ({len(measured)} rows)", key="measured",
                              disabled=not measured)
    state.publish(params + more)
    state.show_notices()
    return Selection(study, table, metric, show_measured, evidence_studies)


def draw_evidence(view: list):
    """The mask-unit evidence: one chart per setting, each quote beside the first chart of its table."""
    charts = ab.evidence_figures(view)
    if not charts:
        st.info("No rows of this study match the table and metric picked in the sidebar.")
    quoted = set()
    for i, ch in enumerate(charts):
        left, right = st.columns([3, 2], gap="medium")
        left.plotly_chart(ch.figure, key=f"abl_evidence_{i}", config=render.plotly_config(
            f"{ch.study}_{ch.table}_{ch.setting}"))
        with right:
            here = [] if (ch.study, ch.table) in quoted else quotes.for_chart([(ch.study, ch.table)])
            quoted.add((ch.study, ch.table))
            quotes.show(here)
            show_sources(ch.rows)
            st.caption(f"The caveat is on the chart. Hu et al.'s own tables (arXiv {ab.HU_ET_AL_ARXIV}) were not "
                       "available to us.")


def draw_study(sel: Selection, published: list, view: list):
    """One study: one figure per table (a study's ~24 panels in one figure overlapped their titles), each with its
    sources; a released configuration as a table."""
    study, metric = sel.study, sel.metric
    for i, tbl in enumerate(dict.fromkeys(r["table"] for r in view)):
        rows_t = [r for r in view if r["table"] == tbl]
        left, right = st.columns([5, 2], gap="medium")
        if all(r["metric"] == ab.RELEASED_CONFIG for r in rows_t):  # a configuration, not a curve: a table
            left.markdown(f"**{study} \u00b7 {tbl}: released configuration**")
            left.dataframe([{"model": r["model"], "setting": r["setting"], "value": r["setting_value"],
                             "status": r["status"], "note": r.get("note") or ""} for r in rows_t],
                           hide_index=True, width="stretch", height=38 + 35 * len(rows_t))
        else:
            fig = ab.figure_for(study, published, None, table=tbl, metric=None if metric == "all" else metric)
            left.plotly_chart(fig, key=f"abl_fig_{i}", config=render.plotly_config(
                render.safe_name("ablations", study, tbl)))
        with right:
            picked = quotes.for_chart([(study, None if study == "Long-Seq MAE" else tbl)]) if i == 0 or \
                study != "Long-Seq MAE" else []
            quotes.show(picked)
            show_sources(rows_t)
            if study == "Long-Seq MAE" and i == 0:
                st.caption("Only the released configuration is stored: the paper's ablation tables were not "
                           "available. For the mask unit, see the later studies in the *Study* menu.")
    if sel.evidence_studies:
        st.caption("Other studies' measurements of the mask unit (not from Hu et al.): "
                   + ", ".join(ab.study_label(s_, published) for s_ in sel.evidence_studies) + " in the *Study* menu.")


def draw_measured(measured: list, published: list):
    """Our measured sweeps, with their own checkpoint and baseline pickers above the charts."""
    st.subheader("Our measured sweeps")
    st.caption("The embedded checkpoints (tiny MAEs trained here, not the paper's models), measured with "
               "`python -m mae_core sweep`: diamonds are means over images and seeds, error bars one std. A "
               "checkpoint keeps its colour in every chart; grey dotted lines are classical fills of the same masks "
               "(no model). Click a legend entry to hide it; hover a point for its provenance.")
    ck_all, bl_all = ab.measured_choices(measured)
    ck_def, bl_def = ab.default_selection(measured)
    mparams = [Param("mck", list, ck_def, choices=tuple(ck_all)), Param("mbl", list, bl_def, choices=tuple(bl_all)),
               Param("mrs", bool, False)]
    state.init(mparams)
    c1, c2, c3 = st.columns([3, 2, 2], vertical_alignment="bottom")
    picked_ck = c1.multiselect("Checkpoints", ck_all, key="mck", help="Trained checkpoints p<patch>-m<mask unit>.")
    picked_bl = c2.multiselect("Baselines", bl_all, key="mbl",
                               help="Classical fills of the same masked pixels, no model: a floor to beat.")
    resized = c3.toggle("Resized inputs", key="mrs",
                        help="Also show checkpoints evaluated at image sizes they were not trained on "
                             "(the L sweep's extra points).")
    state.publish(mparams)
    state.show_notices()
    charts = ab.measured_figures(measured, published, picked_ck, picked_bl, resized=resized,
                                 colours=ab.colour_map(measured))
    if not charts:
        st.info("Pick at least one checkpoint or baseline to draw our measured curves.")
    for i, ch in enumerate(charts):  # each figure carries its own title (also in its camera-button PNG)
        left, right = st.columns([5, 2], gap="medium")
        left.plotly_chart(ch.figure, key=f"abl_measured_{i}", config=render.plotly_config(
            f"ablations_ours_{ch.title}"))
        with right:
            st.caption(ch.caption)
            quotes.show(quotes.for_chart(ab.PART_QUOTES.get(ch.table, ())))
            show_sources([r for r in ab.select_measured(measured, picked_ck, picked_bl, resized)
                          if r["table"] == ch.table])


def draw_data(shown: list, fname: str, user_rows: list, up):
    """The rows shown, and the CSV downloads: this view, every shipped dataset, your validated file."""
    st.subheader("Data")
    if shown:
        st.dataframe(ab.to_display_frame(shown), hide_index=True, width="stretch", height=300)
        st.caption("Only the columns that hold something; the CSV downloads carry every column of the schema.")
    c1, c2 = st.columns(2)
    with c1:
        if shown:
            st.download_button("This view (CSV)", ab.to_csv(shown).encode(), file_name=f"{fname}.csv",
                               mime="text/csv", key="dl_view", icon=":material/download:")
    with c2:
        with st.popover("Every dataset (CSV)", icon=":material/download:"):
            files = ab.data_files(assets.ABLATION_DIR) if assets.ABLATION_DIR.is_dir() else []
            ann = assets.ABLATION_DIR / ab.ANNOTATIONS_FILE
            for f in files + ([ann] if ann.is_file() else []):
                st.download_button(f.name, f.read_bytes(), file_name=f.name, mime="text/csv",
                                   key=f"dl_file_{f.name}", icon=":material/download:")
            if user_rows:
                st.download_button(f"{up.name} (validated)", ab.to_csv(user_rows).encode(), file_name=up.name,
                                   mime="text/csv", key="dl_user", icon=":material/download:")


def draw_schema():
    with st.expander("CSV schema (for your own file)"):
        st.dataframe([{"column": k, "required": "yes" if c.required else "", "type": c.kind,
                       "allowed": ", ".join(c.allowed) if c.allowed else "", "meaning": c.help}
                      for k, c in ab.SCHEMA.items()], hide_index=True, width="stretch")
        st.download_button("Empty template (CSV)", (",".join(ab.COLUMNS) + "\n").encode(),
                           file_name="ablations_template.csv", mime="text/csv", key="dl_template")


def main():
    draw_intro()
    rows, load_problems = _load(_stamp())
    for p in load_problems:
        st.error(f"A shipped data file was left out: {p}")
    user_rows, up = draw_upload()
    published, measured = ab.split_measured(rows + user_rows)
    measured = [r for r in measured if not is_representation_row(r)]  # CKA and probes: the Representations page
    sel = draw_curve_controls(published, measured)
    view = [r for r in published if sel.in_study(r) and (sel.table == "all" or r["table"] == sel.table)
            and (sel.metric == "all" or r["metric"] == sel.metric)]
    fname = render.safe_name("ablations", sel.study, "" if sel.table == "all" else sel.table)
    if sel.is_evidence:
        draw_evidence(view)
    else:
        draw_study(sel, published, view)
    if measured and not sel.show_measured:
        st.caption(f"{len(measured)} rows of our own measured sweeps (mask unit, L at a fixed mask cell, cost, "
                   "attention distance on the embedded family) are available: switch on *Show our measured curves* "
                   "in the sidebar.")
    if sel.show_measured:
        draw_measured(measured, published)
    draw_data(view + (measured if sel.show_measured else []),  # every measured row, also series the charts leave out
              fname, user_rows, up)
    draw_schema()


main()
