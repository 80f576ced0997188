"""From feature stores to results: layer x layer CKA between two stores, probe tables per layer; and the options the
three commands share (which checkpoint, which images, which geometry)."""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..assets import default_checkpoint, embedded
from ..errors import ConfigError
from . import cka as cka_mod
from . import probes as pr

PROBES = ("knn", "linear", "attentive")
PROBE_NAMES = {"knn": "k-NN", "linear": "linear", "attentive": "attentive"}


def _common_rows(a, b) -> np.ndarray:
    if a.meta["images_sha256"] != b.meta["images_sha256"]:
        raise ConfigError("CKA compares features of the same images: the two feature sets come from different "
                          "image sets")
    return a.valid & b.valid


def cka_between(a, b, kind: str = "mean", minibatch: int | None = None, seed: int = 0,
                unbiased: bool = False) -> np.ndarray:
    """(layers of a) x (layers of b) linear CKA over the images both read.

    kind cls / mean: exact linear CKA over images; unbiased=True uses the unbiased HSIC over all images as one
    minibatch (Nguyen et al.), which removes the upward bias of the plain estimate when there are few images
    (17 photographs against 192 or more features). kind tokens: samples are patch tokens (both stores must have
    tokens of every layer and the same number of patches); exact streaming CKA, or Nguyen et al.'s minibatch
    estimator over minibatches of ``minibatch`` tokens when given."""
    rows = _common_rows(a, b)
    if rows.sum() < 2:
        raise ConfigError("CKA needs at least 2 images readable on both sides")
    if kind in ("cls", "mean"):
        xs = [np.asarray(a.get(kind, l, only_valid=False))[rows] for l in a.layers]
        ys = [np.asarray(b.get(kind, l, only_valid=False))[rows] for l in b.layers]
        if unbiased:
            if len(xs[0]) < 4:
                raise ConfigError("the unbiased CKA needs at least 4 images")
            acc = cka_mod.MinibatchCKA()
            acc.update(xs, ys)
            return acc.value()
        return cka_mod.cka_matrix(xs, ys)
    if kind != "tokens":
        raise ConfigError(f"CKA kind must be cls, mean or tokens, got {kind!r}")
    if a.meta["num_patches"] != b.meta["num_patches"]:
        raise ConfigError(f"token-level CKA needs the same patches on both sides ({a.meta['num_patches']} against "
                          f"{b.meta['num_patches']} tokens): compare different geometries with cls or mean")
    la, lb = a.layers, b.layers
    idx = np.flatnonzero(rows)
    if minibatch:
        acc = cka_mod.MinibatchCKA()
        per = max(1, minibatch // a.meta["num_patches"])
        order = np.random.default_rng(seed).permutation(idx)
        for s in range(0, len(order), per):
            sel = np.sort(order[s:s + per])
            xs = [np.asarray(a.get("tokens", l, only_valid=False)[sel], np.float32).reshape(-1, a.meta["dim"])
                  for l in la]
            ys = [np.asarray(b.get("tokens", l, only_valid=False)[sel], np.float32).reshape(-1, b.meta["dim"])
                  for l in lb]
            if xs[0].shape[0] >= 4:
                acc.update(xs, ys)
        return acc.value()
    out = np.zeros((len(la), len(lb)))
    accs = [[cka_mod.StreamingLinearCKA() for _ in lb] for _ in la]
    for s in range(0, len(idx), 64):
        sel = idx[s:s + 64]
        xs = [np.asarray(a.get("tokens", l, only_valid=False)[sel], np.float64).reshape(-1, a.meta["dim"]) for l in la]
        ys = [np.asarray(b.get("tokens", l, only_valid=False)[sel], np.float64).reshape(-1, b.meta["dim"]) for l in lb]
        for i, x in enumerate(xs):
            for j, y in enumerate(ys):
                accs[i][j].update(x, y)
    for i in range(len(la)):
        for j in range(len(lb)):
            out[i, j] = accs[i][j].value()
    return out


def probe_table(store, probes=("knn", "linear"), kinds=("cls", "mean"), layers=None, n_folds: int = pr.FOLDS,
                seed: int = 0, attentive_layers=(), attentive_steps: int = 300, device: str = "cpu",
                on_step=None) -> list[pr.ProbeScore]:
    """Scores of each probe, per kind and layer, on one labelled store, every probe on the same folds."""
    y = store.valid_labels()
    if y is None:
        raise ConfigError(f"{store.meta['image_set']} has no labels: probes need one subfolder per class")
    classes = store.classes
    pr.check_labels(y, classes)
    splits = pr.folds(y, n_folds, seed)
    layers = store.layers if layers is None else list(layers)
    unknown = [p for p in probes if p not in PROBES]
    if unknown:
        raise ConfigError(f"unknown probe {unknown[0]!r}; choose from {', '.join(PROBES)}")
    out = []
    steps = [(p, k, l) for p in probes if p != "attentive" for k in kinds for l in layers]
    steps += [("attentive", "tokens", l) for l in attentive_layers] if "attentive" in probes else []
    for i, (p, k, l) in enumerate(steps):
        x = np.asarray(store.get(k, l), dtype=np.float32)
        if p == "knn":
            accs = pr.knn_score(x, y, splits)
        elif p == "linear":
            accs = pr.linear_score(x, y, splits, seed)
        else:
            accs = pr.attentive_score(store.get("tokens", l), y, splits, seed, steps=attentive_steps, device=device)
        out.append(pr.summarise(PROBE_NAMES[p], k, l, accs))
        if on_step is not None:
            on_step(i + 1, len(steps))
    return out


# ---------------------------------------------------------------------------------------------- shared options
def add_image_args(ap: argparse.ArgumentParser, labelled: bool = False) -> None:
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--images", help="a folder of images" + (" with one subfolder per class" if labelled else
                                                           " (class subfolders optional)"))
    from .imagesets import BUILTIN

    g.add_argument("--builtin", choices=tuple(BUILTIN),
                   help="a labelled set shipped inside a package (digits, digits300: scikit-learn; lfw: "
                        "scikit-image; these are sanity probes, not natural images; gcompris: 140 photographs in 5 "
                        "classes from Debian's gcompris-qt-data, downloaded with apt-get)")
    if not labelled:
        g.add_argument("--photos", action="store_true", help="the 17 bundled photographs (default)")


