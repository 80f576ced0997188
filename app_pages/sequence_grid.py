"""Sequence length x mask unit: the paper's question on one image, as a grid of reconstructions.

The page is a list of draw_* functions called in screen order by main() at the bottom: the sidebar decides a Grid
(rows, columns and the mask every cell shares), compute() fills it, and the cells, the MSE heatmap and the downloads
are drawn from its results.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from mae_core import assets
from mae_core.errors import ConfigError, MAEError
from mae_core.images import image_notes
from ui import limits, pickers, progress, render, resources, state
from ui.state import Param


@dataclass(frozen=True)
class Grid:
    """What the sidebar decided: the rows (models or patch sizes), the columns (mask sizes) and the mask that every
    cell shares."""
    mode: str  # "family": rows are trained models; "resampled": one checkpoint at each p
    fam: dict  # the embedded family, name -> path
    ck: pickers.Checkpoint | None  # the resampled checkpoint
    rows: list
    col_mode: str  # "px": columns are mask sizes in pixels; "m": mask units
    cols: list
    r: float
    seed: int
    keep: str
    show: str  # what the cells show
    fit: str

    def col_label(self, v) -> str:
        return f"{v}-px mask" if self.col_mode == "px" else f"m = {v}"


# ------------------------------------------------------------------ the sidebar
def draw_mode(fam: dict) -> str:
    """Rows are trained models (when there is a family) or one checkpoint resampled to each p."""
    sb = st.sidebar
    modes = (("family",) if fam else ()) + ("resampled",)
    mode_p = Param("gmode", str, modes[0], choices=modes)
    state.init([mode_p])
    sb.subheader("Compare")
    mode = sb.radio("Rows are", modes, key="gmode",
                    format_func={"family": "trained models (embedded family)",
                                 "resampled": "one checkpoint, resampled to each p"}.get)
    state.publish([mode_p])
    return mode


def draw_grid_controls(mode: str, fam: dict, ck) -> dict:
    """Rows, columns, mask ratio, seed, keep and what the cells show -> the Grid fields they decide."""
    sb = st.sidebar
    sb.subheader("Grid")
    row_params = []
    if mode == "family":
        names = tuple(fam)
        rows_p = Param("grows", list, [n for n in ("p16-m1", "p8-m2", "p4-m4") if n in fam] or list(names)[:1],
                       choices=names, item=str)
        row_params.append(rows_p)
    else:
        rows_p = Param("gps", list, [16, 8, 4], choices=pickers.PATCH_CHOICES, item=int)
        row_params.append(rows_p)
    col_mode_p = Param("gcols", str, "px", choices=("px", "m"))
    px_p = Param("gpx", list, [8, 16, 32], choices=(4, 8, 16, 32, 64), item=int)
    m_p = Param("gm", list, [1, 2, 4], choices=pickers.MASK_UNITS, item=int)
    geo = [p for p in pickers.geometry_params(ck) if p.name in ("I", "r", "seed", "keep")]
    params = row_params + [col_mode_p, px_p, m_p] + geo
    state.init(params, defaults={"I": ck.native_size if ck else 128})
    if mode == "family":
        rows = sb.multiselect("Models (rows)", names, key="grows",
                              help="\n".join(f"- **{n}**: {assets.FAMILY.get(n, '')}" for n in names))
    else:
        rows = sb.multiselect("Patch sizes p (rows)", pickers.PATCH_CHOICES, key="gps")
        sb.number_input("Image size I", pickers.IMAGE_MIN, pickers.IMAGE_MAX, step=8, key="I")
    col_mode = sb.radio("Columns are", ("px", "m"), key="gcols", horizontal=True,
                        format_func={"px": "mask size m·p (pixels)", "m": "mask unit m"}.get)
    if col_mode == "px":
        cols_v = sb.multiselect("Mask sizes (pixels)", px_p.choices, key="gpx")
    else:
        cols_v = sb.multiselect("Mask units m", pickers.MASK_UNITS, key="gm")
    r = sb.slider("Mask ratio r", 0.05, 0.95, step=0.05, key="r")
    c1, c2 = sb.columns([3, 2], vertical_alignment="bottom")
    seed = c1.number_input("Seed", 0, pickers.SEED_MAX, step=1, key="seed")
    c2.button("New mask", on_click=pickers._new_seed, key="new_mask", width="stretch")
    keep = sb.selectbox("Keep", ("blocks", "exact"), key="keep")
    show_p = Param("gshow", str, "pasted", choices=("pasted", "reconstruction", "masked", "error"))
    state.init([show_p])
    show = sb.radio("Cells show", show_p.choices, key="gshow", horizontal=True,
                    format_func={"pasted": "recon + visible", "reconstruction": "reconstruction", "masked": "masked",
                                 "error": "error map"}.get)
    state.publish(params + [show_p])
    return dict(rows=rows, col_mode=col_mode, cols=cols_v, r=r, seed=seed, keep=keep, show=show)


def draw_intro(intro, col_mode: str):
    intro.caption("Same image, same seed. " + (
        "Each column removes squares of the same size in pixels, so the masks are identical down a column and only "
        "the sequence length L = (I/p)² changes between rows." if col_mode == "px" else
        "Each column masks m×m patches together, so the removed squares are m·p pixels: smaller patches mean finer "
        "masks. Switch the columns to pixel sizes to compare equal masks."))


# ------------------------------------------------------------------ the cells
def cell_spec(grid: Grid, row, col):
    """(checkpoint path, label, I, p, m) of one cell, or a reason string when it is not possible."""
    if grid.mode == "family":
        path = grid.fam[row]
        model, info, sha = resources.load(path)
        I, p = int(model.cfg.img_size[0]), int(model.cfg.patch_size)
        label = row
    else:
        path, sha = grid.ck.path, grid.ck.sha
        I, p, label = int(st.session_state["I"]), int(row), f"p={row}"
    if grid.col_mode == "px":
        if col % p:
            return f"{col}-px squares are not a whole number of {p}-px patches"
        m = col // p
    else:
        m = int(col)
    return path, sha, label, I, p, m


def compute(grid: Grid, img, img_hash) -> tuple[dict, dict]:
    """Every cell's reconstruction -> ({(row, col): result}, {(row, col): why there is none}), with a progress
    bar."""
    rows, cols_v = grid.rows, grid.cols
    results = {}
    errors = {}
    bar = st.progress(0.0, text="Computing the grid...")
    n = len(rows) * len(cols_v)
    # while a cell waits for an inference slot, the queue notice shows under the bar
    with progress.computing("Computing the grid...", spinner=False):
        for i, row in enumerate(rows):
            for j, col in enumerate(cols_v):
                bar.progress((i * len(cols_v) + j) / n,
                             text=f"Row {i + 1}/{len(rows)}, column {j + 1}/{len(cols_v)}")
                try:
                    spec = cell_spec(grid, row, col)
                    if isinstance(spec, str):
                        errors[(row, col)] = spec
                        continue
                    path, sha, label, I, p, m = spec
                    model = resources.load(path)[0]
                    cfg = model.cfg.replace(img_size=(I, I), patch_size=p)
                    limits.check_inference(cfg, float(grid.r))
                    if not model.cfg.has_decoder:
                        raise ConfigError(f"{label} is encoder-only: it cannot reconstruct")
                    results[(row, col)] = resources.reconstruction(resources.ReconRequest(
                        str(path), sha, img_hash, I, p, m, float(grid.r), int(grid.seed), grid.keep, "visible",
                        target=grid.ck.target if grid.mode == "resampled" else "auto", fit=grid.fit), img)
                except MAEError as e:
                    errors[(row, col)] = str(e)
    bar.empty()
    return results, errors


def draw_notes(img, results: dict):
    """How the photo was decoded and fitted, then the cells that run a checkpoint outside its training."""
    notes = sorted({n for res in results.values() for n in res.notes if "approximation" in n or "not trained" in n})
    for n in image_notes(img) + sorted({n for res in results.values() for n in res.notes
                                       if n.startswith("non-square photo")}):
        st.caption("Note: " + n)  # how the photo was decoded and fitted (the same for every cell)
    if notes:
        st.warning("Some cells run a checkpoint at a patch or image size it was not trained at:\n\n"
                   + "\n".join(f"- {n}" for n in notes), icon=":material/warning:")


def error_range(grid: Grid, results: dict) -> tuple[float, float] | None:
    """One colour range for every error map (None unless the cells show errors)."""
    if grid.show != "error" or not results:
        return None
    vals = np.concatenate([r.error_map[r.mask > 0] for r in results.values()])
    vals = vals[np.isfinite(vals)]  # patches of padding only (fit: pad) have no error
    return (float(vals.min()), float(vals.max())) if vals.size else None


def cell_image(grid: Grid, res, err_range):
    """What one cell shows, as an image."""
    if grid.show == "error":
        shown = render.colorize(np.where(res.mask > 0, res.error_map, np.nan), res.original.shape[:2],
                                vmin=err_range[0] if err_range else None,
                                vmax=err_range[1] if err_range else None)
    elif grid.show == "masked":
        shown = render.grid_overlay(res.masked, res.patch_size, res.mask_unit, target=192)
    else:
        shown = getattr(res, grid.show)
    return shown if hasattr(shown, "size") and not isinstance(shown, np.ndarray) else render.upscale(shown, 192)


def first_result(grid: Grid, results: dict, row):
    """The row's first computed cell (its patch size and L label the row), or None."""
    return next((results[(row, v)] for v in grid.cols if (row, v) in results), None)


