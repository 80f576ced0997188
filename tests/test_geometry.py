import numpy as np
import pytest

from mae_core.errors import ConfigError
from mae_core.cost import estimate_flops
from mae_core.geometry import grid_shape, patch_centers, sequence_lengths, sincos_pos_embed_2d


def reference_mae_sincos(embed_dim, grid_size):
    """facebookresearch/mae util/pos_embed.py, transcribed (np.float -> np.float64), square grids only."""
    def one_d(dim, pos):
        omega = np.arange(dim // 2, dtype=np.float64) / (dim / 2.0)
        omega = 1.0 / 10000**omega
        out = np.einsum("m,d->md", pos.reshape(-1), omega)
        return np.concatenate([np.sin(out), np.cos(out)], axis=1)

    grid_h = np.arange(grid_size, dtype=np.float32)
    grid_w = np.arange(grid_size, dtype=np.float32)
    grid = np.meshgrid(grid_w, grid_h)  # here w goes first
    grid = np.stack(grid, axis=0).reshape([2, 1, grid_size, grid_size])
    emb_h = one_d(embed_dim // 2, grid[0])
    emb_w = one_d(embed_dim // 2, grid[1])
    emb = np.concatenate([emb_h, emb_w], axis=1)
    return np.concatenate([np.zeros([1, embed_dim]), emb], axis=0)


@pytest.mark.parametrize("dim,g", [(768, 14), (512, 14), (64, 7), (1024, 28)])
def test_sincos_matches_mae_reference(dim, g):
    ours = sincos_pos_embed_2d(dim, g, cls_token=True)
    np.testing.assert_allclose(ours, reference_mae_sincos(dim, g), atol=1e-6)
    assert ours.shape == (g * g + 1, dim)
    assert not ours[0].any()  # CLS row is zeros


def test_sincos_non_square_layout():
    emb = sincos_pos_embed_2d(16, (3, 5), cls_token=False).reshape(3, 5, 16)
    # first half encodes the column: equal along each column, different across columns
    np.testing.assert_allclose(emb[0, :, :8], emb[2, :, :8])
    assert not np.allclose(emb[:, 0, :8], emb[:, 1, :8])
    # second half encodes the row
    np.testing.assert_allclose(emb[:, 0, 8:], emb[:, 4, 8:])
    # the square case restricted to the top-left 3x5 window is the same table
    sq = sincos_pos_embed_2d(16, 5, cls_token=False).reshape(5, 5, 16)
    np.testing.assert_allclose(emb, sq[:3, :5])


def test_grid_and_lengths():
    assert grid_shape(224, 16) == (14, 14)
    assert grid_shape((448, 224), 16) == (28, 14)
    s = sequence_lengths(224, 8, mask_ratio=0.75)
    assert (s.L, s.Le, s.Ld) == (784, 196, 784)
    assert sequence_lengths(448, 16, mask_ratio=0.75).L == 784
    assert sequence_lengths(224, 8, n_keep=49, decoder_downsampling=2).Ld == 196
    with pytest.raises(ConfigError, match="not divisible"):
        grid_shape(224, 24)
    with pytest.raises(ConfigError):
        grid_shape(0, 16)


def test_patch_centers():
    c = patch_centers((2, 3), 16)
    assert c.shape == (6, 2)
    np.testing.assert_allclose(c[0], [8, 8])
    np.testing.assert_allclose(c[5], [24, 40])


def test_flops_scale_with_sequence_length():
    base = dict(embed_dim=768, depth=12, decoder_embed_dim=512, decoder_depth=8)
    f16 = estimate_flops(224, 16, 49, **base)
    f8 = estimate_flops(224, 8, 196, **base)
    # (196+1)/(49+1) the encoder tokens: linear layers scale with it, attention faster (quadratic)
    assert (197 / 50) < f8.encoder / f16.encoder < 5.0
    assert (785 / 197) < f8.decoder / f16.decoder < 5.0
    # ViT-B/16 encoder on all 196 tokens: timm lists 17.6 GMACs, i.e. ~35.2 GFLOPs
    full = estimate_flops(224, 16, 196, with_decoder=False, **base)
    assert 34e9 < full.encoder < 36.5e9


def test_cost_takes_the_config_whole_and_counts_a_long_seq_decoder():
    """mae_core.cost.flops(cfg): the same as estimate_flops for MAE's decoder; with a long-seq decoder downsampling
    k the blocks run on L/k^2 tokens (plus the two convolutions), so the decoder costs less."""
    from mae_core import cost
    from mae_core.architectures import ARCHITECTURES

    cfg = ARCHITECTURES["ViT-B"].replace(img_size=(224, 224), patch_size=8)
    n_keep = 196
    plain = cost.flops(cfg, n_keep)
    ref = estimate_flops(224, 8, n_keep, 768, 12, 512, 8)
    assert (plain.encoder, plain.decoder) == (ref.encoder, ref.decoder)
    down = cost.flops(cfg.replace(decoder_downsampling=2, pred_downsampling=1), n_keep)
    assert down.encoder == plain.encoder and down.decoder < plain.decoder
    L, Dd = 784, 512
    blocks = lambda T: 2.0 * 8 * (4 * T * Dd * Dd + 2 * 4.0 * T * Dd * Dd + 2 * T * T * Dd)  # noqa: E731
    assert down.decoder == pytest.approx(plain.decoder - blocks(L + 1) + blocks(L // 4 + 1)
                                         + 2.0 * L * Dd * Dd + 2.0 * L * Dd * Dd)
    assert cost.lengths(cfg.replace(decoder_downsampling=2), n_keep=n_keep).Ld == L // 4
    assert cost.params(cfg) > cost.params(cfg.replace(decoder_depth=1))
