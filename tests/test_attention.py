"""mae_core.attention against an eager (fused_attn=False) copy of the model, hand-made attention patterns and
the invariants of the conventions (rows sum to 1, mapping through ids_keep, no mutation of the model)."""
import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from attention_reference import attention_rollout, distance_matrix, mean_attention_distance
from mae_core import attention as att
from mae_core.commands.attention import cli as attention_cli
from mae_core.attention import analyze, mad_over_images
from mae_core.errors import ConfigError
from mae_core.masking import Mask, make_mask
from mae_core.model import MAEConfig, build_model

GRID = (4, 6)  # non-square on purpose
P = 8


def tiny_model(seed=0, **kw):
    torch.manual_seed(seed)
    cfg = MAEConfig(img_size=(GRID[0] * P, GRID[1] * P), patch_size=P, embed_dim=32, depth=2, num_heads=4,
                    decoder_embed_dim=32, decoder_depth=2, decoder_num_heads=4, **kw)
    m = build_model(cfg).eval()
    with torch.no_grad():  # sharper than xavier's near-uniform attention, so wrong mappings cannot hide
        for blk in list(m.blocks) + list(m.decoder_blocks):
            blk.attn.qkv.weight.mul_(4.0)
    return m


@pytest.fixture(scope="module")
def model():
    return tiny_model()


@pytest.fixture(scope="module")
def image():
    g = torch.Generator().manual_seed(1)
    return torch.randn(1, 3, GRID[0] * P, GRID[1] * P, generator=g)


def eager_attention(model, x, mask=None, stack="encoder"):
    """Reference: a deep copy with timm's eager attention, hooked at attn_drop. Returns [(H, T, T)] per block."""
    ref = copy.deepcopy(model)
    for blk in list(ref.blocks) + list(getattr(ref, "decoder_blocks", [])):
        blk.attn.fused_attn = False
    blocks = ref.blocks if stack == "encoder" else ref.decoder_blocks
    store = []
    hooks = [b.attn.attn_drop.register_forward_hook(lambda m, i, o: store.append(o[0].detach().clone()))
             for b in blocks]
    mask = mask if mask is not None else make_mask(model.cfg.grid, 1, 0.0)
    ids_keep, ids_restore = mask.batch(1)
    with torch.no_grad():
        latent = ref.forward_encoder(x, ids_keep)
        if stack == "decoder":
            ref.forward_decoder(latent, ids_restore)
    for h in hooks:
        h.remove()
    assert len(store) == len(blocks)
    return store


def on_grid(vals, ids, grid):
    out = np.full(vals.shape[:-1] + (grid[0] * grid[1],), np.nan)
    out[..., np.asarray(ids)] = vals
    return out.reshape(vals.shape[:-1] + tuple(grid))


def state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


# ------------------------------------------------------------------ recomputed attention == eager attention
def test_maps_equal_eager_reference_full_image(model, image):
    res = analyze(model, image, query=(2, 3))
    ref = eager_attention(model, image)
    q_tok = 1 + 2 * GRID[1] + 3
    assert res.cls_attention.shape == (2, 4, *GRID) and res.query_attention.shape == (2, 4, *GRID)
    assert res.grid == GRID and res.n_tokens == 1 + GRID[0] * GRID[1] and res.patch_size == P
    for li, a in enumerate(ref):
        a = a.numpy()
        np.testing.assert_allclose(res.cls_attention[li], a[:, 0, 1:].reshape(4, *GRID), atol=1e-5)
        np.testing.assert_allclose(res.cls_to_cls[li], a[:, 0, 0], atol=1e-5)
        np.testing.assert_allclose(res.query_attention[li], a[:, q_tok, 1:].reshape(4, *GRID), atol=1e-5)
        np.testing.assert_allclose(res.query_to_cls[li], a[:, q_tok, 0], atol=1e-5)
    assert np.ptp(res.cls_attention) > 0.05  # the reference is not trivially uniform


def test_query_raster_index_equals_row_col(model, image):
    a = analyze(model, image, query=(3, 1))
    b = analyze(model, image, query=3 * GRID[1] + 1)
    assert b.query == (3, 1)
    np.testing.assert_array_equal(a.query_attention, b.query_attention)


