"""The ablation data schema: one row = one number, with provenance; loading, validation and CSV export.

Every row is one number: which study and table/figure it comes from (arXiv id + version), the model and its
pre-training, the *varied setting* (``setting`` name + ``setting_value``, plus structured columns such as L,
patch_size, mask_unit, mask_ratio where they apply), the metric and its value, and a status:

- SEEN      read directly in the cited source;
- DERIVED   worked out from SEEN material (arithmetic, or reading a figure's text layer) - ``note`` says how;
- MEASURED  produced by our own code (``python -m mae_core sweep``), with checkpoint id, sha256 prefix, seed,
            device and code revision.

Files are CSV with a header row; columns may come in any order and optional ones may be left out. A file with
any bad row is refused whole, with one message per problem ("row 7: value 'abc' is not a number").
Rows whose ``setting`` is ``baseline`` are reference levels (drawn as horizontal lines); rows whose ``metric`` is
``released configuration`` describe a released recipe (drawn as vertical markers where the axis matches).
``annotations.csv`` (a separate, smaller schema) holds qualitative claims quoted exactly from the sources.

Hand-written validation rather than a schema library (pandera, pydantic) because none is a dependency and the
per-row messages have to be one plain line each.
"""
from __future__ import annotations

import csv
import io
import math
import re
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from ..assets import ABLATION_DIR
from ..errors import MAEError
from ..sources import read_source

STATUSES = ("SEEN", "DERIVED", "MEASURED")
NOT_RECORDED = "version not recorded"
RELEASED_CONFIG = "released configuration"
BASELINE = "baseline"
MEASURED_STUDY = "mae_core sweep (ours)"
HU_ET_AL_ARXIV = "2210.07224"  # Hu, Debnath, Xie, Chen 2022: the long-sequence MAE paper this project is about
MAX_FILE_BYTES = 5 * 2**20
MAX_ROWS = 200_000
ANNOTATIONS_FILE = "annotations.csv"


class AblationError(MAEError, ValueError):
    """An ablation data file that does not follow the schema (all problems listed, one per line)."""

    def __init__(self, message: str, problems: list[str] | None = None):
        self.problems = list(problems or [])
        super().__init__(message)


@dataclass(frozen=True)
class Column:
    kind: str  # "str" | "int" | "float"
    required: bool = False
    allowed: tuple | None = None
    minimum: float | None = None
    maximum: float | None = None  # inclusive unless max_exclusive
    max_exclusive: bool = False
    help: str = ""


