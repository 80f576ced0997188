"""The precision policy (mae_core.precision), the memory-sized chunks and the layer loop's device-only contract.

bf16 autocast runs on a CPU too, so the fidelity of the bf16 path against our float32 path is checked here on a
small random ViT; the same checks run on a GPU in the tests marked ``cuda``."""
import copy

import numpy as np
import pytest
import torch

from attention_reference import attention_rollout
from mae_core import attention as att
from mae_core.attention import analyze
from mae_core.bench import random_model
from mae_core.errors import ConfigError
from mae_core.masking import make_mask
from mae_core.model import MAEConfig
from mae_core.precision import compute, precision_from_env, resolve_precision
from mae_core.reconstruct import reconstruct

CFG = MAEConfig(img_size=64, patch_size=8, embed_dim=96, depth=4, num_heads=4, decoder_embed_dim=64,
                decoder_depth=2, decoder_num_heads=4)  # L = 64


@pytest.fixture(scope="module")
def model():
    return random_model(CFG, seed=0)


@pytest.fixture(scope="module")
def image():
    return torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(3))


@pytest.fixture(scope="module")
def photo():
    from PIL import Image

    return Image.fromarray(np.random.default_rng(4).integers(0, 256, (64, 64, 3), dtype=np.uint8))


# ------------------------------------------------------------------ the policy
def test_auto_is_fp32_on_cpu_and_tf32_on_cuda():
    assert resolve_precision("auto", "cpu") == "fp32"
    assert resolve_precision(None, "cpu") == "fp32"
    assert resolve_precision("tf32", "cpu") == "fp32"  # a CUDA tensor-core mode: runs and is recorded as fp32
    assert resolve_precision("bf16", "cpu") == "bf16"
    assert resolve_precision("FP32", "cpu") == "fp32"
    assert resolve_precision("auto", torch.device("cuda")) == "tf32"
    assert resolve_precision("bf16", torch.device("cuda")) == "bf16"
    assert resolve_precision("tf32", torch.device("cuda")) == "tf32"


def test_bad_precision_is_a_config_error(monkeypatch):
    with pytest.raises(ConfigError, match="precision must be one of auto, fp32, tf32, bf16"):
        resolve_precision("fp8", "cpu")
    monkeypatch.setenv("MAE_PRECISION", "half")
    with pytest.raises(ConfigError, match="MAE_PRECISION must be one of"):
        precision_from_env()
    monkeypatch.setenv("MAE_PRECISION", "BF16")
    assert precision_from_env() == "bf16"
    monkeypatch.delenv("MAE_PRECISION")
    assert precision_from_env() == "auto"


def test_compute_runs_linear_layers_in_bf16_only_when_asked():
    lin = torch.nn.Linear(8, 8)
    x = torch.randn(2, 8)
    with compute("cpu", "bf16"):
        assert lin(x).dtype == torch.bfloat16
    with compute("cpu", "fp32"):
        assert lin(x).dtype == torch.float32


# ------------------------------------------------------------------ bf16 against our fp32 path
def test_bf16_attention_is_within_the_fidelity_bounds(model, image):
    mask = make_mask(CFG.grid, 1, 0.25, seed=1)
    ref = analyze(model, image, mask=mask, query=(3, 4), precision="fp32")
    low = analyze(model, image, mask=mask, query=(3, 4), precision="bf16")
    assert ref.precision == "fp32" and low.precision == "bf16"
    # softmax in float32 also under bf16: every row still sums to 1
    np.testing.assert_allclose(np.nansum(low.cls_attention, (-2, -1)) + low.cls_to_cls, 1.0, atol=1e-5)
    # bf16 rounds every linear layer's input to 8 significant bits: the maps move by about 1-2 % of their peak on
    # this model (1.5 % measured; 5.7 % on a random ViT-B/16, which is why auto is tf32 on a GPU, not bf16); the
    # rollout, the MAD and the reconstruction stay within the bounds the GPU check asks for
    for name in ("cls_attention", "query_attention"):
        a, b = getattr(low, name), getattr(ref, name)
        peak = np.nanmax(b, axis=(-2, -1), keepdims=True)
        assert np.nanmax(np.abs(a - b) / peak) <= 3e-2, name
    assert np.nanmax(np.abs(low.rollout - ref.rollout)) <= 1e-2 * np.nanmax(ref.rollout)
    rel = np.abs(low.mean_attention_distance - ref.mean_attention_distance) / ref.mean_attention_distance
    assert rel.max() <= 5e-3
    assert not np.array_equal(low.cls_attention, ref.cls_attention)  # bf16 really ran