def test_rows_sum_to_one(model, image):
    res = analyze(model, image, query=(0, 5))
    np.testing.assert_allclose(res.cls_attention.sum((-2, -1)) + res.cls_to_cls, 1.0, atol=1e-5)
    np.testing.assert_allclose(res.query_attention.sum((-2, -1)) + res.query_to_cls, 1.0, atol=1e-5)


# ------------------------------------------------------------------ masks: tokens mapped through ids_keep
def test_masked_maps_go_through_ids_keep(model, image):
    mk = make_mask(GRID, 2, 0.5, seed=3)
    vis = np.flatnonzero(mk.mask.numpy().reshape(-1) == 0)
    qr, qc = divmod(int(vis[-1]), GRID[1])
    res = analyze(model, image, mask=mk, query=(qr, qc))
    ref = eager_attention(model, image, mk)
    ids = mk.ids_keep.numpy()
    q_tok = 1 + int(np.flatnonzero(ids == vis[-1])[0])
    assert res.n_tokens == 1 + mk.n_keep
    np.testing.assert_array_equal(res.mask, mk.mask.numpy())
    removed = mk.mask.numpy() == 1
    for li, a in enumerate(ref):
        a = a.numpy()
        assert np.isnan(res.cls_attention[li][:, removed]).all()
        assert not np.isnan(res.cls_attention[li][:, ~removed]).any()
        np.testing.assert_allclose(res.cls_attention[li], on_grid(a[:, 0, 1:], ids, GRID), atol=1e-5)
        np.testing.assert_allclose(res.query_attention[li], on_grid(a[:, q_tok, 1:], ids, GRID), atol=1e-5)
    assert np.isnan(res.rollout[removed]).all() and not np.isnan(res.rollout[~removed]).any()


def test_shuffled_ids_keep_gives_the_same_maps(model, image):
    """The encoder is permutation-equivariant, so any token order must land on the same grid positions."""
    mk = make_mask(GRID, 1, 0.4, seed=5)
    perm = torch.randperm(mk.n_keep, generator=torch.Generator().manual_seed(0))
    ids_keep = mk.ids_keep[perm]
    ids_removed = torch.from_numpy(np.flatnonzero(mk.mask.numpy().reshape(-1) == 1))
    shuffled = Mask(ids_keep=ids_keep, ids_restore=torch.argsort(torch.cat([ids_keep, ids_removed])),
                    mask=mk.mask, grid=mk.grid, mask_unit=1, requested_ratio=0.4)
    q = int(mk.ids_keep[1])
    a = analyze(model, image, mask=mk, query=q)
    b = analyze(model, image, mask=shuffled, query=q)
    assert not torch.equal(ids_keep, mk.ids_keep)
    for name in ("cls_attention", "query_attention", "rollout"):
        np.testing.assert_allclose(getattr(b, name), getattr(a, name), atol=1e-5, equal_nan=True)
    np.testing.assert_allclose(b.mean_attention_distance, a.mean_attention_distance, rtol=1e-5)


def test_query_removed_by_mask_is_an_error(model, image):
    mk = make_mask(GRID, 1, 0.5, seed=0)
    removed = int(np.flatnonzero(mk.mask.numpy().reshape(-1) == 1)[0])
    with pytest.raises(ConfigError, match="removed by the mask"):
        analyze(model, image, mask=mk, query=removed)


# ------------------------------------------------------------------ mean attention distance
def pairwise_pixel_distances(grid, p):
    """Independent of geometry.patch_centers: plain loops over (row, col)."""
    cells = [(r, c) for r in range(grid[0]) for c in range(grid[1])]
    return np.array([[p * math.hypot(r1 - r2, c1 - c2) for (r2, c2) in cells] for (r1, c1) in cells])


def test_mad_self_attention_is_zero():
    L = GRID[0] * GRID[1]
    a = np.zeros((2, L + 1, L + 1))
    a[:, np.arange(L + 1), np.arange(L + 1)] = 1.0
    np.testing.assert_allclose(mean_attention_distance(a, GRID, P), 0.0, atol=1e-12)


