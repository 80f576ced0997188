"""Home: where to start, a picture of what the app does, the idea in three sentences, a live cost calculator, and
links into every page."""
import streamlit as st

from mae_core import architectures, assets, cost
from mae_core.errors import MAEError
from mae_core.masking import make_mask
from ui import limits, pages, pickers, resources, state
from ui.render import guard, tiles
from ui.state import Param


def start_here():
    """Where a newcomer begins: the Lesson for the idea, Reconstruction for a model or a photo of their own."""
    with st.container(border=True):
        text, lesson, recon = st.columns([5, 2, 2], vertical_alignment="center")
        text.markdown("**Start here.** New to the paper: the **Lesson** walks through it in 9 steps (made for a "
                      "class). With a model or a photo of your own: **Reconstruction** masks it and shows what the "
                      "model fills in.")
        lesson.page_link("app_pages/lesson.py", label="Lesson", icon=":material/school:")
        recon.page_link("app_pages/reconstruction.py", label="Reconstruction", icon=":material/image:")


def picture(where):
    """The Reconstruction page's default view, small: the four panels of a trained model on a held-out photo (built
    once per server by the warm-up, so this costs no inference). Nothing when there is no embedded model."""
    from ui import views

    try:
        got = views.default_reconstruction()
    except MAEError:
        return
    if got is None:
        return
    ck, g, view = got
    res = view.result
    cols = where.columns(4, gap="small")
    captions = {"original": "a photo it never saw", "masked": f"{res.effective_ratio:.0%} of the patches removed",
                "reconstruction": "what the model fills in", "pasted": "its fill + the visible patches"}
    for col, (name, pan) in zip(cols, view.panels.items()):
        col.image(pan.shown, caption=captions[name], width="stretch", output_format="PNG")
    where.caption(f"The trained **{ck.label}** ({g.patch_size}-px patches, L={res.lengths.L:,}, "
                  f"{g.mask_unit}×{g.mask_unit} mask units) at {g.image_size} px; masked MSE {res.masked_mse:.4f}. "
                  "Change any of it on the Reconstruction page.")


# The intro is drawn before the heavy imports (torch, via masking and the checkpoint reader), so a visitor sees
# text at once while a cold server process is still importing; the picture's place is kept above it.
def draw_intro():
    """Title, where to start, the picture's place (returned: filled after the imports) and the idea."""
    st.title("Long-sequence MAE explorer")
    start_here()
    picture_slot = st.container()
    st.markdown(
        "A Vision Transformer cuts an $I \\times I$ image into $p \\times p$ patches, so its sequence has "
        "$L = (I/p)^2$ tokens; a Masked Autoencoder (MAE) removes a fraction $r$ of them and its encoder sees only "
        "$L_e = L(1-r)$, while its light decoder sees all $L_d = L$.  \n"
        "Long-sequence MAE (Hu et al. 2022, [arXiv 2210.07224](https://arxiv.org/abs/2210.07224)) masks "
        "$m \\times m$ patches together, which decouples *what is masked* ($m \\cdot p$ pixels) from the patch "
        "size: halving $p$ quadruples $L$ while the masking task stays the same.  \n"
        "Its abstract says the authors \u201cfind sequence length is a key axis that further scales MAE\u201d and "
        "report \u201cstrong results on ImageNet-1K classification by keeping a standard image size and only "
        "increasing the sequence length\u201d \u2014 224/8 with 2\u00d72 mask units instead of 224/16 is that kind "
        "of change (the paper's numbers are in its body, which this app does not reproduce)."
    )
    return picture_slot


picture_slot = draw_intro()



def native() -> dict:
    """The default embedded checkpoint's native I, p and training m: the calculator's starting point (and the
    "embedded tiny" architecture); the shipped family's values when it is not on disk."""
    out = {"I": 128, "p": 8, "m": 2}
    default = assets.family().get(assets.DEFAULT_NAME)
    if default is not None:
        try:
            info = resources.inspect(default)
            c = info.config
            out = {"I": int(c.img_size[0]), "p": int(c.patch_size), "m": int(info.mask_unit or 1)}
        except MAEError:
            pass
    return out


