"""Lesson: the long-sequence MAE paper in steps, each a sentence or two, one live view of the embedded family, and
a link that opens the full page in exactly that state. The default views come from precomputed data
(scripts/lesson_data.py), so the first paint runs no model; other settings are computed live.

The lesson is the list STEPS of (title, text, draw): adding a step is adding one entry. The title and text are
painted first; draw(view) then builds the step's figures and its link (in a fragment: its controls rerun only it).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import streamlit as st

from mae_core import ablations as ab
from mae_core import architectures, assets, cost
from ui import (
    lesson,
    quotes,
    receptive,
    render,
    state,
    warmup,
)
from ui.state import Param


@dataclass(frozen=True)
class View:
    """What every step draws from: the precomputed data (None when missing) and the lesson's seed and image."""
    data: dict | None
    seed: int
    image: str
    present: bool = False  # presentation mode: every step's main figure fits a 1280x720 projector

    @property
    def height(self) -> int:
        """Height of a step's main chart."""
        return 320 if self.present else 380


@dataclass(frozen=True)
class Step:
    title: str
    text: str  # Markdown, painted before the heavy imports
    draw: Callable[[View], None]


# The draw functions use the modules imported after the first paint (np, ab, lesson, quotes, receptive, render,
# architectures, cost): they run only after that import.
def main():
    """The container of a step's main figure (key lesson_main): what presentation mode keeps above the fold."""
    return st.container(key="lesson_main")


def link(page: str, values: dict, label: str, icon: str = ":material/open_in_new:"):
    st.page_link(page, label=label, icon=icon, query_params=state.link_params(values))


def missing_data():
    st.warning(f"The lesson's precomputed figures are missing ({lesson.DATA.name}); create them with "
               f"`{lesson.COMMAND}`.", icon=":material/warning:")


def checkpoint_note(v: View):
    if v.data is None:
        return
    changed = lesson.stale(v.data, assets.family())
    if changed:
        st.caption(f":material/info: The figures below were precomputed from the shipped checkpoints; "
                   f"{', '.join(changed)} now differ (retrained or another family): run `{lesson.COMMAND}` to "
                   "refresh them. The linked pages use the checkpoints loaded now.")


def draw_patches(v: View):
    img_name = v.image
    c1, c2 = main().columns([1, 2])
    p = c1.radio("Patch size p", (16, 8, 4), key="lp", horizontal=True,
                 format_func=lambda v: f"{v} px", help="The embedded family has p = 16, 8 and 4 at I = 128.")
    c1.metric("Sequence length L = (128/p)²", f"{(128 // p) ** 2:,}", help=f"{128 // p} × {128 // p} patches")
    c1.caption("Tokens per image for p = 16, 8, 4: 64, 256, 1,024.")
    c2.image(lesson.patch_grid(lesson.demo_array(img_name), p), caption=f"{img_name}, I = 128, p = {p}: "
             f"{128 // p} × {128 // p} = {(128 // p) ** 2:,} patches", width=320 if v.present else 384)
    link("app_pages/home.py", {"arch": "embedded tiny", "I": 128, "p": p, "m": 1, "r": 0.75},
         f"Open the cost calculator at I = 128, p = {p}")