SCHEMA: "OrderedDict[str, Column]" = OrderedDict([
    ("study", Column("str", True,
                     help="paper or source, short name (e.g. 'MAE', 'Long-Seq MAE', 'mae_core sweep (ours)')")),
    ("table", Column("str", True,
                     help="table/figure id in that study (e.g. 'Table 1(a)', 'Figure 5'); for ours, the sweep part")),
    ("arxiv_id", Column("str", help="bare arXiv id, e.g. 2111.06377 (SEEN/DERIVED need it or a venue)")),
    ("arxiv_version", Column("str", help=f"'v3', or '{NOT_RECORDED}' when the source does not give it "
                                         "(required with an arxiv_id)")),
    ("venue", Column("str", help="where the study was published when no arXiv id is recorded (e.g. 'CVPR 2023')")),
    ("model", Column("str", True, help="model (e.g. 'ViT-L/16'), checkpoint id for MEASURED rows, or a baseline name")),
    ("pretrain_data", Column("str", help="pre-training data (e.g. 'IN-1K')")),
    ("pretrain_epochs", Column("int", minimum=1, help="pre-training epochs")),
    ("setting", Column("str", True, help="name of the varied setting (e.g. 'mask_ratio', 'decoder_depth', 'target'); "
                                         f"'{BASELINE}' for a reference level")),
    ("setting_value", Column("str", True,
                             help="its value as written (number or label, e.g. '0.75', 'pixel (w/ norm)')")),
    ("series", Column("str", help="optional: rows with the same series are joined as one line (default: model)")),
    ("L", Column("int", minimum=1, help="sequence length (patches in the image) = (I/p)^2")),
    ("image_size", Column("int", minimum=1, help="input image size I (pixels, square)")),
    ("patch_size", Column("int", minimum=1, help="patch size p (pixels)")),
    ("mask_unit", Column("int", minimum=1, help="mask unit m: m x m patches masked together (1 = per patch)")),
    ("mask_ratio", Column("float", minimum=0.0, maximum=1.0, max_exclusive=True, help="fraction removed, in [0, 1)")),
    ("decoder_depth", Column("int", minimum=0, help="decoder blocks")),
    ("decoder_width", Column("int", minimum=1, help="decoder embedding dim")),
    ("decoder_heads", Column("int", minimum=1, help="decoder attention heads")),
    ("target", Column("str", help="reconstruction target (e.g. 'pixel (w/o norm)', 'norm-pix')")),
    ("Le", Column("int", minimum=0, help="tokens the encoder sees (visible patches)")),
    ("layer", Column("int", minimum=0, help="encoder layer index (per-layer metrics)")),
    ("metric", Column("str", True, help="what was measured, with unit (e.g. 'IN-1K fine-tune top-1 (%)')")),
    ("value", Column("float", True, help="the number")),
    ("status", Column("str", True, allowed=STATUSES, help="SEEN / DERIVED / MEASURED")),
    ("source", Column("str", True, help="source key (published-numbers.md keys, or 'mae_core sweep')")),
    ("note", Column("str", help="how a DERIVED number was obtained (required for DERIVED), caveats")),
    ("evidence", Column("str", help="the claim this row is evidence on (e.g. 'mask unit'); such rows are drawn as "
                                    "their own evidence charts")),
    ("caveat", Column("str", help="a caveat shown wherever the row is drawn (e.g. a study's text contradicting "
                                  "its table)")),
    ("checkpoint", Column("str", help="MEASURED: checkpoint id")),
    ("checkpoint_sha256", Column("str", help="MEASURED: sha256 prefix of the checkpoint file")),
    ("seed", Column("int", minimum=0, help="MEASURED: mask seed")),
    ("image", Column("str", help="MEASURED: evaluation image")),
    ("device", Column("str", help="MEASURED: device")),
    ("code_revision", Column("str", help="MEASURED: git revision of mae_core")),
])
COLUMNS = tuple(SCHEMA)
REQUIRED = tuple(k for k, c in SCHEMA.items() if c.required)
STRUCTURED = ("L", "image_size", "patch_size", "mask_unit", "mask_ratio", "decoder_depth", "decoder_width",
              "decoder_heads", "Le", "layer", "pretrain_epochs", "target")

ANNOTATION_SCHEMA: "OrderedDict[str, Column]" = OrderedDict([
    ("study", Column("str", True, help="study the claim is about")),
    ("chart", Column("str", True,
                     help="which chart it captions (a table id, or 'sequence length', 'mask unit', 'transfer')")),
    ("claim", Column("str", True, help="the claim, quoted exactly")),
    ("source", Column("str", True, help="source key")),
    ("status", Column("str", True, allowed=("SEEN",), help="always SEEN (quoted)")),
    ("reliability", Column("str", True, allowed=("paper", "third-party summary"),
                           help="paper text or a third-party summary")),
    ("note", Column("str", help="context")),
])

_ARXIV_ID = re.compile(r"^\d{4}\.\d{4,5}$")
_ARXIV_WITH_VERSION = re.compile(r"^(\d{4}\.\d{4,5})(v\d+)$")
_VERSION = re.compile(r"^v\d+$")


# ------------------------------------------------------------------ parsing + validation
def _read_text(source) -> tuple[str, str]:
    """(text, name) from a path, bytes, or a file-like object (e.g. Streamlit's UploadedFile)."""
    data, name = read_source(source, limit=MAX_FILE_BYTES, error=AblationError, noun="ablation")
    name = name or "uploaded file"
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise AblationError(f"{name} is not UTF-8 text (byte {e.start}); save it as UTF-8 CSV") from None
    if not text.strip():
        raise AblationError(f"{name} is empty: expected a CSV header row and data rows")
    return text, name


