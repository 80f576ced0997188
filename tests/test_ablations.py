"""Ablation data: shipped files valid, published numbers equal to the reference, per-row errors, plots."""
import io
import re
from pathlib import Path

import pytest

from mae_core import ablations as ab
from mae_core.ablations import (AblationError, SCHEMA, captions_for, figure_for, load_ablation_file, load_all,
                                load_annotations, studies, to_csv)
from mae_core.assets import ABLATION_DIR
from mae_core.errors import MAEError

REF = Path("/work/shared/reference/published-numbers.md")
FT, LIN = "IN-1K fine-tune top-1 (%)", "IN-1K linear probe top-1 (%)"
needs_ref = pytest.mark.skipif(not REF.is_file(), reason="published-numbers.md not on this machine")


@pytest.fixture(scope="module")
def shipped():
    return load_all(ABLATION_DIR)


# ------------------------------------------------------------------ an independent markdown reader
def md_table_after(text: str, marker: str) -> list[list[str]]:
    """Cells of the first markdown table after the first line containing `marker` (separator rows dropped)."""
    lines = text.splitlines()
    start = next(i for i, ln in enumerate(lines) if marker in ln)
    out, i = [], start + 1
    while i < len(lines) and not lines[i].lstrip().startswith("|"):
        i += 1
    while i < len(lines) and lines[i].lstrip().startswith("|"):
        cells = [c.strip() for c in lines[i].strip().strip("|").split("|")]
        if not all(re.fullmatch(r":?-+:?", c) for c in cells):
            out.append(cells)
        i += 1
    assert out, marker
    return out


def horizontal(text, marker, names):
    """A table with x values in the header row and one row per metric: {(x, metric): value}."""
    t = md_table_after(text, marker)
    xs = t[0][1:]
    res = {}
    for row in t[1:]:
        for x, v in zip(xs, row[1:]):
            res[(x, names[row[0]])] = float(v)
    return res


def csv_values(rows, study, table):
    return {(r["setting_value"], r["model"], r["metric"]): r["value"]
            for r in rows if r["study"] == study and r["table"] == table}


def reference_numbers(text):
    """(table -> {(setting_value, model, metric): value}) for the published tables we ship, read from markdown."""
    exp = {}
    names = {"ft": FT, "lin": LIN}
    for table, marker in (("Table 1(a)", "(a) decoder depth"), ("Table 1(b)", "(b) decoder width")):
        exp[table] = {(x, "ViT-L/16", m): v for (x, m), v in horizontal(text, marker, names).items()}
    line = next(ln for ln in text.splitlines() if ln.startswith("(c) mask token"))
    c = {}
    for case, pat in (("encoder w/ [M]", r"w/ \[M\] gives ft ([\d.]+), lin ([\d.]+), FLOPs ([\d.]+)×"),
                      ("encoder w/o [M]", r"w/o \[M\] gives ft ([\d.]+), lin ([\d.]+), FLOPs ([\d.]+)×")):
        ft, lin, fl = map(float, re.search(pat, line).groups())
        c.update({(case, "ViT-L/16", FT): ft, (case, "ViT-L/16", LIN): lin,
                  (case, "ViT-L/16", "FLOPs (relative to encoder w/o [M], x)"): fl})
    exp["Table 1(c)"] = c
    for table, marker in (("Table 1(d)", "(d) reconstruction target"), ("Table 1(e)", "(e) data augmentation")):
        t = md_table_after(text, marker)
        exp[table] = {}
        for row in t[1:]:
            exp[table][(row[0], "ViT-L/16", FT)] = float(row[1])
            exp[table][(row[0], "ViT-L/16", LIN)] = float(row[2])
    t = md_table_after(text, "(f) mask sampling")
    exp["Table 1(f)"] = {}
    for case, ratio, ft, lin in t[1:]:
        exp["Table 1(f)"][(f"{case} ({ratio}%)", "ViT-L/16", FT)] = float(ft)
        exp["Table 1(f)"][(f"{case} ({ratio}%)", "ViT-L/16", LIN)] = float(lin)
    fig5 = horizontal(text, "### 2.1 Masking ratio", {"fine-tune top-1": FT, "linear probe top-1": LIN})
    exp["Figure 5"] = {(str(int(x) / 100), "ViT-L/16", m): v for (x, m), v in fig5.items()}
    fig7 = horizontal(text, "Figure 7, training schedule", names)
    exp["Figure 7"] = {(x, "ViT-L/16", m): v for (x, m), v in fig7.items()}
    # Table 3: the MAE row, then the other methods written as text
    t = md_table_after(text, "Table 3, IN-1K fine-tune top-1")
    models = {"ViT-B": "ViT-B/16", "ViT-L": "ViT-L/16", "ViT-H": "ViT-H/14", "ViT-H448": "ViT-H/14 (448 px)"}
    exp["Table 3"] = {("MAE", models[m], FT): float(v) for m, v in zip(t[0][1:], t[1][1:])}
    other = next(ln for ln in text.splitlines() if ln.startswith("Other rows in the same table"))
    short = {"B": "ViT-B/16", "L": "ViT-L/16", "H": "ViT-H/14"}
    for method, label in (("scratch \\(authors' impl\\.\\)", "scratch (authors' impl.)"), ("DINO", "DINO"),
                          ("MoCo v3", "MoCo v3"), ("BEiT", "BEiT")):
        part = re.search(method + r"((?: [BLH] [\d.]+,?)+)", other).group(1)
        for m, v in re.findall(r"([BLH]) ([\d.]+)", part):
            exp["Table 3"][(label, short[m], FT)] = float(v.rstrip("."))
    best = re.search(r"Previous best using IN-1K only: ([\d.]+) \(512 px\)", other).group(1)
    exp["Table 3"][("previous best (IN-1K only, 512 px)", "any (previous best, IN-1K only)", FT)] = float(best)
    # Table 2 (wall-clock)
    t = md_table_after(text, "Table 2, wall-clock")
    exp["Table 2"] = {}
    for enc, dd, ft, hrs, spd in t[1:]:
        model = "ViT-L/16" if enc.startswith("ViT-L") else "ViT-H/14"
        case = f"{enc.replace(',', '')}, dec {dd}"
        if ft != "–":
            exp["Table 2"][(case, model, FT)] = float(ft)
        exp["Table 2"][(case, model, "pre-training wall-clock (hours, 800 ep, 128 TPU-v3 cores)")] = \
            float(re.match(r"[\d.]+", hrs).group(0))
        if spd != "–":
            exp["Table 2"][(case, model, "wall-clock speedup vs encoder w/ [M] (x)")] = float(spd.rstrip("×"))
    # Tables 4 and 5
    t = md_table_after(text, "Table 4, COCO Mask R-CNN")
    exp["Table 4"] = {}
    for pre, bb, bl, mb, ml in t[1:]:
        for model, met, v in (("ViT-B/16", "COCO APbox", bb), ("ViT-L/16", "COCO APbox", bl),
                              ("ViT-B/16", "COCO APmask", mb), ("ViT-L/16", "COCO APmask", ml)):
            exp["Table 4"][(pre, model, met)] = float(v)
    t = md_table_after(text, "Table 5, ADE20K UperNet mIoU")
    exp["Table 5"] = {}
    for pre, b, l in t[1:]:
        exp["Table 5"][(pre, "ViT-B/16", "ADE20K mIoU")] = float(b)
        exp["Table 5"][(pre, "ViT-L/16", "ADE20K mIoU")] = float(l)
    return exp