def draw_lengths(v: View):
    rr = st.slider("Mask ratio r", 0.05, 0.95, step=0.05, key="lr")
    a = architectures.embedded()
    rows = []
    for name in ("p16-m1", "p8-m2", "p4-m4"):
        member = assets.MEMBERS[name]
        cfg = a.replace(img_size=(member.image_size,) * 2, patch_size=member.patch_size)
        lens = cost.lengths(cfg, mask_ratio=rr)
        fl = cost.flops(cfg, lens.Le)
        rows.append(dict(name=f"{name} (L={lens.L:,})", L=lens.L, Le=lens.Le, Ld=lens.Ld, enc=fl.encoder / 1e9,
                         dec=fl.decoder / 1e9))
    main().plotly_chart(lesson.cost_figure(rows, f"Tokens and cost at r = {rr:.2f} · embedded architecture (encoder "
                                            f"{a.embed_dim} wide × {a.depth} blocks, decoder "
                                            f"{a.decoder_embed_dim} × {a.decoder_depth})", v.height),
                        key="lesson_cost",
                    config=render.plotly_config(f"lesson_cost_r{rr:.2f}"))
    st.caption("GFLOPs: mae_core.cost.flops, the forward pass of one image (2 × multiply-adds of the "
               "linear layers and attention). The narrow decoder runs on all L tokens, so its share grows with L: "
               "decoder / encoder = " + ", ".join(f"{r_['dec'] / r_['enc']:.2f} at L = {r_['L']:,}" for r_ in rows)
               + ".")
    link("app_pages/home.py", {"arch": "embedded tiny", "I": 128, "p": 8, "m": 2, "r": rr},
         f"Open the cost calculator at I = 128, p = 8, m = 2, r = {rr:.2f}")


def draw_masking(v: View):
    img_name = v.image
    s_ = st.number_input("Seed", 0, 2**31 - 1, step=1, key="lseed")
    steps = lesson.steps_from(v.data, "p16-m1", 1) if int(s_) == 2 else None
    if steps is None:
        steps = lesson.live_steps((8, 8), 1, 0.75, int(s_))
    # read left to right, top to bottom: 1 | 2, then 3 | 4
    c1, c2 = main().columns(2)
    c1.plotly_chart(lesson.noise_figure(steps, (8, 8), f"1. noise, one number per patch (seed {int(s_)}); red: the "
                                                   f"{int(steps['len_keep'])} smallest, kept", v.height),
                    key="lesson_noise", config=render.plotly_config(f"lesson_noise_seed{int(s_)}"))
    c2.plotly_chart(lesson.shuffle_figure(steps, "2. ids_shuffle = argsort(noise): the patch ids in order of their "
                                                 "noise", per_row=16, height=v.height), key="lesson_shuffle",
                    config=render.plotly_config(f"lesson_shuffle_seed{int(s_)}"))
    base = v.data["recon/original"].astype(np.float32) / 255 if v.data is not None and img_name == "flower" \
        else lesson.demo_array(img_name)
    c1, c2 = st.columns(2)
    c1.plotly_chart(lesson.restore_figure(steps, (8, 8), "3. ids_restore = argsort(ids_shuffle): each patch's "
                                                    "position in the sorted sequence", v.height),
                    key="lesson_restore", config=render.plotly_config(f"lesson_restore_seed{int(s_)}"))
    c2.image(lesson.masked(base, steps["mask"], 16, 1), caption=f"4. what the encoder sees: the "
             f"{int(steps['len_keep'])} kept patches (p = 16, L = 64)", width=v.height - 40)
    st.markdown("Read it in order: a patch is kept when its noise is among the smallest (1); in the sorted "
                "sequence (2) those come first (blue) and the cut falls after `len_keep`; the number in each cell of "
                "(3) is the patch's position in that sequence, so a cell is kept exactly when its number is below "
                f"{int(steps['len_keep'])}. `gather(tokens, ids_restore)` reads the shuffled sequence at those "
                "positions, which puts every token back on its own patch.")
    g16 = lesson.native("p16-m1", v.data)
    link("app_pages/reconstruction.py", {"ckpt_src": "embedded", "ckpt": "p16-m1", "I": g16["I"], "p": g16["p"],
                                         "m": 1, "r": 0.75, "seed": int(s_), "keep": "blocks", "img": img_name,
                                         "mask_src": "random"},
         f"Open Reconstruction: p16-m1 with this mask (seed {int(s_)})")