# ------------------------------------------------------------------ sidebar: calculator settings
def draw_calculator_controls(archs: dict) -> tuple:
    """Architecture, presets, I, p, m and r in the sidebar -> (architecture name, I, p, m, r)."""
    sb = st.sidebar
    sb.subheader("Calculator")
    arch_param = Param("arch", str, "embedded tiny", choices=tuple(archs))
    geo = [p for p in pickers.geometry_params(None) if p.name in ("I", "p", "m", "r")]
    params = [arch_param] + geo
    state.init(params, defaults=native())
    arch_name = sb.selectbox("Architecture", tuple(archs), key="arch",
                             help="Encoder/decoder widths, depths and heads (decoder: MAE's 512-d, 8 blocks).")
    with sb.expander("Presets"):
        for i, (name, (I_, p_, m_)) in enumerate(pickers.PRESETS.items()):
            st.button(name, key=f"home_preset_{i}", on_click=pickers._apply, args=({"I": I_, "p": p_, "m": m_},),
                      width="stretch")
    c1, c2 = sb.columns(2)
    I = c1.number_input("Image size I", pickers.IMAGE_MIN, pickers.IMAGE_MAX, step=8, key="I")
    p = c2.selectbox("Patch size p", pickers.PATCH_CHOICES, key="p")
    m = sb.selectbox("Mask unit m", pickers.MASK_UNITS, key="m")
    r = sb.slider("Mask ratio r", 0.05, 0.95, step=0.05, key="r")
    state.publish(params)
    state.show_notices()  # after the controls are seeded: a value from the link that could not be used is said now
    return arch_name, I, p, m, r


# ------------------------------------------------------------------ calculator
def draw_tiles(lens, fl, mem, mask, m, p):
    """Lengths, granularity, FLOPs and peak memory as metric tiles."""
    gh, gw = lens.grid
    with tiles(gap="large"):  # tiles sized to their values and labels: they wrap, never truncate
        st.metric("Sequence length L = (I/p)²", f"{lens.L:,}", help=f"{gh} × {gw} patches", width="content")
        st.metric("Encoder tokens Le", f"{lens.Le:,}", width="content",
                  help=f"L(1−r) after keeping whole {m}×{m} units: effective ratio {mask.effective_ratio:.3f}")
        st.metric("Decoder tokens Ld", f"{lens.Ld:,}", width="content")
        st.metric("Masking granularity", f"{int(m) * int(p)} px", help="m · p: side of one removed square",
                  width="content")
    with tiles(gap="large"):
        st.metric("Encoder GFLOPs", f"{fl.encoder / 1e9:,.2f}", width="content")
        st.metric("Decoder GFLOPs", f"{fl.decoder / 1e9:,.2f}", width="content")
        st.metric("Total GFLOPs (1 image)", f"{fl.total / 1e9:,.2f}", width="content")
        st.metric("Peak memory (est.)", f"{mem.peak_mb:,.0f} MB", width="content",
                  help=f"inference, batch 1, float32; budget on this server: {limits.MEMORY_BUDGET_MB:,} MB")