@needs_ref
def test_published_numbers_match_the_reference_exactly(shipped):
    exp = reference_numbers(REF.read_text(encoding="utf-8"))
    assert len(exp) == 12  # Table 1(a)-(f), Figures 5 and 7, Tables 2-5
    for table, want in exp.items():
        got = csv_values(shipped, "MAE", table)
        assert got == want, f"{table}: csv and published-numbers.md differ"


def test_published_rows_differ_from_a_corrupted_copy(shipped):
    """The comparison above can fail: one changed digit in a Table 1 row is a different set."""
    rows = [dict(r) for r in shipped]
    before = csv_values(rows, "MAE", "Table 1(a)")
    next(r for r in rows if r["table"] == "Table 1(a)")["value"] += 0.1
    assert csv_values(rows, "MAE", "Table 1(a)") != before


@needs_ref
def test_long_seq_released_configuration_matches_the_reference(shipped):
    text = REF.read_text(encoding="utf-8")
    row = next(ln for ln in text.splitlines() if ln.startswith("| released pre-training input"))
    I, p, L = map(int, re.search(r"I=(\d+), patch p=(\d+), so L=\d+×\d+=(\d+)", row).groups())
    m = int(re.search(r"--mask_downsampling (\d+)", text).group(1))
    ratio = float(re.search(r"\| mask ratio \| ([\d.]+) \|", text).group(1))
    decs = {k: tuple(map(int, v)) for k, *v in re.findall(r"(ViT-[BL]): `mae_vit_\w+` = (?:decoder )?dim (\d+), "
                                                          r"(\d+) heads, (\d+) blocks", text)}
    assert set(decs) == {"ViT-B", "ViT-L"}
    cfg = [r for r in shipped if r["study"] == "Long-Seq MAE" and r["metric"] == ab.RELEASED_CONFIG]
    for model in ("ViT-B/16", "ViT-L/16"):
        got = {r["setting"]: r["value"] for r in cfg if r["model"] == model and r["status"] == "SEEN"}
        dw, dh, dd = decs[model[:5]]
        assert (got["image_size"], got["patch_size"], got["L"], got["mask_unit"], got["mask_ratio"]) == \
            (I, p, L, m, ratio)
        assert (got["decoder_width"], got["decoder_heads"], got["decoder_depth"]) == (dw, dh, dd)
        for r in cfg:  # every row carries the same structured configuration
            if r["model"] == model:
                assert (r["image_size"], r["patch_size"], r["L"], r["mask_unit"], r["mask_ratio"],
                        r["decoder_width"], r["target"]) == (I, p, L, m, ratio, dw, "norm-pix")
    derived = [r for r in shipped if r["study"] == "Long-Seq MAE" and r["status"] == "DERIVED"]
    assert derived and all(r["value"] == L * (1 - ratio) for r in derived)


def test_every_shipped_file_is_valid_and_complete(shipped):
    files = ab.data_files(ABLATION_DIR)
    assert {"mae_2111.06377.csv", "long_seq_mae_2210.07224.csv"} <= {p.name for p in files}
    for p in files:
        rows = load_ablation_file(p)
        assert all(set(SCHEMA) <= set(r) for r in rows)
    assert {"MAE", "Long-Seq MAE"} <= set(studies(shipped))
    published = [r for r in shipped if r["study"] != ab.MEASURED_STUDY]
    assert {r["status"] for r in published} <= {"SEEN", "DERIVED"}  # we never store our own numbers as published
    # the reference gives no versions; a study without an arXiv id in it names its venue instead
    assert all(r["arxiv_version"] == ab.NOT_RECORDED for r in published if r["arxiv_id"])
    assert all(r["venue"] for r in published if not r["arxiv_id"])