def draw_cells(grid: Grid, results: dict, errors: dict) -> list[list]:
    """The column headers, the shared error colour range and one line of cells per row -> the cells' images
    (None where a cell has no result)."""
    cols_v = grid.cols
    err_range = error_range(grid, results)
    header = st.columns([1] + [2] * len(cols_v))
    header[0].markdown("&nbsp;")
    for h, v in zip(header[1:], cols_v):
        h.markdown(f"**{grid.col_label(v)}**")
    if err_range:
        st.caption(f"Error maps share one colour range: {err_range[0]:.4f} (dark) to {err_range[1]:.4f} (bright) "
                   "MSE, the colours of the Reconstruction page's error map; light grey = visible patches, not "
                   "scored.")
    cells_png = []
    for row in grid.rows:
        line = st.columns([1] + [2] * len(cols_v), vertical_alignment="center")
        res0 = first_result(grid, results, row)
        if grid.mode == "family":
            line[0].markdown(f"**{row}**  \n" + (f"p={res0.patch_size}, L={res0.lengths.L}" if res0 else ""))
        else:
            line[0].markdown(f"**p = {row}**  \n" + (f"L={res0.lengths.L}" if res0 else ""))
        row_imgs = []
        for c, v in zip(line[1:], cols_v):
            res = results.get((row, v))
            if res is None:
                c.caption(f"n/a: {errors.get((row, v), '')}")
                row_imgs.append(None)
                continue
            im = cell_image(grid, res, err_range)
            c.image(im, width="stretch")
            c.caption(f"m={res.mask_unit} · Le={res.lengths.Le}/{res.lengths.L} · MSE **{res.masked_mse:.4f}**")
            row_imgs.append(im)
        cells_png.append(row_imgs)
    return cells_png


