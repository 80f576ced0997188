"""Checkpoints: what each checkpoint is, how it was trained, and what it can and cannot show."""
import json

import plotly.graph_objects as go
import streamlit as st

from mae_core import assets
from mae_core.geometry import sequence_class, sequence_words
from ui import pickers, render, resources, state

def summary_row(name, info):
    """One short row per checkpoint: every value readable in a narrow column (the architecture, device and hash,
    long and shared, are in the caption and on each checkpoint's own view)."""
    c, t = info.config, info.training or {}
    wall = t.get("wall_time_s")
    return {"checkpoint": name, "sequence": sequence_class(c.img_size, c.patch_size), "target": info.target or "none",
            "I": c.img_size[0], "p": c.patch_size, "L": c.num_patches, "trained m": info.mask_unit,
            "params (M)": round(info.n_params / 1e6, 2), "steps": t.get("steps"), "images seen": t.get("images_seen"),
            "final loss": round(t["final_loss"], 4) if isinstance(t.get("final_loss"), (int, float)) else None,
            "train (min)": round(wall / 60, 1) if isinstance(wall, (int, float)) else None}


FAMILY_COLUMNS = {
    "checkpoint": st.column_config.TextColumn("checkpoint", width="small"),
    "sequence": st.column_config.TextColumn("sequence", width="small", help="long: smaller patches than a standard "
                                            "ViT's 16 px at the same image size, so more tokens; the mask unit is "
                                            "the column m"),
    "I": st.column_config.NumberColumn("I", help="native image size (px)", width=40),
    "p": st.column_config.NumberColumn("p", help="patch size (px)", width=40),
    "L": st.column_config.NumberColumn("L", help="sequence length (I/p)²", width=50),
    "trained m": st.column_config.NumberColumn("m", help="training mask unit (patches)", width=40),
    "params (M)": st.column_config.NumberColumn("params (M)", format="%.2f", width=80),
    "images seen": st.column_config.NumberColumn("images seen", width=90),
    "train (min)": st.column_config.NumberColumn("train (min)", help="wall time of training", width=80),
}


def draw_family():
    """The embedded family in one narrow table; what every member shares goes to the caption."""
    fam = assets.family()
    st.subheader("Embedded family")
    if not fam:
        st.info(f"No embedded checkpoints in `{assets.family_dir()}` yet.")
        return
    rows, archs, n_data = [], set(), set()
    for name, path in fam.items():
        with render.guard():
            fam_info = resources.inspect(path)
            rows.append(summary_row(name, fam_info))
            archs.add(fam_info.arch_name.split("/")[0])
            n_data.add(len((fam_info.training or {}).get("training_data") or []))
    shared = {}
    if len(rows) > 1:  # a value every row shares goes to the caption, so the table stays narrow and readable
        for k in list(rows[0]):
            if k != "checkpoint" and all(r[k] == rows[0][k] for r in rows):
                shared[k] = rows[0][k]
        rows = [{k: v for k, v in r.items() if k not in shared} for r in rows]
    if rows:
        st.dataframe(rows, hide_index=True, width="stretch", column_config=FAMILY_COLUMNS)
    archs = sorted(archs)
    st.caption("Same architecture" + (f" ({archs[0]} encoder)" if len(archs) == 1 else "") + " and training "
               "budget; only the paper's variables (p and the training mask unit) differ"
               + ("" if not shared else " (all: " + ", ".join(
                   f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}" for k, v in shared.items()) + ")")
               + (f". Trained on the same {n_data.pop()} photographs (each checkpoint's metadata lists them)"
                  if len(n_data) == 1 and 0 not in n_data else "")
               + "; the demo images are held out. "
               f"Folder: `{assets.family_dir()}`.")


def draw_class(ck):
    """The class as three separate facts, each whole (a badge never truncates): how long its sequence is, how it
    was masked, what it predicts."""
    info, c = ck.info, ck.cfg
    seq = sequence_class(c.img_size, c.patch_size)
    st.markdown(f"**Sequence** :{'blue' if seq == 'long' else 'gray'}-badge["
                f"{sequence_words(c.img_size, c.patch_size)}]  "
                f"**mask unit** :{'blue' if info.mask_unit > 1 else 'gray'}-badge[{info.mask_unit}×{info.mask_unit}"
                + (" (long-seq MAE's)" if info.mask_unit > 1 else " (one patch)") + "]  "
                + (f"**target** :orange-badge[{info.target}] from the {info.target_source or 'file'}"
                   if info.target else "**target** none (encoder only)"))


def draw_probe(info):
    """The target probe's evidence beside its verdict."""
    if not info.probe:
        return
    ev = info.probe
    verdict = (f"the probe says **{ev['verdict']}**" if info.target_source == "probe" else
               f"the probe said **{ev['verdict']}**, overridden by your choice")
    st.markdown(f"**Target probe**: {verdict}, decided by the {ev['decided_by']}: rms(patch mean)/rms(output) = "
                f"**{ev['statistic']:.2f}** (norm-pix below {ev['norm_below']}, pixels above {ev['pixels_above']}); "
                f"MSE to pixels {ev['mse_pixels']:.3f}, MSE to normalised pixels {ev['mse_norm']:.3f}. Override it "
                "with **Target** in the sidebar.")


