"""The app's colour meanings, in one place: one colour scale per quantity and one colour per checkpoint, used by
every chart (plotly) and every PNG (PIL) the app draws, so a colour means the same thing on every page and slide.

Every colour here is written as an ``rgb(r, g, b)`` string. Streamlit's plotly frontend rewrites the hex strings
#000001 ... #000040 anywhere in a figure's JSON (they are its theme's placeholders), whatever ``theme`` the chart
is drawn with; plotly's own Inferno starts at #000004, which Streamlit turns into lavender, so the lowest error
would look like one of the highest. An rgb() string is never rewritten. This module imports neither plotly nor
torch.
"""
from __future__ import annotations

import json
import re
import zlib

import numpy as np

Stop = tuple[float, tuple[int, int, int]]


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    h = hex_colour.lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


def _even(hexes: str) -> tuple[Stop, ...]:
    cs = hexes.split()
    return tuple((i / (len(cs) - 1), _rgb(c)) for i, c in enumerate(cs))


# ------------------------------------------------------------------ quantities -> colour scales
# matplotlib's Inferno (as plotly.colors.sequential.Inferno): dark = low, bright = high, and its lightness rises
# monotonically, so it reads the same in grey print.
INFERNO = _even("#000004 #1b0c41 #4a0c6b #781c6d #a52c60 #cf4446 #ed6925 #fb9b06 #f7d13d #fcffa4")
# white -> mid blue: the lesson's masking noise (a number per patch, no "good" or "bad" end)
NOISE = ((0.0, (255, 255, 255)), (1.0, (107, 174, 214)))

ERROR = "error"  # squared error of a reconstruction (per patch, masked MSE): dark = low error, bright = high
ATTENTION = "attention"  # attention weights: dark = little attention, bright = most
GRADIENT = "gradient"  # gradient mass of the effective receptive field (log): dark = none, bright = most
MASK_NOISE = "noise"  # MAE's masking noise
SCALES: dict[str, tuple[Stop, ...]] = {ERROR: INFERNO, ATTENTION: INFERNO, GRADIENT: INFERNO, MASK_NOISE: NOISE}

NOT_SCORED_RGB = (225, 225, 225)  # patches an error map does not score (the visible ones), on every page


def css(rgb) -> str:
    """'rgb(r,g,b)' (never one of Streamlit's hex placeholders)."""
    r, g, b = (int(round(x)) for x in rgb)
    return f"rgb({r},{g},{b})"


def colorscale(quantity: str) -> list[list]:
    """The plotly colorscale of a quantity, as [[position, 'rgb(...)'], ...]."""
    return [[t, css(c)] for t, c in SCALES[quantity]]


def lut(quantity: str, n: int = 256) -> np.ndarray:
    """(n, 3) uint8 colours of a quantity's scale, low to high (linear interpolation between the stops, as plotly
    draws it): what the PNG renderers colour a value with."""
    stops = SCALES[quantity]
    pos = np.array([t for t, _ in stops])
    rgb = np.array([c for _, c in stops], dtype=np.float64)
    x = np.linspace(0.0, 1.0, n)
    return np.stack([np.interp(x, pos, rgb[:, k]) for k in range(3)], axis=1).round().astype(np.uint8)


# ------------------------------------------------------------------ checkpoints -> colours
# The embedded family keeps these colours in every chart (Lesson, Attention, Ablations, grid); other checkpoints get
# a colour from EXTRA chosen by their name, so a name always has the same colour, whatever else is drawn beside it.
FAMILY = {"p16-m1": "rgb(31,119,180)", "p8-m2": "rgb(214,39,40)", "p4-m4": "rgb(44,160,44)",
          "p8-m1": "rgb(148,103,189)"}
EXTRA = ("rgb(255,127,14)", "rgb(140,86,75)", "rgb(227,119,194)", "rgb(23,190,207)", "rgb(188,189,34)",
         "rgb(31,60,120)")
BASELINE_GREYS = ("rgb(115,115,115)", "rgb(168,168,168)", "rgb(140,140,140)", "rgb(192,192,192)")
MIXED_LINE = "rgb(34,34,34)"  # a line joining points of different checkpoints (e.g. the same 16-px mask cell)
RELEASED = "rgb(178,34,34)"  # a released configuration of a paper (vertical dotted line)
REFERENCE = "rgb(127,127,127)"  # a reference level drawn for comparison (uniform attention, the whole image)


def checkpoint(name: str) -> str:
    """The colour of a checkpoint, by its name (an embedded family member, or a file stem / published id)."""
    key = str(name).split(" (")[0].strip()
    if key in FAMILY:
        return FAMILY[key]
    return EXTRA[zlib.crc32(key.encode()) % len(EXTRA)]


def checkpoints(names) -> list[str]:
    """Colours of several checkpoints drawn together: each its own (checkpoint()), except that a name seen twice or
    two names whose colours clash get the next free colour, so the series stay apart."""
    used, out = set(), []
    pool = list(FAMILY.values()) + list(EXTRA)
    for n in names:
        c = checkpoint(n)
        if c in used:
            c = next((x for x in pool if x not in used), c)
        used.add(c)
        out.append(c)
    return out


def baseline(index: int) -> str:
    return BASELINE_GREYS[index % len(BASELINE_GREYS)]


# ------------------------------------------------------------------ roles inside one chart
KEPT = "rgb(31,119,180)"  # a kept (visible) patch / token
DROPPED = "rgb(189,189,189)"  # a dropped (masked) patch / token
OUTLINE = "rgb(214,39,40)"  # an outline that marks the kept patches on the noise grid
ENCODER = "rgb(31,119,180)"
DECODER = "rgb(255,127,14)"
TOTAL = "rgb(127,127,127)"
SERIES = ("rgb(31,119,180)", "rgb(214,39,40)", "rgb(44,160,44)", "rgb(148,103,189)", "rgb(255,127,14)",
          "rgb(140,86,75)", "rgb(227,119,194)", "rgb(23,190,207)")  # metrics of one published table


def series(index: int) -> str:
    return SERIES[index % len(SERIES)]


_PLACEHOLDER = re.compile(r"#0000(?:[0-3][0-9]|40)\b", re.I)


def placeholders(spec: str) -> list[str]:
    """Streamlit's theme placeholders (#000001 ... #000040) among the colours a figure's JSON sets itself (its
    layout.template, Streamlit's own, is left out: it is there to be replaced): each would be drawn in another
    colour in the browser."""

    try:
        fig = json.loads(spec)
    except ValueError:
        fig = None
    if isinstance(fig, dict):
        fig.get("layout", {}).pop("template", None)
        spec = json.dumps(fig)
    return [m for m in _PLACEHOLDER.findall(spec) if m.lower() != "#000000"]