def test_mad_uniform_is_mean_pairwise_distance():
    L = GRID[0] * GRID[1]
    d = pairwise_pixel_distances(GRID, P)
    a = np.full((3, L + 1, L + 1), 1.0 / (L + 1))  # every token, CLS included, gets the same weight
    expected = d.mean()
    np.testing.assert_allclose(mean_attention_distance(a, GRID, P), expected, rtol=1e-12)
    # Kornblith: CLS column dropped, rows not renormalised -> scaled by the patch mass L/(L+1)
    np.testing.assert_allclose(mean_attention_distance(a, GRID, P, renormalise=False), expected * L / (L + 1),
                               rtol=1e-12)
    np.testing.assert_allclose(mean_attention_distance(a, GRID, P, include_cls=True), expected * L / (L + 1),
                               rtol=1e-12)


def test_mad_half_on_cls_and_neighbour_non_square():
    """Each patch puts 0.5 on CLS and 0.5 on its right (or left) neighbour: p px when renormalised, p/2 not."""
    gh, gw = 3, 5
    L = gh * gw
    a = np.zeros((L + 1, L + 1))
    a[:, 0] = 0.5
    a[0, 0] = 1.0
    for i in range(L):
        r, c = divmod(i, gw)
        j = i + 1 if c + 1 < gw else i - 1
        a[1 + i, 1 + j] = 0.5
    assert float(mean_attention_distance(a, (gh, gw), 4)) == pytest.approx(4.0)
    assert float(mean_attention_distance(a, (gh, gw), 4, renormalise=False)) == pytest.approx(2.0)
    # a vertical neighbour on a non-square grid: distance p as well, but only if rows/cols are not swapped
    b = np.zeros((L + 1, L + 1))
    for i in range(L):
        r, c = divmod(i, gw)
        j = (r + 1) * gw + c if r + 1 < gh else (r - 1) * gw + c
        b[1 + i, 1 + j] = 1.0
    b[0, 0] = 1.0
    assert float(mean_attention_distance(b, (gh, gw), 4)) == pytest.approx(4.0)


def test_mad_with_positions_and_without_cls():
    """Two visible patches at opposite corners attending to each other: the corner distance."""
    gh, gw, p = 3, 4, 10
    a = np.array([[0.0, 1.0], [1.0, 0.0]])
    positions = [0, gh * gw - 1]
    expected = p * math.hypot(gh - 1, gw - 1)
    assert float(mean_attention_distance(a, (gh, gw), p, positions=positions, has_cls=False)) == pytest.approx(expected)
    with pytest.raises(ConfigError):
        mean_attention_distance(a, (gh, gw), p, has_cls=False)  # 2 tokens do not fill 3x4 without positions


@pytest.mark.parametrize("renorm,incl", [(True, False), (False, False), (True, True)])
def test_analyze_mad_equals_helper_on_reference(model, image, renorm, incl):
    mk = make_mask(GRID, 1, 0.5, seed=1)
    for mask in (None, mk):
        res = analyze(model, image, mask=mask, renormalise_mad=renorm, include_cls_in_mad=incl)
        ref = eager_attention(model, image, mask)
        positions = None if mask is None else mk.ids_keep.numpy()
        expected = np.stack([mean_attention_distance(a, GRID, P, positions=positions, renormalise=renorm,
                                                     include_cls=incl) for a in ref])
        np.testing.assert_allclose(res.mean_attention_distance, expected, rtol=1e-4)
        np.testing.assert_allclose(res.mad_fraction, res.mean_attention_distance / (GRID[1] * P), rtol=1e-6)
        np.testing.assert_allclose(res.mad_patches, res.mean_attention_distance / P, rtol=1e-6)
    assert ("row renormalised over the patch keys" in res.convention) == (renorm and not incl)
    assert ("without renormalising" in res.convention) == (not renorm and not incl)


def test_mad_conventions_differ_when_cls_gets_mass(model, image):
    a = analyze(model, image, renormalise_mad=True)
    b = analyze(model, image, renormalise_mad=False)
    assert (a.mean_attention_distance > b.mean_attention_distance).all()


