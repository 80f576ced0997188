"""mae_core.receptive_field on constructed cases: no attention / identity attention -> the token's own patch only;
uniform attention -> the whole image; the gradient against finite differences; the Block copy against timm."""
import numpy as np
import pytest
import torch

from mae_core import receptive_field as rf
from mae_core.errors import ConfigError
from mae_core.model import MAEConfig, build_model

P, GRID = 8, (6, 6)
I = P * GRID[0]


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    cfg = MAEConfig(img_size=I, patch_size=P, embed_dim=32, depth=3, num_heads=4, decoder_embed_dim=32,
                    decoder_depth=1, decoder_num_heads=4)
    return build_model(cfg).eval()


@pytest.fixture(scope="module")
def images():
    g = torch.Generator().manual_seed(3)
    return [torch.rand(3, I, I, generator=g) for _ in range(3)]


def _patch_mass(m, token):
    r, c = token
    return m[r * P:(r + 1) * P, c * P:(c + 1) * P].sum()


@pytest.mark.parametrize("mode", ["zero", "identity"])
def test_without_attention_between_tokens_the_field_is_the_patch_itself(model, images, mode):
    token = (2, 4)
    e = rf.effective_receptive_field(model, images, token=token, attention=mode)
    assert e.maps.shape == (3, I, I) and e.layers == (0, 1, 2)
    for m in e.maps:
        assert m.sum() == pytest.approx(1.0, rel=1e-5)
        assert _patch_mass(m, token) == pytest.approx(1.0, rel=1e-6)  # not one pixel outside its own patch
    half_diagonal = P / np.sqrt(2)
    assert (e.radius <= half_diagonal).all()
    assert (e.radius[:, 1] <= e.patch_radius[1] * 1.5).all()


def test_uniform_attention_spreads_the_field_over_the_image(model, images):
    token = (2, 4)
    e = rf.effective_receptive_field(model, images, token=token, attention="uniform")
    own = rf.effective_receptive_field(model, images, token=token, attention="zero")
    for m in e.maps:
        per_patch = m.reshape(GRID[0], P, GRID[1], P).sum((1, 3))
        assert (per_patch > 0).all()  # every patch of the image moves the token
        assert _patch_mass(m, token) < 0.9
    assert (e.radius[:, 1] > 3 * own.radius[:, 1]).all()
    assert e.radius[-1, 1] > 0.5 * e.image_radius[1]


def test_the_trained_attention_lies_between_its_patch_and_the_image(model, images):
    e = rf.effective_receptive_field(model, images, token=None, attention="model")
    assert e.token == (3, 3) and e.centre == (28.0, 28.0)
    assert ((e.radius[:, 1] > e.patch_radius[1]) & (e.radius[:, 1] <= e.image_radius[1] * 1.05)).all()
    assert e.radius_std.shape == e.radius.shape and (e.radius_std >= 0).all()
    assert e.per_image_radius.shape == (3, 3, 2)
    np.testing.assert_allclose(e.radius_fraction, e.radius / I)


def test_gradient_matches_finite_differences(model, images):
    """The map is |d s / d pixel| summed over RGB, s = the token's features summed after the block."""
    token, layer = (1, 2), 1
    x = images[0].double()
    m64 = build_model(model.cfg).double().eval()
    m64.load_state_dict(model.state_dict())
    e = rf.effective_receptive_field(m64, [x], token=token, layers=[layer])
    tok = 1 + token[0] * GRID[1] + token[1]
    mean = torch.tensor(rf.IMAGENET_MEAN, dtype=torch.float64).view(1, 3, 1, 1)
    std = torch.tensor(rf.IMAGENET_STD, dtype=torch.float64).view(1, 3, 1, 1)
    ids = torch.arange(GRID[0] * GRID[1])[None]

    def s(img):
        with torch.no_grad():
            h = m64.encoder_tokens((img[None] - mean) / std, ids)
            for blk in m64.blocks[:layer + 1]:
                h = blk(h)
            return float(h[0, tok].sum())

    raw = rf._gradient_maps(m64, x[None], tok, [layer], "model")[0, 0].numpy()
    total = raw.sum()
    for (y, xx) in ((9, 17), (30, 5), (44, 40)):
        fd = 0.0
        for ch in range(3):
            eps = 1e-6
            up, dn = x.clone(), x.clone()
            up[ch, y, xx] += eps
            dn[ch, y, xx] -= eps
            fd += abs((s(up) - s(dn)) / (2 * eps))
        assert raw[y, xx] == pytest.approx(fd, rel=1e-4, abs=1e-9)
        assert e.maps[0][y, xx] == pytest.approx(fd / total, rel=1e-4, abs=1e-9)


