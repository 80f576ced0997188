"""Every input a user brings: masks that match long_seq_mae exactly, transformers configs with their own decoder
MLP ratio, an explicit reconstruction target, every PIL image mode, non-square photos, user-worded errors and
baselines that depend on the mask alone."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mae_core.masking import cell_permutation, make_mask


# ------------------------------------------------------------------ keep="exact" == long_seq_mae's loader
def longseq_ids_shuffle(grid, m: int, cell_perm: np.ndarray) -> np.ndarray:
    """long_seq_mae's ids_shuffle for a given permutation of the mask cells.

    Written from util/long_seq_patch_loader.py (SampleVisiblePatchIndices.__call__): cell c of the
    ceil(grid/m)-wide cell grid starts at x = (c % cells_per_row) * m, y = (c // cells_per_row) * m; each cell
    contributes its patches in the order ``for rx in range(m) for ry in range(m)`` (column by column), patches
    beyond the grid edge become negative sentinels (_clip_by_grid) and are dropped. The loader draws the
    permutation with np.random and asserts a square grid; here the permutation is given and grids may be
    rectangular (the rule is the same per axis)."""
    gh, gw = grid
    L = gh * gw
    if m == 1:
        return np.asarray(cell_perm)
    per_row = math.ceil(gw / m)
    mask_x = (cell_perm % per_row) * m
    mask_y = (cell_perm // per_row) * m

    def clip(v, limit):
        return np.where(v < limit, v, -100000 - L)

    stacks = [clip(mask_y + ry, gh) * gw + clip(mask_x + rx, gw) for rx in range(m) for ry in range(m)]
    ids = np.stack(stacks, axis=1).reshape(-1)
    ids = ids[ids >= 0]
    assert len(ids) == L
    return ids


def longseq_keep(grid, m, r, cell_perm) -> set:
    gh, gw = grid
    return set(longseq_ids_shuffle(grid, m, cell_perm)[: int(gh * gw * (1 - r))].tolist())


CASES = [((14, 14), 2, 0.5, s) for s in range(8)] + [
    ((14, 14), 2, 0.75, 0), ((28, 28), 2, 0.75, 1), ((7, 7), 2, 0.6, 3), ((9, 9), 2, 0.5, 4), ((10, 10), 3, 0.5, 5),
    ((11, 13), 3, 0.45, 6), ((13, 11), 4, 0.3, 7), ((8, 8), 1, 0.75, 8), ((5, 9), 2, 0.35, 9), ((16, 16), 4, 0.6, 2),
    ((6, 6), 3, 0.2, 11), ((12, 12), 5, 0.55, 12)]


@pytest.mark.parametrize("grid,m,r,seed", CASES)
def test_exact_keep_is_long_seq_maes_loader(grid, m, r, seed):
    perm = cell_permutation(grid, m, seed)
    mk = make_mask(grid, m, r, seed, keep="exact")
    assert set(mk.ids_keep.tolist()) == longseq_keep(grid, m, r, perm)


def test_exact_keep_matches_on_many_random_cases():
    rng = np.random.default_rng(0)
    differs_from_row_first = 0
    for _ in range(300):
        gh, gw = int(rng.integers(2, 20)), int(rng.integers(2, 20))
        m = int(rng.integers(1, min(gh, gw, 5) + 1))
        r = float(rng.choice([0.25, 0.4, 0.5, 0.6, 0.75, 0.9]))
        seed = int(rng.integers(0, 2**31 - 1))
        if int(gh * gw * (1 - r)) < 1:
            continue
        perm = cell_permutation((gh, gw), m, seed)
        got = set(make_mask((gh, gw), m, r, seed, keep="exact").ids_keep.tolist())
        assert got == longseq_keep((gh, gw), m, r, perm), (gh, gw, m, r, seed)
        # the case the issue names: the partly kept cell filled row by row would give another mask
        cells = np.arange(gh * gw).reshape(gh, gw)
        row_first = np.concatenate([cells[(c // -(-gw // m)) * m:(c // -(-gw // m)) * m + m,
                                          (c % -(-gw // m)) * m:(c % -(-gw // m)) * m + m].reshape(-1)
                                    for c in perm])[: int(gh * gw * (1 - r))]
        differs_from_row_first += set(row_first.tolist()) != got
    assert differs_from_row_first > 10  # the test exercises partly kept cells where the fill order matters


def test_the_issues_example_14x14_m2_r05():
    """int(196 * 0.5) = 98 = 24 cells + 2 patches: the cut cell keeps its first COLUMN, as the loader does."""
    mk = make_mask((14, 14), 2, 0.5, seed=0, keep="exact")
    vis = (mk.mask.numpy() == 0).reshape(7, 2, 7, 2).transpose(0, 2, 1, 3).reshape(49, 2, 2)
    partial = [v for v in vis if 0 < v.sum() < 4]
    assert len(partial) == 1 and partial[0].sum() == 2
    assert partial[0][:, 0].all() and not partial[0][:, 1].any()  # left column kept, right column removed


# ------------------------------------------------------------------ a decoder MLP ratio of its own
HF_TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128, image_size=32,
               patch_size=8, decoder_hidden_size=48, decoder_num_hidden_layers=2, decoder_num_attention_heads=4,
               decoder_intermediate_size=96, layer_norm_eps=1e-6, norm_pix_loss=False)  # ratios 4.0 and 2.0


def hf_model_with_own_decoder_ratio(seed=3):
    transformers = pytest.importorskip("transformers")
    from mae_core.geometry import sincos_pos_embed_2d

    from conftest import randomise

    torch.manual_seed(seed)
    hf = randomise(transformers.ViTMAEForPreTraining(transformers.ViTMAEConfig(**HF_TINY, attn_implementation="eager")),
                   seed)
    with torch.no_grad():
        hf.vit.embeddings.position_embeddings.copy_(torch.from_numpy(sincos_pos_embed_2d(32, 4))[None])
        hf.decoder.decoder_pos_embed.copy_(torch.from_numpy(sincos_pos_embed_2d(48, 4))[None])
    return hf.eval()


def hf_reconstruction(hf, x, ids_keep):
    """HF keeps the len_keep tokens of lowest noise: give our kept ids the lowest noise, in our order."""
    L = (hf.config.image_size // hf.config.patch_size) ** 2
    n, k = ids_keep.shape
    hf.config.mask_ratio = 1.0 - (k + 0.5) / L
    noise = (1.0 + 0.01 * torch.arange(L, dtype=torch.float32) / L).expand(n, -1)
    noise = noise.scatter(1, ids_keep, torch.arange(k, dtype=torch.float32).expand(n, -1) / (10 * k))
    with torch.no_grad():
        return hf(pixel_values=x, noise=noise)


def test_transformers_folder_with_its_own_decoder_mlp_ratio_matches_hf(tmp_path):
    from mae_core.checkpoints import load_checkpoint

    hf = hf_model_with_own_decoder_ratio()
    hf.save_pretrained(tmp_path / "vit-mae-dec2")
    model, info = load_checkpoint(tmp_path / "vit-mae-dec2")
    assert model.cfg.mlp_ratio == 4.0 and model.cfg.decoder_mlp_ratio == 2.0
    assert model.decoder_blocks[0].mlp.fc1.weight.shape == (96, 48)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    masks = [make_mask(model.cfg.grid, 1, 0.75, seed=s) for s in (0, 1)]
    ids_keep = torch.stack([m.ids_keep for m in masks])
    ids_restore = torch.stack([m.ids_restore for m in masks])
    out = hf_reconstruction(hf, x, ids_keep)
    torch.testing.assert_close(out.ids_restore, ids_restore)
    with torch.no_grad():
        pred = model(x, ids_keep, ids_restore)
    torch.testing.assert_close(pred, out.logits, atol=1e-5, rtol=0)
    assert pred.abs().max() > 0.1


def test_decoder_mlp_ratio_from_shapes_and_back_to_transformers_and_our_format(tmp_path):
    from mae_core.checkpoints import hf_config_for, infer_config, load_checkpoint, to_hf_state_dict
    from mae_core.model import MAEConfig, build_model
    from mae_core.ourformat import save_checkpoint

    cfg = MAEConfig(img_size=32, patch_size=8, embed_dim=32, depth=1, num_heads=2, decoder_embed_dim=48,
                    decoder_depth=1, decoder_num_heads=4, decoder_mlp_ratio=2.0)
    m = build_model(cfg).eval()
    shapes = {k: tuple(v.shape) for k, v in m.state_dict().items()}
    got, _ = infer_config(shapes, dict(num_heads=2, decoder_num_heads=4))
    assert got.mlp_ratio == 4.0 and got.decoder_mlp_ratio == 2.0
    same, _ = infer_config({k: tuple(v.shape) for k, v in build_model(cfg.replace(decoder_mlp_ratio=None))
                            .state_dict().items()}, dict(num_heads=2, decoder_num_heads=4))
    assert same.decoder_mlp_ratio is None  # None = same as the encoder
    d = hf_config_for(cfg)
    assert d["intermediate_size"] == 128 and d["decoder_intermediate_size"] == 96
    transformers = pytest.importorskip("transformers")
    hf = transformers.ViTMAEForPreTraining(transformers.ViTMAEConfig(**d)).eval()
    naming = "v5-module"
    hf.load_state_dict(to_hf_state_dict(m, naming), strict=True)
    loaded, _ = load_checkpoint(save_checkpoint(m, tmp_path / "ours.safetensors", dtype=torch.float32))
    assert loaded.cfg.decoder_mlp_ratio == 2.0


def test_costs_count_the_decoder_at_its_own_mlp_ratio():
    from mae_core import cost
    from mae_core.cost import estimate_flops
    from mae_core.model import MAEConfig, build_model

    kw = dict(img_size=224, patch_size=16, n_keep=49, embed_dim=768, depth=12, decoder_embed_dim=512,
              decoder_depth=8)
    same = estimate_flops(**kw)
    half = estimate_flops(**kw, decoder_mlp_ratio=2.0)
    assert half.encoder == same.encoder and half.decoder < same.decoder
    L, Dd, depth = 196, 512, 8
    assert same.decoder - half.decoder == pytest.approx(2.0 * depth * 2 * 2.0 * (L + 1) * Dd * Dd)
    cfg = MAEConfig(img_size=32, patch_size=8, embed_dim=32, depth=1, num_heads=2, decoder_embed_dim=48,
                    decoder_depth=2, decoder_num_heads=4, decoder_mlp_ratio=2.0)
    n_true = sum(p.numel() for n, p in build_model(cfg).named_parameters() if "pos_embed" not in n)
    est = cost.estimate_for_config(cfg, 16, 4, 16)
    est_same = cost.estimate_for_config(cfg.replace(decoder_mlp_ratio=None), 16, 4, 16)
    assert est.weights < est_same.weights and est.decoder_activations < est_same.decoder_activations
    assert est.weights / cost.BYTES == pytest.approx(n_true, rel=0.02)


def test_a_folder_listing_says_what_it_skipped_and_why(tmp_path):
    from mae_core.checkpoints import scan_checkpoints
    from mae_core.model import MAEConfig, build_model
    from mae_core.ourformat import save_checkpoint

    good = save_checkpoint(build_model(MAEConfig(img_size=32, patch_size=8, embed_dim=32, depth=1, num_heads=2,
                                                 decoder_embed_dim=32, decoder_depth=1, decoder_num_heads=2)),
                           tmp_path / "good.safetensors")
    (tmp_path / "cut.safetensors").write_bytes(good.read_bytes()[:100])
    bad_dir = tmp_path / "hf-no-weights"
    bad_dir.mkdir()
    (bad_dir / "config.json").write_text("{}")
    (tmp_path / "notes.txt").write_text("not a candidate")
    scan = scan_checkpoints(tmp_path)
    assert scan.found == [good]
    skipped = dict(scan.skipped)
    assert set(skipped) == {tmp_path / "cut.safetensors", bad_dir}
    for reason in skipped.values():
        assert reason and "\n" not in reason and len(reason) < 200
    assert "model.safetensors" in skipped[bad_dir]


# ------------------------------------------------------------------ an explicit target wins over probe and metadata
def _unrecorded(tmp_path, seed=14):
    """Random weights whose target nothing records (a sidecar without norm_pix_loss): the loader must probe."""
    import json

    from safetensors.torch import save_file

    from mae_core.model import MAEConfig, build_model

    torch.manual_seed(seed)
    m = build_model(MAEConfig(img_size=32, patch_size=8, embed_dim=32, depth=1, num_heads=2, decoder_embed_dim=32,
                              decoder_depth=1, decoder_num_heads=2)).eval()
    save_file({k: v.contiguous() for k, v in m.state_dict().items()}, str(tmp_path / "w.safetensors"))
    cfg = m.cfg.to_dict()
    del cfg["norm_pix_loss"]
    (tmp_path / "w.json").write_text(json.dumps({"config": cfg}))
    return tmp_path / "w.safetensors"


def test_probe_shows_its_evidence(tmp_path):
    from mae_core.checkpoints import PROBE_NORM_BELOW, PROBE_PIXELS_ABOVE, load_checkpoint

    _, info = load_checkpoint(_unrecorded(tmp_path))
    assert info.target_source == "probe"
    ev = info.probe
    assert set(ev) >= {"statistic", "norm_below", "pixels_above", "mse_pixels", "mse_norm", "verdict", "decided_by"}
    assert (ev["norm_below"], ev["pixels_above"]) == (PROBE_NORM_BELOW, PROBE_PIXELS_ABOVE)
    assert 0 <= ev["statistic"] <= 1 and ev["mse_pixels"] > 0 and ev["mse_norm"] > 0
    assert ev["verdict"] == info.target
    assert info.to_dict()["probe"] == ev  # in `info --json` too


@pytest.mark.parametrize("choice,target", [("pixels", "pixels"), ("norm-pix", "normalised pixels")])
def test_explicit_target_wins_over_the_probe(tmp_path, choice, target):
    from mae_core.checkpoints import inspect_checkpoint, load_checkpoint

    path = _unrecorded(tmp_path)
    model, info = load_checkpoint(path, target=choice)
    assert info.target == target and info.target_source == "your choice"
    assert model.cfg.norm_pix_loss == (target == "normalised pixels") == info.config.norm_pix_loss
    assert info.kind == ("norm-pix-target" if choice == "norm-pix" else "pixel-target")
    assert any("overrides" in n and "probe" in n for n in info.notes), info.notes
    assert info.probe is not None  # the probe's evidence is still shown beside the choice
    assert inspect_checkpoint(path, target=choice).target == target


def test_explicit_target_wins_over_metadata(tmp_path):
    from mae_core.checkpoints import load_checkpoint
    from mae_core.model import MAEConfig, build_model
    from mae_core.ourformat import save_checkpoint

    path = save_checkpoint(build_model(MAEConfig(img_size=32, patch_size=8, embed_dim=32, depth=1, num_heads=2,
                                                 decoder_embed_dim=32, decoder_depth=1, decoder_num_heads=2)),
                           tmp_path / "m.safetensors")
    _, info = load_checkpoint(path)
    assert info.target == "pixels" and info.target_source == "metadata" and info.probe is None
    _, info = load_checkpoint(path, target="norm-pix")
    assert info.target == "normalised pixels" and info.config.norm_pix_loss
    assert any("overrides" in n and "metadata" in n for n in info.notes), info.notes
    with pytest.raises(Exception, match="target"):
        load_checkpoint(path, target="colours")


def test_retarget_builds_a_new_object_and_never_touches_the_shared_model(tmp_path):
    from mae_core.checkpoints import load_checkpoint, retarget

    model, info = load_checkpoint(_unrecorded(tmp_path), target="pixels")
    before = (model.cfg, info.target, list(info.notes))
    other, other_info = retarget(model, info, "norm-pix")
    assert other is not model and other_info is not info
    assert other.cfg.norm_pix_loss and not model.cfg.norm_pix_loss
    assert (model.cfg, info.target, list(info.notes)) == before
    assert other.blocks[0].attn.qkv.weight is model.blocks[0].attn.qkv.weight  # weights shared, read-only
    same, same_info = retarget(model, info, "auto")
    assert same is model and same_info is info


def test_cli_target_flag_and_probe_evidence(tmp_path, capsys):
    import json

    from mae_core.cli import main

    path = _unrecorded(tmp_path)
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    probe_line = next(line for line in out.splitlines() if line.startswith("probe"))
    assert "0.25" in probe_line and "0.4" in probe_line and "MSE" in probe_line
    assert main(["info", str(path), "--target", "norm-pix", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["target"] == "normalised pixels" and d["target_source"] == "your choice" and d["probe"]
    img = tmp_path / "img.png"
    from PIL import Image

    Image.new("RGB", (40, 40), (120, 60, 200)).save(img)
    out_npz = tmp_path / "r.npz"
    assert main(["reconstruct", "--checkpoint", str(path), "--image", str(img), "--target", "norm-pix",
                 "--out", str(out_npz)]) == 0
    out = capsys.readouterr().out
    assert "target=normalised pixels" in out and "overrides" in out
    with pytest.raises(SystemExit) as e:  # argparse: one line on stderr, exit code 2
        main(["info", str(path), "--target", "bogus"])
    assert e.value.code == 2


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
    from mae_core.reconstruct import BASELINE_GIVEN, reconstruct

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


# ------------------------------------------------------------------ errors in the user's terms
INTERNALS = ("PytorchStreamReader", "SafetensorError", "RuntimeError", "UnpicklingError", "deserializing", "0x",
             "BytesIO", "Traceback", "central directory", "header length")


def _broken_checkpoints(tmp_path) -> dict:
    import os

    from mae_core.model import MAEConfig, build_model
    from mae_core.ourformat import save_checkpoint

    m = build_model(MAEConfig(img_size=32, patch_size=8, embed_dim=32, depth=1, num_heads=2, decoder_embed_dim=32,
                              decoder_depth=1, decoder_num_heads=2))
    st = save_checkpoint(m, tmp_path / "full.safetensors").read_bytes()
    torch.save({"model": m.state_dict()}, tmp_path / "full.pth")
    pth = (tmp_path / "full.pth").read_bytes()
    cases = {"model.pth": pth[: len(pth) // 2], "header.pth": pth[:3000], "model.safetensors": st[: len(st) // 2],
             "tiny.safetensors": st[:100], "zipjunk.pth": b"PK\x03\x04" + os.urandom(500)}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
    return {name: tmp_path / name for name in cases}


def test_broken_checkpoint_messages_are_in_the_users_terms(tmp_path):
    from mae_core.checkpoints import load_checkpoint
    from mae_core.errors import CheckpointError

    for name, path in _broken_checkpoints(tmp_path).items():
        with pytest.raises(CheckpointError) as e:
            load_checkpoint(path)
        msg = str(e.value)
        assert "\n" not in msg and len(msg) < 200, msg
        assert msg.startswith(name), msg
        assert not [w for w in INTERNALS if w in msg], msg
        if name in ("model.pth", "model.safetensors", "tiny.safetensors", "header.pth"):
            assert "not a complete" in msg and "truncated or still downloading" in msg, msg


def test_broken_image_messages_are_in_the_users_terms():
    from mae_core.errors import ImageError
    from mae_core.images import load_image
    from PIL import Image

    full = _encode(Image.new("RGB", (64, 64), (10, 200, 30)), "PNG")
    for data in (b"\x89PNG\r\n\x1a\nnot really", full[: len(full) // 2], b"GIF89a" + b"\x00" * 20, b"hello"):
        with pytest.raises(ImageError) as e:
            load_image(data)
        msg = str(e.value)
        assert "\n" not in msg and not [w for w in INTERNALS if w in msg], msg
        assert "not a readable image" in msg