def test_mad_over_images_is_the_mean_of_single_images(model):
    imgs = torch.randn(3, 3, GRID[0] * P, GRID[1] * P, generator=torch.Generator().manual_seed(7))
    s = mad_over_images(model, imgs)
    singles = np.stack([analyze(model, imgs[i:i + 1]).mean_attention_distance for i in range(3)])
    assert s.per_image.shape == (3, 2, 4) and s.n_images == 3
    np.testing.assert_allclose(s.per_image, singles, rtol=1e-5)
    np.testing.assert_allclose(s.mean_attention_distance, singles.mean(0), rtol=1e-5)
    np.testing.assert_allclose(s.mad_fraction, s.mean_attention_distance / (GRID[1] * P), rtol=1e-6)
    s2 = mad_over_images(model, [imgs[0], imgs[1:2]], layers=[1])
    np.testing.assert_allclose(s2.mean_attention_distance, singles[:2, 1:].mean(0), rtol=1e-5)


# ------------------------------------------------------------------ rollout
@pytest.mark.parametrize("fusion", ["mean", "max", "min"])
def test_rollout_equals_reference_and_rows_are_normalised(model, image, fusion):
    ref = eager_attention(model, image)
    R = attention_rollout(ref, fusion)
    np.testing.assert_allclose(R.sum(-1).numpy(), 1.0, atol=1e-10)
    res = analyze(model, image, head_fusion=fusion)
    np.testing.assert_allclose(res.rollout, R[0, 1:].reshape(GRID).numpy(), atol=1e-5)
    assert res.rollout_cls == pytest.approx(float(R[0, 0]), abs=1e-5)
    assert float(np.nansum(res.rollout)) + res.rollout_cls == pytest.approx(1.0, abs=1e-5)


def test_rollout_reference_renormalises_rows_not_columns():
    """vit-explain #16: a / a.sum(-1) without keepdim divides columns. With max fusion rows do not sum to 1."""
    g = torch.Generator().manual_seed(0)
    attn = [torch.softmax(3 * torch.randn(2, 5, 5, generator=g), -1) for _ in range(3)]
    R = attention_rollout(attn, "max")
    np.testing.assert_allclose(R.sum(-1).numpy(), 1.0, atol=1e-12)
    # hand-chained check of the first layer alone
    a = attn[0].double().amax(0) * 0.5 + 0.5 * torch.eye(5, dtype=torch.float64)
    np.testing.assert_allclose(attention_rollout(attn[:1], "max").numpy(), (a / a.sum(-1, keepdim=True)).numpy())


def test_rollout_over_selected_prefix(model, image):
    ref = eager_attention(model, image)
    res = analyze(model, image, layers=[0])
    assert res.layers == (0,) and res.cls_attention.shape[0] == 1
    np.testing.assert_allclose(res.rollout, attention_rollout(ref[:1])[0, 1:].reshape(GRID).numpy(), atol=1e-5)
    last = analyze(model, image, layers="encoder:-1")
    full = analyze(model, image)
    assert last.layers == (1,)
    np.testing.assert_allclose(last.cls_attention[0], full.cls_attention[1], atol=1e-6)
    np.testing.assert_allclose(last.rollout, full.rollout, atol=1e-6)


# ------------------------------------------------------------------ chunking
@pytest.mark.parametrize("chunk", [1, 3, 7])
def test_chunked_equals_unchunked(model, image, chunk):
    mk = make_mask(GRID, 1, 0.3, seed=2)
    q = int(mk.ids_keep[-1])
    for mask in (None, mk):
        a = analyze(model, image, mask=mask, query=q, chunk=chunk, head_fusion="max")
        b = analyze(model, image, mask=mask, query=q, chunk=100_000, head_fusion="max")
        for name in ("cls_attention", "cls_to_cls", "query_attention", "query_to_cls", "rollout",
                     "mean_attention_distance"):
            np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=1e-5, atol=1e-6, equal_nan=True)
        assert a.rollout_cls == pytest.approx(b.rollout_cls, abs=1e-6)


# ------------------------------------------------------------------ decoder
def test_decoder_attention_includes_mask_tokens(model, image):
    mk = make_mask(GRID, 2, 0.5, seed=4)
    removed = int(np.flatnonzero(mk.mask.numpy().reshape(-1) == 1)[0])
    res = analyze(model, image, mask=mk, layers="decoder", query=removed)  # a mask token may be the query
    ref = eager_attention(model, image, mk, stack="decoder")
    assert res.stack == "decoder" and res.n_tokens == 1 + GRID[0] * GRID[1]
    assert not np.isnan(res.cls_attention).any()
    np.testing.assert_array_equal(res.mask, mk.mask.numpy())
    for li, a in enumerate(ref):
        a = a.numpy()
        np.testing.assert_allclose(res.cls_attention[li], a[:, 0, 1:].reshape(4, *GRID), atol=1e-5)
        np.testing.assert_allclose(res.query_attention[li], a[:, 1 + removed, 1:].reshape(4, *GRID), atol=1e-5)
    expected = np.stack([mean_attention_distance(a, GRID, P) for a in ref])
    np.testing.assert_allclose(res.mean_attention_distance, expected, rtol=1e-4)
    np.testing.assert_allclose(res.rollout, attention_rollout(ref)[0, 1:].reshape(GRID).numpy(), atol=1e-5)