@needs_ref
def test_published_sources_are_reference_keys(shipped):
    text = REF.read_text(encoding="utf-8")
    keys = set(re.findall(r"^\| `([\w-]+)` \|", text, flags=re.M))
    assert {"MAE-cvf", "LSM-repo", "LSM-abs"} <= keys
    third = _squash(third_party_section(text))
    for r in shipped:
        if r["status"] in ("SEEN", "DERIVED") and not r["evidence"]:
            assert set(s.strip() for s in r["source"].split(";")) <= keys, r["origin"]
        elif r["evidence"]:  # the later studies have no key: their source is named in the reference's section
            names = re.findall(r"[\w./-]*(?:Jakexy/11711-RAG|\.md|§4\.5|Table 6)[\w./-]*", r["source"])
            assert names and all(n in third for n in names), (r["origin"], names)


def test_derived_rows_are_figures_5_and_7_and_flag_the_conflict(shipped):
    mae = [r for r in shipped if r["study"] == "MAE"]
    assert {r["table"] for r in mae if r["status"] == "DERIVED"} == {"Figure 5", "Figure 7"}
    fig5_ft = {r["setting_value"]: r for r in mae if r["table"] == "Figure 5" and r["metric"] == FT}
    for ratio in ("0.8", "0.9"):
        assert "CONFLICT" in fig5_ft[ratio]["note"]
    assert sum("CONFLICT" in (r["note"] or "") for r in shipped) == 2


def _squash(text: str) -> str:
    """Whitespace runs as one space (the reference wraps long quotes over lines; the words must match exactly)."""
    return re.sub(r"\s+", " ", text)


@needs_ref
def test_annotations_are_exact_quotes():
    text = _squash(REF.read_text(encoding="utf-8"))
    ann = load_annotations()
    assert len(ann) >= 8 and {a["study"] for a in ann} >= {"Long-Seq MAE", "MAE", "Kong et al. 2023", "Pixio 2025"}
    for a in ann:
        assert _squash(a["claim"]) in text, a["claim"]
    assert any("sequence length is a key axis" in a["claim"] for a in ann)


def test_captions_for_quotes_and_labels_reliability():
    caps = captions_for("Long-Seq MAE", "sequence length")
    assert caps and all(c.startswith("\u201c") for c in caps)
    assert any("third-party" in c for c in caps) and any("third-party" not in c for c in caps)
    assert captions_for("no such study") == []
    assert all(a["chart"] == "Figure 5" for a in captions_for("MAE", "Figure 5", as_rows=True))


# ------------------------------------------------------------------ bad files: one message per bad row
GOOD = dict(study="Mine", table="Table 9", arxiv_id="2210.07224", arxiv_version="v1", model="ViT-B/16",
            setting="mask_unit", setting_value="2", mask_unit="2", L="784", image_size="448", patch_size="16",
            metric="COCO APbox", value="50.0", status="SEEN", source="arXiv PDF")


def make_csv(*rows, columns=None) -> bytes:
    cols = columns or list(GOOD)
    lines = [",".join(cols)] + [",".join(str(r.get(c, "")) for c in cols) for r in rows]
    return ("\n".join(lines) + "\n").encode()


def errors_of(data) -> list[str]:
    with pytest.raises(AblationError) as ei:
        load_ablation_file(data)
    assert isinstance(ei.value, MAEError)
    return ei.value.problems


def test_a_good_user_file_loads_from_bytes_path_and_file_like(tmp_path):
    data = make_csv(GOOD, dict(GOOD, setting_value="1", mask_unit="1", value="49.5"))
    rows = load_ablation_file(data)
    assert [r["value"] for r in rows] == [50.0, 49.5] and rows[0]["mask_unit"] == 2 and rows[0]["L"] == 784
    assert rows[0]["decoder_depth"] is None  # optional columns may be left out
    p = tmp_path / "mine.csv"
    p.write_bytes(data)
    assert load_ablation_file(p) == [dict(r, origin=r["origin"].replace("uploaded file", "mine.csv")) for r in rows]
    f = io.BytesIO(data)
    f.name = "up.csv"
    assert len(load_ablation_file(f)) == 2
    df = load_ablation_file(data, as_frame=True)
    assert list(df.columns[:len(SCHEMA)]) == list(SCHEMA) and df["value"].tolist() == [50.0, 49.5]