def test_the_block_copy_is_timm_blocks_forward(model):
    h = torch.randn(2, 1 + GRID[0] * GRID[1], 32)
    for blk in model.blocks:
        with torch.no_grad():
            np.testing.assert_allclose(rf._attention_override(blk, h, "model").numpy(), blk(h).numpy(), atol=1e-5)


def test_batches_do_not_mix_images_and_the_model_is_untouched(model, images):
    before = {k: v.clone() for k, v in model.state_dict().items()}
    a = rf.effective_receptive_field(model, images, batch_size=1)
    b = rf.effective_receptive_field(model, images, batch_size=3)
    np.testing.assert_allclose(a.maps, b.maps, rtol=1e-4, atol=1e-9)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())


def test_fields_of_single_images_combine_into_the_field_of_all(model, images):
    whole = rf.effective_receptive_field(model, images, token=(2, 3))
    parts = rf.combine([rf.effective_receptive_field(model, [im], token=(2, 3)) for im in images])
    np.testing.assert_allclose(parts.maps, whole.maps, rtol=1e-5, atol=1e-10)
    np.testing.assert_allclose(parts.radius, whole.radius)
    np.testing.assert_allclose(parts.radius_std, whole.radius_std)
    assert parts.n_images == 3 and "averaged over 3 image(s)" in parts.convention
    with pytest.raises(ConfigError, match="same"):
        rf.combine([whole, rf.effective_receptive_field(model, images[:1], token=(0, 0))])


def test_mass_radius_and_references():
    m = np.zeros((10, 10))
    m[5, 5] = 1.0
    assert rf.mass_radius(m, (5.5, 5.5)).tolist() == [0.0, 0.0]
    m[5, 9] = 1.0  # the second half of the mass 4 px away
    assert rf.mass_radius(m, (5.5, 5.5)).tolist() == [0.0, 4.0]
    assert np.isnan(rf.mass_radius(np.zeros((3, 3)), (1, 1))).all()
    patch, image = rf.reference_radii((64, 64), 16, (1, 1))
    assert patch[1] < 16 / np.sqrt(2) < image[0]


def test_bad_arguments_are_config_errors(model, images):
    with pytest.raises(ConfigError, match="attention"):
        rf.effective_receptive_field(model, images, attention="random")
    with pytest.raises(ConfigError, match="outside"):
        rf.effective_receptive_field(model, images, token=(6, 0))
    with pytest.raises(ConfigError, match="layers"):
        rf.effective_receptive_field(model, images, layers=[3])
    with pytest.raises(ConfigError, match="at least one image"):
        rf.effective_receptive_field(model, [])


def test_cli_writes_the_npz(model, tmp_path, capsys):
    from mae_core.cli import main
    from mae_core.checkpoints import save_checkpoint

    ck = save_checkpoint(model, tmp_path / "m.safetensors", dtype=torch.float32)
    out = tmp_path / "erf.npz"
    assert main(["erf", "--checkpoint", str(ck), "--images", "china", "flower", "--token", "1,1", "--device", "cpu",
                 "--out", str(out)]) == 0
    z = np.load(out)
    assert z["maps"].shape == (3, I, I) and z["radius"].shape == (3, 2) and int(z["n_images"]) == 2
    assert tuple(z["token"]) == (1, 1)
    text = capsys.readouterr().out
    assert "90 % within" in text and "own patch" in text
    assert main(["erf", "--token", "x", "--out", str(out)]) == 2