def test_decoder_with_downsampling_uses_the_coarse_grid(image):
    m = tiny_model(decoder_downsampling=2)
    res = analyze(m, image, layers="decoder", query=(3, 5))
    assert res.grid == (2, 3) and res.patch_size == 2 * P and res.query == (1, 2)
    ref = eager_attention(m, image, stack="decoder")
    expected = np.stack([mean_attention_distance(a, (2, 3), 2 * P) for a in ref])
    np.testing.assert_allclose(res.mean_attention_distance, expected, rtol=1e-4)


# ------------------------------------------------------------------ no mutation, fused path kept
def snapshot(model):
    return dict(
        fused=[b.attn.fused_attn for b in list(model.blocks) + list(model.decoder_blocks)],
        hooks=[(n, len(m._forward_pre_hooks), len(m._forward_hooks)) for n, m in model.named_modules()],
        training=[m.training for m in model.modules()],
        state=state(model))


def assert_same(before, after):
    assert before["fused"] == after["fused"]
    assert before["hooks"] == after["hooks"]
    assert before["training"] == after["training"]
    for k, v in before["state"].items():
        assert torch.equal(v, after["state"][k]), k


def test_model_is_not_mutated(image):
    m = tiny_model()
    for blk in m.blocks:
        blk.attn.fused_attn = True  # the configuration the app runs with
    before = snapshot(m)
    analyze(m, image, query=(1, 1))
    analyze(m, image, layers="decoder")
    mad_over_images(m, [image])
    assert_same(before, snapshot(m))


def test_model_unchanged_when_analyze_raises(image):
    m = tiny_model()
    before = snapshot(m)

    def boom(module, args, out):
        raise RuntimeError("boom")

    h = m.blocks[0].mlp.register_forward_hook(boom)  # fails mid-analysis, after block 0's attention
    with pytest.raises(RuntimeError, match="boom"):
        analyze(m, image)
    h.remove()
    assert_same(before, snapshot(m))


def test_rollout_recomputed_equals_rollout_kept(model, image, monkeypatch):
    """Past ROLLOUT_STORE_BYTES the head-fused matrices are not kept and the chain recomputes q/k scores from each
    block's normed input: same rollout, same maps."""
    mk = make_mask(GRID, 2, 0.5, seed=3)
    kept = analyze(model, image, mask=mk, head_fusion="max")
    monkeypatch.setattr(att, "ROLLOUT_STORE_BYTES", 0)
    out = att._run(model, image, mask=mk, query=None, layers="encoder", head_fusion="max", renormalise_mad=True,
                   include_cls_in_mad=False, chunk=5, amp=None)
    assert out.rollout_kept is False
    recomputed = analyze(model, image, mask=mk, head_fusion="max", chunk=5)
    np.testing.assert_allclose(recomputed.rollout, kept.rollout, atol=1e-6)
    np.testing.assert_allclose(recomputed.mean_attention_distance, kept.mean_attention_distance, rtol=1e-5)
    ref = eager_attention(model, image, mask=mk)
    ids = mk.ids_keep.numpy()
    np.testing.assert_allclose(recomputed.rollout, on_grid(attention_rollout(ref, "max")[0, 1:].numpy(), ids, GRID),
                               atol=1e-5)


def test_analysis_memory_estimate_switches_to_recompute():
    from mae_core.cost import analysis_memory_bytes

    small = analysis_memory_bytes(T=257, dim=192, heads=3, depth=6)
    assert small >= 4 * 6 * 257**2  # the fused matrices are kept
    big_T, depth, dim = 3137, 24, 1024
    assert 4 * depth * big_T**2 > att.ROLLOUT_STORE_BYTES
    assert analysis_memory_bytes(T=big_T, dim=dim, heads=16, depth=depth) < 4 * depth * big_T**2