@pytest.mark.parametrize("change, expected", [
    (dict(value="abc"), "row 2 (line 3): value 'abc' is not a number"),
    (dict(value="nan"), "row 2 (line 3): value 'nan' is not a finite number"),
    (dict(metric=""), "row 2 (line 3): metric is empty (required)"),
    (dict(status="seen"), "row 2 (line 3): status 'seen' is not one of SEEN, DERIVED, MEASURED"),
    (dict(mask_unit="2.5", setting_value="2.5"), "row 2 (line 3): mask_unit '2.5' is not a whole number"),
    (dict(mask_unit="0", setting_value="0"), "row 2 (line 3): mask_unit '0' is below the minimum 1"),
    (dict(arxiv_id="2111.06377v3"), "row 2 (line 3): arxiv_id '2111.06377v3' must be the bare id '2111.06377'"),
    (dict(arxiv_id="MAE"), "row 2 (line 3): arxiv_id 'MAE' is not an arXiv id"),
    (dict(arxiv_version="3"), "row 2 (line 3): arxiv_version '3' must look like 'v3'"),
    (dict(arxiv_id=""), "row 2 (line 3): arxiv_id is empty (required for a SEEN number, or give its venue)"),
    (dict(arxiv_version=""), "row 2 (line 3): arxiv_version is empty (required for a SEEN number"),
    (dict(status="DERIVED"), "row 2 (line 3): note is empty (a DERIVED number must say how it was derived)"),
    (dict(setting_value="4"), "row 2 (line 3): setting_value '4' disagrees with the mask_unit column (2)"),
    (dict(L="196"), "row 2 (line 3): L 196 is not (image_size/patch_size)^2 = (448/16)^2 = 784"),
    (dict(patch_size="15"), "row 2 (line 3): image_size 448 is not divisible by patch_size 15"),
])
def test_each_kind_of_bad_row_is_reported_with_its_row_number(change, expected):
    problems = errors_of(make_csv(GOOD, dict(GOOD, **change), GOOD))
    assert len(problems) == 1 and problems[0].startswith(expected), problems


def test_mask_ratio_must_be_a_fraction():
    cols = list(GOOD) + ["mask_ratio"]
    problems = errors_of(make_csv(dict(GOOD, mask_ratio="75"), columns=cols))
    assert problems == ["row 1 (line 2): mask_ratio '75' is outside [0, 1)"]


def test_all_bad_rows_are_listed_and_the_file_is_refused_whole():
    data = make_csv(GOOD, dict(GOOD, value="abc"), GOOD, dict(GOOD, status="maybe", value=""), GOOD)
    with pytest.raises(AblationError) as ei:
        load_ablation_file(data)
    msg = str(ei.value)
    assert "3 problem(s), file refused" in msg
    assert ei.value.problems == ["row 2 (line 3): value 'abc' is not a number",
                                 "row 4 (line 5): value is empty (required)",
                                 "row 4 (line 5): status 'maybe' is not one of SEEN, DERIVED, MEASURED"]
    assert all(p in msg.splitlines() for p in ei.value.problems)  # one problem per line


def test_file_level_problems():
    assert "unknown column(s) 'colour'" in errors_of(make_csv(GOOD, columns=list(GOOD) + ["colour"]))[0]
    cols = [c for c in GOOD if c != "value"]
    assert errors_of(make_csv(GOOD, columns=cols)) == ["missing required column(s) value"]
    with pytest.raises(AblationError, match="more cell"):
        load_ablation_file(make_csv(GOOD) + b"Mine,T,2210.07224,v1,m,s,1,,,,,x,1,SEEN,src,EXTRA,MORE\n")
    with pytest.raises(AblationError, match="not UTF-8"):
        load_ablation_file(b"study,table\n\xff\xfe\xfa\n")
    with pytest.raises(AblationError, match="empty"):
        load_ablation_file(b"  \n")
    with pytest.raises(AblationError, match="no data rows"):
        load_ablation_file(make_csv())
    with pytest.raises(AblationError, match="no ablation file"):
        load_ablation_file("/nonexistent/x.csv")


def test_csv_export_round_trips_exactly(shipped, tmp_path):
    out = tmp_path / "all.csv"
    to_csv(shipped, out)
    back = load_ablation_file(out)
    strip = lambda rs: [{k: v for k, v in r.items() if k != "origin"} for r in rs]  # noqa: E731
    assert strip(back) == strip(shipped)
    assert strip(load_ablation_file(to_csv(ab.to_frame(shipped)).encode())) == strip(shipped)  # via pandas


def test_export_refuses_rows_it_could_not_read_back(tmp_path):
    bad = dict(load_ablation_file(make_csv(GOOD))[0], status="GUESSED")
    with pytest.raises(AblationError, match="status 'GUESSED'"):
        to_csv([bad], tmp_path / "x.csv")
    assert not (tmp_path / "x.csv").exists()


def test_load_all_adds_user_files_and_can_skip_bad_ones(tmp_path, shipped):
    (tmp_path / "good.csv").write_bytes(make_csv(GOOD))
    (tmp_path / "bad.csv").write_bytes(make_csv(dict(GOOD, value="x")))
    with pytest.raises(AblationError, match="bad.csv"):
        load_all(ABLATION_DIR, extra_paths=[tmp_path])
    problems = []
    rows = load_all(ABLATION_DIR, extra_paths=[tmp_path], skip_bad=True, problems=problems)
    assert len(rows) == len(shipped) + 1 and "Mine" in studies(rows)
    assert len(problems) == 1 and "row 1 (line 2): value 'x' is not a number" in problems[0]


# ------------------------------------------------------------------ plots
def test_figure_marks_derived_points_differently_and_hover_shows_provenance(shipped):
    fig = figure_for("MAE", shipped, table="Figure 5")
    assert len(fig.data) == 2  # fine-tune and linear panels
    for tr in fig.data:
        syms = dict(zip(tr.x, tr.marker.symbol))
        assert syms[0.75] == "circle" and syms[0.1] == "circle-open"  # 75% is SEEN (Table 1), the rest DERIVED
        assert tr.line.dash == "dash"
        assert all("Figure 5" in h and "source: MAE-cvf" in h and "status:" in h for h in tr.hovertext)
    assert any(abs(s.y0 - 82.5) < 1e-9 for s in fig.layout.shapes)  # the from-scratch level of the caption
    t1 = figure_for("MAE", shipped, table="Table 1(a)")
    assert all(tr.line.dash == "solid" and set(tr.marker.symbol) == {"circle"} for tr in t1.data)
    assert list(t1.data[0].x) == [1, 2, 4, 8, 12]


