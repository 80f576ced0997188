"""Measured CKA matrices and probe scores as ablation rows (mae_core.ablations schema, status MEASURED, with the
checkpoint's sha256, the data, the seed, the device and the code revision), and read back for the views.

One CKA row = one cell: ``model`` is the row checkpoint, ``layer`` its layer, ``setting`` names the column checkpoint
("layer of p8-m2"), ``setting_value`` the column layer. One probe row = one (checkpoint, probe, kind, layer): value
is the mean top-1 over the folds (%), the note gives the standard deviation and the fold count.
"""
from __future__ import annotations

import re

import numpy as np

from ..assets import ABLATION_DIR

STUDY = "mae_core sweep (ours)"  # ablations.MEASURED_STUDY: every MEASURED row is ours
FILE_NAME = "measured_representations.csv"
SOURCE = "python scripts/representations.py"
CKA_METRIC = "linear CKA ({kind}{how})"
PROBE_METRIC = "{probe} top-1 (%), {kind}"
KIND_NAMES = {"mean": "mean-pooled patch tokens", "cls": "CLS token"}
TOKENS = "patch tokens"  # the attentive probe's input: every patch token, pooled by the probe itself
_STD = re.compile(r"std ([\d.]+) over (\d+) folds")


def default_path():

    return ABLATION_DIR / FILE_NAME


