"""The shared sidebar controls: checkpoint (and its target), image (and how it is fitted), geometry (I, p, m, r,
seed, keep) and presets.

Each picker seeds its widgets from ui.state (URL / remembered / default), draws them, and returns plain values.
An input that fails (a broken upload, a missing path) is reported where the user is looking: one line in the MAIN
area (``report``), recorded for this run so the page says nothing like "choose a checkpoint" (``require``), and a
pointer next to the widget in the sidebar; the picker then returns None.
"""
from __future__ import annotations

import functools
import math
import random
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from mae_core import assets, masking
from mae_core.checkpoints.info import TARGET_CHOICES, CheckpointInfo
from mae_core.errors import MAEError
from mae_core.images import FIT_MODES

from . import catalogue_picker, presets, resources, state
from . import precision as precision_control
from .state import Param

PATCH_CHOICES = (2, 4, 7, 8, 14, 16, 28, 32)
MASK_UNITS = (1, 2, 3, 4, 8)
IMAGE_MIN, IMAGE_MAX = 16, 1024
SEED_MAX = 2**31 - 1
DEFAULT_SEED = masking.DEFAULT_SEED  # the official MAE demo's seed, also the reconstruct command's default
# The papers' geometries, name -> (I, p, m) (the embedded 128-px models run them resampled; the page says so).
# ui.presets also holds the presets that switch to a trained model of the embedded family.
PRESETS = {pr.label: (pr.image_size, pr.patch_size, pr.mask_unit) for pr in presets.PAPER_PRESETS}
_RESET_FLAG = "_reset_geometry"
_INPUT_ERRORS = "_input_errors"  # this run's input errors (reset by ui.state.begin at the start of every run)


# ------------------------------------------------------------------ input errors, in the main area
def report(message: str, where=None) -> None:
    """Show an input error where the user is looking: one line in the main area (and a pointer in the sidebar
    next to the control that caused it); recorded so `require` does not ask for what the user already gave."""
    st.session_state.setdefault(_INPUT_ERRORS, []).append(message)
    st.error(message, icon=":material/error:")
    (where or st.sidebar).caption(":red[:material/error: Could not use this; the reason is shown on the page.]")


def input_failed() -> bool:
    """Whether an input reported an error in this run."""
    return bool(st.session_state.get(_INPUT_ERRORS))


def require(*values, hint: str) -> None:
    """Stop the page unless every value is there; say `hint` only when nothing failed (a failure is already
    reported in the main area, so the page must not ask the user to choose what they chose)."""
    if all(v is not None for v in values):
        return
    if not input_failed() and not state.answered():
        st.info(hint)
    st.stop()


@dataclass
class Checkpoint:
    """A loaded checkpoint: the shared model (never mutate it) and what mae_core.checkpoints knows about it."""

    path: Path
    sha: str
    label: str
    source: str
    model: object  # mae_core.model.MaskedAutoencoderViT, shared: never mutate it
    info: CheckpointInfo
    target: str = "auto"  # the target choice (TARGET_CHOICES): pass it on with the path to cached results
    precision: str = "fp32"  # the resolved precision (ui.precision): pass it on to cached results

    @property
    def cfg(self):
        return self.model.cfg

    @property
    def native_size(self) -> int:
        return int(self.cfg.img_size[0])

    @property
    def native_patch(self) -> int:
        return int(self.cfg.patch_size)

    @property
    def trained_mask_unit(self) -> int:
        return max(1, int(self.info.mask_unit or 1))

    @property
    def can_reconstruct(self) -> bool:
        return bool(self.info.can_reconstruct)

    @property
    def kind(self) -> str:
        return str(self.info.kind)


@dataclass(frozen=True)
class Geometry:
    image_size: int
    patch_size: int
    mask_unit: int
    mask_ratio: float
    seed: int
    keep: str


def _flag_reset():
    st.session_state[_RESET_FLAG] = True


# ------------------------------------------------------------------ checkpoint
TARGET_LABELS = {"pixels": "pixels (override)", "norm-pix": "norm-pix (override)"}
_SHORT_TARGET = {"pixels": "pixels", "normalised pixels": "norm-pix"}


def _reset_target(prefix: str):
    st.session_state[f"{prefix}target"] = "auto"  # a new checkpoint starts from what it records


def _on_checkpoint_change(prefix: str, reset_geometry: bool):
    _reset_target(prefix)
    if reset_geometry:
        _flag_reset()