def test_bf16_reconstruction_is_within_a_hundredth(model, photo):
    ref = reconstruct(model, photo, mask_ratio=0.75, seed=0, precision="fp32", with_baselines=False)
    low = reconstruct(model, photo, mask_ratio=0.75, seed=0, precision="bf16", with_baselines=False)
    assert (ref.precision, low.precision) == ("fp32", "bf16")
    assert low.metrics()["precision"] == "bf16"
    diff = np.abs(low.reconstruction - ref.reconstruction).max()
    assert 0 < diff <= 1e-2
    assert low.reconstruction.dtype == np.float32


def test_default_on_cpu_is_exactly_fp32(model, image):
    a = analyze(model, image, query=5)
    b = analyze(model, image, query=5, precision="fp32")
    np.testing.assert_array_equal(a.cls_attention, b.cls_attention)
    assert a.precision == "fp32"


def test_precision_is_recorded_in_the_npz(model, image, photo, tmp_path):
    res = analyze(model, image, precision="bf16")
    res.to_npz(tmp_path / "a.npz")
    assert str(np.load(tmp_path / "a.npz")["precision"]) == "bf16"
    rec = reconstruct(model, photo, precision="bf16", with_baselines=False)
    assert any("ran in bf16" in n for n in rec.notes)
    rec.to_npz(tmp_path / "r.npz")
    assert str(np.load(tmp_path / "r.npz")["precision"]) == "bf16"


# ------------------------------------------------------------------ chunks sized by memory
def test_query_chunk_policy_with_a_given_budget():
    T, H = 785, 16
    row = att._row_bytes(T, H)
    # a GPU with room: the whole layer in one chunk
    assert att.query_chunk(T, H, "cuda", free_bytes=80e9) == T
    # the budget knob caps it; the free memory caps it too (FREE_FRACTION of it)
    assert att.query_chunk(T, H, "cuda", free_bytes=80e9, budget_bytes=100 * row) == 100
    assert att.query_chunk(T, H, "cuda", free_bytes=2 * 50 * row / att.FREE_FRACTION / 2) == 50
    assert att.query_chunk(T, H, "cuda", free_bytes=80e9, budget_bytes=1) == 1  # never 0
    # a CPU sizes its blocks for the cache (never above CPU_CHUNK, so its peak stays as low), a budget only lowers it
    assert att.query_chunk(T, H, "cpu") == att.CPU_BLOCK_BYTES // (4 * H * T)  # 104 rows of ViT-L at L = 784
    assert att.query_chunk(197, 12, "cpu") == 197  # ViT-B/16 @224: one block per layer
    assert att.query_chunk(3137, 16, "cpu") == att.CPU_CHUNK_MIN
    assert att.query_chunk(785, 2, "cpu") == att.CPU_CHUNK
    assert att.query_chunk(T, H, "cpu", budget_bytes=1e12) == att.query_chunk(T, H, "cpu")
    assert att.query_chunk(T, H, "cpu", budget_bytes=10 * row) == 10
    assert att.query_chunk(100, H, "cpu") == 100


def test_rollout_store_follows_the_budget():
    assert att.rollout_store_bytes("cpu") == att.ROLLOUT_STORE_BYTES
    assert att.rollout_store_bytes("cuda", free_bytes=80e9) == 0.5 * att.FREE_FRACTION * 80e9
    assert att.rollout_store_bytes("cuda", free_bytes=80e9, budget_bytes=2e9) == 1e9
    assert att.rollout_store_bytes("cuda", free_bytes=1e6) == att.ROLLOUT_STORE_BYTES


def test_budget_sets_the_chunk_and_changes_nothing_else(model, image):
    T = 1 + CFG.num_patches
    run = dict(mask=None, query=(2, 2), layers="encoder", head_fusion="mean", renormalise_mad=True,
               include_cls_in_mad=False, chunk=None, amp=None)
    small = att._run(model, image, budget_bytes=7 * att._row_bytes(T, CFG.num_heads), **run)
    assert small.chunk == 7
    whole = att._run(model, image, **run)
    assert whole.chunk == T  # T = 65 < 256: one chunk on a CPU too
    a = analyze(model, image, query=(2, 2), budget_mb=7 * att._row_bytes(T, CFG.num_heads) / 2**20)
    b = analyze(model, image, query=(2, 2))
    np.testing.assert_allclose(a.cls_attention, b.cls_attention, atol=1e-6)
    np.testing.assert_allclose(a.rollout, b.rollout, atol=1e-6)
    np.testing.assert_allclose(a.mean_attention_distance, b.mean_attention_distance, rtol=1e-5)