def _geometry(meta: dict, info) -> dict:
    size, p = int(meta["img_size"][0]), int(meta["patch_size"])
    training = getattr(info, "training", None) or {}
    out = dict(image_size=size, patch_size=p, L=(size // p) ** 2)
    if training.get("mask_unit"):
        out["mask_unit"] = int(training["mask_unit"])
    return out


def cka_rows(name_a: str, name_b: str, matrix, store_a, info_a, data: str, kind: str, unbiased: bool,
             provenance: dict) -> list[dict]:
    how = ", unbiased HSIC" if unbiased else ""
    rows = []
    for i, row in enumerate(np.asarray(matrix)):
        for j, v in enumerate(row):
            rows.append(dict(study=STUDY, table=f"CKA on {data}", model=name_a, setting=f"layer of {name_b}",
                             setting_value=str(j), series=f"{name_a} vs {name_b}", layer=i,
                             metric=CKA_METRIC.format(kind=KIND_NAMES.get(kind, kind), how=how), value=float(v),
                             status="MEASURED", source=SOURCE, checkpoint=name_a,
                             note=f"{name_a} layer {i} against {name_b} layer {j}; images sha256 "
                                  f"{store_a.meta['images_sha256'][:12]}",
                             **_geometry(store_a.meta, info_a), **provenance))
    return rows


def probe_rows(name: str, scores, store, info, data: str, provenance: dict) -> list[dict]:
    rows = []
    for s in scores:
        rows.append(dict(study=STUDY, table=f"probes on {data}", model=name, setting="layer",
                         setting_value=str(s.layer), series=f"{name} {s.probe} {s.kind}", layer=s.layer,
                         metric=PROBE_METRIC.format(probe=s.probe, kind=KIND_NAMES.get(s.kind, TOKENS)),
                         value=100.0 * s.mean, status="MEASURED", source=SOURCE, checkpoint=name,
                         note=f"mean over stratified folds; std {100 * s.std:.2f} over {len(s.folds)} folds; images "
                              f"sha256 {store.meta['images_sha256'][:12]}",
                         **_geometry(store.meta, info), **provenance))
    return rows


def is_representation_row(r) -> bool:
    """A CKA cell or a probe score (drawn on the Representations page, not among the pixel sweeps)."""
    return r.get("status") == "MEASURED" and str(r.get("table", "")).startswith(("CKA on ", "probes on "))


def load(path=None) -> list[dict]:
    """The stored rows ([] when the file is absent)."""
    from ..ablations import load_ablation_file

    p = path or default_path()
    return load_ablation_file(p) if p.is_file() else []


def cka_data_sets(rows) -> list[str]:
    return list(dict.fromkeys(r["table"][len("CKA on "):] for r in rows if r["table"].startswith("CKA on ")))


def probe_data_sets(rows) -> list[str]:
    return list(dict.fromkeys(r["table"][len("probes on "):] for r in rows if r["table"].startswith("probes on ")))


def cka_matrix(rows, a: str, b: str, data: str):
    """(matrix, metric) of stored cells for a against b on data (transposed from b against a when only that is
    stored), or (None, None)."""
    for x, y, flip in ((a, b, False), (b, a, True)):
        cells = [r for r in rows if r["table"] == f"CKA on {data}" and r["model"] == x
                 and r["setting"] == f"layer of {y}"]
        if cells:
            n = max(r["layer"] for r in cells) + 1
            m = max(int(r["setting_value"]) for r in cells) + 1
            out = np.full((n, m), np.nan)
            for r in cells:
                out[r["layer"], int(r["setting_value"])] = r["value"]
            return (out.T if flip else out), cells[0]["metric"]
    return None, None


def probe_records(rows, data: str) -> list[dict]:
    """Flat records (checkpoint, probe, kind, layer, top1, std, folds, L, patch_size, mask_unit) of one data set."""
    out = []
    for r in rows:
        if r["table"] != f"probes on {data}":
            continue
        probe, kind = r["metric"].split(" top-1 (%), ")
        m = _STD.search(r.get("note") or "")
        out.append(dict(checkpoint=r["model"], probe=probe, kind=kind, layer=r["layer"], top1=r["value"],
                        std=float(m.group(1)) if m else float("nan"), folds=int(m.group(2)) if m else None,
                        L=r.get("L"), patch_size=r.get("patch_size"), mask_unit=r.get("mask_unit"),
                        sha256=r.get("checkpoint_sha256")))
    return out


def last_layer(recs: list, checkpoint: str, probe: str = "linear", kind: str = "mean-pooled patch tokens"):
    """The record of a checkpoint's last layer for one probe and kind, or None."""
    rs = [r for r in recs if r["checkpoint"] == checkpoint and r["probe"] == probe and r["kind"] == kind]
    return max(rs, key=lambda r: r["layer"]) if rs else None


def compare(recs: list, a: str, b: str, probe: str = "linear", kind: str = "mean-pooled patch tokens"):
    """(b - a in points, the larger of the two fold spreads, whether the change exceeds that spread) at the last
    layer, or None when either is missing."""
    ra, rb = last_layer(recs, a, probe, kind), last_layer(recs, b, probe, kind)
    if ra is None or rb is None:
        return None
    delta = rb["top1"] - ra["top1"]
    spread = max(ra["std"], rb["std"])
    return delta, spread, abs(delta) > spread


def change_sentence(recs: list, a: str, b: str, what: str, probe: str = "linear",
                    kind: str = "mean-pooled patch tokens") -> str:
    """'p16-m1 -> p8-m1 (L 64 -> 256): 56.4 -> 67.9 %, +11.5 points, more than the spread over folds (5.7)'."""
    c = compare(recs, a, b, probe, kind)
    if c is None:
        return ""
    delta, spread, beyond = c
    ra, rb = last_layer(recs, a, probe, kind), last_layer(recs, b, probe, kind)
    size = "more than" if beyond else "within"
    return (f"{a} → {b} ({what}): {ra['top1']:.1f} → {rb['top1']:.1f} %, {delta:+.1f} points, {size} the spread "
            f"over folds (±{spread:.1f})")


def last_layer_table(recs: list) -> list[dict]:
    """One row per checkpoint: its L and m and each probe's last-layer score on mean-pooled features (the attentive
    probe on the patch tokens), as "mean ± std" text; probes with no stored score are left out of a row."""
    cols = (("k-NN", KIND_NAMES["mean"]), ("linear", KIND_NAMES["mean"]), ("attentive", TOKENS))
    out = []
    for name in dict.fromkeys(r["checkpoint"] for r in recs):
        row = {}
        for probe, kind in cols:
            r = last_layer(recs, name, probe, kind)
            if r is not None:
                row.setdefault("checkpoint", name)
                row.setdefault("L", r.get("L"))
                row.setdefault("m", r.get("mask_unit"))
                row[f"{probe} %"] = f"{r['top1']:.1f} ± {r['std']:.1f}"
        if row:
            out.append(row)
    return out