def draw_tiles(ck):
    """Short numbers in the tiles, detail in their help; the architecture, format and hash below."""
    info, c = ck.info, ck.cfg
    h, w = c.img_size
    with render.tiles(gap="large"):  # tiles sized to their values: they wrap, never truncate
        st.metric("Native I", f"{h}" if h == w else f"{h}×{w}", width="content",
                  help=f"image size the checkpoint was trained at: {h}×{w} px")
        st.metric("Patch p", f"{c.patch_size}", width="content", help=f"{c.grid[0]}×{c.grid[1]} patches of "
                  f"{c.patch_size} px")
        st.metric("L = (I/p)²", f"{c.num_patches:,}", width="content")
        st.metric("Trained m", f"{info.mask_unit}×{info.mask_unit}", width="content",
                  help="mask unit it was trained with (patches)")
        st.metric("Params", f"{info.n_params / 1e6:.1f} M", width="content", help=f"{info.n_params:,} parameters")
    st.markdown(f"**Architecture** {info.arch_name} · **format** {info.format} · **sha256** `{info.sha256[:16]}`")


def draw_abilities(ck):
    """What the checkpoint can show on the other pages, and its notes."""
    info, c = ck.info, ck.cfg
    can = [
        ("Reconstruction (the four panels, error map)", info.can_reconstruct,
         "needs the decoder" if not info.can_reconstruct else "native geometry is exact; other I / p are resampled "
         "(approximation, labelled)"),
        ("Norm-pix de-normalisation choice", c.norm_pix_loss,
         "the model predicts normalised patches: colours need per-patch statistics" if c.norm_pix_loss
         else "pixel target: predictions are colours already"),
        ("Attention maps, rollout, mean attention distance", True, "encoder only is enough"),
        ("Sequence-length grid", info.can_reconstruct, "uses reconstructions"),
    ]
    st.markdown("**What it can show**\n\n" + "\n".join(
        f"- {':green[:material/check_circle:]' if ok else ':gray[:material/block:]'} **{v}**: "
        f"{'yes' if ok else 'no'}, {why}" for v, ok, why in can))
    for n in info.notes:
        if info.probe and n.startswith("target (") and "probe" in n:
            continue  # the probe's evidence is shown in full beside its verdict above
        st.caption("Note: " + n)


def draw_loss_curve(ck):
    """The training loss per step (and its moving mean) from the CSV beside the checkpoint."""
    df = resources.loss_curve(ck.path, ck.info)
    if df is None:
        st.info("No training loss curve next to this checkpoint (ours are written as `<name>.loss.csv`).")
        return
    fig = go.Figure(go.Scatter(x=df["step"], y=df["loss"], mode="lines", name="loss per step",
                               line=dict(color="rgba(99,110,250,0.35)", width=1),
                               hovertemplate="step %{x}<br>loss %{y:.4f}<extra></extra>"))
    if len(df) > 50:
        fig.add_trace(go.Scatter(x=df["step"], y=df["loss"].rolling(50, min_periods=1).mean(), mode="lines",
                                 name="moving mean (50 steps)", line=dict(color="rgb(30,40,160)", width=2.5)))
    fig.update_layout(title="Training loss (masked-patch MSE)", height=360, xaxis_title="step",
                      yaxis_title="loss", yaxis_type="log", margin=dict(l=10, r=10, t=40, b=10),
                      legend=dict(orientation="h", y=-0.25))
    st.plotly_chart(fig, key="loss_curve", config={"displaylogo": False})
    render.csv_download(df, f"{ck.path.stem}.loss.csv", "dl_loss", "Loss curve (CSV)")


def draw_metadata(ck):
    info = ck.info
    st.markdown("**Training metadata**")
    if info.training:
        st.json(info.training, expanded=1)
    else:
        st.caption("None recorded in this checkpoint.")
    st.download_button("Checkpoint info (JSON)", json.dumps(info.to_dict(), indent=2, default=str).encode(),
                       file_name=f"{ck.path.stem}.info.json", mime="application/json", key="dl_info",
                       icon=":material/download:")


def main():
    st.title("Checkpoints")
    ck = pickers.pick_checkpoint(reset_geometry=False)  # first, so an input error is the first thing on the page
    state.show_notices()
    draw_family()
    pickers.require(ck, hint="Choose a checkpoint in the sidebar to see its details.")
    st.subheader(f"{ck.label}")
    draw_class(ck)
    draw_probe(ck.info)
    draw_tiles(ck)
    draw_abilities(ck)
    left, right = st.columns([3, 2], gap="large")
    with left:
        draw_loss_curve(ck)
    with right:
        draw_metadata(ck)


main()
