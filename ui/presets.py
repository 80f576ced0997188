"""Presets: one click to a recipe of the papers. Those with a trained model in the embedded family switch to it
(checkpoint, its native I and p, its training mask unit): "Switch to p8-m2 ...". The geometry ones set I, p and m
on the current checkpoint ("224/8, m=2 ..."): native for a real MAE / long-seq checkpoint of that geometry,
resampled (outside what it was trained on) for any other, e.g. the 128-px embedded models; `effect` says which,
before the click. Every preset applies through ui.state.set_value, so the URL (ckpt_src, ckpt, I, p, m) follows,
and the one clicked is remembered while the geometry is still what it set (`clicked`).
"""
from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from mae_core import assets

from . import resources, state


@dataclass(frozen=True)
class Preset:
    key: str  # button key suffix and lesson link id
    label: str
    what: str  # one sentence: what clicking it does
    image_size: int | None  # None: the checkpoint's native size
    patch_size: int | None
    mask_unit: int
    checkpoint: str | None = None  # embedded family member to switch to
    compare: str | None = None  # a second embedded checkpoint to compare with (pages that compare)


MODEL_PRESETS = (
    Preset("orig", "Switch to p16-m1: the original MAE recipe",
           "Switches to the trained p16-m1 (p=16, L=64) with one patch per mask unit (m=1): MAE's recipe.",
           None, None, 1, "p16-m1"),
    Preset("longseq", "Switch to p8-m2: the long-seq recipe",
           "Switches to the trained p8-m2: 4\u00d7 longer sequence (p=8, L=256) with 2\u00d72 mask units, so it "
           "removes the same 16-px squares as p16-m1.", None, None, 2, "p8-m2"),
    Preset("nounit", "Switch to p8-m1: long sequence, no mask unit",
           "Switches to the trained p8-m1: L=256 but every 8-px patch masked on its own (m=1), so the holes are "
           "4\u00d7 smaller than p16-m1's.", None, None, 1, "p8-m1"),
)
PAIR = Preset("pair", "Compare p8-m2 with p16-m1 (the trained pair)",
              "Shows p8-m2 (L=256, 2\u00d72 units) beside p16-m1 (L=64): both mask 16-px squares, only the sequence "
              "length differs.", None, None, 2, "p8-m2", compare="p16-m1")
PAPER_PRESETS = (
    Preset("mae224", "224/16, m=1: MAE's geometry",
           "Sets I=224, p=16, m=1 (MAE's ViT input, L=196) on the current checkpoint: native for a real MAE "
           "checkpoint, resampled for the 128-px embedded models.", 224, 16, 1),
    Preset("lsm224", "224/8, m=2: long-seq MAE's geometry",
           "Sets I=224, p=8, m=2 (L=784 with 2\u00d72 mask units) on the current checkpoint: the long-seq recipe at "
           "a standard image size; resampled for the embedded models.", 224, 8, 2),
    Preset("lsm448", "448/16, m=2: the long-seq release's geometry",
           "Sets I=448, p=16, m=2 (L=784), the released long-seq configuration, on the current checkpoint; "
           "resampled for the embedded models.", 448, 16, 2),
)


def available(preset: Preset) -> bool:
    """A model preset needs its checkpoint(s) in the embedded family; a paper preset is always available."""
    fam = assets.family()
    return all(n in fam for n in (preset.checkpoint, preset.compare) if n)


def values(preset: Preset, with_mask: bool = True, prefix: str = "") -> dict:
    """The session-state values the preset sets (URL parameter names)."""
    out = {}
    I, p = preset.image_size, preset.patch_size
    if preset.checkpoint:
        model, info, _ = resources.load(assets.family()[preset.checkpoint])
        I, p = int(model.cfg.img_size[0]), int(model.cfg.patch_size)
        out.update({f"{prefix}ckpt_src": "embedded", f"{prefix}ckpt": preset.checkpoint})
    out.update({"I": I, "p": p})
    if with_mask:
        out["m"] = preset.mask_unit
    if preset.compare:
        out.update({"cmp": "checkpoint", "b_ckpt_src": "embedded", "b_ckpt": preset.compare})
    return out


_CLICKED = "_preset_clicked"


def apply(preset: Preset, with_mask: bool = True) -> None:
    """Button callback: set every value through ui.state (so the widgets and the URL follow on the rerun), and
    remember which preset set them."""
    vals = values(preset, with_mask)
    for k, v in vals.items():
        state.set_value(k, v)
    st.session_state[_CLICKED] = (preset.key, vals["I"], vals["p"], vals.get("m"))


def clicked(image_size: int, patch_size: int, mask_unit: int) -> Preset | None:
    """The preset the user clicked, while I, p and m are still what it set (typing the same values is no click,
    and changing any of them forgets it)."""
    rec = st.session_state.get(_CLICKED)
    if rec is None:
        return None
    key, I, p, m = rec
    if (I, p) != (image_size, patch_size) or (m is not None and m != mask_unit):
        st.session_state.pop(_CLICKED, None)
        return None
    return next((pr for pr in MODEL_PRESETS + (PAIR,) + PAPER_PRESETS if pr.key == key), None)


@dataclass(frozen=True)
class Effect:
    """What a geometry preset does to a checkpoint: 'native' (its own geometry) or 'resampled' (off the training
    distribution), in one sentence."""

    kind: str
    text: str


def effect(preset: Preset, label: str, native_size: int, native_patch: int) -> Effect:
    """What clicking a geometry preset does to the checkpoint `label` trained at native_size / native_patch."""
    I, p = preset.image_size, preset.patch_size
    if (I, p) == (native_size, native_patch):
        return Effect("native", f"{I}/{p} is {label}'s own geometry: it runs as trained.")
    L0, L = (native_size // native_patch) ** 2, (I // p) ** 2
    scale = (f"{L / L0:.1f}\u00d7 its training length" if L > L0 else
             f"{L0 / L:.1f}\u00d7 shorter than its training length" if L < L0 else "the same length")
    return Effect("resampled", f"Resamples {label} (trained at {native_size} px with {native_patch}-px patches, "
                  f"L={L0:,}) to {I}/{p} (L={L:,}, {scale}): outside what it was trained on, so expect "
                  f"reconstructions far worse than at its own geometry.")