# ------------------------------------------------------------------ no host round trips in the layer loop
SYNCING = ("item", "cpu", "tolist", "numpy", "__bool__", "__float__", "__int__", "__index__", "nonzero")


def _forbid_host_round_trips(monkeypatch):
    """Make every Tensor method that needs the device's values on the host raise while the layer loop runs, and
    boolean-mask indexing too. Returns the list of calls it caught (empty when the loop is clean)."""
    caught = []
    inside = {"on": False}

    def guard(name, orig):
        def f(self, *a, **k):
            if inside["on"]:
                caught.append(name)
                raise AssertionError(f"host round trip in the layer loop: Tensor.{name}")
            return orig(self, *a, **k)
        return f

    for name in SYNCING:
        monkeypatch.setattr(torch.Tensor, name, guard(name, getattr(torch.Tensor, name)))
    orig_getitem = torch.Tensor.__getitem__

    def getitem(self, idx):
        parts = idx if isinstance(idx, tuple) else (idx,)
        if inside["on"] and any(isinstance(p, torch.Tensor) and p.dtype == torch.bool for p in parts):
            caught.append("bool-mask index")
            raise AssertionError("boolean-mask indexing in the layer loop")
        return orig_getitem(self, idx)

    monkeypatch.setattr(torch.Tensor, "__getitem__", getitem)
    orig_loop = att._layer_loop

    def loop(*a, **k):
        inside["on"] = True
        try:
            return orig_loop(*a, **k)
        finally:
            inside["on"] = False

    monkeypatch.setattr(att, "_layer_loop", loop)
    return caught, inside


@pytest.mark.parametrize("layers", ["encoder", "decoder", "encoder:1,2"])
def test_layer_loop_has_no_host_round_trips(model, image, monkeypatch, layers):
    mask = make_mask(CFG.grid, 1, 0.5, seed=0)
    query = divmod(int(mask.ids_keep[0]), CFG.grid[1])  # a visible patch
    caught, _ = _forbid_host_round_trips(monkeypatch)
    res = analyze(model, image, query=query, layers=layers, mask=mask, chunk=16)
    assert caught == [] and np.isfinite(res.rollout).any()


def test_the_guard_catches_a_round_trip(model, image, monkeypatch):
    """The guard above is not vacuous: a loop that reads one value back to the host fails."""
    caught, _ = _forbid_host_round_trips(monkeypatch)
    orig = att._Reducer.__call__

    def leaky(self, s, e, a):
        float(a[0, 0, 0])  # what a careless reducer would do
        return orig(self, s, e, a)

    monkeypatch.setattr(att._Reducer, "__call__", leaky)
    with pytest.raises(AssertionError, match="host round trip"):
        analyze(model, image)
    assert caught == ["__float__"]


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_cuda_layer_loop_never_synchronises(precision):
    m = random_model(CFG, seed=0).cuda()
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(3)).cuda()
    analyze(m, x, query=(1, 1), precision=precision)  # warm-up (allocator, kernels)
    orig = att._layer_loop

    def strict(*a, **k):
        torch.cuda.set_sync_debug_mode("error")
        try:
            return orig(*a, **k)
        finally:
            torch.cuda.set_sync_debug_mode("default")

    att._layer_loop = strict
    try:
        res = analyze(m, x, query=(1, 1), precision=precision)
    finally:
        att._layer_loop = orig
    assert res.precision == precision


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_bf16_fidelity_and_whole_layer_chunks():
    cfg = MAEConfig(img_size=224, patch_size=16, embed_dim=768, depth=12, num_heads=12)
    m = random_model(cfg, seed=0).cuda()
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(3)).cuda()
    run = dict(mask=None, query=(7, 7), layers="encoder", head_fusion="mean", renormalise_mad=True,
               include_cls_in_mad=False, chunk=None, amp=None)
    assert att._run(m, x, precision="bf16", **run).chunk == 197  # one chunk per layer on a GPU
    ref = analyze(m, x, query=(7, 7), precision="fp32")
    # the default on a GPU (tf32) within every bound; bf16 within the MAD bound (its maps move by a few % of their
    # peak on random weights, which the bench records)
    low = analyze(m, x, query=(7, 7), precision="tf32")
    assert low.precision == "tf32"
    peak = np.nanmax(ref.cls_attention, axis=(-2, -1), keepdims=True)
    assert np.nanmax(np.abs(low.cls_attention - ref.cls_attention) / peak) <= 1e-2
    assert np.nanmax(np.abs(low.rollout - ref.rollout)) <= 1e-2 * np.nanmax(ref.rollout)
    for p in ("tf32", "bf16"):
        low = analyze(m, x, query=(7, 7), precision=p)
        np.testing.assert_allclose(np.nansum(low.cls_attention, (-2, -1)) + low.cls_to_cls, 1.0, atol=1e-4)
        rel = np.abs(low.mean_attention_distance - ref.mean_attention_distance) / ref.mean_attention_distance
        assert rel.max() <= 5e-3, p
    from PIL import Image

    photo = Image.fromarray(np.random.default_rng(4).integers(0, 256, (224, 224, 3), dtype=np.uint8))
    a = reconstruct(m, photo, precision="fp32", with_baselines=False)
    b = reconstruct(m, photo, precision="tf32", with_baselines=False)
    assert np.abs(a.reconstruction - b.reconstruction).max() <= 1e-2