def draw_mask_unit(v: View):
    img_name = v.image
    s_ = st.number_input("Seed", 0, 2**31 - 1, step=1, key="lseed")
    base = v.data["recon/original"].astype(np.float32) / 255 if v.data is not None and img_name == "flower" \
        else lesson.demo_array(img_name)
    cols = main().columns(3)
    for col, name in zip(cols, ("p16-m1", "p8-m1", "p8-m2")):
        member = assets.MEMBERS[name]
        p_, m_ = member.patch_size, member.mask_unit
        what = f"{p_ * m_}-px holes, L = {member.L}"
        steps = lesson.steps_from(v.data, name, m_) if int(s_) == 2 else None
        if steps is None:
            steps = lesson.live_steps((128 // p_, 128 // p_), m_, 0.75, int(s_))
        col.image(lesson.masked(base, steps["mask"], p_, m_), width=250 if v.present else "stretch",
                  caption=f"{name}: p = {p_}, m = {m_} · {what} · encoder sees {int(steps['len_keep'])} tokens")
    st.caption("Lines: mask-unit borders (bright) and patch borders (faint). Grey: removed. The first and last masks "
               "are identical pixel for pixel: the mask unit decouples what is hidden from the patch size.")
    link("app_pages/sequence_grid.py", {"gmode": "family", "grows": ["p16-m1", "p8-m1", "p8-m2"], "gcols": "m",
                                        "gm": [1, 2], "gshow": "masked", "r": 0.75, "seed": int(s_),
                                        "keep": "blocks", "img": img_name},
         "Open the grid: these three models × mask units 1 and 2")


def draw_three_models(v: View):
    c1, c2 = st.columns(2)
    img_name = c1.selectbox("Image (held out from training)", ("flower", "china"), key="limg")
    seed = int(c2.number_input("Seed", 0, 2**31 - 1, step=1, key="lseed"))
    names = ("p16-m1", "p8-m1", "p8-m2")
    shown = []
    if v.data is not None and seed == 2 and img_name == "flower":
        orig = lesson.image_of(v.data["recon/original"], 192)
        masked16 = lesson.image_of(v.data["recon/p16-m1/masked"], 192)
        for n in names:
            mt = v.data[f"recon/{n}/metrics"]
            shown.append((n, lesson.image_of(v.data[f"recon/{n}/pasted"], 192), float(mt[0]), int(mt[3]), int(mt[2])))
        gauss = float(v.data["recon/p16-m1/metrics"][7])
    else:

        warmup.ensure()  # the model stage, once per process, before this session imports torch (ui/warmup.py)
        from ui import resources

        with render.guard():
            im, h = resources.demo_image(img_name)
            fam = assets.family()
            res0 = None
            for n in names:
                model, info, sha = resources.load(fam[n])
                p_ = int(model.cfg.patch_size)
                res = resources.reconstruction(resources.ReconRequest(
                    str(fam[n]), sha, h, int(model.cfg.img_size[0]), p_, max(1, 16 // p_), 0.75, seed), im)
                res0 = res0 or res
                shown.append((n, render.upscale(res.pasted, 192), res.masked_mse, res.lengths.Le, res.lengths.L))
            orig, masked16 = render.upscale(res0.original, 192), render.upscale(res0.masked, 192)
            gauss = res0.baselines.get("gaussian_fill", float("nan"))
    if shown:
        cols = main().columns(2 + len(shown))
        cols[0].image(orig, caption=f"{img_name} (held out)", width="stretch")
        cols[1].image(masked16, caption=f"the same 16-px mask for all three (seed {seed})", width="stretch")
        for col, (n, im_, mse, le, l_) in zip(cols[2:], shown):
            col.image(im_, caption=f"{n} (L = {l_:,}, Le = {le}) · masked MSE {mse:.4f}", width="stretch")
        best = min(shown, key=lambda t: t[2])
        spread = max(t[2] for t in shown) - best[2]
        st.caption(f"Lowest masked MSE on this image and seed: {best[0]}; the three are within {spread:.4f} of "
                   "each other. A classical normalised-Gaussian fill of the same holes "
                   f"scores {gauss:.4f}. At this tiny scale a longer sequence does not reconstruct better by itself; "
                   "the paper's claims are about transfer (detection, segmentation, classification), not pixel MSE.")
        checkpoint_note(v)
    link("app_pages/sequence_grid.py", {"gmode": "family", "grows": list(names), "gcols": "px", "gpx": [16],
                                        "gshow": "pasted", "r": 0.75, "seed": seed, "keep": "blocks",
                                        "img": img_name},
         "Open the grid: p16-m1, p8-m1, p8-m2 on these 16-px masks")


def pixio_sentences(rows) -> str:
    """Pixio's Table 6 as sentences: each number with what it measures and which way is better."""
    by = {}
    for r_ in rows:
        by.setdefault(r_["metric"], {})[int(r_["mask_unit"])] = r_["value"]
    parts = []
    for met, v_ in by.items():
        if 1 not in v_ or 2 not in v_:
            continue
        name = met.split(" (")[0]
        pct = " %" if "(%)" in met else ""
        lower = "lower is better" in met
        verb = "falls" if v_[2] < v_[1] else "rises"
        parts.append(f"{name}{' (lower is better)' if lower else ''} {verb} from {v_[1]:g}{pct} to {v_[2]:g}{pct}")
    if not parts:
        return ""
    return ("**Pixio 2025, Table 6** (not from Hu et al.) trained both recipes on the same 2B images. Going from "
            "MAE's 1×1 masks to Pixio's 2×2 masks, " + "; ".join(parts) + ". Pixio's recipe also changes the "
            "decoder and the number of class tokens, so not all of the difference is the mask unit.")


def draw_studies(v: View):
    rows = ab.load_all(skip_bad=True, problems=[])
    charts = ab.evidence_figures(rows, evidence="mask unit")
    if charts:
        left, right = main().columns([3, 2], gap="medium")
        fig = charts[0].figure
        if v.present:
            fig.update_layout(height=v.height + 60)
        left.plotly_chart(fig, key="lesson_evidence", config=render.plotly_config(
            f"{charts[0].study}_{charts[0].table}_{charts[0].setting}"))
        with right:
            quotes.show(quotes.for_chart([(charts[0].study, charts[0].table)]))
        st.markdown(f"**Takeaway:** {TAKEAWAY_6}")
        pix = next((c for c in charts if c.study.startswith("Pixio") and c.table == "Table 6"), None)
        if pix is not None:
            st.markdown(pixio_sentences(pix.rows))
    link("app_pages/ablations.py", {"study": "mask unit", "table": "all", "metric": "all", "measured": False},
         "Open Ablation curves: every mask-unit chart, with sources")


TAKEAWAY_6 = ("in both later studies, pre-training with larger mask units gave better downstream results. Pixio's "
              "§4.5 changed only the masking granularity, at MAE's own decoder (1×1 → 2×2: IN-1K k-NN +19.0 "
              "points); its Table 6 changes the decoder and the class tokens too, and Kong et al.'s text "
              "contradicts its own table at 4×4. Neither is Hu et al.'s own measurement.")



PAYOFF_NAMES = ("p16-m1", "p8-m1", "p8-m2")


def draw_payoff(v: View):
    import plotly.graph_objects as go

    from mae_core.colours import checkpoint as checkpoint_colour
    from mae_core.representations import results as R

    rows = R.load()
    data = next((d for d in R.probe_data_sets(rows) if d.startswith("gcompris")), None)
    recs = R.probe_records(rows, data) if data else []
    pix = {}
    if v.data is not None:
        pix = {n: float(v.data[f"recon/{n}/metrics"][0]) for n in PAYOFF_NAMES if f"recon/{n}/metrics" in v.data}
    last = {n: R.last_layer(recs, n) for n in PAYOFF_NAMES}
    last = {n: r for n, r in last.items() if r is not None}
    if not pix and not last:
        missing_data()
        return
    left, right = main().columns(2, gap="medium")
    height = v.height - 40
    if pix:
        fig = go.Figure(go.Bar(x=list(pix), y=list(pix.values()), marker_color=[checkpoint_colour(n) for n in pix],
                               text=[f"{x:.4f}" for x in pix.values()], textposition="outside", cliponaxis=False))
        fig.update_layout(title=dict(text="Pixels: masked MSE on step 5's holes (lower is better)", font_size=13),
                          height=height, margin=dict(t=50, b=30), yaxis_title="masked MSE")
        left.plotly_chart(fig, theme=None, key="lesson_payoff_pixels", config=render.plotly_config("payoff_pixels"))
    if last:
        fig = go.Figure(go.Bar(x=list(last), y=[r["top1"] for r in last.values()],
                               error_y=dict(type="data", array=[r["std"] for r in last.values()], visible=True),
                               marker_color=[checkpoint_colour(n) for n in last],
                               text=[f"{r['top1']:.1f} %" for r in last.values()], textposition="inside",
                               insidetextanchor="start"))
        fig.update_layout(title=dict(text="Features: linear probe top-1 (higher is better)",
                                     font_size=13), height=height, margin=dict(t=50, b=30),
                          yaxis_title="top-1 (%), mean ± std over folds")
        right.plotly_chart(fig, theme=None, key="lesson_payoff_features",
                           config=render.plotly_config("payoff_features"))
    st.caption(payoff_caption(pix, recs))
    link("app_pages/representations.py", {"cka_a": "p16-m1", "cka_b": "p8-m2"},
         "Open Representations: layer similarity and probes for every checkpoint")


def payoff_caption(pix: dict, recs: list) -> str:
    """What the stored data show, whichever way it goes (worded from the numbers)."""
    from mae_core.representations import results as R

    parts = []
    if pix:
        best = min(pix, key=pix.get)
        others = ", ".join(f"{n} {pix[n]:.4f}" for n in pix if n != best)
        parts.append(f"**Pixels:** {best} fills step 5's holes best (masked MSE {pix[best]:.4f}; {others}).")
    if recs:
        best = max((R.last_layer(recs, n) for n in PAYOFF_NAMES if R.last_layer(recs, n)), key=lambda r: r["top1"])
        parts.append(f"**Features:** a linear probe reads the class best from {best['checkpoint']}'s last layer "
                     f"({best['top1']:.1f} ± {best['std']:.1f} % on 140 GCompris photographs).")
        length = R.compare(recs, "p16-m1", "p8-m1")
        unit = R.compare(recs, "p8-m1", "p8-m2")
        for c, sentence in ((length, R.change_sentence(recs, "p16-m1", "p8-m1", "longer sequence, L 64 → 256")),
                            (unit, R.change_sentence(recs, "p8-m1", "p8-m2", "mask unit 1 → 2 at L = 256"))):
            if c is not None:
                parts.append(sentence + ".")
        if length is not None and unit is not None:
            verdict_l = ("helps the features" if length[2] and length[0] > 0 else
                         "does not change the features beyond the fold spread" if not length[2] else
                         "hurts the features")
            verdict_m = ("helps them" if unit[2] and unit[0] > 0 else
                         "does not change them beyond the fold spread" if not unit[2] else "hurts them")
            parts.append(f"At this scale (6 blocks of width 192, 197 training photographs) the longer sequence "
                         f"{verdict_l}, and the mask unit {verdict_m}.")
        unit_att = R.change_sentence(recs, "p8-m1", "p8-m2", "mask unit 1 → 2 at L = 256", probe="attentive",
                                     kind=R.TOKENS)
        if unit_att:
            parts.append(f"An attentive probe, which reads every patch token: {unit_att}.")
        if pix:
            same = min(pix, key=pix.get) == best["checkpoint"]
            parts.append(f"Here the model that fills holes best, {best['checkpoint']}, also has the features a probe "
                         "reads best." if same else
                         "The model that fills holes best is not the one whose features a probe reads best: pixel "
                         "error alone does not rank encoders, which is why Hu et al. judge by transfer.")
    return " ".join(parts)


def draw_attention(v: View):
    img_name = v.image
    if v.data is None:
        missing_data()
    else:
        c1, c2 = main().columns(2)
        mads = []
        for n in [n_ for n_ in ("p16-m1", "p8-m2", "p4-m4") if f"mad/{n_}/mean" in v.data]:
            meta = v.data["meta"]["checkpoints"][n]
            g_ = meta["image_size"] // meta["patch_size"]
            mads.append(receptive.MADSeries(n, tuple(range(meta["depth"])), v.data[f"mad/{n}/mean"],
                                            v.data[f"mad/{n}/std"],
                                            float(v.data[f"mad/{n}/uniform"]), meta["image_size"], g_ * g_))
        c1.plotly_chart(receptive.mad_figure(mads, "ratio", title="MAD / uniform attention, 17 photos",
                                             height=v.height), key="lesson_mad",
                        config=render.plotly_config("lesson_mad_ratio_" + "_vs_".join(m_.label for m_ in mads)
                                                    + "_17_photos"))
        erfs = []
        for n in ("p16-m1", "p8-m2"):
            meta = v.data["meta"]["checkpoints"][n]
            g_ = meta["image_size"] // meta["patch_size"]
            erfs.append(receptive.ERFSeries(n, tuple(range(meta["depth"])), v.data[f"erf/{n}/radius"],
                                            v.data[f"erf/{n}/radius_std"], v.data[f"erf/{n}/patch_radius"],
                                            v.data[f"erf/{n}/image_radius"], meta["image_size"], g_ * g_))
        c2.plotly_chart(receptive.erf_figure(erfs, title="Effective receptive field of the centre token, 17 photos",
                                             height=v.height), key="lesson_erf",
                        config=render.plotly_config("lesson_erf_p16-m1_vs_p8-m2_17_photos"))
        ratio = np.concatenate([m_.mad_px.mean(1) / m_.uniform_px for m_ in mads])
        local = [(m_.label, m_.L, float((m_.mad_px[0] / m_.uniform_px).min())) for m_ in mads]
        trend = ("local heads appear as the sequence grows" if all(a[2] > b[2] for a, b in zip(local, local[1:]))
                 else "no steady trend with the sequence length")
        e16, e8 = erfs
        st.caption(f"Averaged over its heads, every layer sits at {ratio.min():.2f}–{ratio.max():.2f} × the uniform "
                   "level. Single heads differ: the most local first-layer head is at " + ", ".join(
                       f"{x:.2f} × in {n} (L={L_:,})" for n, L_, x in local) + f" — {trend}, at the same 16-px "
                   "mask cells. The gradients say more: half of a token's input mass stays within "
                   f"{e16.radius[0, 0]:.0f} px (layer 0) to {e16.radius[-1, 0]:.0f} px "
                   f"(layer {len(e16.radius) - 1}) in "
                   f"p16-m1 (spread evenly over its own 16-px patch it would be {e16.patch_radius[0]:.0f} px), and "
                   f"{e8.radius[0, 0]:.0f} px to {e8.radius[-1, 0]:.0f} px in p8-m2; the 90 % radius approaches the "
                   f"whole image ({e16.image_radius[1]:.0f} px) in both.")
        checkpoint_note(v)
    g8 = lesson.native("p8-m2", v.data)
    link("app_pages/attention.py", {"ckpt_src": "embedded", "ckpt": "p8-m2", "I": g8["I"], "p": g8["p"],
                                    "layer": g8["depth"] - 1, "head": "mean", "qr": g8["grid"] // 2,
                                    "qc": g8["grid"] // 2, "cmp": "checkpoint", "b_ckpt_src": "embedded",
                                    "b_ckpt": "p16-m1", "mad_over": "set", "mad_unit": "ratio", "erf": "set",
                                    "img": img_name},
         "Open Attention & receptive field: p8-m2 beside p16-m1, over the 17 photos")


def draw_try_it(v: View):
    img_name = v.image
    seed = v.seed
    rows = ab.load_all(skip_bad=True, problems=[])
    _, measured = ab.split_measured(rows)
    charts = [c for c in ab.measured_figures(measured, checkpoints=None, baselines=["gaussian-fill"])
              if c.table == "sweep: L at fixed mask cell"]
    if charts:  # the caption is the chart's own: it names only what is drawn
        fig = charts[0].figure
        if v.present:
            fig.update_layout(height=v.height + 110)
        main().plotly_chart(fig, key="lesson_sweep", config=render.plotly_config("lesson_L_at_16px"))
        st.caption("What our own family shows when only L changes: " + charts[0].caption)
    c1, c2, c3 = st.columns(3)
    g8, g16 = lesson.native("p8-m2", v.data), lesson.native("p16-m1", v.data)
    with c1:
        link("app_pages/reconstruction.py", {"ckpt_src": "embedded", "ckpt": "p8-m2", "I": g8["I"], "p": g8["p"],
                                             "m": 2,
                                             "r": 0.75, "seed": seed, "img": img_name, "mask_src": "random"},
             "Long-seq recipe: p8-m2", ":material/image:")
    with c2:
        link("app_pages/reconstruction.py", {"ckpt_src": "embedded", "ckpt": "p16-m1", "I": g16["I"], "p": g16["p"],
                                             "m": 1,
                                             "r": 0.75, "seed": seed, "img": img_name, "mask_src": "random"},
             "Original MAE recipe: p16-m1", ":material/image:")
    with c3:
        link("app_pages/reconstruction.py", {"ckpt_src": "embedded", "ckpt": "p8-m2", "I": g8["I"], "p": g8["p"],
                                             "m": 2,
                                             "r": 0.75, "seed": seed, "img": img_name, "mask_src": "custom"},
             "Paint your own mask on p8-m2", ":material/brush:")


STEPS = [
    Step("Patches make the sequence",
         ("A ViT cuts an $I\\times I$ image into $p\\times p$ patches and each patch becomes one token, so "
          "the sequence has $L=(I/p)^2$ tokens. At the same image size, halving $p$ makes the sequence four "
          "times longer: this is the axis Hu et al. scale."),
         draw_patches),
    Step("Encoder and decoder lengths, and their cost",
         ("MAE's encoder sees only the visible tokens, $L_e = L(1-r)$; its light decoder sees all "
          "$L_d = L$. At $r = 0.75$ a four times longer sequence gives the encoder four times more tokens, "
          "and attention cost grows with the square of the token count."),
         draw_lengths),
    Step("How MAE picks what to hide",
         ("MAE draws one random number per patch (`noise`), sorts the patches by it "
          "(`ids_shuffle = argsort(noise)`), keeps the first `len_keep = L(1−r)` and drops the rest. A second "
          "argsort, `ids_restore = argsort(ids_shuffle)`, records where each patch went, so the decoder can "
          "put [kept tokens, mask tokens] back in image order (the double argsort asked about in "
          "facebookresearch/mae #124 and #173)."),
         draw_masking),
    Step("What a mask unit changes",
         ("Long-seq MAE draws the noise per $m\\times m$ cell instead of per patch, so the sort moves whole "
          "cells. With $p=8$ and $m=2$ the holes are the same 16-px squares as with $p=16$ (for the same "
          "seed, exactly the same ones) while the sequence is four times longer. Without a mask unit "
          "(p8-m1) the holes shrink to 8 px and are easier to fill from their neighbours."),
         draw_mask_unit),
    Step("Same holes, three trained models",
         ("The three trained models fill the same 16-px holes. p16-m1 and p8-m2 were trained on holes of "
          "this size; p8-m1 only on 8-px holes. The number is the masked MSE on the removed pixels in "
          "[0, 1] RGB units (lower is better)."),
         draw_three_models),
    Step("What the studies found",
         ("Hu et al.'s own ablation tables were not available to us. Two later studies measured the mask "
          "unit: Kong et al. (CVPR 2023), who ran Hu et al.'s code, and Pixio (2025). **Neither is "
          "Hu et al.'s result**, and each comes with a caveat, printed on its chart."),
         draw_studies),
    Step("Pixels and features: what the mask unit buys here",
         ("Filling holes is the training task; what the paper claims is about the features the encoder learns. "
          "Left, step 5's reconstruction score; right, how much of a photograph's class a linear probe can "
          "read from each frozen encoder (140 GCompris photographs in 5 classes, mean-pooled last layer, "
          "5 folds). The caption says what our measurements show."),
         draw_payoff),
    Step("Attention and the receptive field",
         ("Mean attention distance (MAD) is how far, on average, a head looks. Uniform attention already "
          "gives about 0.52 of the image width, so the dashed line is the level to beat. The gradient view "
          "asks instead which pixels move one token: the radius that holds 50 % / 90 % of that mass."),
         draw_attention),
    Step("Now try it",
         ("Your turn. Each button below opens a page in a given state; from there every control is yours, "
          "and the address bar always holds the current view, so you can share it."),
         draw_try_it),
]

params = [Param("step", int, 1, lo=1, hi=len(STEPS)), Param("lseed", int, 2, lo=0, hi=2**31 - 1),
          Param("limg", str, "flower", choices=("flower", "china")), Param("lp", int, 8, choices=(16, 8, 4)),
          Param("lr", float, 0.75, lo=0.05, hi=0.95, step=0.05), Param("present", bool, False)]
state.init(params)
CITATION = ("Hu, Debnath, Xie, Chen 2022, *Exploring Long-Sequence Masked Autoencoders* "
            "([arXiv 2210.07224](https://arxiv.org/abs/2210.07224)), walked through on the small MAE family trained "
            "for this app (I = 128 px).")


def _go(k):
    state.set_value("step", k)


sb = st.sidebar
sb.subheader("Steps")
numbers = list(range(1, len(STEPS) + 1))
step = sb.radio("Step", numbers, key="step", format_func=lambda k: f"{k}. {STEPS[k - 1].title}",
                label_visibility="collapsed")
present = sb.toggle("Presentation mode", key="present", help="For a projector (1280 × 720): a one-line header and "
                    "figures sized so that each step's main figure shows without scrolling.")
current = STEPS[step - 1]


def nav_buttons(cols, width="stretch"):
    cols[0].button("Back", key="lesson_back", icon=":material/arrow_back:", on_click=_go, args=(max(1, step - 1),),
                   disabled=step == 1, width=width)
    cols[1].button("Next", key="lesson_next", icon=":material/arrow_forward:", on_click=_go,
                   args=(min(len(STEPS), step + 1),), disabled=step == len(STEPS), width=width)


if present:  # one line: Back, Next and the step's title; the page's own top padding shrinks to the toolbar
    st.html("<style>[data-testid='stMainBlockContainer']{padding-top:3.2rem;padding-bottom:2rem}"
            ".st-key-lesson_head h3{padding:0;margin:0}</style>")
    head = st.container(key="lesson_head", horizontal=True, vertical_alignment="center")
    nav_buttons([head, head], "content")
    head.markdown(f"### {step}. {current.title}")
else:
    st.title("Lesson: long sequences and mask units")
    st.caption(CITATION + " Each step links to the full page in the same state.")
    nav_buttons(st.columns([1, 1, 6]))
    st.header(f"{step}. {current.title}", divider="gray")
st.markdown(current.text)



@st.fragment
def draw_step(current: Step):
    """The step's live view: its own controls (seed, ratio, image...) rerun only this, not the page's frame."""
    current.draw(View(lesson.data(), int(st.session_state["lseed"]), st.session_state["limg"], present))
    state.publish(params)


draw_step(current)
if present:
    st.caption(CITATION)
state.show_notices()
