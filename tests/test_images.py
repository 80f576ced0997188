"""mae_core.images: every PIL image mode decoded to the right colours, and non-square photos stretched, cropped or padded
(the reconstruction and the attention follow the fit)."""
from __future__ import annotations

import numpy as np
import pytest
import torch


# ------------------------------------------------------------------ every PIL image mode
def _encode(img, fmt):
    import io

    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def _gradient(h=8, w=32):
    return np.tile(np.linspace(0.0, 1.0, w), (h, 1))  # 0 (left) .. 1 (right)


def _grey_of(img) -> np.ndarray:
    arr = np.asarray(img, dtype=np.float64) / 255.0
    assert img.mode == "RGB"
    return arr.mean(-1)


@pytest.mark.parametrize("mode,fmt", [("I;16", "PNG"), ("I;16", "TIFF"), ("I;16B", "TIFF")])
def test_16_bit_images_are_scaled_by_their_16_bit_range(mode, fmt):
    from PIL import Image

    from mae_core.images import image_notes, load_image

    g = _gradient()
    img16 = Image.fromarray((g * 65535).round().astype(np.uint16))
    if mode != "I;16":
        img16 = Image.frombytes(mode, img16.size, (g * 65535).round().astype(">u2").tobytes())
    data = _encode(img16, fmt)
    assert Image.open(__import__("io").BytesIO(data)).mode == mode
    out = load_image(data)
    np.testing.assert_allclose(_grey_of(out), g, atol=1 / 255 + 1e-9)  # not 99.8 % white
    assert any("16-bit" in n for n in image_notes(out))


def test_32_bit_integer_and_float_images():
    from PIL import Image

    from mae_core.images import image_notes, load_image

    g = _gradient()
    as_int16_range = Image.fromarray((g * 65535).round().astype(np.int32), mode="I")
    np.testing.assert_allclose(_grey_of(load_image(_encode(as_int16_range, "TIFF"))), g, atol=1 / 255 + 1e-9)
    unit = Image.fromarray(g.astype(np.float32), mode="F")  # the [0, 1] convention
    out = load_image(_encode(unit, "TIFF"))
    np.testing.assert_allclose(_grey_of(out), g, atol=1 / 255 + 1e-9)
    assert any("[0, 1]" in n for n in image_notes(out))
    wide = Image.fromarray((g * 3000 - 1000).astype(np.float32), mode="F")  # no convention: its own range
    out = load_image(wide)
    np.testing.assert_allclose(_grey_of(out), g, atol=1 / 255 + 1e-6)
    assert any("range" in n for n in image_notes(out))
    bad = g.astype(np.float32)
    bad[0, 0] = np.nan
    with pytest.raises(Exception, match="NaN"):
        load_image(Image.fromarray(bad, mode="F"))


def test_every_8_bit_mode_decodes_to_the_right_colours():
    from PIL import Image, ImageCms

    from mae_core.images import load_image

    colour = (200, 100, 50)
    rgb = Image.new("RGB", (6, 4), colour)
    grey = round(0.299 * 200 + 0.587 * 100 + 0.114 * 50)
    lab = ImageCms.applyTransform(rgb, ImageCms.buildTransform(ImageCms.createProfile("sRGB"),
                                                               ImageCms.createProfile("LAB"), "RGB", "LAB"))
    cases = {
        "RGB": (_encode(rgb, "PNG"), colour),
        "L": (_encode(rgb.convert("L"), "PNG"), (grey,) * 3),
        "1": (_encode(Image.new("1", (6, 4), 1), "PNG"), (255, 255, 255)),
        "P": (_encode(rgb.convert("P", palette=Image.Palette.ADAPTIVE), "GIF"), colour),
        "LA": (_encode(rgb.convert("LA"), "PNG"), (grey,) * 3),
        "RGBA": (_encode(rgb.convert("RGBA"), "PNG"), colour),
        "RGBX": (rgb.convert("RGBX"), colour),
        "CMYK": (_encode(rgb.convert("CMYK"), "TIFF"), colour),
        "YCbCr": (_encode(rgb.convert("YCbCr"), "TIFF"), colour),
        "HSV": (rgb.convert("HSV"), colour),
        "LAB": (_encode(lab, "TIFF"), colour),
        "RGBa": (rgb.convert("RGBA").convert("RGBa"), colour),
        "La": (Image.merge("La", (rgb.convert("L"), Image.new("L", (6, 4), 255))), (grey,) * 3),
        "PA": (rgb.convert("P", palette=Image.Palette.ADAPTIVE).convert("PA"), colour),
    }
    for mode, (src, want) in cases.items():
        out = load_image(src)
        assert out.mode == "RGB", mode
        got = np.asarray(out, dtype=int).reshape(-1, 3).mean(0)
        assert np.abs(got - np.array(want)).max() <= 3, (mode, got, want)


def test_transparency_is_composited_over_white_and_said():
    from PIL import Image

    from mae_core.images import image_notes, load_image

    half = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    half.paste((255, 0, 0, 255), (0, 0, 2, 4))
    out = load_image(_encode(half, "PNG"))
    assert out.getpixel((0, 0)) == (255, 0, 0) and out.getpixel((3, 0)) == (255, 255, 255)
    assert any("transparen" in n for n in image_notes(out))
    assert not image_notes(load_image(Image.new("RGBA", (4, 4), (1, 2, 3, 255))))  # opaque: nothing to say


