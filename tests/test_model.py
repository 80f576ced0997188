import numpy as np
import pytest
import torch

from mae_core.errors import ConfigError
from mae_core.geometry import sincos_pos_embed_2d
from mae_core.masking import make_mask
from mae_core.model import MAEConfig, adapt_model, build_model, patchify, resample_pred_head, unpatchify

TINY = dict(embed_dim=32, depth=2, num_heads=2, decoder_embed_dim=32, decoder_depth=1, decoder_num_heads=2)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model(MAEConfig(img_size=64, patch_size=8, **TINY)).eval()


def test_patchify_roundtrip_non_square():
    x = torch.randn(2, 3, 48, 80)
    t = patchify(x, 16)
    assert t.shape == (2, 15, 16 * 16 * 3)
    torch.testing.assert_close(unpatchify(t, (3, 5), 16), x)
    # token 1 is the patch at row 0, col 1; layout (row, col, channel), channel fastest
    torch.testing.assert_close(t[0, 1, :3], x[0, :, 0, 16])


def test_output_independent_of_token_order(model):
    mk = make_mask(model.cfg.grid, 1, 0.75, 0)
    ik, ir = mk.batch(1)
    x = torch.randn(1, 3, 64, 64)
    perm = torch.randperm(mk.n_keep)
    ik2 = ik[:, perm]
    # ids_restore for the permuted keep order
    removed = torch.from_numpy(np.flatnonzero(mk.mask.reshape(-1).numpy() == 1))
    ir2 = torch.argsort(torch.cat([ik2[0], removed]))[None]
    with torch.no_grad():
        torch.testing.assert_close(model(x, ik, ir), model(x, ik2, ir2), atol=1e-5, rtol=1e-5)


def test_loss_only_on_removed_patches(model):
    mk = make_mask(model.cfg.grid, 1, 0.5, 1)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        pred = model(x, *mk.batch(1))
        l1 = model.loss(x, pred, mk.mask[None])
        pred2 = pred.clone()
        pred2[0, mk.ids_keep] += 10.0  # change predictions of visible patches only
        assert torch.equal(l1, model.loss(x, pred2, mk.mask[None]))


def test_config_validation():
    with pytest.raises(ConfigError, match="not divisible by patch"):
        MAEConfig(img_size=100, patch_size=16)
    with pytest.raises(ConfigError, match="heads"):
        MAEConfig(img_size=64, patch_size=8, embed_dim=30, num_heads=4)
    cfg = MAEConfig(img_size=(64, 96), patch_size=16, **TINY)
    assert MAEConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="unknown"):
        MAEConfig.from_dict({**cfg.to_dict(), "bogus": 1})


def test_adapt_is_pure_and_regenerates_sincos(model):
    before = {k: v.clone() for k, v in model.state_dict().items()}
    new, notes = adapt_model(model, (96, 64), 8)
    assert new is not model and new.cfg.grid == (12, 8)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), f"{k} was mutated"
    np.testing.assert_allclose(new.pos_embed[0].detach().numpy(), sincos_pos_embed_2d(32, (12, 8)), atol=1e-6)
    assert any("regenerated" in n for n in notes)
    assert new.approximations == tuple(notes)
    same, no_notes = adapt_model(model, 64, 8)
    assert same is model and no_notes == []
    mk = make_mask(new.cfg.grid, 2, 0.75, 0)
    with torch.no_grad():
        assert new(torch.randn(1, 3, 96, 64), *mk.batch(1)).shape == (1, 96, 8 * 8 * 3)


def test_adapt_patch_size_labels_approximation(model):
    new, notes = adapt_model(model, 64, 16)
    assert any("approximation" in n for n in notes)
    assert new.patch_embed.proj.weight.shape == (32, 3, 16, 16)
    assert new.decoder_pred.weight.shape == (16 * 16 * 3, 32)


def test_pred_head_resample_roundtrip_and_constants():
    torch.manual_seed(0)
    dd, p = 8, 8
    # smooth per-patch outputs (a low-frequency basis) survive p -> 2p -> p nearly unchanged
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, p), torch.linspace(-1, 1, p), indexing="ij")
    basis = torch.stack([torch.ones(p, p), yy, xx, yy * xx])  # (4, p, p)
    coef = torch.randn(dd, 3, 4)
    w = torch.einsum("dcb,bhw->hwcd", coef, basis).reshape(p * p * 3, dd)
    b = torch.randn(3).repeat(p * p)
    w2, b2 = resample_pred_head(*resample_pred_head(w, b, p, 2 * p), 2 * p, p)
    rel = (w2 - w).norm() / w.norm()
    assert rel < 0.05, rel
    # a constant-colour output stays exactly constant at any size
    wc = torch.zeros(p * p * 3, dd)
    bc = torch.tensor([0.1, 0.2, 0.3]).repeat(p * p)
    _, b3 = resample_pred_head(wc, bc, p, 5)
    torch.testing.assert_close(b3, torch.tensor([0.1, 0.2, 0.3]).repeat(25))
    # identity at the same size
    w4, b4 = resample_pred_head(w, b, p, p)
    torch.testing.assert_close(w4, w)


def test_learned_pos_embed_resample_roundtrip():
    torch.manual_seed(0)
    m = build_model(MAEConfig(img_size=64, patch_size=8, learned_pos_embed=True, **TINY)).eval()
    big, notes = adapt_model(m, 128, 8)
    assert any("resampled" in n for n in notes)
    back, _ = adapt_model(big, 64, 8)
    rel = (back.pos_embed - m.pos_embed).norm() / m.pos_embed.norm()
    assert rel < 0.1  # bicubic up then antialiased down: close, not exact
    torch.testing.assert_close(back.pos_embed[:, :1], m.pos_embed[:, :1])  # CLS entry untouched


def test_decoder_downsampling_variant():
    cfg = MAEConfig(img_size=64, patch_size=8, decoder_downsampling=2, pred_downsampling=2, **TINY)
    m = build_model(cfg).eval()
    assert cfg.pred_patch_size == 16 and cfg.pred_grid == (4, 4)
    mk = make_mask(cfg.grid, 2, 0.75, 0)
    with torch.no_grad():
        pred = m(torch.randn(1, 3, 64, 64), *mk.batch(1))
    assert pred.shape == (1, 16, 16 * 16 * 3)
    cfg2 = MAEConfig(img_size=64, patch_size=8, decoder_downsampling=2, pred_downsampling=1, **TINY)
    m2 = build_model(cfg2).eval()
    assert hasattr(m2, "decoder_upsample")
    with torch.no_grad():
        assert m2(torch.randn(1, 3, 64, 64), *mk.batch(1)).shape == (1, 64, 8 * 8 * 3)