def test_figure_categorical_and_config_only_studies(shipped):
    fig = figure_for("MAE", shipped, table="Table 1(d)")
    assert list(fig.data[0].x) == ["pixel (w/o norm)", "pixel (w/ norm)", "PCA", "dVAE token"]
    assert fig.data[0].mode == "markers"
    ls = figure_for("Long-Seq MAE", shipped)
    assert type(ls.data[0]).__name__ == "Table" and "784" in ls.data[0].cells.values[2]
    empty = figure_for("nobody", shipped)
    assert len(empty.data) == 0 and "No plottable rows" in empty.layout.annotations[0].text


def test_figure_draws_measured_rows_with_error_bars_and_released_markers(shipped):
    base = dict(study=ab.MEASURED_STUDY, table="sweep: L at fixed mask cell", model="p8-m2", setting="L",
                metric="masked MSE ([0,1] RGB)", status="MEASURED", source="mae_core sweep", series="16-px cells")
    measured = [dict(base, setting_value=str(L), L=L, value=v, seed=s)
                for L, vals in ((64, (0.02, 0.04)), (256, (0.01, 0.01))) for s, v in enumerate(vals)]
    fig = figure_for("Long-Seq MAE", shipped, measured_rows=measured)
    tr = fig.data[0]
    assert list(tr.x) == [64.0, 256.0] and list(tr.y) == pytest.approx([0.03, 0.01])
    assert list(tr.error_y.array) == pytest.approx([0.01, 0.0]) and tr.marker.symbol == "diamond"
    assert any(s.x0 == 784 for s in fig.layout.shapes)  # Long-Seq MAE's released L on our L axis


# ------------------------------------------------------------------ our measured sweeps, one chart per part
def _row(**kw):
    r = {c: None for c in ab.COLUMNS}
    r.update(study=ab.MEASURED_STUDY, status="MEASURED", source="mae_core sweep", seed=0, image="china")
    r.update(kw)
    return r