def test_unusual_inputs_are_read_or_refused_in_one_line():
    from PIL import Image

    from mae_core.errors import ImageError
    from mae_core.images import load_image

    g = _gradient()
    np.testing.assert_allclose(_grey_of(load_image(g.astype(np.float32))), g, atol=1 / 255 + 1e-9)
    np.testing.assert_allclose(_grey_of(load_image((g * 65535).astype(np.uint16))), g, atol=1 / 255 + 1e-9)
    with pytest.raises(ImageError) as e:
        load_image(np.zeros((4, 4, 7), np.uint8))
    assert "\n" not in str(e.value)
    with pytest.raises(ImageError) as e:
        load_image(np.zeros((4, 4), np.complex64))
    assert "\n" not in str(e.value)
    rotated = Image.new("RGB", (8, 4), (10, 20, 30))
    exif = rotated.getexif()
    exif[0x0112] = 6  # EXIF orientation: rotate 90 degrees to display
    out = load_image(_encode_with_exif(rotated, exif))
    assert out.size == (4, 8)  # shown upright, as a phone's gallery would


def _encode_with_exif(img, exif):
    import io

    buf = io.BytesIO()
    img.save(buf, format="JPEG", exif=exif)
    return buf.getvalue()



# ------------------------------------------------------------------ non-square photos: stretch, crop or pad
def _wide_photo():
    from PIL import Image

    arr = np.zeros((100, 200, 3), np.uint8)
    arr[:, :100] = (250, 20, 20)  # left half red
    arr[:, 100:] = (20, 20, 250)  # right half blue
    arr[40:60, 90:110] = (20, 250, 20)  # a green square in the centre
    return Image.fromarray(arr)


def test_fit_stretch_crop_pad():
    from mae_core.errors import ConfigError
    from mae_core.images import FIT_MODES, IMAGENET_MEAN, fit_image, to_array

    assert FIT_MODES == ("stretch", "crop", "pad")
    img = _wide_photo()
    s, valid_s = fit_image(img, 64, "stretch")
    c, valid_c = fit_image(img, 64, "crop")
    p, valid_p = fit_image(img, 64, "pad")
    assert s.shape == c.shape == p.shape == (64, 64, 3) and valid_s.all() and valid_c.all()
    np.testing.assert_array_equal(to_array(img, 64, "resize"), s)  # the old name still means stretch
    # crop: the centre 100x100 square, so the green square fills the middle fifth of the width
    assert np.allclose(c[32, 32], (20 / 255, 250 / 255, 20 / 255), atol=0.05)
    assert c[32, 10, 0] > 0.9 and c[32, 54, 2] > 0.9  # red left, blue right
    # pad: the whole photo, 64x32, centred, ImageNet-mean grey above and below
    assert valid_p[16:48].all() and not valid_p[:16].any() and not valid_p[48:].any()
    np.testing.assert_allclose(p[:16].reshape(-1, 3), np.broadcast_to(IMAGENET_MEAN, (16 * 64, 3)), atol=1e-6)
    assert p[32, 5, 0] > 0.9 and p[32, 60, 2] > 0.9
    with pytest.raises(ConfigError, match="fit"):
        fit_image(img, 64, "squash")


def test_reconstruction_records_fit_and_scores_only_the_photo():
    from mae_core.images import fit_image
    from mae_core.model import MAEConfig, build_model
    from mae_core.reconstruct import reconstruct

    torch.manual_seed(0)
    model = build_model(MAEConfig(img_size=64, patch_size=8, embed_dim=32, depth=1, num_heads=2,
                                  decoder_embed_dim=32, decoder_depth=1, decoder_num_heads=2)).eval()
    img = _wide_photo()
    res = reconstruct(model, img, mask_unit=1, mask_ratio=0.5, seed=1, fit="pad")
    assert res.fit == "pad" and res.metrics()["fit"] == "pad"
    arr, valid = fit_image(img, 64, "pad")
    np.testing.assert_array_equal(res.original, arr)
    pm = np.kron(res.mask, np.ones((8, 8))).astype(bool)
    want = float(((res.reconstruction - arr)[pm & valid] ** 2).mean())
    assert res.masked_mse == pytest.approx(want, rel=1e-6)
    assert any("pad" in n and "grey" in n for n in res.notes)
    assert np.isnan(res.error_map[0]).all()  # the top patch row is all padding: no error to show
    crop = reconstruct(model, img, mask_unit=1, mask_ratio=0.5, seed=1, fit="crop")
    assert crop.metrics()["fit"] == "crop" and crop.masked_mse != res.masked_mse


def test_attention_follows_fit():
    from mae_core.attention import analyze
    from mae_core.images import fit_image
    from mae_core.model import MAEConfig, build_model

    torch.manual_seed(0)
    model = build_model(MAEConfig(img_size=32, patch_size=8, embed_dim=32, depth=1, num_heads=2,
                                  decoder_embed_dim=32, decoder_depth=1, decoder_num_heads=2)).eval()
    img = _wide_photo()
    from PIL import Image

    cropped = Image.fromarray((fit_image(img, 32, "crop")[0] * 255).round().astype(np.uint8))
    a = analyze(model, img, fit="crop")
    b = analyze(model, cropped)
    np.testing.assert_allclose(a.mean_attention_distance, b.mean_attention_distance, atol=1e-3)
    c = analyze(model, img, fit="stretch")
    assert not np.allclose(a.cls_attention, c.cls_attention)


def test_cli_fit_flag(tmp_path, capsys):
    from mae_core.cli import main

    path = tmp_path / "wide.png"
    _wide_photo().save(path)
    out = tmp_path / "r.npz"
    assert main(["reconstruct", "--image", str(path), "--fit", "pad", "--out", str(out)]) == 0
    assert "fit=pad" in capsys.readouterr().out
    assert main(["attention", "--image", str(path), "--fit", "crop", "--out", str(tmp_path / "a.npz")]) == 0
    assert "fit=crop" in capsys.readouterr().out
