"""Paint your own mask: click / box / lasso mask units on the image; the mask round-trips through the URL.

URL form: cmask=<gh>x<gw>:<hex of the row-major 0/1 bits, 1 = removed>.
"""
from __future__ import annotations

import numpy as np
import streamlit as st

from . import state
from .render import to_uint8

KEY = "custom_mask"
_SEEN = "_paint_seen"


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


def editor(image01: np.ndarray, mask: np.ndarray, patch_size: int, mask_unit: int, key: str = "paint"):
    """Draw the paint canvas; apply a new selection (set removed / visible per whole mask unit). Returns the mask."""
    import plotly.graph_objects as go

    gh, gw = mask.shape
    mode = st.radio("Selected mask units become", ("removed", "visible"), horizontal=True, key="paint_mode")
    H, W = image01.shape[:2]
    shown = image01.copy()
    pm = np.kron(mask, np.ones((patch_size, patch_size), dtype=np.float32))[:H, :W]
    shown = shown * (1 - 0.75 * pm[..., None]) + 0.5 * 0.75 * pm[..., None]
    ys, xs = np.mgrid[0:gh, 0:gw]
    fig = go.Figure()
    fig.add_trace(go.Image(z=to_uint8(shown), dx=1 / patch_size, dy=1 / patch_size, x0=-0.5 + 0.5 / patch_size,
                           y0=-0.5 + 0.5 / patch_size, hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=xs.reshape(-1), y=ys.reshape(-1), mode="markers",
                             marker=dict(symbol="square", size=max(4, int(360 / max(gh, gw) * 0.55)),
                                         color=np.where(mask.reshape(-1) > 0, "rgba(255,80,80,0.35)",
                                                        "rgba(80,160,255,0.15)")),
                             hovertemplate="row %{y}, col %{x}<extra></extra>"))
    fig.update_yaxes(autorange="reversed", scaleanchor="x", showgrid=False, visible=False)
    fig.update_xaxes(showgrid=False, visible=False)
    fig.update_layout(height=380, margin=dict(l=0, r=0, t=0, b=0), dragmode="select", showlegend=False)
    event = st.plotly_chart(fig, key=key, on_select="rerun", selection_mode=("points", "box", "lasso"),
                            config={"displaylogo": False})
    pts = []
    try:
        pts = [(int(round(p["y"])), int(round(p["x"]))) for p in event.selection.points if p.get("curve_number", 1) == 1]
    except (AttributeError, KeyError, TypeError):
        pts = []
    sig = (tuple(sorted(pts)), mode, mask.shape)
    if pts and st.session_state.get(_SEEN) != sig:
        st.session_state[_SEEN] = sig
        new = mask.copy()
        for r, c in pts:
            if 0 <= r < gh and 0 <= c < gw:
                new[_unit_slices(r, c, mask_unit, (gh, gw))] = 1.0 if mode == "removed" else 0.0
        set_mask(new)
        st.rerun()
    return mask
