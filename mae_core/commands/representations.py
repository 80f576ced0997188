"""``python -m mae_core features | cka | probe``."""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..representations import analysis as an


def _store(checkpoint, images, a, geometry=None, token_layers=(), progress=True):
    from ..representations.features import features_for

    size, p = an.parse_geometry(geometry)
    return features_for(an.checkpoint_path(checkpoint), images, image_size=size, patch_size=p,
                        token_layers=token_layers, batch_size=a.batch_size, device=a.device, amp=an.amp_arg(a),
                        fit=a.fit, cache_dir=a.cache, progress=progress)


def _report_skipped(store) -> None:
    sk = store.skipped
    if sk:
        first = next(iter(sk.items()))
        print(f"skipped {len(sk)} unreadable image(s) of {store.n}, e.g. {first[0]}: {first[1]}", file=sys.stderr)


def features(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m mae_core features",
                                 description="Per-layer encoder features (CLS, mean-pooled patch tokens, and per-patch "
                                             "tokens for the layers asked for) of full, unmasked images, cached on "
                                             "disk by checkpoint, image set, I and p; an interrupted run resumes.")
    ap.add_argument("--checkpoint", help="checkpoint file or an embedded name (default: the embedded default)")
    an.add_image_args(ap)
    ap.add_argument("--geometry", help="I,p to run the encoder at (default: the checkpoint's own)")
    ap.add_argument("--tokens", default="", help="layers whose per-patch tokens are kept: all | 3,6,-1 (default: "
                                                 "none; they are large)")
    an.add_run_args(ap)
    a = ap.parse_args(argv)
    from ..representations.features import encoder_depth, parse_layers

    images = an.images_from_args(a)
    depth = encoder_depth(an.checkpoint_path(a.checkpoint))
    store, info, notes = _store(a.checkpoint, images, a, a.geometry, parse_layers(a.tokens, depth))
    _report_skipped(store)
    m = store.meta
    print(f"{len(images)} images ({images.name}), {int(store.valid.sum())} read; I={m['img_size'][0]} "
          f"p={m['patch_size']} L={m['num_patches']} D={m['dim']}; layers 0..{m['depth']} -> {store.root}")
    for n in notes:
        print(f"note: {n}")
    return 0


def _write_matrix(path, mat, name_a, name_b) -> None:
    path = Path(path)
    if path.suffix == ".npz":
        np.savez(path, cka=mat, a=name_a, b=name_b)
        return
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([f"{name_a} layer \\ {name_b} layer"] + list(range(mat.shape[1])))
        for i, row in enumerate(mat):
            w.writerow([i] + [f"{v:.6f}" for v in row])


def cka(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m mae_core cka",
                                 description="Layer x layer linear CKA between two checkpoints, or between two "
                                             "geometries (I, p) of one checkpoint, on the same images.")
    ap.add_argument("--a", required=True, help="first checkpoint (file or embedded name)")
    ap.add_argument("--b", help="second checkpoint (default: the same as --a, for two geometries)")
    ap.add_argument("--a-geometry", help="I,p for the first (default: its own)")
    ap.add_argument("--b-geometry", help="I,p for the second (default: its own)")
    ap.add_argument("--kind", choices=("mean", "cls", "tokens"), default="mean",
                    help="mean-pooled patch tokens (default), CLS, or every patch token as a sample")
    ap.add_argument("--minibatch", type=int, default=0,
                    help="tokens only: Nguyen et al.'s unbiased minibatch estimator over this many tokens per "
                         "minibatch (default 0: the exact full-data CKA, streamed)")
    ap.add_argument("--unbiased", action="store_true",
                    help="cls/mean: the unbiased HSIC over all images (less biased with few images)")
    an.add_image_args(ap)
    an.add_run_args(ap)
    ap.add_argument("--out", help="write the matrix (.csv or .npz)")
    a = ap.parse_args(argv)
    b = a.b or a.a
    if b == a.a and (a.a_geometry or None) == (a.b_geometry or None):
        print("note: the same checkpoint at the same geometry on both sides: the diagonal is 1 by definition",
              file=sys.stderr)
    images = an.images_from_args(a)
    tokens = "all" if a.kind == "tokens" else ""
    from ..representations.features import encoder_depth, parse_layers

    an.parse_geometry(a.a_geometry), an.parse_geometry(a.b_geometry)  # bad input stops here, before any work
    sa, _, _ = _store(a.a, images, a, a.a_geometry, parse_layers(tokens, encoder_depth(an.checkpoint_path(a.a))))
    sb, _, _ = _store(b, images, a, a.b_geometry, parse_layers(tokens, encoder_depth(an.checkpoint_path(b))))
    _report_skipped(sa)
    mat = an.cka_between(sa, sb, a.kind, a.minibatch or None, unbiased=a.unbiased)
    name_a = f"{a.a}" + (f"@{a.a_geometry}" if a.a_geometry else "")
    name_b = f"{b}" + (f"@{a.b_geometry}" if a.b_geometry else "")
    how = ", minibatch" if a.minibatch and a.kind == "tokens" else (", unbiased" if a.unbiased else "")
    print(f"linear CKA ({a.kind}{how}) on "
          f"{int((sa.valid & sb.valid).sum())} images; rows: {name_a} layers, columns: {name_b} layers")
    print("      " + " ".join(f"{j:>5d}" for j in range(mat.shape[1])))
    for i, row in enumerate(mat):
        print(f"{i:>5d} " + " ".join(f"{v:5.2f}" for v in row))
    if a.out:
        _write_matrix(a.out, mat, name_a, name_b)
        print(f"-> {a.out}")
    return 0