def draw_how_computed(cfg, lens, mem, n_params: int):
    """The FLOPs and memory formulas, and the memory's parts (an expander)."""
    with st.expander("How these are computed"):
        st.markdown(
            "**FLOPs** (`mae_core.cost.flops`): forward pass of one image, 2 × multiply-adds of the "
            "linear layers and attention matmuls (norms, softmax, GELU ignored). Per block on N tokens of width "
            "D: 4ND² (q, k, v, projection) + 2·mlp_ratio·ND² (MLP) + 2N²D (scores and weighted sum). Encoder on "
            "Le+1 tokens, decoder on L+1.\n\n**Memory** (`mae_core.cost.estimate_memory`): " + cost.FORMULA)
        st.dataframe([
            {"part": "weights", "MB": mem.weights / 2**20, "formula": f"{n_params:,} params × 4 B"},
            {"part": "encoder attention matrix (1 layer)", "MB": mem.encoder_attention / 2**20,
             "formula": f"{cfg.num_heads} heads × {lens.Le + 1}² × 4 B"},
            {"part": "encoder block activations", "MB": mem.encoder_activations / 2**20,
             "formula": f"{lens.Le + 1} × {cfg.embed_dim} × {6 + 2 * cfg.mlp_ratio:g} × 4 B"},
            {"part": "decoder attention matrix (1 layer)", "MB": mem.decoder_attention / 2**20,
             "formula": f"{cfg.decoder_num_heads} heads × {lens.Ld + 1}² × 4 B"},
            {"part": "decoder block activations", "MB": mem.decoder_activations / 2**20,
             "formula": f"{lens.Ld + 1} × {cfg.decoder_embed_dim} × {6 + 2 * cfg.dec_mlp_ratio:g} × 4 B"},
        ], hide_index=True, column_config={"MB": st.column_config.NumberColumn(format="%.2f")})


def draw_paper_settings(base, arch_name: str, I, p, m, r):
    """The same architecture at the papers' settings and the current ones: L, Le, GFLOPs and the ratio to the
    original MAE's encoder."""
    st.subheader("The same architecture at the papers' settings")
    rows = []
    for name, (I_, p_, m_) in {**pickers.PRESETS, "current settings": (int(I), int(p), int(m))}.items():
        try:
            c_ = base.replace(img_size=(I_, I_), patch_size=p_)
            mk = make_mask(c_.grid, m_, float(r), 0)
            ln = cost.lengths(c_, n_keep=mk.n_keep)
            f = cost.flops(c_, ln.Le)
            rows.append({"setting": name, "I": I_, "p": p_, "m": m_, "mask px": m_ * p_, "L": ln.L, "Le": ln.Le,
                         "encoder GFLOPs": round(f.encoder / 1e9, 2), "total GFLOPs": round(f.total / 1e9, 2),
                         "× original MAE encoder": None})
        except Exception:  # the current settings may be invalid; the error is shown above
            continue
    if rows:
        original = rows[0]["encoder GFLOPs"] or 1.0
        for row in rows:
            row["× original MAE encoder"] = round(row["encoder GFLOPs"] / original, 2)
        narrow = {k: st.column_config.NumberColumn(k, width=44) for k in ("I", "p", "m", "L", "Le")}
        st.dataframe(rows, hide_index=True, width="stretch", column_config=narrow)
        st.caption(f"r = {float(r):.2f}, {arch_name}. Longer sequences cost pre-training compute: the encoder's "
                   "work grows with Le (and quadratically in its attention), the decoder's with L.")


def draw_calculator(archs: dict, arch_name: str, I, p, m, r):
    st.header("Calculator", divider="gray")
    base = archs[arch_name]
    with guard():
        cfg = base.replace(img_size=(int(I), int(I)), patch_size=int(p))
        mask = make_mask(cfg.grid, int(m), float(r), seed=0, keep="blocks")
        lens = cost.lengths(cfg, n_keep=mask.n_keep)
        fl = cost.flops(cfg, lens.Le)
        n_params = cost.params(cfg)
        mem = cost.estimate_for_config(cfg, lens.L, lens.Le, lens.Ld)
        draw_tiles(lens, fl, mem, mask, m, p)
        draw_how_computed(cfg, lens, mem, n_params)
        draw_paper_settings(base, arch_name, I, p, m, r)


# ------------------------------------------------------------------ links
def draw_links():
    st.header("Explore", divider="gray")
    links = [(p.file, p.title, p.icon, p.blurb) for p in pages.PAGES if not p.default]  # ui/pages.py
    cols = st.columns(3)
    for i, (path, title, icon, text) in enumerate(links):
        with cols[i % 3].container(border=True):
            st.page_link(path, label=title, icon=icon)
            st.caption(text)


picture(picture_slot)
ARCHS = architectures.calculator_choices()  # name -> MAEConfig: the embedded one, then ViT-B/L/H
draw_calculator(ARCHS, *draw_calculator_controls(ARCHS))
draw_links()