def _parse_number(col: str, spec: Column, raw: str, where: str, problems: list[str]):
    if spec.kind == "int":
        try:
            f = float(raw)
        except ValueError:
            problems.append(f"{where}: {col} {raw!r} is not a number")
            return None
        if not math.isfinite(f) or f != int(f):
            problems.append(f"{where}: {col} {raw!r} is not a whole number")
            return None
        v = int(f)
    else:
        try:
            v = float(raw)
        except ValueError:
            problems.append(f"{where}: {col} {raw!r} is not a number")
            return None
        if not math.isfinite(v):
            problems.append(f"{where}: {col} {raw!r} is not a finite number")
            return None
    if spec.minimum is not None and v < spec.minimum:
        problems.append(f"{where}: {col} {raw!r} is below the minimum {spec.minimum:g}")
        return None
    if spec.maximum is not None and (v >= spec.maximum if spec.max_exclusive else v > spec.maximum):
        rng = f"[{spec.minimum:g}, {spec.maximum:g}{')' if spec.max_exclusive else ']'}"
        problems.append(f"{where}: {col} {raw!r} is outside {rng}")
        return None
    return v


def _validate_cells(raw: dict, schema: "OrderedDict[str, Column]", where: str, problems: list[str]) -> dict:
    row = {}
    for col, spec in schema.items():
        cell = (raw.get(col) or "").strip()
        if not cell:
            if spec.required:
                problems.append(f"{where}: {col} is empty (required)")
            row[col] = None
            continue
        if spec.kind == "str":
            if spec.allowed and cell not in spec.allowed:
                problems.append(f"{where}: {col} {cell!r} is not one of {', '.join(spec.allowed)}")
            row[col] = cell
        else:
            row[col] = _parse_number(col, spec, cell, where, problems)
    return row