def probe(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m mae_core probe",
                                 description="Probes on frozen features of a labelled folder (one subfolder per "
                                             "class): DINO's weighted k-NN (k=20, T=0.07), a linear probe "
                                             "(standardised features, logistic regression) and optionally an "
                                             "attentive probe, per layer, over stratified k-fold splits.")
    ap.add_argument("--checkpoint", help="checkpoint file or an embedded name (default: the embedded default)")
    an.add_image_args(ap, labelled=True)
    ap.add_argument("--geometry", help="I,p to run the encoder at (default: the checkpoint's own)")
    ap.add_argument("--probes", default="knn,linear", help="any of knn,linear,attentive (default knn,linear)")
    ap.add_argument("--kinds", default="cls,mean", help="cls,mean (default both)")
    ap.add_argument("--layers", default="all", help="all (default) or e.g. 3,6,-1")
    ap.add_argument("--attentive-layers", default="-1", help="layers for the attentive probe (default: the last)")
    ap.add_argument("--attentive-steps", type=int, default=300, help="training steps of the attentive probe per fold")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    an.add_run_args(ap)
    ap.add_argument("--out", help="write the table as CSV")
    a = ap.parse_args(argv)
    probes = [p.strip() for p in a.probes.split(",") if p.strip()]
    kinds = [k.strip() for k in a.kinds.split(",") if k.strip()]
    bad = [k for k in kinds if k not in ("cls", "mean")]
    if bad:
        raise ConfigError(f"--kinds takes cls and mean, got {bad[0]!r}")
    if a.folds < 2:
        raise ConfigError("--folds must be at least 2")
    images = an.images_from_args(a, labelled=True)
    from ..representations.features import encoder_depth, parse_layers

    depth = encoder_depth(an.checkpoint_path(a.checkpoint))
    layers = parse_layers(a.layers, depth)
    att = parse_layers(a.attentive_layers, depth) if "attentive" in probes else []
    store, info, _ = _store(a.checkpoint, images, a, a.geometry, att)
    _report_skipped(store)
    from ..precision import resolve_device

    scores = an.probe_table(store, probes, kinds, layers, a.folds, a.seed, att, attentive_steps=a.attentive_steps,
                            device=str(resolve_device(a.device)))
    counts = np.bincount(store.valid_labels(), minlength=len(store.classes))
    print(f"{images.name}: {int(store.valid.sum())} images, {len(store.classes)} classes "
          f"({', '.join(f'{c} {n}' for c, n in zip(store.classes, counts))}); top-1 %, mean ± std over folds")
    for s in scores:
        print(f"  {s.probe:<9} {s.kind:<6} layer {s.layer:>2}: {100 * s.mean:5.1f} ± {100 * s.std:4.1f}")
    if a.out:
        with open(a.out, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["probe", "kind", "layer", "top1_mean", "top1_std", "folds", "checkpoint_sha256", "images",
                        "images_sha256", "seed"])
            for s in scores:
                w.writerow([s.probe, s.kind, s.layer, f"{s.mean:.6f}", f"{s.std:.6f}", len(s.folds), info.sha256,
                            images.name, store.meta["images_sha256"], a.seed])
        print(f"-> {a.out}")
    return 0