# ------------------------------------------------------------------ the summary
def grid_tag(grid: Grid, img_label: str) -> str:
    return render.safe_name("grid", img_label, f"seed{int(grid.seed)}", f"r{float(grid.r):.2f}",
                            *[str(x) for x in grid.rows])


def draw_mse_heatmap(grid: Grid, results: dict, img_label: str):
    st.subheader("Masked MSE")
    rows, cols_v, seed, r = grid.rows, grid.cols, grid.seed, grid.r
    z = np.array([[results[(rw, v)].masked_mse if (rw, v) in results else np.nan for v in cols_v] for rw in rows])
    text = [[f"{x:.4f}" if np.isfinite(x) else "n/a" for x in row] for row in z]
    ylabels = [str(rw) if grid.mode == "family" else f"p={rw}" for rw in rows]
    fig = go.Figure(go.Heatmap(z=z, x=[grid.col_label(v) for v in cols_v], y=ylabels, text=text,
                               texttemplate="%{text}", colorscale=render.ERROR_SCALE, colorbar=dict(title="MSE"),
                               hovertemplate="%{y} · %{x}<br>masked MSE %{z:.4f}<extra></extra>"))
    fig.update_yaxes(autorange="reversed", automargin=True)
    fig.update_xaxes(automargin=True)
    # room for the row names ("p16-m1") and column names: a 10-px margin cut them to "…"
    fig.update_layout(height=200 + 60 * len(rows), margin=dict(l=80, r=10, t=50, b=50),
                      title=f"Masked MSE (bright = higher error) · image {img_label} · seed {int(seed)} · "
                            f"r = {float(r):.2f}")
    st.plotly_chart(fig, key="grid_mse", config=render.plotly_config(f"mse_{grid_tag(grid, img_label)}"),
                    theme=None)  # true colours