def _check_row(row: dict, where: str, problems: list[str]) -> None:
    """Cross-column rules (run after every cell parsed)."""
    status = row.get("status")
    aid, ver = row.get("arxiv_id"), row.get("arxiv_version")
    if aid:
        m = _ARXIV_WITH_VERSION.match(aid)
        if m:
            problems.append(f"{where}: arxiv_id {aid!r} must be the bare id {m.group(1)!r} "
                            f"(put {m.group(2)!r} in arxiv_version)")
        elif not _ARXIV_ID.match(aid):
            problems.append(f"{where}: arxiv_id {aid!r} is not an arXiv id like 2111.06377")
    if ver and not (_VERSION.match(ver) or ver == NOT_RECORDED):
        problems.append(f"{where}: arxiv_version {ver!r} must look like 'v3' or be '{NOT_RECORDED}'")
    if status in ("SEEN", "DERIVED"):
        if not aid and not row.get("venue"):
            problems.append(f"{where}: arxiv_id is empty (required for a {status} number, or give its venue)")
        if aid and not ver:
            problems.append(f"{where}: arxiv_version is empty (required for a {status} number; "
                            f"write '{NOT_RECORDED}' if the source does not give it)")
    if status == "DERIVED" and not row.get("note"):
        problems.append(f"{where}: note is empty (a DERIVED number must say how it was derived)")
    # a structured column named as the varied setting must agree with setting_value
    setting, sval = row.get("setting"), row.get("setting_value")
    if setting in SCHEMA and setting in STRUCTURED and sval is not None and row.get(setting) is not None:
        col_val = row[setting]
        try:
            same = (col_val == sval) if isinstance(col_val, str) else math.isclose(float(sval), float(col_val))
        except ValueError:
            same = False
        if not same:
            problems.append(f"{where}: setting_value {sval!r} disagrees with the {setting} column ({col_val!r})")
    L, I, p = row.get("L"), row.get("image_size"), row.get("patch_size")
    if L is not None and I is not None and p is not None:
        if I % p:
            problems.append(f"{where}: image_size {I} is not divisible by patch_size {p}")
        elif (I // p) ** 2 != L:
            problems.append(f"{where}: L {L} is not (image_size/patch_size)^2 = ({I}/{p})^2 = {(I // p) ** 2}")


def _parse(text: str, name: str, schema, check_row) -> list[dict]:
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    if not header or all(not h for h in header):
        raise AblationError(f"{name}: no header row")
    file_problems = []
    unknown = [h for h in header if h and h not in schema]
    if unknown:
        file_problems.append(f"unknown column(s) {', '.join(map(repr, unknown))}; "
                             f"allowed: {', '.join(schema)}")
    missing = [c for c, s in schema.items() if s.required and c not in header]
    if missing:
        file_problems.append(f"missing required column(s) {', '.join(missing)}")
    dupes = sorted({h for h in header if header.count(h) > 1 and h})
    if dupes:
        file_problems.append(f"duplicate column(s) {', '.join(dupes)}")
    if file_problems:
        raise AblationError(f"{name}: " + "; ".join(file_problems), file_problems)
    reader.fieldnames = header
    rows, problems = [], []
    for i, raw in enumerate(reader, start=1):
        where = f"row {i} (line {reader.line_num})"
        if i > MAX_ROWS:
            raise AblationError(f"{name}: more than {MAX_ROWS} rows")
        extra = raw.pop(None, None)
        if extra and any(str(x).strip() for x in extra):
            problems.append(f"{where}: {len(extra)} more cell(s) than the {len(header)} header columns")
        if all(not (v or "").strip() for v in raw.values()):
            continue  # blank line
        row = _validate_cells(raw, schema, where, problems)
        if check_row:
            check_row(row, where, problems)
        row["origin"] = f"{name}:{i}"
        rows.append(row)
    if problems:
        head = f"{name}: {len(problems)} problem(s), file refused:"
        raise AblationError(head + "\n" + "\n".join(problems), problems)
    if not rows:
        raise AblationError(f"{name}: the header is there but no data rows")
    return rows


def load_ablation_file(source, as_frame: bool = False):
    """Read and validate one ablation CSV (path, bytes or file-like) -> list of row dicts (or a DataFrame).

    Each row has every SCHEMA column (None where empty; ints, floats and strings as typed) plus ``origin``
    ("<file>:<row>"). Raises AblationError listing every bad row if any row is bad: the file is refused whole.
    """
    text, name = _read_text(source)
    rows = _parse(text, name, SCHEMA, _check_row)
    return to_frame(rows) if as_frame else rows


def load_annotations(source=None) -> list[dict]:
    """Qualitative claims (annotations.csv schema). Default: the shipped assets/ablations/annotations.csv."""
    if source is None:

        source = ABLATION_DIR / ANNOTATIONS_FILE
    text, name = _read_text(source)
    return _parse(text, name, ANNOTATION_SCHEMA, None)


def data_files(folder) -> list[Path]:
    """The ablation data CSVs in a folder (annotations.csv excluded), sorted by name."""
    folder = Path(folder)
    return sorted(p for p in folder.glob("*.csv") if p.name != ANNOTATIONS_FILE)


def load_all(folder=None, extra_paths: Iterable = (), skip_bad: bool = False,
             problems: list | None = None) -> list[dict]:
    """Every ablation CSV in `folder` (default assets/ablations/) plus `extra_paths` (files or folders).

    A bad file raises AblationError naming it; with skip_bad=True it is left out instead and its message is
    appended to `problems` (a list you pass in), so one broken user file does not hide the published curves.
    """
    if folder is None:

        folder = ABLATION_DIR
    paths = data_files(folder) if Path(folder).is_dir() else []
    for extra in extra_paths:
        extra = Path(extra)
        paths.extend(data_files(extra) if extra.is_dir() else [extra])
    rows = []
    for p in paths:
        try:
            rows.extend(load_ablation_file(p))
        except AblationError as e:
            if not skip_bad:
                raise
            if problems is not None:
                problems.append(str(e))
    return rows


def studies(rows) -> list[str]:
    """Distinct study names, in first-seen order."""
    return list(OrderedDict.fromkeys(r["study"] for r in rows))


def split_measured(rows) -> tuple[list[dict], list[dict]]:
    """(published rows, MEASURED rows): what figure_for takes as `rows` and `measured_rows`."""
    rows = list(rows)
    return [r for r in rows if r["status"] != "MEASURED"], [r for r in rows if r["status"] == "MEASURED"]


def tables(rows, study: str | None = None) -> list[str]:
    """Distinct table/figure ids (of one study), in first-seen order."""
    return list(OrderedDict.fromkeys(r["table"] for r in rows if study is None or r["study"] == study))


def to_frame(rows):
    """Rows -> pandas DataFrame with the SCHEMA columns in order (plus origin when present)."""
    import pandas as pd

    cols = list(COLUMNS) + (["origin"] if any("origin" in r for r in rows) else [])
    return pd.DataFrame([{c: r.get(c) for c in cols} for r in rows], columns=cols)


def to_display_frame(rows, columns: Iterable[str] | None = None):
    """Rows -> a DataFrame for people to read: only the columns that hold something, empty cells blank (never
    'None'), arxiv_version blank where it is 'version not recorded', no origin column. Downloads keep to_csv."""
    import pandas as pd

    cols = [c for c in (columns or COLUMNS) if any(r.get(c) not in (None, "", NOT_RECORDED) for r in rows)]
    data = [{c: ("" if r.get(c) is None or r.get(c) == NOT_RECORDED else r.get(c)) for c in cols} for r in rows]
    df = pd.DataFrame(data, columns=cols).astype(object).where(lambda d: d.notna(), "")
    # one type per column, as Arrow (st.dataframe) needs: a column of numbers with blank cells becomes text
    # (a number next to "" made Streamlit log an ArrowTypeError and fall back on every view)
    for c in df.columns:
        if len({type(v) for v in df[c]}) > 1:
            df[c] = [_fmt(v) if v != "" else "" for v in df[c]]
    return df


def _fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)  # shortest exact form: 84.9 -> '84.9', 70.0 -> '70.0'
    return str(v)