def test_other_threads_using_the_shared_model_are_left_alone(image):
    """A forward of the same model in another thread, in the middle of an analysis, runs to the end untouched
    (nothing is registered on the model), and analyze's own result is unaffected."""
    import threading

    m = tiny_model()
    other = torch.randn_like(image)
    ids_keep, _ = make_mask(GRID, 1, 0.0).batch(1)
    with torch.no_grad():
        expected = m.forward_encoder(other, ids_keep)
    seen = {}

    def run_other():
        try:
            with torch.no_grad():
                seen["out"] = m.forward_encoder(other, ids_keep)
        except BaseException as e:  # noqa: BLE001 - the test reports whatever escaped
            seen["error"] = e

    def during_analyze(module, args, out):
        if threading.current_thread() is threading.main_thread() and not seen.get("started"):
            seen["started"] = True
            t = threading.Thread(target=run_other)
            t.start()
            t.join()

    h = m.blocks[0].mlp.register_forward_hook(during_analyze)
    try:
        res = analyze(m, image)
    finally:
        h.remove()
    assert "error" not in seen, seen.get("error")
    torch.testing.assert_close(seen["out"], expected)
    ref = eager_attention(m, image)
    np.testing.assert_allclose(res.cls_attention[-1], ref[-1][:, 0, 1:].reshape(4, *GRID).numpy(), atol=1e-5)


def test_blocks_not_analysed_keep_fused_sdpa(image, monkeypatch):
    """Analysed blocks compute their attention once, explicitly (it is both their output and the analysis); every
    other block runs its own fused forward, and the model's fused_attn flags are left as they were."""
    m = tiny_model()
    for blk in list(m.blocks) + list(m.decoder_blocks):
        blk.attn.fused_attn = True
    calls = []
    real = F.scaled_dot_product_attention

    def counting(*a, **k):
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(F, "scaled_dot_product_attention", counting)
    res = analyze(m, image)
    assert len(calls) == 0  # every encoder block is analysed (rollout 0..last); the forward stops after the last
    analyze(m, image, layers="decoder")
    assert len(calls) == m.cfg.depth  # the encoder ran fused; the decoder blocks were analysed
    calls.clear()
    mad_over_images(m, [image], layers="encoder:1")  # no rollout: block 0 is only a way to block 1
    assert len(calls) == 1
    assert all(b.attn.fused_attn for b in list(m.blocks) + list(m.decoder_blocks))
    ref = eager_attention(m, image)
    np.testing.assert_allclose(res.cls_attention[-1], ref[-1][:, 0, 1:].reshape(4, *GRID).numpy(), atol=1e-5)


# ------------------------------------------------------------------ inputs and errors
def test_user_errors(model, image):
    with pytest.raises(ConfigError, match="expects"):
        analyze(model, torch.randn(1, 3, 32, 32))
    with pytest.raises(ConfigError, match="head_fusion"):
        analyze(model, image, head_fusion="median")
    with pytest.raises(ConfigError, match="outside"):
        analyze(model, image, query=(GRID[0], 0))
    with pytest.raises(ConfigError, match="outside"):
        analyze(model, image, query=GRID[0] * GRID[1])
    with pytest.raises(ConfigError, match="out of range"):
        analyze(model, image, layers=[2])
    with pytest.raises(ConfigError):
        analyze(model, image, layers="middle")
    with pytest.raises(ConfigError, match="chunk"):
        analyze(model, image, chunk=0)
    with pytest.raises(ConfigError, match="grid"):
        analyze(model, image, mask=np.zeros((3, 3)))
    enc_only = build_model(model.cfg.replace(has_decoder=False))
    with pytest.raises(ConfigError, match="no decoder"):
        analyze(enc_only, image, layers="decoder")


def test_encoder_only_model_and_unbatched_image(image):
    torch.manual_seed(0)
    m = build_model(MAEConfig(img_size=(GRID[0] * P, GRID[1] * P), patch_size=P, embed_dim=32, depth=1,
                              num_heads=2, has_decoder=False)).eval()
    res = analyze(m, image[0])
    assert res.cls_attention.shape == (1, 2, *GRID)
    ref = eager_attention(m, image)
    np.testing.assert_allclose(res.cls_attention[0], ref[0][:, 0, 1:].reshape(2, *GRID).numpy(), atol=1e-5)


