import numpy as np
import pytest
import torch
from PIL import Image

from mae_core.assets import DEMO_IMAGES
from mae_core.baselines import gaussian_fill, mean_fill
from mae_core.errors import ConfigError, ImageError
from mae_core.images import image_hash, load_image, to_array
from mae_core.masking import make_mask, pixel_mask
from mae_core.metrics import masked_mse
from mae_core.model import MAEConfig, build_model
from mae_core.reconstruct import prepare, reconstruct

TINY = dict(embed_dim=32, depth=1, num_heads=2, decoder_embed_dim=32, decoder_depth=1, decoder_num_heads=2)


def tiny(norm_pix=False, has_decoder=True):
    torch.manual_seed(0)
    return build_model(MAEConfig(img_size=64, patch_size=8, norm_pix_loss=norm_pix, has_decoder=has_decoder,
                                 **TINY)).eval()


@pytest.fixture(scope="module")
def img():
    return load_image(DEMO_IMAGES["flower"])


def test_panels_and_metrics(img):
    r = reconstruct(tiny(), img, mask_unit=2, mask_ratio=0.75, seed=3)
    for a in (r.original, r.masked, r.reconstruction, r.pasted):
        assert a.shape == (64, 64, 3) and a.dtype == np.float32 and a.min() >= 0 and a.max() <= 1
    pm = pixel_mask(r.mask_obj, 8).astype(bool)
    np.testing.assert_array_equal(r.pasted[~pm], r.original[~pm])  # visible pixels are the original
    np.testing.assert_array_equal(r.pasted[pm], r.reconstruction[pm])
    assert r.masked_mse == pytest.approx(float(((r.reconstruction[pm] - r.original[pm]) ** 2).mean()), rel=1e-6)
    assert r.psnr == pytest.approx(10 * np.log10(1 / r.masked_mse))
    assert r.error_map.shape == (8, 8)
    assert (r.lengths.L, r.lengths.Le, r.lengths.Ld) == (64, 16, 64)
    assert r.flops.total > 0 and set(r.baselines) == {"mean_fill", "gaussian_fill"}
    assert r.metrics()["L"] == 64


def test_same_seed_same_result_and_explicit_mask(img):
    m = tiny()
    a = reconstruct(m, img, seed=5)
    b = reconstruct(m, img, seed=5)
    np.testing.assert_array_equal(a.reconstruction, b.reconstruction)
    grid = np.zeros((8, 8))
    grid[2:6, 2:6] = 1
    c = reconstruct(m, img, mask=grid)
    np.testing.assert_array_equal(c.mask, grid)
    assert c.effective_ratio == 0.25 and c.seed is None


def test_visible_denorm_does_not_leak_but_ground_truth_does(img):
    """Change only the removed pixels: a leak-free reconstruction cannot change."""
    m = tiny(norm_pix=True)
    mk = make_mask(m.cfg.grid, 2, 0.75, 0)
    arr = to_array(img, 64)
    pm = pixel_mask(mk, 8).astype(bool)
    altered = arr.copy()
    altered[pm] = 1.0 - altered[pm]  # invert colours under the mask only
    altered_img = Image.fromarray((altered * 255).round().astype(np.uint8))
    orig_img = Image.fromarray((arr * 255).round().astype(np.uint8))
    vis_a = reconstruct(m, orig_img, mask=mk, denorm="visible")
    vis_b = reconstruct(m, altered_img, mask=mk, denorm="visible")
    np.testing.assert_allclose(vis_a.reconstruction, vis_b.reconstruction, atol=1e-6)
    gt_a = reconstruct(m, orig_img, mask=mk, denorm="ground-truth")
    gt_b = reconstruct(m, altered_img, mask=mk, denorm="ground-truth")
    assert np.abs(gt_a.reconstruction[pm] - gt_b.reconstruction[pm]).mean() > 0.05
    assert any("leaks" in n for n in gt_a.notes)
    assert not any("leaks" in n for n in vis_a.notes)


def test_encoder_only_refuses_to_reconstruct(img):
    with pytest.raises(ConfigError, match="encoder-only"):
        reconstruct(tiny(has_decoder=False), img)


def test_prepare_is_cached_and_pure(img):
    m = tiny()
    a, notes = prepare(m, 96, 16)
    b, _ = prepare(m, 96, 16)
    assert a is b and a is not m and m.cfg.img_size == (64, 64)
    r = reconstruct(a, img)
    assert r.reconstruction.shape == (96, 96, 3)
    assert r.notes == notes and any("approximation" in n for n in r.notes)


