"""Ablation curves as data: published numbers with provenance, and our own measured sweeps, in one schema.

- ``schema``: the row schema, loading and validation of CSV files (every bad row reported), CSV export,
  the quoted claims of ``annotations.csv``;
- ``figures``: plotly figures of published curves and of our measured sweep;
- ``evidence``: charts of other studies' measurements of a claim of the long-seq paper (the mask unit), each
  labelled "not from Hu et al." with its caveats on the chart.

Everything public is re-exported here, so ``from mae_core import ablations as ab; ab.load_all()`` works.
"""
from .evidence import (NOT_FROM_HU, EvidenceChart, evidence_figures, evidence_studies, from_hu_et_al, is_evidence,
                       study_label)
from .figures import (AXIS_TITLES, BASELINE_GREYS, CHECKPOINT_COLOURS, DEFAULT_BASELINES, LOG_SETTINGS, MIXED_LINE,
                      PART_INFO, PART_QUOTES, RESIZED_TAG, MeasuredChart, axis_ticks, colour_map, default_selection,
                      figure_for,
                      is_baseline, is_resized, measured_choices, measured_figures, select_measured, short_title,
                      sources, wrap_hover,
                      uniform_level)
from .schema import (ANNOTATION_SCHEMA, ANNOTATIONS_FILE, BASELINE, COLUMNS, HU_ET_AL_ARXIV, MAX_FILE_BYTES, MAX_ROWS,
                     MEASURED_STUDY, NOT_RECORDED, RELEASED_CONFIG, REQUIRED, SCHEMA, STATUSES, STRUCTURED,
                     AblationError, Column, captions_for, data_files, load_ablation_file, load_all, load_annotations,
                     split_measured, studies, tables, to_csv, to_display_frame, to_frame)

__all__ = [
    "NOT_FROM_HU", "EvidenceChart", "evidence_figures", "evidence_studies", "from_hu_et_al", "is_evidence",
    "study_label", "HU_ET_AL_ARXIV",
    "AXIS_TITLES", "BASELINE_GREYS", "CHECKPOINT_COLOURS", "DEFAULT_BASELINES", "LOG_SETTINGS", "MIXED_LINE",
    "PART_INFO", "PART_QUOTES", "RESIZED_TAG", "MeasuredChart", "axis_ticks", "colour_map", "default_selection",
    "figure_for",
    "is_baseline", "is_resized", "measured_choices", "measured_figures", "select_measured", "short_title",
    "sources", "wrap_hover",
    "uniform_level",
    "ANNOTATION_SCHEMA", "ANNOTATIONS_FILE", "BASELINE", "COLUMNS", "MAX_FILE_BYTES", "MAX_ROWS", "MEASURED_STUDY",
    "NOT_RECORDED", "RELEASED_CONFIG", "REQUIRED", "SCHEMA", "STATUSES", "STRUCTURED", "AblationError", "Column",
    "captions_for", "data_files", "load_ablation_file", "load_all", "load_annotations", "split_measured", "studies",
    "tables", "to_csv", "to_display_frame", "to_frame",
]
