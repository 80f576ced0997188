"""What the Lesson page draws: the precomputed data (scripts/lesson_data.py -> assets/lesson/lesson_data.npz),
read without torch so the first paint is instant, and the step figures (patch grids, cost bars, the masking
steps, masked images). Live recomputation (another seed or image) goes through ui.resources, imported lazily.
"""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import streamlit as st
from PIL import Image

from mae_core import assets, colours
from mae_core.digest import sha256_file
from ui import warmup

from . import render
from .lesson_data import COMMAND, DATA, data  # noqa: F401  (the page reads them from here)

MASK_GREY = np.array([0.485, 0.456, 0.406], dtype=np.float32)  # removed patches, as mae_core.reconstruct draws them
KEEP_COLOUR, DROP_COLOUR = colours.KEPT, colours.DROPPED


@st.cache_data(max_entries=16, show_spinner=False)
def _sha256(path: str, mtime_ns: int, size: int) -> str:
    return sha256_file(path)


@st.cache_data(max_entries=16, show_spinner=False)
def _header(path: str, mtime_ns: int) -> dict:
    from safetensors import safe_open

    with safe_open(path, framework="numpy") as f:
        md = f.metadata() or {}
    return {"config": json.loads(md.get("config", "{}")), "training": json.loads(md.get("training", "{}"))}


