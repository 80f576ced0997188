"""Representation tools: CKA against its direct formula and its invariances, the minibatch estimator, probes against
scikit-learn, the feature cache (hit, resume, streamed), bad input, and the three commands."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mae_core.errors import ConfigError
from mae_core.representations import cka as C
from mae_core.representations import probes as P
from mae_core.representations.imagesets import labelled_folder

ROOT = Path(__file__).resolve().parent.parent


def _pair(rng, n, d1=20, d2=15, noise=1.0):
    x = rng.normal(size=(n, d1))
    y = x[:, :d2] @ rng.normal(size=(d2, d2)) + noise * rng.normal(size=(n, d2))
    return x, y


# ------------------------------------------------------------------ CKA
@pytest.mark.parametrize("n", [10, 300])  # n < d (Gram form) and n > d (feature form)
def test_linear_cka_equals_the_direct_hsic_formula(n):
    rng = np.random.default_rng(n)
    x, y = _pair(rng, n, 40, 30)
    h = np.eye(n) - np.ones((n, n)) / n
    k, l = x @ x.T, y @ y.T
    direct = np.trace(k @ h @ l @ h) / np.sqrt(np.trace(k @ h @ k @ h) * np.trace(l @ h @ l @ h))
    assert abs(C.linear_cka(x, y) - direct) < 1e-6
    assert abs(C.cka_from_grams(k, l) - direct) < 1e-6


def test_cka_is_invariant_to_orthogonal_transforms_and_isotropic_scaling():
    rng = np.random.default_rng(1)
    x, y = _pair(rng, 200)
    q, _ = np.linalg.qr(rng.normal(size=(x.shape[1], x.shape[1])))
    base = C.linear_cka(x, y)
    assert abs(C.linear_cka(x @ q, y) - base) < 1e-6
    assert abs(C.linear_cka(3.7 * x, 0.01 * y) - base) < 1e-6
    assert abs(C.linear_cka(x + 5.0, y) - base) < 1e-6  # centring: a shift changes nothing
    # not invariant to a general invertible linear map (that is what tells CKA from CCA)
    a = rng.normal(size=(x.shape[1], x.shape[1]))
    assert abs(C.linear_cka(x @ a, y) - base) > 1e-3


def test_cka_is_one_for_identical_and_near_zero_for_independent_features():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(500, 32))
    assert C.linear_cka(x, x) == pytest.approx(1.0, abs=1e-12)
    assert C.linear_cka(rng.normal(size=(5000, 8)), rng.normal(size=(5000, 8))) < 0.01
    m = C.cka_matrix([x, x[:, :5]], [x, rng.normal(size=(500, 7))])
    assert m[0, 0] == pytest.approx(1.0, abs=1e-12)
    assert m[0, 0] >= m[1, 0] > m[0, 1]


def test_cka_matrix_and_streaming_equal_the_pairwise_value():
    rng = np.random.default_rng(3)
    xs = [rng.normal(size=(120, 9)) for _ in range(3)]
    ys = [xs[0] @ rng.normal(size=(9, 4)), rng.normal(size=(120, 6))]
    m = C.cka_matrix(xs, ys)
    for i, x in enumerate(xs):
        for j, y in enumerate(ys):
            assert abs(m[i, j] - C.linear_cka(x, y)) < 1e-9
    s = C.StreamingLinearCKA()
    for lo in range(0, 120, 17):
        s.update(xs[0][lo:lo + 17], ys[0][lo:lo + 17])
    assert abs(s.value() - C.linear_cka(xs[0], ys[0])) < 1e-9


def test_unbiased_hsic_matches_its_formula_and_is_unbiased_where_the_biased_one_is_not():
    rng = np.random.default_rng(4)
    # small minibatches of independent features: the biased CKA is far from 0, the unbiased minibatch one is not
    x, y = rng.normal(size=(4096, 64)), rng.normal(size=(4096, 64))
    assert np.mean([C.linear_cka(x[i:i + 64], y[i:i + 64]) for i in range(0, 4096, 64)]) > 0.3
    assert abs(C.minibatch_cka(x, y, batch_size=64)) < 0.05


def test_minibatch_estimator_converges_to_the_full_cka():
    rng = np.random.default_rng(5)
    x, y = _pair(rng, 24000, 24, 16, noise=2.0)
    full = C.linear_cka(x, y)
    errs = {}
    for batches in (2, 8, 90):
        per_seed = []
        for seed in range(4):
            order = np.random.default_rng(seed).permutation(len(x))[:batches * 256]
            per_seed.append(abs(C.minibatch_cka(x[order], y[order], batch_size=256) - full))
        errs[batches] = float(np.mean(per_seed))
    assert errs[90] < errs[8] < errs[2]
    assert errs[90] < 0.01


def test_cka_rejects_mismatched_inputs():
    with pytest.raises(ConfigError, match="same inputs"):
        C.linear_cka(np.zeros((5, 2)), np.zeros((6, 2)))


# ------------------------------------------------------------------ probes against scikit-learn
def _clusters(rng, n_per=40, classes=4, d=16):
    centres = rng.normal(size=(classes, d)) * 1.2
    x = np.concatenate([c + rng.normal(size=(n_per, d)) for c in centres]).astype(np.float32)
    y = np.repeat(np.arange(classes), n_per)
    return x, y


def test_knn_equals_sklearn_with_dinos_weighting():
    from sklearn.neighbors import KNeighborsClassifier

    rng = np.random.default_rng(6)
    x, y = _clusters(rng)
    splits = P.folds(y, 5, seed=0)
    for tr, te in splits:
        ours = P.knn_predict(x[tr], y[tr], x[te], k=20, temperature=0.07)
        sk = KNeighborsClassifier(n_neighbors=20, metric="cosine", algorithm="brute",
                                  weights=lambda d: np.exp((1.0 - d) / 0.07)).fit(x[tr], y[tr])
        assert (ours == sk.predict(x[te])).all()
    # and the weighting matters: plain majority vote differs somewhere on a harder set
    x2, y2 = _clusters(np.random.default_rng(7), classes=6)
    x2 += np.random.default_rng(8).normal(size=x2.shape) * 2
    tr, te = P.folds(y2, 5, 0)[0]
    plain = KNeighborsClassifier(n_neighbors=20, metric="cosine", algorithm="brute").fit(x2[tr], y2[tr])
    assert (P.knn_predict(x2[tr], y2[tr], x2[te]) != plain.predict(x2[te])).any()


def test_linear_probe_equals_sklearn_cross_validation_on_the_same_folds():
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(9)
    x, y = _clusters(rng, d=10)
    x[:, 0] *= 100.0  # standardising matters
    ours = P.linear_score(x, y, P.folds(y, 5, seed=3), seed=0)
    ref = cross_val_score(make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000, random_state=0)),
                          x, y, cv=StratifiedKFold(5, shuffle=True, random_state=3))
    assert np.allclose(ours, ref)


def test_attentive_probe_uses_token_level_signal_that_mean_pooling_loses():
    import torch

    rng = np.random.default_rng(10)
    n, t, d = 64, 12, 8
    tokens = rng.normal(size=(n, t, d)).astype(np.float32)
    y = np.arange(n) % 2
    tokens[y == 1, 3, 0] += 6.0  # class 1: one token high and another low on one channel; the mean is unchanged
    tokens[y == 1, 7, 0] -= 6.0
    splits = P.folds(y, 4, 0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: one thread is faster on a shared machine
    try:
        att = np.mean(P.attentive_score(tokens, y, splits, steps=150, batch_size=32))
    finally:
        torch.set_num_threads(threads)
    lin = np.mean(P.linear_score(tokens.mean(1), y, splits))
    assert att > 0.6 and att > lin + 0.2


def test_probe_labels_one_line_errors():
    with pytest.raises(ConfigError, match="at least 2 classes"):
        P.check_labels([0, 0, 0])
    with pytest.raises(ConfigError, match="class 'cat' has 1 image"):
        P.check_labels([0, 0, 1], ["dog", "cat"])


# ------------------------------------------------------------------ labelled folders
def _png(path, seed):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.random.default_rng(seed).integers(0, 255, (40, 48, 3), dtype=np.uint8)
    Image.fromarray(arr).save(path)


def _folder(root, per_class=(3, 3), broken=0):
    for c, n in enumerate(per_class):
        for i in range(n):
            _png(root / f"class{c}" / f"{i}.png", 10 * c + i)
    for i in range(broken):
        (root / "class0" / f"broken{i}.png").write_bytes(b"not a png at all")
    return root


def test_labelled_folder_errors_are_one_line(tmp_path):
    loose = tmp_path / "loose"
    _png(loose / "a.png", 0)
    with pytest.raises(ConfigError, match="has no classes: put the images in one subfolder per class") as e:
        labelled_folder(loose)
    assert "\n" not in str(e.value)
    one = _folder(tmp_path / "one", per_class=(3, 1))
    with pytest.raises(ConfigError, match="class 'class1' has 1 image: each class needs at least 2"):
        labelled_folder(one)
    with pytest.raises(ConfigError, match="no folder at"):
        labelled_folder(tmp_path / "nowhere")
    ok = labelled_folder(_folder(tmp_path / "ok"))
    assert ok.classes == ("class0", "class1") and list(ok.labels) == [0, 0, 0, 1, 1, 1]


# ------------------------------------------------------------------ features: cache, resume, streamed
@pytest.fixture(scope="module")
def tiny_model(tiny_family):
    from mae_core.checkpoints import load_checkpoint

    return load_checkpoint(tiny_family["p8-m2"], probe=False)


def test_features_match_the_encoder_and_are_cached(tmp_path, tiny_model, monkeypatch):
    import torch

    from mae_core.images import fit_image, normalise
    from mae_core.representations import features as F

    model, info = tiny_model
    images = labelled_folder(_folder(tmp_path / "set", per_class=(3, 2), broken=1))
    store = F.extract(model, images, checkpoint_sha256=info.sha256, token_layers=[1], batch_size=2,
                      cache_dir=tmp_path / "cache")
    assert store.n == 6 and int(store.valid.sum()) == 5
    assert list(store.skipped) == ["class0/broken0.png"] and "not a readable image" in store.skipped["class0/broken0.png"]
    ok = [p for p, v in zip(images.paths, store.valid) if v]
    x = torch.cat([normalise(fit_image(p, model.cfg.img_size)[0]) for p in ok])
    with torch.no_grad():
        latent = model.forward_encoder(x, torch.arange(model.cfg.num_patches).expand(len(ok), -1))
    d = model.cfg.depth
    assert np.allclose(store.get("cls", d), latent[:, 0].numpy(), atol=1e-5)
    assert np.allclose(store.get("mean", d), latent[:, 1:].mean(1).numpy(), atol=1e-5)
    assert np.allclose(store.get("tokens", 1).astype(np.float32), latent[:, 1:].numpy(), atol=2e-2)
    assert store.valid_labels().tolist() == [0, 0, 1, 1, 0][:0] + [lab for lab, v in zip(images.labels, store.valid)
                                                                   if v]
    with pytest.raises(ConfigError, match="not in"):
        store.get("tokens", 0)
    # a second run reads the cache and never runs the model
    monkeypatch.setattr(F, "iter_layers", lambda *a, **k: (_ for _ in ()).throw(AssertionError("ran the model")))
    again = F.extract(model, images, checkpoint_sha256=info.sha256, token_layers=[1], batch_size=2,
                      cache_dir=tmp_path / "cache")
    assert again.root == store.root and np.array_equal(again.get("mean", 1), store.get("mean", 1))


def test_features_resume_after_an_interruption(tmp_path, tiny_model):
    from mae_core.representations import features as F

    model, info = tiny_model
    images = labelled_folder(_folder(tmp_path / "set", per_class=(4, 3)))
    full = F.extract(model, images, checkpoint_sha256=info.sha256, batch_size=2, cache_dir=tmp_path / "a")
    seen = []

    def stop_after_two(done, total):
        seen.append(done)
        if len(seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        F.extract(model, images, checkpoint_sha256=info.sha256, batch_size=2, cache_dir=tmp_path / "b",
                  on_batch=stop_after_two)
    state = json.loads(next((tmp_path / "b").iterdir()).joinpath("state.json").read_text())
    assert state["pooled"] == 4
    resumed_at = []
    store = F.extract(model, images, checkpoint_sha256=info.sha256, batch_size=2, cache_dir=tmp_path / "b",
                      on_batch=lambda d, t: resumed_at.append(d))
    assert resumed_at == [6, 7]  # only the images not yet on disk
    for kind in ("cls", "mean"):
        for layer in store.layers:
            assert np.array_equal(store.get(kind, layer), full.get(kind, layer))


def test_cache_key_separates_checkpoint_images_and_geometry():
    from mae_core.representations.features import cache_key

    base = cache_key("a" * 64, "b" * 64, 128, 8, "stretch")
    assert len({base, cache_key("c" * 64, "b" * 64, 128, 8, "stretch"), cache_key("a" * 64, "d" * 64, 128, 8, "stretch"),
                cache_key("a" * 64, "b" * 64, 64, 8, "stretch"), cache_key("a" * 64, "b" * 64, 128, 16, "stretch")}) == 5


# ------------------------------------------------------------------ the commands
def _run(args, env_extra, cwd=ROOT):
    import os

    env = dict(os.environ, **env_extra)
    return subprocess.run([sys.executable, "-m", "mae_core", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=300)


def test_commands_features_cka_probe(tmp_path, tiny_family):
    env = {"MAE_FEATURE_DIR": str(tmp_path / "cache")}
    folder = _folder(tmp_path / "set", per_class=(6, 6), broken=1)
    ck_a, ck_b = str(tiny_family["p8-m2"]), str(tiny_family["p16-m1"])
    r = _run(["features", "--checkpoint", ck_a, "--images", str(folder), "--tokens", "all"], env)
    assert r.returncode == 0, r.stderr
    assert "13 images (set), 12 read" in r.stdout and "skipped 1 unreadable image(s) of 13" in r.stderr
    r = _run(["cka", "--a", ck_a, "--b", ck_b, "--images", str(folder), "--out", str(tmp_path / "m.csv")], env)
    assert r.returncode == 0, r.stderr
    rows = (tmp_path / "m.csv").read_text().splitlines()
    assert len(rows) == 3 and "linear CKA (mean) on 12 images" in r.stdout  # depth 1: layers 0 and 1
    r = _run(["cka", "--a", ck_a, "--a-geometry", "64,8", "--b-geometry", "64,16", "--images", str(folder)], env)
    assert r.returncode == 0, r.stderr
    r = _run(["probe", "--checkpoint", ck_a, "--images", str(folder), "--probes", "knn,linear,attentive",
              "--folds", "3", "--attentive-steps", "5", "--out", str(tmp_path / "p.csv")], env)
    assert r.returncode == 0, r.stderr
    lines = (tmp_path / "p.csv").read_text().splitlines()
    assert len(lines) == 1 + 2 * 2 * 2 + 1  # header, (knn, linear) x (cls, mean) x 2 layers, attentive on the last
    assert "attentive tokens layer  1" in r.stdout


def test_commands_bad_input_one_line_exit_2(tmp_path, tiny_family):
    import torch
    from safetensors.torch import save_file

    env = {"MAE_FEATURE_DIR": str(tmp_path / "cache")}
    loose = tmp_path / "loose"
    _png(loose / "a.png", 0)
    one = _folder(tmp_path / "one", per_class=(3, 1))
    no_encoder = tmp_path / "decoder_only.safetensors"
    save_file({"decoder_embed.weight": torch.zeros(32, 32), "decoder_pred.weight": torch.zeros(192, 32)}, no_encoder)
    for args, msg in (
            (["probe", "--checkpoint", str(tiny_family["p8-m2"]), "--images", str(loose)], "has no classes"),
            (["probe", "--checkpoint", str(tiny_family["p8-m2"]), "--images", str(one)], "class 'class1' has 1 image"),
            (["features", "--checkpoint", str(no_encoder)], "decoder_only.safetensors"),
            (["cka", "--a", str(tiny_family["p8-m2"]), "--a-geometry", "64"], "a geometry is I,p")):
        r = _run(args, env)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        err = r.stderr.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ") and msg in err[0], (args, r.stderr)


# ------------------------------------------------------------------ package-shipped labelled sets
def test_builtin_sets_are_written_once_as_class_folders(tmp_path):
    from mae_core.representations.imagesets import builtin_set

    s = builtin_set("digits300", tmp_path)
    assert len(s) == 300 and s.classes == tuple(str(i) for i in range(10))
    assert np.bincount(s.labels).tolist() == [30] * 10
    assert builtin_set("digits300", tmp_path).digest() == s.digest()
    with pytest.raises(ConfigError, match="unknown built-in set"):
        builtin_set("imagenet", tmp_path)


def test_gcompris_readme_credits_are_read_per_file():
    from mae_core.representations.imagesets import _readme_credits

    text = ("Copyright: Karelj\nSource: https://commons.wikimedia.org/wiki/File:A.jpg\nLicense: Public Domain\n"
            "Files:\nfish1.webp\nfish2.webp\n\nCopyright: Marina Shemesh\nSource: https://x.example/h\n"
            "License: CC0-1.0\nFiles:\nhammer1.webp\n")
    got = _readme_credits(text)
    assert got["fish2.webp"] == ("Karelj", "https://commons.wikimedia.org/wiki/File:A.jpg", "Public Domain")
    assert got["hammer1.webp"][2] == "CC0-1.0" and len(got) == 3


def test_stored_results_round_trip_and_read_as_the_page_reads_them(tmp_path):
    from types import SimpleNamespace

    from mae_core.ablations import load_ablation_file, to_csv
    from mae_core.representations import results as R

    store = SimpleNamespace(meta={"img_size": [128, 128], "patch_size": 8, "images_sha256": "ab" * 32})
    info = SimpleNamespace(training={"mask_unit": 2})
    prov = dict(checkpoint_sha256="0123456789ab", seed=0, device="cpu", code_revision="abc1234")
    m = np.array([[1.0, 0.5], [0.25, 0.75]])
    rows = R.cka_rows("p8-m2", "p16-m1", m, store, info, "photos", "mean", True, prov)
    scores = [P.summarise("linear", "mean", 0, [0.5, 0.7]), P.summarise("linear", "mean", 1, [0.8, 0.9])]
    rows += R.probe_rows("p8-m2", scores, store, info, "photos", prov)
    rows += R.probe_rows("p8-m1", [P.summarise("linear", "mean", 1, [0.6, 0.62])],
                         store, SimpleNamespace(training={"mask_unit": 1}), "photos", prov)
    to_csv(rows, tmp_path / "r.csv")
    back = load_ablation_file(tmp_path / "r.csv")
    assert all(r["status"] == "MEASURED" and r["checkpoint_sha256"] == "0123456789ab" and r["L"] == 256 for r in back)
    got, metric = R.cka_matrix(back, "p8-m2", "p16-m1", "photos")
    assert np.allclose(got, m) and "unbiased" in metric
    assert np.allclose(R.cka_matrix(back, "p16-m1", "p8-m2", "photos")[0], m.T)
    recs = R.probe_records(back, "photos")
    last = R.last_layer(recs, "p8-m2")
    assert last["layer"] == 1 and last["top1"] == pytest.approx(85.0) and last["std"] == pytest.approx(5.0)
    delta, spread, beyond = R.compare(recs, "p8-m1", "p8-m2")
    assert delta == pytest.approx(24.0) and spread == pytest.approx(5.0) and beyond
    assert "+24.0 points, more than the spread" in R.change_sentence(recs, "p8-m1", "p8-m2", "m 1 → 2")


def test_attentive_pooler_equals_the_value_projection_on_every_token():
    """The pooler projects the q pooled vectors, not the T tokens: the same numbers, since attention rows sum to 1."""
    import torch

    torch.manual_seed(0)
    m = P.AttentivePooler(48, 5, num_queries=3)
    x = torch.randn(4, 100, 48)
    attn = torch.softmax(torch.einsum("qd,btd->bqt", m.queries, x) * 48 ** -0.5, dim=-1)
    textbook = m.head(m.norm(torch.einsum("bqt,btd->bqd", attn, m.value(x)).mean(1)))
    assert torch.allclose(m(x), textbook, atol=1e-5)


def test_last_layer_table_puts_the_three_probes_side_by_side():
    from mae_core.representations import results as R

    recs = [dict(checkpoint="a", probe=p, kind=k, layer=l, top1=10.0 * l + i, std=1.0, L=64, mask_unit=1)
            for i, (p, k) in enumerate((("k-NN", R.KIND_NAMES["mean"]), ("linear", R.KIND_NAMES["mean"]),
                                        ("k-NN", R.KIND_NAMES["cls"])))
            for l in (0, 6)]
    recs.append(dict(checkpoint="a", probe="attentive", kind=R.TOKENS, layer=6, top1=70.25, std=2.0, L=64,
                     mask_unit=1))
    recs.append(dict(checkpoint="b", probe="linear", kind=R.KIND_NAMES["mean"], layer=6, top1=50.0, std=3.0, L=256,
                     mask_unit=2))
    assert R.last_layer_table(recs) == [
        {"checkpoint": "a", "L": 64, "m": 1, "k-NN %": "60.0 ± 1.0", "linear %": "61.0 ± 1.0",
         "attentive %": "70.2 ± 2.0"},
        {"checkpoint": "b", "L": 256, "m": 2, "linear %": "50.0 ± 3.0"}]