def test_pil_image_is_resized_like_to_tensor(model):
    images = pytest.importorskip("mae_core.images")
    from PIL import Image

    arr = (np.random.default_rng(0).random((20, 30, 3)) * 255).astype(np.uint8)
    pil = Image.fromarray(arr)
    a = analyze(model, pil)
    b = analyze(model, images.to_tensor(pil, model.cfg.img_size))
    np.testing.assert_array_equal(a.cls_attention, b.cls_attention)


def test_npz_round_trip(model, image, tmp_path):
    res = analyze(model, image, query=(1, 2), mask=make_mask(GRID, 1, 0.5, seed=0))
    path = tmp_path / "a.npz"
    res.to_npz(path)
    z = np.load(path, allow_pickle=False)
    np.testing.assert_array_equal(z["cls_attention"], res.cls_attention)
    np.testing.assert_array_equal(z["mean_attention_distance"], res.mean_attention_distance)
    np.testing.assert_array_equal(z["query"], [1, 2])
    assert str(z["convention"]) == res.convention


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_cuda_amp_close_to_float32(image, amp):
    m = tiny_model().cuda()
    a = analyze(m, image.cuda(), amp=amp, query=(1, 1))
    b = analyze(m, image.cuda(), query=(1, 1), precision="fp32")
    np.testing.assert_allclose(a.cls_attention.sum((-2, -1)) + a.cls_to_cls, 1.0, atol=1e-5)  # softmax in fp32
    np.testing.assert_allclose(a.cls_attention, b.cls_attention, atol=3e-2)
    np.testing.assert_allclose(a.mean_attention_distance, b.mean_attention_distance, rtol=5e-2)


# ------------------------------------------------------------------ command line
def test_cli_writes_npz(model, tmp_path, capsys):
    pytest.importorskip("mae_core.checkpoints")
    from PIL import Image

    from mae_core.checkpoints import load_checkpoint, save_checkpoint
    from mae_core.images import load_image, to_tensor

    ck = save_checkpoint(model, tmp_path / "tiny.safetensors", training={"mask_unit": 1}, dtype=torch.float32)
    img_path = tmp_path / "img.png"
    Image.fromarray((np.random.default_rng(1).random((40, 40, 3)) * 255).astype(np.uint8)).save(img_path)
    out = tmp_path / "att.npz"
    rc = attention_cli(["--checkpoint", str(ck), "--image", str(img_path), "--query", "1,2", "--device", "cpu",
                  "--out", str(out)])
    assert rc == 0
    z = np.load(out, allow_pickle=False)
    assert z["mean_attention_distance"].shape == (2, 4)
    assert z["cls_attention"].shape == (2, 4, *GRID)
    assert z["rollout"].shape == GRID
    assert z["query_attention"].shape == (2, 4, *GRID)
    loaded, _ = load_checkpoint(ck)
    direct = analyze(loaded, to_tensor(load_image(img_path), loaded.cfg.img_size))
    np.testing.assert_allclose(z["mean_attention_distance"], direct.mean_attention_distance, rtol=1e-5)
    np.testing.assert_allclose(z["mad_fraction"], direct.mad_fraction, rtol=1e-5)
    assert "mean attention distance" in capsys.readouterr().out


def test_cli_mad_over_the_image_set(model, tmp_path):
    from mae_core import assets
    from mae_core.checkpoints import save_checkpoint
    from mae_core.images import load_image

    ck = save_checkpoint(model, tmp_path / "tiny.safetensors", training={"mask_unit": 1}, dtype=torch.float32)
    out = tmp_path / "att.npz"
    assert attention_cli(["--checkpoint", str(ck), "--mad-over-set", "--device", "cpu", "--out", str(out)]) == 0
    z = np.load(out, allow_pickle=False)
    names = list(assets.image_set())
    assert list(z["mad_set_images"]) == names and z["mad_set_mean"].shape == (2, 4)
    assert "mean_attention_distance" in z.files  # the single-image result is still there
    ref = mad_over_images(model, [load_image(p) for p in assets.image_set().values()])
    np.testing.assert_allclose(z["mad_set_mean"], ref.mean_attention_distance, rtol=1e-4)
    np.testing.assert_allclose(z["mad_set_std"], ref.std, rtol=1e-3, atol=1e-4)