def test_baselines_on_smooth_image():
    yy, xx = np.mgrid[0:64, 0:64] / 63.0
    arr = np.stack([xx, yy, 0.5 * (xx + yy)], -1).astype(np.float32)
    pm = pixel_mask(make_mask((8, 8), 1, 0.75, 0), 8)
    g = masked_mse(gaussian_fill(arr, pm, 4), arr, pm)
    mf = masked_mse(mean_fill(arr, pm), arr, pm)
    assert g < 0.3 * mf  # a smooth gradient is interpolated far better than filled with its mean
    np.testing.assert_array_equal(gaussian_fill(arr, pm, 4)[pm == 0], arr[pm == 0])


def test_broken_images_are_refused():
    with pytest.raises(ImageError, match="not a readable image"):
        load_image(b"\x89PNG\r\n\x1a\n not really a png")
    with pytest.raises(ImageError, match="empty"):
        load_image(b"")
    with pytest.raises(ImageError, match="no image file"):
        load_image("/nonexistent/x.png")
    rgba = Image.new("RGBA", (10, 10), (255, 0, 0, 0))
    assert load_image(rgba).getpixel((0, 0)) == (255, 255, 255)  # transparent over white
    assert image_hash(rgba) == image_hash(load_image(rgba))


# ------------------------------------------------------------------ baselines depend on the mask alone, like with like
def _tiny_model(norm_pix=False, seed=0):
    from mae_core.model import MAEConfig, build_model

    torch.manual_seed(seed)
    return build_model(MAEConfig(img_size=64, patch_size=8, embed_dim=32, depth=1, num_heads=2,
                                 decoder_embed_dim=32, decoder_depth=1, decoder_num_heads=2,
                                 norm_pix_loss=norm_pix)).eval()


def test_a_seeded_and_a_painted_copy_of_one_mask_get_the_same_baselines():
    from mae_core.assets import DEMO_IMAGES
    from mae_core.reconstruct import reconstruct

    model = _tiny_model()
    for m in (2, 4):
        seeded = make_mask(model.cfg.grid, m, 0.75, seed=3)
        painted = seeded.mask.numpy().copy()  # what the app's mask painter hands over: a bare 0/1 grid
        a = reconstruct(model, DEMO_IMAGES["flower"], mask=seeded)
        b = reconstruct(model, DEMO_IMAGES["flower"], mask=painted)
        assert a.mask_unit == m and b.mask_unit == 1  # the painted copy does not know its unit
        assert a.baselines == b.baselines
        assert a.masked_mse == b.masked_mse


def test_norm_pix_model_is_compared_with_a_fill_given_the_same_statistics():
    from mae_core.assets import DEMO_IMAGES
    from mae_core.baselines import BASELINE_GIVEN
    from mae_core.reconstruct import reconstruct

    model = _tiny_model(norm_pix=True)
    with torch.no_grad():  # a decoder that predicts "no structure": every normalised patch is 0
        model.decoder_pred.weight.zero_()
        model.decoder_pred.bias.zero_()
    for denorm in ("visible", "ground-truth"):
        res = reconstruct(model, DEMO_IMAGES["china"], mask_unit=2, seed=1, denorm=denorm)
        assert "stats_fill" in res.baselines
        # all the model adds over the statistics is zero, so it ties the statistics-only fill exactly
        assert res.masked_mse == pytest.approx(res.baselines["stats_fill"], rel=1e-5, abs=1e-8)
        assert res.metrics()["stats_fill_mse"] == res.baselines["stats_fill"]
        assert set(res.baseline_notes) == set(res.baselines)
        assert ("visible" in res.baseline_notes["stats_fill"]) == (denorm == "visible")
    raw = reconstruct(model, DEMO_IMAGES["china"], mask_unit=2, seed=1, denorm="raw")
    assert "stats_fill" not in raw.baselines  # no statistics given to the model, none to the baselines
    pix = reconstruct(_tiny_model(), DEMO_IMAGES["china"], mask_unit=2, seed=1)
    assert set(pix.baselines) == {"mean_fill", "gaussian_fill"}
    assert set(BASELINE_GIVEN) >= {"mean_fill", "gaussian_fill"}