def add_run_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--fit", choices=("stretch", "crop", "pad"), default="stretch",
                    help="non-square photos: stretch, centre-crop, or pad with ImageNet-mean grey")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    ap.add_argument("--amp", choices=("none", "bf16", "fp16"), default="none", help="CUDA only")
    ap.add_argument("--cache", help="feature cache folder (default: MAE_FEATURE_DIR, else "
                                    "~/.cache/mae_explorer/features)")


def images_from_args(a, labelled: bool = False):
    from . import imagesets

    if getattr(a, "builtin", None):
        return imagesets.builtin_set(a.builtin)
    if getattr(a, "images", None):
        return imagesets.labelled_folder(a.images) if labelled else imagesets.image_folder(a.images)
    if labelled:
        raise ConfigError("give a labelled folder (--images DIR, one subfolder per class) or --builtin")
    return imagesets.bundled_photos()


def parse_geometry(text):
    """'I,p' -> (I, p); None -> (None, None) (the checkpoint's own)."""
    if not text:
        return None, None
    try:
        i, p = (int(t) for t in text.split(","))
    except ValueError:
        raise ConfigError(f"a geometry is I,p (image size, patch size), e.g. 128,8; got {text!r}") from None
    return i, p


def checkpoint_path(text):
    """A checkpoint path, or an embedded family name (p8-m2, ...)."""


    if text is None:
        return default_checkpoint()
    if text in embedded():
        return embedded()[text]
    return Path(text)


def amp_arg(a):
    return None if a.amp == "none" else a.amp