def test_cli_bad_query_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="--query"):
        attention_cli(["--query", "1,2,3", "--out", str(tmp_path / "x.npz")])


# ------------------------------------------------------------------ the uniform-attention reference
REF = __import__("pathlib").Path("/work/shared/reference/published-numbers.md")


def _analytic_uniform_values():
    """{grid side: patch units} from the reference's 'Uniform-attention reference' paragraph (7x7 -> 3.609, ...)."""
    import re

    if REF.is_file():
        text = REF.read_text(encoding="utf-8")
        para = text[text.index("Uniform-attention reference"):]
        found = {int(g): float(v) for g, v in re.findall(r"(\d+)×\d+ → ([\d.]+)", para)}
        assert found, "the reference paragraph changed"
        return found
    return {7: 3.609, 14: 7.281, 28: 14.59, 56: 29.19}  # the same values, for a machine without the file


def test_uniform_reference_equals_the_analytic_values():
    vals = _analytic_uniform_values()
    assert set(vals) == {7, 14, 28, 56}
    for g, want in vals.items():
        got = att.uniform_mad((g, g))  # patch units
        decimals = len(str(want).split(".")[1])
        assert round(got, decimals) == want, (g, got, want)
        assert att.uniform_mad((g, g), patch_size=16) == pytest.approx(16 * got, rel=1e-12)  # pixels


def test_uniform_reference_is_the_mad_of_uniform_attention_for_the_grid_and_a_visible_subset():
    """Brute force: an explicit uniform (H, T, T) attention through the reference MAD, full grid and masked."""
    grid = (5, 7)
    for positions in (None, np.array([0, 3, 4, 11, 20, 33, 34])):
        K = grid[0] * grid[1] if positions is None else len(positions)
        T = K + 1
        a = torch.full((2, T, T), 1.0 / T, dtype=torch.float64)
        for renorm, share in ((True, 0.0), (False, 1.0 / T)):
            mad = mean_attention_distance(a, grid, 8, positions=positions, renormalise=renorm)
            ref = att.uniform_mad(grid, 8, positions, cls_share=share)
            np.testing.assert_allclose(mad, ref, rtol=1e-10)
    # the pair sum over offsets equals the pairwise distance matrix
    d = distance_matrix((5, 7), 1)
    assert att.uniform_mad((5, 7)) == pytest.approx(float(d.mean()), rel=1e-12)
    assert att.uniform_mad((5, 7), positions=np.arange(35)) == pytest.approx(float(d.mean()), rel=1e-12)


def test_results_carry_the_reference_and_the_ratio(model, image):
    res = analyze(model, image)
    assert res.uniform_mad == pytest.approx(att.uniform_mad(GRID, P))
    np.testing.assert_allclose(res.mad_ratio, res.mean_attention_distance / res.uniform_mad, rtol=1e-6)
    mask = make_mask(GRID, 1, 0.5, seed=3)
    masked = analyze(model, image, mask=mask)  # the encoder attends over the visible subset only
    assert masked.uniform_mad == pytest.approx(att.uniform_mad(GRID, P, mask.ids_keep.numpy()))
    assert masked.uniform_mad != pytest.approx(res.uniform_mad)
    kornblith = analyze(model, image, renormalise_mad=False)
    assert kornblith.uniform_mad == pytest.approx(res.uniform_mad * (1 - 1 / res.n_tokens))
    summary = mad_over_images(model, [image, image.flip(-1)])
    assert summary.uniform_mad == pytest.approx(res.uniform_mad)
    np.testing.assert_allclose(summary.mad_ratio, summary.mean_attention_distance / res.uniform_mad, rtol=1e-6)


def test_npz_exports_carry_the_reference(model, image, tmp_path):
    res = analyze(model, image)
    res.to_npz(tmp_path / "a.npz")
    z = np.load(tmp_path / "a.npz")
    assert float(z["uniform_mad"]) == pytest.approx(res.uniform_mad)
    assert float(z["uniform_mad_fraction"]) == pytest.approx(res.uniform_mad / GRID[1] / P)
    np.testing.assert_allclose(z["mad_ratio"], res.mad_ratio)