def native(name: str, d: dict | None = None) -> dict:
    """{'I', 'p', 'depth', 'grid'} of an embedded checkpoint from its header (our format; no torch), else from the
    lesson data, else the shipped family's nominal values."""
    p = assets.family().get(name)
    if p is not None:
        try:
            c = _header(str(p), p.stat().st_mtime_ns)["config"]
            I, ps = int(c["img_size"][0]), int(c["patch_size"])
            return {"I": I, "p": ps, "depth": int(c["depth"]), "grid": I // ps}
        except (OSError, KeyError, ValueError, TypeError):
            pass
    rec = ((d or {}).get("meta") or {}).get("checkpoints", {}).get(name)
    if rec:
        return {"I": rec["image_size"], "p": rec["patch_size"], "depth": rec["depth"],
                "grid": rec["image_size"] // rec["patch_size"]}
    ps = int(name.split("-")[0][1:])
    return {"I": 128, "p": ps, "depth": 6, "grid": 128 // ps}


def stale(d: dict, family: dict) -> list[str]:
    """Checkpoints of the loaded family whose content differs from what the data was computed from."""
    out = []
    for name, rec in d["meta"]["checkpoints"].items():
        p = family.get(name)
        if p is None:
            out.append(name)
            continue
        st_ = Path(p).stat()
        if _sha256(str(p), st_.st_mtime_ns, st_.st_size) != rec["sha256"]:
            out.append(name)
    return out


# ------------------------------------------------------------------ drawing
def demo_array(name: str, size: int = 128) -> np.ndarray:
    """A demo image as (size, size, 3) floats in [0, 1], resized as mae_core.images does (bicubic), no torch."""
    im = Image.open(assets.DEMO_IMAGES[name]).convert("RGB").resize((size, size), Image.BICUBIC)
    return np.asarray(im, dtype=np.float32) / 255.0


def patch_grid(arr01: np.ndarray, p: int, target: int = 384) -> Image.Image:
    """The image with its p x p patch grid drawn (every line), upscaled."""
    return render.grid_overlay(arr01, p, 1, target=target)


def masked(arr01: np.ndarray, mask_grid: np.ndarray, p: int, m: int, target: int = 256) -> Image.Image:
    """Removed patches in MAE's mean grey (as mae_core.reconstruct draws them), with the mask-unit grid."""
    pix = np.kron(np.asarray(mask_grid, dtype=np.float32), np.ones((p, p), np.float32))[..., None]
    out = arr01 * (1 - pix) + MASK_GREY * pix
    return render.grid_overlay(out, p, m, target=target)


def cost_figure(rows: list[dict], title: str, height: int = 380):
    """Grouped bars: L, Le and Ld per model (tokens, log axis) and encoder / decoder GFLOPs."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=("tokens (log scale)", "forward GFLOPs, one image"),
                        horizontal_spacing=0.12)
    names = [r["name"] for r in rows]
    for key, colour, label in (("L", colours.TOTAL, "L = (I/p)²"), ("Le", colours.ENCODER, "Le: encoder"),
                               ("Ld", colours.DECODER, "Ld: decoder")):
        fig.add_trace(go.Bar(x=names, y=[r[key] for r in rows], name=label, marker_color=colour,
                             text=[f"{r[key]:,}" for r in rows], textposition="outside", cliponaxis=False),
                      row=1, col=1)
    for key, colour, label in (("enc", colours.ENCODER, "encoder GFLOPs"), ("dec", colours.DECODER, "decoder GFLOPs")):
        fig.add_trace(go.Bar(x=names, y=[r[key] for r in rows], name=label, marker_color=colour, opacity=0.7,
                             text=[f"{r[key]:.2f}" for r in rows], textposition="outside", cliponaxis=False),
                      row=1, col=2)
    fig.update_yaxes(type="log", row=1, col=1)
    fig.update_yaxes(rangemode="tozero", row=1, col=2)
    fig.update_layout(barmode="group", height=height, title=title, margin=dict(t=70, l=10, r=10, b=10),
                      legend=dict(orientation="h", y=-0.15))
    return fig


def noise_figure(steps: dict, grid: tuple, title: str, height: int = 380):
    """The noise of every patch (one number per patch), kept patches outlined: what argsort sorts."""
    import plotly.graph_objects as go

    gh, gw = grid
    noise = steps["noise_cells"][steps["cell"]].reshape(gh, gw)
    kept = (steps["mask"] == 0)
    text = [[f"{noise[i, j]:.2f}" for j in range(gw)] for i in range(gh)]
    fig = go.Figure(go.Heatmap(z=noise, text=text, texttemplate="%{text}",
                               colorscale=colours.colorscale(colours.MASK_NOISE),
                               zmin=0, zmax=1, showscale=False,
                               hovertemplate="patch (%{y}, %{x})<br>noise %{z:.3f}<extra></extra>"))
    for y, x in zip(*np.nonzero(kept)):  # outlines in data coordinates: they stay on their cells at any size
        fig.add_shape(type="rect", x0=x - 0.45, x1=x + 0.45, y0=y - 0.45, y1=y + 0.45,
                      line=dict(color=colours.OUTLINE, width=2))
    _grid_axes(fig, grid)
    fig.update_layout(height=height, title=_title(title), margin=dict(t=80, l=10, r=10, b=10))
    return fig


def _title(text: str, width: int = 52) -> str:

    return "<br>".join(textwrap.wrap(text, width))


def _grid_axes(fig, grid) -> None:
    gh, gw = grid
    fig.update_yaxes(range=[gh - 0.5, -0.5], scaleanchor="x", constrain="domain", showgrid=False, zeroline=False,
                     title="row", dtick=1)
    fig.update_xaxes(range=[-0.5, gw - 0.5], constrain="domain", showgrid=False, zeroline=False, side="bottom",
                     title="column", dtick=1)


def shuffle_figure(steps: dict, title: str, per_row: int = 32, height: int | None = None):
    """ids_shuffle as a strip: position in the sorted sequence -> patch id, the first len_keep kept (rows of
    per_row positions: 32 stay readable across a page, 16 in a half)."""
    import plotly.graph_objects as go

    ids = steps["ids_shuffle"]
    k = int(steps["len_keep"])
    n = len(ids)
    per_row = min(per_row, n)
    rows = -(-n // per_row)
    z = np.full((rows, per_row), np.nan)
    text = [[""] * per_row for _ in range(rows)]
    for i, v in enumerate(ids):
        z[i // per_row, i % per_row] = 1.0 if i < k else 0.0
        text[i // per_row][i % per_row] = str(int(v))
    fig = go.Figure(go.Heatmap(z=z, text=text, texttemplate="%{text}", textfont=dict(size=11),
                               colorscale=[[0, DROP_COLOUR], [1, KEEP_COLOUR]], zmin=0, zmax=1, showscale=False,
                               xgap=2, ygap=6, customdata=np.arange(rows * per_row).reshape(rows, per_row),
                               hovertemplate="position %{customdata}: patch %{text}<extra></extra>"))
    fig.update_yaxes(range=[rows - 0.5, -0.5], tickvals=list(range(rows)),
                     ticktext=[f"positions {r * per_row}-{min(n, (r + 1) * per_row) - 1}" for r in range(rows)],
                     showgrid=False, zeroline=False)
    fig.update_xaxes(visible=False, range=[-0.5, per_row - 0.5])
    fig.update_layout(height=height or 90 + 45 * rows,
                      title=_title(title + f" (blue: the first len_keep = {k}, kept; grey: dropped)",
                                   140 if per_row > 16 else 52),
                      margin=dict(t=95 if per_row <= 16 else 60, l=10, r=10, b=10))
    return fig


def restore_figure(steps: dict, grid: tuple, title: str, height: int = 380):
    """ids_restore on the grid: where each patch sits in the shuffled sequence (kept: < len_keep)."""
    import plotly.graph_objects as go

    gh, gw = grid
    r = steps["ids_restore"].reshape(gh, gw)
    k = int(steps["len_keep"])
    kept = (r < k).astype(float)
    fig = go.Figure(go.Heatmap(z=kept, text=[[str(int(v)) for v in row] for row in r], texttemplate="%{text}",
                               colorscale=[[0, DROP_COLOUR], [1, KEEP_COLOUR]], zmin=0, zmax=1, showscale=False,
                               hovertemplate="patch (%{y}, %{x}) is token %{text} of [kept, mask tokens]"
                                             "<extra></extra>"))
    _grid_axes(fig, grid)
    fig.update_layout(height=height, title=_title(title), margin=dict(t=80, l=10, r=10, b=10))
    return fig


def live_steps(grid, m: int, r: float, seed: int) -> dict:
    """The masking steps for settings the data does not hold (imports torch via mae_core.masking)."""

    warmup.ensure()  # torch and the model code, once per process, before the first import from a session
    from mae_core.masking import shuffle_steps

    s = shuffle_steps(grid, m, r, seed)
    return {k: getattr(s, k) for k in ("noise_cells", "cell", "ids_shuffle", "ids_restore", "mask")} | \
        {"len_keep": np.int64(s.len_keep)}


def steps_from(d: dict | None, name: str, m: int) -> dict | None:
    if d is None or f"steps/{name}/m{m}/mask" not in d:
        return None
    return {k: d[f"steps/{name}/m{m}/{k}"] for k in ("noise_cells", "cell", "ids_shuffle", "ids_restore", "mask",
                                                      "len_keep")}


def image_of(arr_u8: np.ndarray, target: int = 256) -> Image.Image:
    return render.upscale(arr_u8.astype(np.float32) / 255.0, target)