def _from_family(prefix: str, on_change, extra: list):
    """The embedded family, by name."""
    sb = st.sidebar
    fam = assets.family()
    name = sb.selectbox("Embedded checkpoint", list(fam), key=f"{prefix}ckpt", on_change=on_change,
                        help="\n".join(f"- **{n}**: {assets.FAMILY.get(n, '')}" for n in fam))
    sb.caption(assets.FAMILY.get(name, ""))
    return fam[name], name


def _from_path(prefix: str, on_change, extra: list):
    """A checkpoint file, a transformers model folder, or a folder of checkpoints on this server."""
    sb = st.sidebar
    text = sb.text_input("Checkpoint file or folder (on this server)", key=f"{prefix}ckpt_path", on_change=on_change,
                         placeholder="/path/to/model.safetensors or a folder")
    if not text.strip():
        sb.info("Type a path to a checkpoint file or to a folder of checkpoints.")
        return None
    p = Path(text.strip()).expanduser()
    if p.is_dir() and not (p / "config.json").is_file():  # a folder of checkpoints, not a model folder
        files, skipped = resources.scan(str(p))
        if skipped:  # never dropped silently: each with its one-line reason
            with sb.expander(f"{len(skipped)} file(s) in that folder skipped", expanded=not files):
                for f, why in skipped:
                    st.caption(f"**{Path(f).name}**: {why}")
        if not files:
            raise MAEError(f"no loadable checkpoints in {p}"
                           + (f" ({len(skipped)} skipped; the reasons are listed in the sidebar)" if skipped else ""))
        fparam = Param(f"{prefix}ckpt_file", str, files[0], choices=tuple(files))
        state.init([fparam])
        extra.append(fparam)
        chosen = sb.selectbox("Checkpoint in that folder", files, key=f"{prefix}ckpt_file",
                              format_func=lambda s: Path(s).name, on_change=on_change)
        p = Path(chosen)
    return p, p.name


_UPLOADED = "_uploaded_checkpoints"  # prefix -> (saved path, file name): this browser session's upload


def _on_upload_change(prefix: str, on_change):
    """A file added to or removed from the uploader: the one kept for the session is replaced (or forgotten)."""
    st.session_state.setdefault(_UPLOADED, {}).pop(prefix, None)
    on_change()


def _from_upload(prefix: str, on_change, extra: list):
    """A file uploaded in the browser, kept for the browser session: another page (whose uploader starts empty)
    uses it without a second upload. Every file reaches the app (no type filter in the browser, whose refusal would
    leave the previous file and its message in place); the app checks its name and size and says why it refuses."""
    sb = st.sidebar
    cap = resources.checkpoint_limit_mb()
    up = sb.file_uploader(f"Checkpoint file (up to {cap:,.{0 if cap >= 1 else 2}f} MB)", key=f"{prefix}ckpt_upload",
                          on_change=_on_upload_change, args=(prefix, on_change),
                          max_upload_size=max(1, math.ceil(cap)),
                          help="Loaded safely (safetensors, or torch.load with weights_only=True): "
                               f"{', '.join(resources.UPLOAD_SUFFIXES)}. A transformers folder uploads as a .zip. "
                               "Larger models: Published models, the model library, or a local path.")
    kept = st.session_state.setdefault(_UPLOADED, {}).get(prefix)
    if up is None:
        if kept is not None and Path(kept[0]).exists():
            sb.caption(f":material/upload_file: Using **{kept[1]}**, uploaded earlier in this session; upload "
                       "another file to replace it.")
            return kept
        sb.info("Upload a checkpoint (.safetensors, .pth, or a transformers folder as .zip). Uploads cannot "
                "be shared by link.")
        return None
    got = resources.save_upload(up.getvalue(), up.name), up.name
    st.session_state[_UPLOADED][prefix] = got
    return got


@dataclass(frozen=True)
class Source:
    """One place a checkpoint can come from: its label, whether this server offers it, and its sidebar chooser
    (prefix, on_change, extra params) -> (path, label) | None (the reason shown); MAEError for a failure."""

    label: str
    offered: object  # () -> bool
    choose: object  # (prefix, on_change, extra) -> (path, label) | None


SOURCES = {
    "embedded": Source("Embedded family", lambda: bool(assets.family()), _from_family),
    "published": Source(catalogue_picker.SOURCES["published"], lambda: True, catalogue_picker.pick_published),
    "library": Source(catalogue_picker.SOURCES["library"], catalogue_picker.library_available,
                      catalogue_picker.pick_library),
    "path": Source("Local path", resources.local_paths_allowed, _from_path),
    "upload": Source("Upload", lambda: True, _from_upload),
}
SOURCE_LABELS = {k: s.label for k, s in SOURCES.items()}