# ------------------------------------------------------------------ rollout: rows, never the L^3 chain
def test_rollout_is_a_vector_matrix_chain(model, image, monkeypatch):
    """The CLS row is pushed through the per-layer matrices (vectors times T x T) and equals the full rollout
    matrix's row; no T x T by T x T product is run."""
    T = 1 + CFG.num_patches
    shapes = []
    orig = torch.Tensor.__matmul__

    def mm(a, b):
        shapes.append((tuple(a.shape), tuple(b.shape)))
        return orig(a, b)

    monkeypatch.setattr(torch.Tensor, "__matmul__", mm)
    res = analyze(model, image, head_fusion="mean")
    monkeypatch.undo()
    assert shapes and not any(len(a) == 2 and a == (T, T) and b == (T, T) for a, b in shapes)
    assert any(a == (T,) and b == (T, T) for a, b in shapes)
    eager = copy.deepcopy(model)  # the reference: timm's eager attention, every full map kept
    store = []
    for blk in eager.blocks:
        blk.attn.fused_attn = False
        blk.attn.attn_drop.register_forward_hook(lambda m, i, o: store.append(o[0].detach().clone()))
    with torch.no_grad():
        eager.forward_encoder(image, make_mask(CFG.grid, 1, 0.0).batch(1)[0])
    full = attention_rollout(store, "mean")  # the (T, T) matrix, reference form
    np.testing.assert_allclose(res.rollout.reshape(-1), full[0, 1:].numpy(), atol=1e-6)


# ------------------------------------------------------------------ compiled forward: CUDA only, eager fallback
def test_compile_is_never_used_on_a_cpu(monkeypatch):
    from mae_core import compiled

    monkeypatch.setenv("MAE_COMPILE", "1")
    assert compiled.wanted("cpu") is False and compiled.wanted("cpu", True) is False
    assert compiled.wanted(torch.device("cuda")) is True
    monkeypatch.setenv("MAE_COMPILE", "0")
    assert compiled.wanted(torch.device("cuda")) is False and compiled.wanted(torch.device("cuda"), True) is True


def test_compiled_forward_is_cached_with_the_model_reports_its_first_call_and_falls_back(model, image, monkeypatch):
    from mae_core import compiled

    calls = []

    def fake_compile(m, **kw):  # stands in for torch.compile on a CPU: counts compilations
        calls.append(kw)
        return lambda *a: m(*a)

    monkeypatch.setattr(torch, "compile", fake_compile)
    ids_keep, ids_restore = make_mask(CFG.grid, 1, 0.75, seed=0).batch(1)
    with torch.no_grad():
        want = model(image, ids_keep, ids_restore)
        out, info = compiled.forward(model, image, ids_keep, ids_restore, compute("cpu", "fp32"))
        again, info2 = compiled.forward(model, image, ids_keep, ids_restore, compute("cpu", "fp32"))
    assert calls == [dict(mode="reduce-overhead", dynamic=False)]  # compiled once, then shared
    torch.testing.assert_close(out, want) and torch.testing.assert_close(again, want)
    assert info["compiled"] and info["first_call_s"] > 0 and info2["first_call_s"] == info["first_call_s"]

    other = random_model(CFG, seed=1)

    def broken(m, **kw):
        def f(*a):
            raise RuntimeError("backend exploded")
        return f

    monkeypatch.setattr(torch, "compile", broken)
    with torch.no_grad():
        out, info = compiled.forward(other, image, ids_keep, ids_restore, compute("cpu", "fp32"))
        torch.testing.assert_close(out, other(image, ids_keep, ids_restore))
    assert info["compiled"] is False and "backend exploded" in info["fallback"]