def draw_csv(grid: Grid, results: dict, img_label: str):
    table = []
    for (rw, v), res in results.items():
        table.append({"row": rw, "column": grid.col_label(v), "image": img_label, **res.metrics()})
    if table:
        render.csv_download(table, f"grid_{img_label}_seed{int(grid.seed)}.csv", "dl_grid_csv",
                            "Grid metrics (CSV)")


def draw_png(grid: Grid, results: dict, cells_png: list[list], img_label: str):
    """The whole grid as one labelled PNG, drawn when the button is clicked."""
    if not any(i is not None for row in cells_png for i in row):
        return
    rows, cols_v, seed, r = grid.rows, grid.cols, grid.seed, grid.r
    row_text = []
    for rw in rows:
        res0 = first_result(grid, results, rw)
        name = str(rw) if grid.mode == "family" else f"p = {rw}"
        row_text.append(name + (f"\np={res0.patch_size}, L={res0.lengths.L:,}" if res0 else ""))
    cell_text = [[f"MSE {results[(rw, v)].masked_mse:.4f} · Le {results[(rw, v)].lengths.Le}" if (rw, v) in results
                  else "n/a" for v in cols_v] for rw in rows]
    grid_I = st.session_state.get("I")  # read now: the download is drawn later, outside this run
    shows = {"pasted": "reconstruction + visible", "reconstruction": "reconstruction", "masked": "masked input",
             "error": "per-patch error (bright = high)"}[grid.show]
    st.download_button("Grid (PNG)", render.Deferred(lambda: render.png_bytes(render.labelled_grid(  # on click
        cells_png, row_text, [grid.col_label(v) for v in cols_v], cell_text,
        title=f"Sequence length × mask unit: {shows}, masked MSE under each cell",
        subtitle=f"image {img_label} · seed {int(seed)} · r = {float(r):.2f} · keep {grid.keep} · rows: "
                 + ("trained models of the embedded family, each at its native I and p" if grid.mode == "family"
                    else f"{grid.ck.label} resampled to each p at I = {int(grid_I)}")))),
        file_name=f"{grid_tag(grid, img_label)}.png", mime="image/png", key="dl_grid_png",
        icon=":material/download:")


def main():
    st.title("Sequence length × mask unit")
    intro = st.empty()
    fam = assets.family()
    mode = draw_mode(fam)
    ck = None
    if mode == "resampled":
        ck = pickers.pick_checkpoint(reset_geometry=False)
    picked = pickers.pick_image()
    fit = pickers.image_fit()
    controls = draw_grid_controls(mode, fam, ck)
    state.show_notices()
    draw_intro(intro, controls["col_mode"])
    pickers.require(picked, ck if mode == "resampled" else True, hint="Choose an image, at least one row and one "
                    "column in the sidebar.")
    if not controls["rows"] or not controls["cols"]:
        st.info("Choose at least one row and one column in the sidebar.")
        st.stop()
    img, img_hash, img_label = picked
    grid = Grid(mode, fam, ck, **{**controls, "rows": list(controls["rows"]), "cols": sorted(controls["cols"])},
                fit=fit)
    results, errors = compute(grid, img, img_hash)
    draw_notes(img, results)
    cells_png = draw_cells(grid, results, errors)
    draw_mse_heatmap(grid, results, img_label)
    draw_csv(grid, results, img_label)
    draw_png(grid, results, cells_png, img_label)
    if mode == "family":
        st.caption("Every row is a separately trained model (same architecture and training budget; only p and the "
                   "training mask unit differ), each at its native I and p.")


main()