def checkpoint_params(prefix: str = "", other_than: str | None = None) -> list[Param]:
    """other_than: a family member the default must differ from (a comparison starts with another model: the
    trained pair's partner where there is one, else the next member)."""
    sources = [k for k, s in SOURCES.items() if s.offered()]
    names = tuple(assets.family()) or ("",)
    preferred = ([presets.PAIR.compare] if other_than == presets.PAIR.checkpoint else []) + list(names)
    default = next((n for n in preferred if n in names and n != other_than), names[0])
    return [Param(f"{prefix}ckpt_src", str, sources[0], choices=tuple(sources)),
            Param(f"{prefix}ckpt", str, default, choices=names),
            Param(f"{prefix}ckpt_path", str, "")]


def _load_with_target(prefix: str, path, label: str, with_target: bool, extra: list):
    """(model, info, sha, target) of the chosen file, with the Target control where it applies."""
    with st.spinner(f"Loading {label}..."):
        model, info, sha = resources.load(path)
    target = "auto"
    if with_target and info.can_reconstruct:
        tparam = Param(f"{prefix}target", str, "auto", choices=TARGET_CHOICES)
        state.init([tparam])
        extra.append(tparam)
        target = _target_control(prefix, info)
        if target != "auto":
            model, info, sha = resources.load(path, target)
    return model, info, sha, target


def pick_checkpoint(prefix: str = "", title: str = "Checkpoint", reset_geometry: bool = True,
                    with_target: bool = True, other_than: Checkpoint | None = None) -> Checkpoint | None:
    """Sidebar checkpoint chooser over SOURCES (embedded family, published models, the model library, a local
    file/folder, an upload); and its target (auto or an override; with_target=False where the target does not
    matter, e.g. encoder attention); other_than: the page's main checkpoint, which a comparison does not start with.
    Returns None on error (reported in the main area)."""
    sb = st.sidebar
    params = checkpoint_params(prefix, other_than.label if other_than is not None else None)
    state.init(params)
    on_change = functools.partial(_on_checkpoint_change, prefix, reset_geometry)  # also given to the catalogue
    sb.subheader(title)
    if not assets.family():
        sb.warning(f"No embedded checkpoints in {assets.family_dir()} yet (the family is trained separately); "
                   "give a path or upload one.")
    src = sb.radio("Source", params[0].choices, key=f"{prefix}ckpt_src", format_func=SOURCE_LABELS.get,
                   horizontal=True, on_change=on_change, label_visibility="collapsed")
    extra = []
    try:
        got = SOURCES[src].choose(prefix, on_change, extra)
        if got is None:
            return None
        path, label = got
        model, info, sha, target = _load_with_target(prefix, path, label, with_target, extra)
        precision = precision_control.pick(model) if not prefix else precision_control.current(model)
    except MAEError as e:
        report(str(e))
        return None
    finally:
        state.publish(params + extra)
    return Checkpoint(path=Path(path), sha=sha, label=label, source=src, model=model, info=info, target=target,
                      precision=precision)


def _target_control(prefix: str, info) -> str:
    """The reconstruction target: 'auto' (what the file records, else the probe) or an override that wins.

    Shown at once when the target was probed or is overridden; otherwise folded away under "Override target"."""
    sb = st.sidebar
    auto = f"auto: {_SHORT_TARGET.get(info.target, info.target)} ({info.target_source or 'file'})"
    shown = info.target_source in ("probe", "assumed") or st.session_state.get(f"{prefix}target", "auto") != "auto"
    box = sb if shown else sb.expander("Override target", expanded=False)
    choice = box.selectbox("Target", TARGET_CHOICES, key=f"{prefix}target",
                           format_func=lambda t: auto if t == "auto" else TARGET_LABELS[t],
                           help="What the decoder predicts. auto: what the checkpoint records, else an output probe "
                                "decides; an override wins over both (say so in the results).")
    if info.target_source == "probe" and info.probe:
        ev = info.probe
        box.caption(f"Probe: {ev['statistic']:.2f} (norm-pix below {ev['norm_below']}, pixels above "
                    f"{ev['pixels_above']}) → {ev['verdict']}")
    return str(choice)


# ------------------------------------------------------------------ image
IMAGE_LABELS = {"upload": "Upload your own"}


FIT_LABELS = {"stretch": "stretch", "crop": "centre-crop", "pad": "pad (grey)"}