def to_csv(rows, path=None, columns: Iterable[str] = COLUMNS) -> str:
    """Rows (dicts or a DataFrame) -> CSV text in schema column order; also written to `path` if given.

    The text is validated before it is written, so an exported file always loads back."""
    if hasattr(rows, "to_dict"):
        rows = [{k: (None if _isnan(v) else v) for k, v in r.items()} for r in rows.to_dict("records")]
    columns = list(columns)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow([_fmt(r.get(c)) for c in columns])
    text = buf.getvalue()
    _parse(text, str(path or "export"), SCHEMA, _check_row)  # refuse to write what we could not read back
    if path is not None:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_suffix(p.suffix + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(p)
    return text


def _isnan(v) -> bool:
    return isinstance(v, float) and math.isnan(v)


# ------------------------------------------------------------------ captions
def captions_for(study: str, chart: str | None = None, annotations: list[dict] | None = None,
                 as_rows: bool = False):
    """The qualitative claims that caption a study's charts (optionally one chart), quoted with their source.

    Returns strings like '"<claim>" - Long-Seq MAE abstract (LSM-abs, SEEN)'; as_rows=True gives the rows."""
    ann = load_annotations() if annotations is None else annotations
    picked = [a for a in ann if a["study"] == study and (chart is None or a["chart"] == chart)]
    if as_rows:
        return picked
    out = []
    for a in picked:
        tag = f"{a['source']}, {a['status']}"
        if a["reliability"] != "paper":
            tag += ", third-party summary - low reliability"
        out.append(f"\u201c{a['claim']}\u201d ({tag})")
    return out