def _synthetic_sweep():
    """Two checkpoints, two baselines (no checkpoint column), a resized-input series, two parts."""
    rows = []
    for ck, L in (("p16-m1", 64), ("p8-m2", 256)):
        for m, v in ((1, 0.02), (2, 0.03), (4, 0.05)):
            for met in ("masked MSE ([0,1] RGB)", "PSNR (dB, masked pixels)"):
                rows.append(_row(table="sweep: mask unit", model=ck, checkpoint=ck, setting="mask_unit",
                                 setting_value=str(m), mask_unit=m, L=L, metric=met, value=v + L / 1e4))
            for bl in ("mean-fill", "gaussian-fill"):
                rows.append(_row(table="sweep: mask unit", model=bl, setting="mask_unit", setting_value=str(m),
                                 mask_unit=m, L=L, metric="masked MSE ([0,1] RGB)", value=v * 2))
        rows.append(_row(table="sweep: L at fixed mask cell", model=ck, checkpoint=ck, setting="L",
                         setting_value=str(L), L=L, series="16-px mask cells", metric="masked MSE ([0,1] RGB)",
                         value=0.04))
        rows.append(_row(table="sweep: L at fixed mask cell", model=ck, checkpoint=ck, setting="L",
                         setting_value=str(L * 9 // 4), L=L * 9 // 4, series=f"{ck}, 16-px mask cells (resized input)",
                         metric="masked MSE ([0,1] RGB)", value=0.06))
    return rows


def _points(charts):
    """(chart table, trace name, point's checkpoint from its hover, point's marker colour) for every point."""
    out = []
    for ch in charts:
        for tr in ch.figure.data:
            cols = tr.marker.color if isinstance(tr.marker.color, (list, tuple)) else [tr.marker.color] * len(tr.x)
            for h, c in zip(tr.hovertext, cols):
                model = next(b.split(": ", 1)[1].split(" (")[0] for b in h.split("<br>") if b.startswith("checkpoint: "))
                out.append((ch.table, tr.name, model, c))
    return out


def test_default_selection_is_every_checkpoint_and_the_gaussian_fill_baseline():
    rows = _synthetic_sweep()
    assert ab.measured_choices(rows) == (["p16-m1", "p8-m2"], ["gaussian-fill", "mean-fill"])
    ck, bl = ab.default_selection(rows)
    assert ck == ["p16-m1", "p8-m2"] and bl == ["gaussian-fill"]
    shown = {m for _, _, m, _ in _points(ab.measured_figures(rows, checkpoints=ck, baselines=bl))}
    assert shown == {"p16-m1", "p8-m2", "gaussian-fill"}
    names = {n for _, n, _, _ in _points(ab.measured_figures(rows, checkpoints=ck, baselines=bl))}
    assert not any("resized input" in n for n in names)  # resized-input evaluations only on request
    with_resized = {n for _, n, _, _ in _points(ab.measured_figures(rows, checkpoints=ck, baselines=bl, resized=True))}
    assert any("resized input" in n for n in with_resized)
    only = _points(ab.measured_figures(rows, checkpoints=["p8-m2"], baselines=[]))
    assert {m for _, _, m, _ in only} == {"p8-m2"}
    assert ab.measured_figures(rows, checkpoints=[], baselines=[]) == []


def test_a_checkpoint_keeps_its_colour_in_every_chart_whatever_is_picked():
    rows = _synthetic_sweep()
    cmap = ab.colour_map(rows)
    assert len({cmap["p16-m1"], cmap["p8-m2"], cmap["gaussian-fill"], cmap["mean-fill"]}) == 4
    for ck in (None, ["p8-m2"]):
        pts = _points(ab.measured_figures(rows, checkpoints=ck, baselines=None, resized=True, colours=cmap))
        assert {t for t, _, _, _ in pts} == {"sweep: mask unit", "sweep: L at fixed mask cell"}
        assert all(c == cmap[m] for _, _, m, c in pts)
    # the 16-px line joins two checkpoints: one neutral line, each point in its checkpoint's colour
    cell = [tr for ch in ab.measured_figures(rows) for tr in ch.figure.data if tr.name.startswith("16-px")]
    assert cell and cell[0].line.color == ab.MIXED_LINE and "p16-m1 \u2192 p8-m2" in cell[0].name


def test_log_axes_are_ticked_at_the_values_present(shipped):
    fig = figure_for("MAE", shipped, table="Figure 7")
    epochs = sorted({float(r["setting_value"]) for r in shipped if r["table"] == "Figure 7"})
    assert fig.layout.xaxis.type == "log" and list(fig.layout.xaxis.tickvals) == epochs
    assert list(fig.layout.xaxis.ticktext) == [f"{e:g}" for e in epochs]
    rows = _synthetic_sweep()
    released = [r for r in shipped if r["metric"] == ab.RELEASED_CONFIG and r["setting"] == "L"]
    chart = next(c for c in ab.measured_figures(rows, shipped, resized=True) if c.table.startswith("sweep: L"))
    Ls = {float(r["L"]) for r in rows if r["table"].startswith("sweep: L")}
    assert chart.figure.layout.xaxis.type == "log" and list(chart.figure.layout.xaxis.tickvals) == sorted(Ls)
    # the released L (784) is labelled on its own line, never ticked beside 1024, where the two labels collided
    assert released and not {float(r["setting_value"]) for r in released} & set(chart.figure.layout.xaxis.tickvals)
    assert any(f"released: L={r['setting_value']}" in (a.text or "") for a in chart.figure.layout.annotations
               for r in released)
    assert ab.axis_ticks([0.1, 0.25, 0.75]) is None  # a linear axis of fractions keeps plotly's ticks


def test_measured_charts_have_short_titles_and_keep_the_detail_in_hover():
    _, measured = ab.split_measured(load_all(ABLATION_DIR))
    if not measured:
        pytest.skip("no measured sweep file shipped")
    charts = ab.measured_figures(measured, resized=True)
    assert {c.table for c in charts} == {r["table"] for r in measured}
    for ch in charts:
        assert ch.title and ch.caption and len(ch.title) <= 40
        assert ch.figure.layout.title.text == ch.title  # the camera button's PNG says what it shows
        assert ch.figure.layout.legend.orientation == "h"  # under the panels: never cut off at the right
        titles = [a.text for a in ch.figure.layout.annotations if a.text and "released" not in a.text]
        assert titles and all(len(t) <= 40 for t in titles)
        metrics = {r["metric"] for r in measured if r["table"] == ch.table}
        hovers = " ".join(h.replace("<br>", " ") for tr in ch.figure.data for h in tr.hovertext)  # wrapped
        assert all(f"{m}: " in hovers for m in metrics)  # the full metric name, unit and all
    assert ab.short_title("forward latency (ms, batch 1, median)", 30) == "forward latency (ms)"
    assert ab.short_title("masked MSE ([0,1] RGB)", 30) == "masked MSE ([0,1] RGB)"


def test_attention_distance_charts_mark_the_uniform_level_and_start_at_zero():
    """Every MAD panel of our sweep has a dashed line at the exact uniform-attention level of each checkpoint's grid
    (px, fraction of the width, ratio 1) and a y axis from 0, so noise near 0.52 cannot pass for structure."""
    from mae_core.geometry import uniform_mad

    rows = []
    for ck, p in (("p16-m1", 16), ("p8-m2", 8)):
        L = (128 // p) ** 2
        ref = uniform_mad((128 // p, 128 // p), p)
        for layer, v in ((0, 0.5 * ref), (1, 0.95 * ref)):
            for met, val in (("mean attention distance (px, mean over heads)", v),
                             ("mean attention distance / image width", v / 128),
                             ("attention distance / uniform attention", v / ref)):
                rows.append(_row(table="sweep: attention distance", model=ck, checkpoint=ck, setting="layer",
                                 setting_value=str(layer), layer=layer, L=L, image_size=128, patch_size=p,
                                 metric=met, value=val))
    chart = ab.measured_figures(rows)[0]
    fig = chart.figure
    levels = sorted(round(s.y0, 6) for s in fig.layout.shapes if s.y0 == s.y1)
    want = sorted(round(x, 6) for x in (uniform_mad((8, 8), 16), uniform_mad((16, 16), 8),
                                         uniform_mad((8, 8), 16) / 128, uniform_mad((16, 16), 8) / 128, 1.0))
    assert levels == want
    used = {"yaxis" + (t.yaxis or "y")[1:] for t in fig.data}
    assert len(used) == 3 and {fig.layout[k].rangemode for k in used} == {"tozero"}
    assert "uniform attention" in chart.caption
    # published panels and other parts have no such line
    assert ab.uniform_level(dict(image_size=128, patch_size=8), "masked MSE ([0,1] RGB)") is None



# ------------------------------------------------------------------ third-party evidence on the mask unit
def third_party_section(text: str) -> str:
    return text[text.index("## Third-party evidence on the mask unit"):]


def reference_evidence(text: str) -> dict:
    """{(study, table, setting, setting_value, metric): value} read from the reference's third-party section with an
    independent reader: Kong et al. Table 1 and Table 3 (markdown tables), Pixio Table 6 (prose)."""
    sec = third_party_section(text)
    kong, pix = sec[:sec.index("### Pixio")], sec[sec.index("### Pixio"):]
    out = {}
    t1 = md_table_after(kong, "Table 1, linear-probe top-1")
    benches = t1[0][2:]
    names = {"IN1K": "IN-1K"}
    for i, row in enumerate(t1[1:]):
        ratio, unit = row[0], row[1]
        px = re.match(r"(\d+) \((\d)×(\d)\)", unit).group(1)
        # the first five rows vary the ratio at 16 px, the last three the unit at 0.75 (the table's layout)
        setting, value = ("mask_ratio", ratio) if i < 5 else ("mask unit (px)", px)
        for b, v in zip(benches, row[2:]):
            key = ("Kong et al. 2023", "Table 1", setting, value, f"{names.get(b, b)} linear probe top-1 (%)")
            assert key not in out, key
            out[key] = float(v)
    t3 = md_table_after(kong, "Table 3, COCO Mask R-CNN")
    for row in t3[1:]:
        for ratio, v in zip(t3[0][1:], row[1:]):
            out[("Kong et al. 2023", "Table 3", "mask_ratio", ratio, f"COCO {row[0]} (Mask R-CNN, 45 ep)")] = float(v)
    mae = re.search(r"MAE \(1×1 mask, decoder 512×8, 1 class token\): IN-1K k-NN ([\d.]+), NYUv2 depth\s+error "
                    r"([\d.]+), KITTI ([\d.]+), ADE20K mIoU ([\d.]+), Pascal ([\d.]+)\.", pix)
    pixio = re.search(r"Pixio \(2×2 mask, decoder 512×32, 4 class tokens\): ([\d.]+),\s+([\d.]+), ([\d.]+), "
                      r"([\d.]+), ([\d.]+)\.", pix)
    mets = ("IN-1K k-NN top-1 (%)", "NYUv2 depth error (lower is better)", "KITTI depth error (lower is better)",
            "ADE20K mIoU", "Pascal (Table 6 column)")
    for recipe, m in (("MAE (1x1 mask, decoder 512x8, 1 class token)", mae),
                      ("Pixio (2x2 mask, decoder 512x32, 4 class tokens)", pixio)):
        assert m, recipe
        for met, v in zip(mets, m.groups()):
            out[("Pixio 2025", "Table 6", "recipe", recipe, met)] = float(v)
    return out


def evidence_values(rows) -> dict:
    return {(r["study"], r["table"], r["setting"], r["setting_value"], r["metric"]): r["value"]
            for r in rows if r["evidence"]}


@needs_ref
def test_evidence_rows_round_trip_exactly_from_the_reference(shipped):
    want = reference_evidence(REF.read_text(encoding="utf-8"))
    assert len(want) == 8 * 6 + 5 * 2 + 2 * 5
    evidence = [r for r in shipped if r["evidence"]]
    assert len(evidence) == len(want)  # no row more, none less
    assert evidence_values(shipped) == want
    # the CSV files themselves, written back by to_csv, load to the same rows
    for name in ("kong_2023_cvpr.csv", "pixio_2512.15715.csv"):
        rows = load_ablation_file(ABLATION_DIR / name)
        assert load_ablation_file(to_csv(rows).encode()) == [dict(r, origin=r["origin"].replace(name, "uploaded file"))
                                                            for r in rows]


def test_evidence_rows_carry_provenance_and_the_caveats(shipped):
    evidence = [r for r in shipped if r["evidence"]]
    assert {r["study"] for r in evidence} == {"Kong et al. 2023", "Pixio 2025"}
    assert all(r["status"] == "SEEN" and r["source"] and r["caveat"].startswith("Not from Hu et al.")
               for r in evidence)
    assert all(r["arxiv_id"] != ab.HU_ET_AL_ARXIV for r in evidence)
    kong_t1 = [r for r in evidence if r["study"].startswith("Kong") and r["table"] == "Table 1"]
    assert all("73.31" in r["caveat"] and "decreases significantly" in r["caveat"] for r in kong_t1)
    assert {r["mask_unit"] for r in kong_t1 if r["setting"] == "mask unit (px)"} == {1, 2, 4}
    pixio = [r for r in evidence if r["study"].startswith("Pixio")]
    assert all("change more than the mask unit" in r["caveat"] for r in pixio)


def test_evidence_row_with_a_corrupted_value_fails_the_comparison(shipped):
    rows = [dict(r) for r in shipped]
    before = evidence_values(rows)
    next(r for r in rows if r["evidence"] and r["study"].startswith("Pixio"))["value"] += 0.01
    assert evidence_values(rows) != before


def test_evidence_charts_are_labelled_not_from_hu_and_state_the_caveat_on_the_chart(shipped):
    charts = ab.evidence_figures(shipped)
    assert [(c.study, c.table, c.setting) for c in charts] == [
        ("Kong et al. 2023", "Table 1", "mask unit (px)"), ("Kong et al. 2023", "Table 1", "mask_ratio"),
        ("Kong et al. 2023", "Table 3", "mask_ratio"), ("Pixio 2025", "Table 6", "recipe")]
    for c in charts:
        title = c.figure.layout.title.text
        assert ab.NOT_FROM_HU in title and c.study in title
        on_chart = " ".join((a.text or "").replace("<br>", " ") for a in c.figure.layout.annotations)
        assert all(cv in on_chart for cv in c.caveats)
    unit = charts[0].figure
    assert len(unit.data) == 6 and list(unit.data[0].x) == [8.0, 16.0, 32.0]
    assert list(unit.layout.xaxis.ticktext) == ["8 px (1\u00d71)", "16 px (2\u00d72)", "32 px (4\u00d74)"]
    assert "contradicts this table's 73.31" in " ".join(a.text for a in unit.layout.annotations)
    pixio = charts[-1].figure
    assert [t.type for t in pixio.data] == ["bar"] * 5 and "lower is better" in " ".join(
        a.text for a in pixio.layout.annotations)
    # a row that is Hu et al.'s own would not be labelled
    own = [dict(r, arxiv_id=ab.HU_ET_AL_ARXIV, arxiv_version=ab.NOT_RECORDED, study="Long-Seq MAE", caveat=None)
           for r in shipped if r["study"] == "Pixio 2025"]
    assert ab.NOT_FROM_HU not in ab.evidence_figures(own)[0].figure.layout.title.text


def test_a_venue_stands_in_for_a_missing_arxiv_id():
    cols = list(GOOD) + ["venue"]
    rows = load_ablation_file(make_csv(dict(GOOD, arxiv_id="", arxiv_version="", venue="CVPR 2023"), columns=cols))
    assert rows[0]["venue"] == "CVPR 2023" and rows[0]["arxiv_id"] is None


def test_display_frame_shows_no_none_or_placeholder(shipped):
    df = ab.to_display_frame(shipped)
    text = df.to_csv(index=False)
    assert "None" not in text and ab.NOT_RECORDED not in text and "nan" not in text.lower().split(",")
    assert "origin" not in df.columns and "arxiv_version" not in df.columns  # never recorded: the column goes
    assert all(df[c].astype(str).str.len().max() > 0 for c in df.columns)  # only columns that hold something
    import pyarrow as pa

    pa.Table.from_pandas(df)  # st.dataframe's conversion: a column mixing numbers and "" raised ArrowTypeError


def test_log_axis_with_many_points_gets_round_ticks_not_one_per_point():
    """Training compute has ~40 distinct x values; one label per value overlapped into an unreadable band."""
    from mae_core.ablations.figures import axis_ticks

    many = [34.4 * k for k in range(1, 11)] + [128.4 * k for k in range(1, 11)] + [690.2 * k for k in range(1, 11)]
    vals, text = axis_ticks(many, log=True)
    assert text == ["50", "100", "200", "500", "1000", "2000", "5000"]
    assert axis_ticks([64, 256, 1024], log=True) == ([64.0, 256.0, 1024.0], ["64", "256", "1024"])
    vals, _ = axis_ticks([11 + i * 0.5 for i in range(12)], log=True)  # no 1-2-5 value inside: the two ends
    assert vals == [11.0, 16.5]


def test_a_measured_chart_caption_names_only_what_is_drawn(shipped):
    """The red dotted line and the resized-input points are described only when the chart draws them."""
    rows = _synthetic_sweep()
    plain = next(c for c in ab.measured_figures(rows) if c.table.startswith("sweep: L"))
    assert "red dotted" not in plain.caption and "resized input" not in plain.caption
    assert not plain.figure.layout.shapes
    full = next(c for c in ab.measured_figures(rows, shipped, resized=True) if c.table.startswith("sweep: L"))
    assert "red dotted line is the Long-Seq MAE released sequence length L (784)" in full.caption
    assert "resized input" in full.caption and any(s.x0 == 784 for s in full.figure.layout.shapes)


def test_hover_lines_are_short_enough_not_to_be_clipped(shipped):
    """A tooltip wider than the chart's frame is cut on both sides (seen at 1400 px): every line is wrapped."""
    _, measured = ab.split_measured(shipped)
    figs = [figure_for("Kong et al. 2023", shipped), figure_for("MAE", shipped, table="Table 1(a)")]
    figs += [c.figure for c in ab.evidence_figures(shipped)] + [c.figure for c in ab.measured_figures(measured)]
    lines = [ln for f in figs for tr in f.data for h in (getattr(tr, "hovertext", None) or [])
             for ln in str(h).split("<br>")]
    assert lines and max(len(re.sub(r"<[^>]+>", "", ln)) for ln in lines) <= ab.figures.HOVER_WIDTH


def test_sources_name_every_source_and_status_of_a_chart(shipped):
    rows = [r for r in shipped if r["study"] == "Kong et al. 2023" and r["table"] == "Table 1"]
    src = ab.sources(rows)
    assert sum(s["numbers"] for s in src) == len(rows)
    assert {(s["source"], s["status"]) for s in src} == {(r["source"], r["status"]) for r in rows}
    assert all(s["where"] for s in src)  # the venue or arXiv id
