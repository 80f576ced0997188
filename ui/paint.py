"""Paint your own mask: a click toggles one mask unit, a box or lasso drag sets every unit it covers (removed or
visible); the mask round-trips through the URL.

URL form: cmask=<gh>x<gw>:<hex of the row-major 0/1 bits, 1 = removed>.
"""
from __future__ import annotations

import numpy as np
import streamlit as st

from . import state
from .render import to_uint8

KEY = "custom_mask"
_EDITS = "_paint_edits"  # counts the edits: the canvas is redrawn under a new key, so every click starts afresh


def encode(mask: np.ndarray) -> str:
    gh, gw = mask.shape
    bits = np.packbits(mask.reshape(-1).astype(np.uint8))
    return f"{gh}x{gw}:{bits.tobytes().hex()}"


def decode(text: str, grid) -> np.ndarray:
    """cmask text -> (gh, gw) float32 0/1; ValueError when it does not describe a mask for `grid`."""
    try:
        shape, hexbits = str(text).split(":", 1)
        gh, gw = (int(v) for v in shape.lower().split("x"))
        raw = np.frombuffer(bytes.fromhex(hexbits), dtype=np.uint8)
    except ValueError:
        raise ValueError("not of the form <rows>x<cols>:<hex>") from None
    if (gh, gw) != tuple(grid):
        raise ValueError(f"it is for a {gh}x{gw} grid, the current grid is {grid[0]}x{grid[1]}")
    bits = np.unpackbits(raw)[: gh * gw]
    if bits.size != gh * gw:
        raise ValueError("too few bits for its grid")
    return bits.reshape(gh, gw).astype(np.float32)


def current(grid, fallback: np.ndarray) -> np.ndarray:
    """The custom mask for this grid: from the session, else the URL, else a copy of `fallback`."""
    m = st.session_state.get(KEY)
    if isinstance(m, np.ndarray) and m.shape == tuple(grid):
        return m
    raw = st.query_params.get("cmask")
    if raw:
        try:
            m = decode(raw, grid)
        except ValueError as e:
            state.add_notice(f"URL parameter `cmask` ignored ({e}); starting from the random mask.")
            m = None
    if m is None:
        m = np.asarray(fallback, dtype=np.float32).copy()
    st.session_state[KEY] = m
    return m


def set_mask(m: np.ndarray):
    st.session_state[KEY] = np.asarray(m, dtype=np.float32)


def _unit_slices(r: int, c: int, m: int, grid):
    r0, c0 = (r // m) * m, (c // m) * m
    return slice(r0, min(r0 + m, grid[0])), slice(c0, min(c0 + m, grid[1]))


def apply_selection(mask: np.ndarray, points, mask_unit: int, toggle: bool, mode: str = "removed") -> np.ndarray:
    """The mask after a selection of (row, col) patches: toggle (a single click) flips the unit clicked, otherwise
    (a box or lasso) every unit touched becomes `mode` ('removed' or 'visible')."""
    gh, gw = mask.shape
    new = mask.copy()
    for r, c in points:
        if 0 <= r < gh and 0 <= c < gw:
            sl = _unit_slices(r, c, mask_unit, (gh, gw))
            if toggle:
                new[sl] = 0.0 if mask[r, c] > 0 else 1.0
            else:
                new[sl] = 1.0 if mode == "removed" else 0.0
    return new


TOOLS = {"click": "click a patch", "box": "box", "lasso": "lasso"}
# Streamlit's chart selects a clicked point only outside plotly's select/lasso drag modes (there it sets clickmode
# to "event"), so clicking and dragging are two tools; the axes are fixed, so the click tool's drag moves nothing.
_DRAGMODE = {"click": False, "box": "select", "lasso": "lasso"}


def _figure(image01: np.ndarray, mask: np.ndarray, patch_size: int, height: int, tool: str = "click"):
    import plotly.graph_objects as go

    gh, gw = mask.shape
    H, W = image01.shape[:2]
    pm = np.kron(mask, np.ones((patch_size, patch_size), dtype=np.float32))[:H, :W]
    shown = image01 * (1 - 0.75 * pm[..., None]) + 0.5 * 0.75 * pm[..., None]
    ys, xs = np.mgrid[0:gh, 0:gw]
    fig = go.Figure()
    fig.add_trace(go.Image(z=to_uint8(shown), dx=1 / patch_size, dy=1 / patch_size, x0=-0.5 + 0.5 / patch_size,
                           y0=-0.5 + 0.5 / patch_size, hoverinfo="skip"))
    # one square marker per patch, as large as its cell, so a click anywhere on a patch lands on it
    fig.add_trace(go.Scatter(x=xs.reshape(-1), y=ys.reshape(-1), mode="markers",
                             marker=dict(symbol="square", size=max(4, int(height / max(gh, gw) * 0.9)),
                                         color=np.where(mask.reshape(-1) > 0, "rgba(255,80,80,0.35)",
                                                        "rgba(80,160,255,0.12)")),
                             hovertemplate="row %{y}, col %{x}: click to toggle<extra></extra>"))
    fig.update_yaxes(autorange="reversed", scaleanchor="x", showgrid=False, visible=False, fixedrange=True)
    fig.update_xaxes(showgrid=False, visible=False, fixedrange=True)
    fig.update_layout(height=height, margin=dict(l=0, r=0, t=0, b=0), dragmode=_DRAGMODE[tool], showlegend=False)
    return fig


def editor(image01: np.ndarray, mask: np.ndarray, patch_size: int, mask_unit: int, mode: str = "removed",
           tool: str = "click", key: str = "paint", height: int = 380):
    """Draw the paint canvas and apply a new selection to whole mask units: with the click tool a click toggles
    one; with the box or lasso tool every unit a drag touches becomes `mode`. Returns the mask."""
    n = int(st.session_state.get(_EDITS, 0))
    event = st.plotly_chart(_figure(image01, mask, patch_size, height, tool), key=f"{key}_{n}", on_select="rerun",
                            selection_mode=("points", "box", "lasso"), config={"displaylogo": False})
    try:
        sel = event.selection
        pts = [(int(round(p["y"])), int(round(p["x"]))) for p in sel.points if p.get("curve_number", 1) == 1]
        dragged = bool(sel.get("box") or sel.get("lasso"))
    except (AttributeError, KeyError, TypeError):
        pts, dragged = [], False
    if pts:
        st.session_state[_EDITS] = n + 1  # a fresh canvas: the same patch can be clicked again
        set_mask(apply_selection(mask, pts, mask_unit, toggle=not dragged and len(pts) == 1, mode=mode))
        st.rerun()
    return mask