def pick_image(prefix: str = ""):
    """Sidebar image chooser -> (PIL image, content hash, label) or None (an error is reported in the main area).

    Also draws the Fit control (stretch / centre-crop / pad) for photos that are not square: read it with
    image_fit()."""
    sb = st.sidebar
    choices = tuple(assets.DEMO_IMAGES) + ("upload",)
    params = [Param(f"{prefix}img", str, assets.DEFAULT_IMAGE, choices=choices),
              Param("fit", str, "stretch", choices=FIT_MODES)]
    state.init(params)
    sb.subheader("Image")
    name = sb.selectbox("Image", choices, key=f"{prefix}img", label_visibility="collapsed",
                        format_func=lambda n: IMAGE_LABELS.get(n, f"{n} (demo)"),
                        help="Demo images are held out from the embedded family's training data.")
    out = None
    try:
        if name == "upload":
            # no type filter in the browser: its refusal would leave the previous file and its message up; the
            # decoder names what it cannot read
            up = sb.file_uploader(f"Image file (PNG, JPEG, WebP, BMP, GIF or TIFF; up to "
                                  f"{resources.MAX_IMAGE_UPLOAD_MB} MB)", key=f"{prefix}img_upload",
                                  max_upload_size=resources.MAX_IMAGE_UPLOAD_MB)
            if up is None:
                sb.info("Upload an image; it is fitted to I x I as 'Fit' says.")
            else:
                try:
                    img, h = resources.image_from_bytes(up.getvalue())
                except MAEError as e:
                    raise MAEError(f"{up.name}: {e}") from None
                out = (img, h, up.name)
        else:
            img, h = resources.demo_image(name)
            out = (img, h, name)
    except MAEError as e:
        report(str(e))
    fit = sb.radio("Fit", FIT_MODES, key="fit", horizontal=True, format_func=FIT_LABELS.get,
                   help="How a photo that is not square becomes I x I: stretch it (MAE's demo), take the centred "
                        "square, or pad it with ImageNet-mean grey (the model's zero input; padding is never "
                        "scored).")
    if out is not None:
        w, h_ = out[0].size
        sb.caption(f"{w}×{h_} px" + ("" if w == h_ else f" · not square: {FIT_LABELS[fit]}"))
    state.publish(params)
    return out


def image_fit() -> str:
    """The Fit control's value (pick_image draws it): 'stretch' | 'crop' | 'pad'."""
    return str(st.session_state.get("fit", "stretch"))


# ------------------------------------------------------------------ geometry
def geometry_params(ck: Checkpoint | None, with_mask: bool = True) -> list[Param]:
    I0 = ck.native_size if ck else 128
    p0 = ck.native_patch if ck else 8
    m0 = ck.trained_mask_unit if ck else 1
    ps = [Param("I", int, I0, lo=IMAGE_MIN, hi=IMAGE_MAX),
          Param("p", int, p0 if p0 in PATCH_CHOICES else 16, choices=PATCH_CHOICES)]
    if with_mask:
        ps += [Param("m", int, m0 if m0 in MASK_UNITS else 1, choices=MASK_UNITS),
               Param("r", float, 0.75, lo=0.05, hi=0.95, step=0.05),
               Param("seed", int, DEFAULT_SEED, lo=0, hi=SEED_MAX),
               Param("keep", str, "blocks", choices=("blocks", "exact"))]
    return ps


def _preset_buttons(sb, ck: Checkpoint | None, with_mask: bool, compare: bool) -> None:
    """The presets (ui.presets), each with its one-line 'what it does' as help; model presets whose checkpoint is
    not in the embedded family are disabled; the geometry presets say, before the click, what they do to the current
    checkpoint (a warning sign where they resample it outside its training geometry); then 'checkpoint native'."""
    with sb.expander("Presets", expanded=False):
        st.caption("Switch to a trained model of the embedded family (its own geometry)")
        for pr in presets.MODEL_PRESETS + ((presets.PAIR,) if compare else ()):
            st.button(pr.label, key=f"preset_{pr.key}", on_click=presets.apply, args=(pr, with_mask),
                      width="stretch", help=pr.what, disabled=not presets.available(pr))
        if ck is None:
            st.caption("Geometry only: set the papers' I, p and m on the current checkpoint")
        else:
            effects = {pr.key: presets.effect(pr, ck.label, ck.native_size, ck.native_patch)
                       for pr in presets.PAPER_PRESETS}
            off = sum(e.kind == "resampled" for e in effects.values())
            st.caption(f"Geometry only: set the papers' I, p and m on **{ck.label}** (trained at {ck.native_size} px "
                       f"with {ck.native_patch}-px patches)" + (
                           f". :orange[:material/warning: {'All' if off == len(effects) else off} of these resample "
                           "it outside its training geometry.]" if off else "."))
        for pr in presets.PAPER_PRESETS:
            eff = effects[pr.key] if ck is not None else None
            st.button(pr.label, key=f"preset_{pr.key}", on_click=presets.apply, args=(pr, with_mask),
                      width="stretch", help=pr.what + ("" if eff is None else " " + eff.text),
                      icon=None if eff is None else (":material/warning:" if eff.kind == "resampled"
                                                     else ":material/check:"))
        if ck is not None:
            native = {"I": ck.native_size, "p": ck.native_patch}
            if with_mask:
                native["m"] = ck.trained_mask_unit if ck.trained_mask_unit in MASK_UNITS else 1
            st.button(f"checkpoint native ({ck.native_size}/{ck.native_patch}"
                      + (f", m={native['m']})" if with_mask else ")"), key="preset_native", on_click=_apply,
                      args=(native,), width="stretch", help="Back to the checkpoint's own I, p and mask unit.")


def _apply(values: dict):
    for k, v in values.items():
        state.set_value(k, v)


def _new_seed():
    state.set_value("seed", random.randrange(0, 100_000))


def pick_geometry(ck: Checkpoint | None, with_mask: bool = True, presets: bool = True,
                  compare: bool = False) -> Geometry:
    """Sidebar controls for I, p (and m, r, seed, keep); presets and 'native' buttons; a 'new mask' button.

    compare=True (a page that compares two checkpoints) also offers the trained-pair preset. A page that redraws
    the mask alone when a mask control changes calls pick_size, then pick_mask in an st.fragment."""
    I, p = pick_size(ck, with_mask, presets, compare)
    if not with_mask:
        return Geometry(I, p, 1, 0.0, 0, "blocks")
    return pick_mask(ck, I, p)


def pick_size(ck: Checkpoint | None, with_mask: bool = True, presets: bool = True,
              compare: bool = False) -> tuple[int, int]:
    """Sidebar: the Geometry heading, the presets, I and p; returns (I, p). The mask controls (pick_mask) go
    right below."""
    sb = st.sidebar
    params = geometry_params(ck, with_mask)
    if ck is not None and st.session_state.pop(_RESET_FLAG, False):
        native = {"I": ck.native_size, "p": ck.native_patch}
        if with_mask:
            native["m"] = ck.trained_mask_unit if ck.trained_mask_unit in MASK_UNITS else 1
        for k, v in native.items():
            if v in (params[1].choices if k == "p" else (MASK_UNITS if k == "m" else (v,))):
                state.set_value(k, v)
    size = params[:2]
    state.init(size)
    sb.subheader("Geometry")
    if presets:
        _preset_buttons(sb, ck, with_mask, compare)
    c1, c2 = sb.columns(2)
    I = c1.number_input("Image size I", IMAGE_MIN, IMAGE_MAX, step=8, key="I",
                        help="The image is resized to I x I pixels.")
    p = c2.selectbox("Patch size p", PATCH_CHOICES, key="p", help="Pixels per side of one token.")
    state.publish(size)
    return int(I), int(p)


def pick_mask(ck: Checkpoint | None, I: int, p: int, where=None) -> Geometry:
    """The mask controls (m, keep, r, seed, 'New mask') in `where` (default the sidebar); returns the Geometry."""
    sb = where if where is not None else st.sidebar
    params = geometry_params(ck)[2:]
    state.init(params)
    c3, c4 = sb.columns(2)
    m = c3.selectbox("Mask unit m", MASK_UNITS, key="m",
                     help="m x m patches are masked together (long-seq MAE's --mask_downsampling).")
    keep = c4.selectbox("Keep", ("blocks", "exact"), key="keep",
                        help="blocks: whole mask units only (effective ratio may differ); exact: int(L(1-r)) "
                             "patches as in the papers (one unit may be cut).")
    r = sb.slider("Mask ratio r", 0.05, 0.95, step=0.05, key="r")
    c5, c6 = sb.columns([3, 2], vertical_alignment="bottom")
    seed = c5.number_input("Seed", 0, SEED_MAX, step=1, key="seed")
    c6.button("New mask", on_click=_new_seed, key="new_mask", width="stretch")
    state.publish(params)
    return Geometry(int(I), int(p), int(m), float(r), int(seed), str(keep))
