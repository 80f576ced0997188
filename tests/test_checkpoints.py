"""Checkpoint formats: detection, strict loading, classification, refusals, directory listing and the info CLI."""
from mae_core.masking import make_mask
import argparse
import hashlib
import json
import os
import pickle

import pytest
import torch
from safetensors.torch import save_file

from mae_core.checkpoints import (CheckpointInfo, find_checkpoints, infer_config, inspect_checkpoint,
                                  load_checkpoint, save_checkpoint, target_statistic, to_hf_state_dict,
                                  PROBE_NORM_BELOW, PROBE_PIXELS_ABOVE)
from mae_core.cli import main as cli_main
from mae_core.errors import CheckpointError, ConfigError
from mae_core.model import MAEConfig, build_model, patchify

TINY = dict(img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2, decoder_embed_dim=48, decoder_depth=1,
            decoder_num_heads=4)
HEADS = dict(num_heads=2, decoder_num_heads=4)


def tiny(seed=0, **kw):
    torch.manual_seed(seed)
    m = build_model(MAEConfig(**{**TINY, **kw}))
    with torch.no_grad():  # non-trivial biases and norms, so a wrong mapping shows
        for name, p in m.named_parameters():
            if "pos_embed" not in name:
                p.add_(0.1 * torch.randn(p.shape))
    return m.eval()


def same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        torch.testing.assert_close(sa[k], sb[k], atol=0, rtol=0, msg=k)


def one_line(e) -> str:
    s = str(e.value)
    assert "\n" not in s and 0 < len(s) < 400, s
    return s


# ------------------------------------------------------------------ our format
def test_our_safetensors_metadata(tmp_path):
    m = tiny()
    path = save_checkpoint(m, tmp_path / "p8-m2.safetensors", training={"mask_unit": 2, "steps": 5},
                           dtype=torch.float32)
    model, info = load_checkpoint(path)
    assert isinstance(info, CheckpointInfo)
    assert info.format == "mae_core .safetensors"
    assert info.kind == "long-seq" and info.mask_unit == 2 and info.target == "pixels"
    assert info.training["steps"] == 5 and info.can_reconstruct
    assert info.config.num_heads == 2 and info.config.decoder_num_heads == 4
    assert info.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert info.n_params == sum(v.numel() for v in m.state_dict().values())
    same_weights(model, m)
    assert not model.training


def test_our_norm_pix_fp16(tmp_path):
    m = tiny(seed=1, norm_pix_loss=True)
    path = save_checkpoint(m, tmp_path / "n.safetensors", training={"mask_unit": 1})  # fp16 by default
    model, info = load_checkpoint(path)
    assert info.kind == "norm-pix-target" and info.target == "normalised pixels" and info.mask_unit == 1
    assert next(model.parameters()).dtype == torch.float32
    torch.testing.assert_close(model.blocks[0].attn.qkv.weight, m.blocks[0].attn.qkv.weight, atol=2e-3, rtol=1e-3)


def test_plain_safetensors_with_sidecar_non_square(tmp_path):
    m = tiny(seed=2, img_size=(32, 48))
    save_file({k: v.contiguous() for k, v in m.state_dict().items()}, str(tmp_path / "w.safetensors"))
    (tmp_path / "w.json").write_text(json.dumps({"config": m.cfg.to_dict(), "training": {"mask_unit": 4}}))
    model, info = load_checkpoint(tmp_path / "w.safetensors")
    assert info.format == "safetensors + sidecar .json"
    assert info.config.img_size == (32, 48) and info.mask_unit == 4
    same_weights(model, m)


def test_plain_safetensors_unknown_architecture_needs_heads(tmp_path):
    m = tiny(seed=3)
    save_file({k: v.contiguous() for k, v in m.state_dict().items()}, str(tmp_path / "w.safetensors"))
    with pytest.raises(CheckpointError, match="head") as e:
        load_checkpoint(tmp_path / "w.safetensors")
    one_line(e)
    model, info = load_checkpoint(tmp_path / "w.safetensors", **HEADS, probe=False)
    assert info.format == "safetensors (MAE key names)"
    same_weights(model, m)


# ------------------------------------------------------------------ architectures known by shape
@pytest.mark.parametrize("enc,dec,img,p,heads,dheads", [
    ((768, 12), (512, 8), 224, 16, 12, 16),  # mae_vit_base_patch16_dec512d8b
    ((1024, 24), (512, 8), 224, 16, 16, 16),  # mae_vit_large_patch16_dec512d8b
    ((1280, 32), (512, 8), 224, 14, 16, 16),  # mae_vit_huge_patch14_dec512d8b
    ((768, 12), (384, 8), 448, 16, 12, 12),  # long-seq mae_vit_base_patch16_dec384d12h8b @448
    ((1024, 24), (512, 8), 448, 16, 16, 16),  # long-seq mae_vit_large_patch16_dec512d16h8b @448
])
def test_known_architectures_from_shapes(enc, dec, img, p, heads, dheads):
    cfg = MAEConfig(img_size=img, patch_size=p, embed_dim=enc[0], depth=enc[1], num_heads=heads,
                    decoder_embed_dim=dec[0], decoder_depth=dec[1], decoder_num_heads=dheads)
    with torch.device("meta"):  # shapes only: no memory
        sd = build_model(cfg).state_dict()
    got, notes = infer_config({k: tuple(v.shape) for k, v in sd.items()})
    assert got.num_heads == heads and got.decoder_num_heads == dheads
    assert got.img_size == (img, img) and got.patch_size == p and got.mlp_ratio == 4.0
    assert any("heads" in n for n in notes)


def test_encoder_only_known_architecture_from_shapes():
    cfg = MAEConfig(img_size=224, patch_size=16, embed_dim=768, depth=12, num_heads=12, has_decoder=False)
    with torch.device("meta"):
        sd = build_model(cfg).state_dict()
    got, _ = infer_config({k: tuple(v.shape) for k, v in sd.items()})
    assert not got.has_decoder and got.num_heads == 12


# ------------------------------------------------------------------ facebookresearch layouts
def test_encoder_only_pth(tmp_path):
    m = tiny(seed=4, has_decoder=False)
    path = tmp_path / "mae_pretrain_vit_tiny.pth"
    torch.save({"model": m.state_dict()}, path)
    model, info = load_checkpoint(path, **HEADS)
    assert info.format == "facebookresearch/mae .pth"
    assert info.kind == "encoder-only" and info.target is None and not info.can_reconstruct
    assert any("reconstruction: no" in n for n in info.notes)
    same_weights(model, m)
    with pytest.raises(ConfigError):
        model.forward_decoder(torch.zeros(1, 5, 32), torch.arange(16)[None])
    from mae_core.reconstruct import reconstruct

    with pytest.raises(ConfigError, match="encoder-only"):
        reconstruct(model, torch.zeros(32, 32, 3, dtype=torch.uint8).numpy())


def test_encoder_only_without_final_norm(tmp_path):
    m = tiny(seed=5, has_decoder=False)
    sd = {k: v for k, v in m.state_dict().items() if not k.startswith("norm.")}
    torch.save({"model": sd}, tmp_path / "enc.pth")
    model, info = load_checkpoint(tmp_path / "enc.pth", **HEADS)
    assert any("identity LayerNorm" in n for n in info.notes)
    assert torch.equal(model.norm.weight, torch.ones(32)) and torch.equal(model.norm.bias, torch.zeros(32))


def test_visualize_name_means_pixels(tmp_path):
    path = tmp_path / "mae_visualize_vit_tiny.pth"
    torch.save({"model": tiny(seed=6).state_dict()}, path)
    info = inspect_checkpoint(path, **HEADS)
    assert info.kind == "pixel-target" and info.target == "pixels"
    assert any("file name" in n for n in info.notes)


def test_mae_pth_with_args(tmp_path):
    m = tiny(seed=7)
    args = argparse.Namespace(model="mae_vit_base_patch16", input_size=32, norm_pix_loss=True, mask_ratio=0.75)
    torch.save({"model": m.state_dict(), "args": args, "epoch": 799}, tmp_path / "checkpoint-799.pth")
    model, info = load_checkpoint(tmp_path / "checkpoint-799.pth", **HEADS)
    assert info.format == "facebookresearch/mae .pth"
    assert info.target == "normalised pixels" and info.training["epoch"] == 799
    assert any("args" in n for n in info.notes)


@pytest.mark.parametrize("k,kp", [(2, 1), (2, 2), (4, 2)])
def test_long_seq_decoder_resampling(tmp_path, k, kp):
    m = tiny(seed=8, img_size=64, decoder_downsampling=k, pred_downsampling=kp)
    args = argparse.Namespace(model="mae_vit_tiny_patch8", input_size=64, mask_downsampling=2, norm_pix_loss=True,
                              decoder_downsampling=k, pred_downsampling=kp)
    torch.save({"model": m.state_dict(), "args": args}, tmp_path / "ls.pth")
    model, info = load_checkpoint(tmp_path / "ls.pth", **HEADS)
    assert info.format == "facebookresearch/long_seq_mae .pth" and info.kind == "long-seq"
    assert (info.config.decoder_downsampling, info.config.pred_downsampling) == (k, kp)
    assert hasattr(model, "decoder_upsample") == (k // kp > 1)
    same_weights(model, m)


def test_long_seq_args_disagreeing_with_weights_is_noted(tmp_path):
    m = tiny(seed=9, img_size=64, decoder_downsampling=2, pred_downsampling=1)
    args = argparse.Namespace(input_size=64, mask_downsampling=2, decoder_downsampling=1, pred_downsampling=1)
    torch.save({"model": m.state_dict(), "args": args}, tmp_path / "ls.pth")
    _, info = load_checkpoint(tmp_path / "ls.pth", **HEADS)
    assert info.config.decoder_downsampling == 2
    assert any("weights win" in n for n in info.notes)


def test_to_hf_refuses_long_seq_resampling():
    with pytest.raises(ConfigError):
        to_hf_state_dict(tiny(seed=10, img_size=64, decoder_downsampling=2))


# ------------------------------------------------------------------ transformers folders (errors; equivalence is in test_hf_equivalence)
def _hf_dir(tmp_path, m, config_extra=None, drop=None):
    d = tmp_path / "hf"
    d.mkdir()
    c = dict(model_type="vit_mae", hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128,
             image_size=32, patch_size=8, decoder_hidden_size=48, decoder_num_hidden_layers=1,
             decoder_num_attention_heads=4, decoder_intermediate_size=192, layer_norm_eps=1e-6)
    c.update(config_extra or {})
    (d / "config.json").write_text(json.dumps(c))
    sd = {k: v.contiguous() for k, v in to_hf_state_dict(m, "hub").items() if k != drop}
    save_file(sd, str(d / "model.safetensors"))
    return d


def test_hf_dir_target_from_config(tmp_path):
    m = tiny(seed=11)
    model, info = load_checkpoint(_hf_dir(tmp_path, m, {"norm_pix_loss": False}))
    assert info.format == "transformers ViTMAE (hub key names)" and info.target == "pixels"
    assert info.sha256 == hashlib.sha256((tmp_path / "hf" / "model.safetensors").read_bytes()).hexdigest()
    same_weights(model, m)


def test_hf_dir_missing_key_named(tmp_path):
    d = _hf_dir(tmp_path, tiny(seed=12), drop="vit.encoder.layer.1.attention.attention.key.weight")
    with pytest.raises(CheckpointError, match="vit.encoder.layer.1.attention.attention.key.weight") as e:
        load_checkpoint(d)
    one_line(e)


def test_hf_dir_without_weights_or_config(tmp_path):
    (tmp_path / "a").mkdir()
    with pytest.raises(CheckpointError, match="config.json"):
        load_checkpoint(tmp_path / "a")
    (tmp_path / "a" / "config.json").write_text("{}")
    with pytest.raises(CheckpointError, match="model.safetensors"):
        load_checkpoint(tmp_path / "a")


def test_hf_config_absurd_size_refused(tmp_path):
    d = _hf_dir(tmp_path, tiny(seed=13), {"hidden_size": 10**6})
    with pytest.raises(CheckpointError, match="refusing"):
        load_checkpoint(d)


# ------------------------------------------------------------------ refusals
class Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("writer", ["torch", "torch-legacy", "pickle"])
def test_hostile_pickle_refused_and_not_executed(tmp_path, writer):
    marker = tmp_path / "PWNED"
    path = tmp_path / "mae_visualize_vit_base.pth"
    if writer == "torch":
        torch.save({"model": {"x": Evil(marker)}}, path)
    elif writer == "torch-legacy":
        torch.save({"model": {"x": Evil(marker)}}, path, _use_new_zipfile_serialization=False)
    else:
        path.write_bytes(pickle.dumps({"model": Evil(marker)}, protocol=2))
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(path)
    msg = one_line(e)
    assert "executed" in msg or "corrupt" in msg
    assert not marker.exists()
    if writer.startswith("torch"):
        assert "system" in msg  # names what the pickle wanted


class TrainingArgs:  # a harmless class that is still not allowlisted (only argparse.Namespace is)
    lr = 1e-3


def test_other_globals_refused(tmp_path):
    torch.save({"model": tiny().state_dict(), "args": TrainingArgs()}, tmp_path / "c.pth")
    with pytest.raises(CheckpointError, match="TrainingArgs"):
        load_checkpoint(tmp_path / "c.pth", **HEADS)


@pytest.mark.parametrize("kind", ["pth", "safetensors"])
def test_truncated_files(tmp_path, kind):
    m = tiny()
    src = tmp_path / f"full.{kind}"
    if kind == "pth":
        torch.save({"model": m.state_dict()}, src)
    else:
        save_checkpoint(m, src)
    data = src.read_bytes()
    for cut in (len(data) // 2, 40):
        bad = tmp_path / f"cut{cut}.{kind}"
        bad.write_bytes(data[:cut])
        with pytest.raises(CheckpointError, match="truncated|corrupt|neither") as e:
            load_checkpoint(bad, **HEADS)
        one_line(e)


@pytest.mark.parametrize("content", [b"", b"hello, this is not a checkpoint at all", os.urandom(4096)])
def test_not_a_checkpoint(tmp_path, content):
    p = tmp_path / "x.pth"
    p.write_bytes(content)
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(p)
    one_line(e)


def test_missing_file():
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint("/nonexistent/ckpt.pth")


def test_unexpected_and_missing_keys_listed(tmp_path):
    sd = dict(tiny().state_dict())
    sd["head.weight"] = torch.zeros(10, 32)
    del sd["blocks.1.norm2.bias"]
    torch.save({"model": sd}, tmp_path / "k.pth")
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(tmp_path / "k.pth", **HEADS)
    msg = one_line(e)
    assert "head.weight" in msg and "blocks.1.norm2.bias" in msg


def test_shape_mismatch_named(tmp_path):
    sd = dict(tiny().state_dict())
    sd["blocks.1.mlp.fc2.weight"] = torch.zeros(32, 64)
    torch.save({"model": sd}, tmp_path / "s.pth")
    with pytest.raises(CheckpointError, match="blocks.1.mlp.fc2.weight") as e:
        load_checkpoint(tmp_path / "s.pth", **HEADS)
    assert "shape" in one_line(e)


def test_non_finite_weights_refused(tmp_path):
    sd = dict(tiny().state_dict())
    sd["blocks.0.attn.proj.weight"] = sd["blocks.0.attn.proj.weight"].clone()
    sd["blocks.0.attn.proj.weight"][0, 0] = float("nan")
    torch.save({"model": sd}, tmp_path / "n.pth")
    with pytest.raises(CheckpointError, match="NaN"):
        load_checkpoint(tmp_path / "n.pth", **HEADS)


def test_absurd_metadata_refused_before_building(tmp_path):
    m = tiny()
    save_checkpoint(m, tmp_path / "a.safetensors")
    from safetensors.torch import load_file

    cfg = m.cfg.to_dict()
    cfg.update(embed_dim=1_000_000, depth=200)
    save_file(load_file(str(tmp_path / "a.safetensors")), str(tmp_path / "b.safetensors"),
              metadata={"format": "mae_core/1", "config": json.dumps(cfg), "training": "{}"})
    with pytest.raises(CheckpointError, match="refusing"):
        load_checkpoint(tmp_path / "b.safetensors")


# ------------------------------------------------------------------ target probe
def _photo(size=64):
    import skimage.data

    from mae_core.images import load_image, to_tensor

    return to_tensor(load_image(skimage.data.astronaut()), size)


def test_target_statistic_separates_ideal_predictors():
    x = _photo()
    pix = patchify(x, 8)  # a perfect pixel-target decoder
    norm = (pix - pix.mean(-1, keepdim=True)) / (pix.var(-1, keepdim=True) + 1e-6) ** 0.5  # a perfect norm-pix one
    assert target_statistic(pix) > PROBE_PIXELS_ABOVE
    assert target_statistic(norm) < PROBE_NORM_BELOW
    blurry = 0.5 * norm  # a blurry norm-pix prediction (low contrast) is still norm-pix
    assert target_statistic(blurry) < PROBE_NORM_BELOW


def test_unrecorded_target_is_probed(tmp_path):
    m = tiny(seed=14)
    save_file({k: v.contiguous() for k, v in m.state_dict().items()}, str(tmp_path / "w.safetensors"))
    cfg = m.cfg.to_dict()
    del cfg["norm_pix_loss"]
    (tmp_path / "w.json").write_text(json.dumps({"config": cfg}))
    _, info = load_checkpoint(tmp_path / "w.safetensors")
    assert info.target in ("pixels", "normalised pixels")
    assert any("probe" in n for n in info.notes)
    _, info2 = load_checkpoint(tmp_path / "w.safetensors", probe=False)
    assert any("not probed" in n for n in info2.notes)


TRAINED = os.path.join(os.path.dirname(__file__), "..", "assets", "checkpoints", "p16-m1.safetensors")


@pytest.mark.skipif(not os.path.isfile(TRAINED), reason="embedded p16-m1 not trained yet")
def test_probe_recognises_a_trained_pixel_model(tmp_path):
    """A real pixel-target model with its target hidden: the probe must say pixels."""
    from safetensors.torch import load_file

    meta_cfg = inspect_checkpoint(TRAINED).config.to_dict()
    assert meta_cfg["norm_pix_loss"] is False
    del meta_cfg["norm_pix_loss"]
    save_file(load_file(TRAINED), str(tmp_path / "t.safetensors"))
    (tmp_path / "t.json").write_text(json.dumps({"config": meta_cfg}))
    _, info = load_checkpoint(tmp_path / "t.safetensors")
    assert info.target == "pixels", info.notes


# ------------------------------------------------------------------ directory listing and CLI
def test_find_checkpoints(tmp_path):
    good = save_checkpoint(tiny(), tmp_path / "good.safetensors")
    hf = _hf_dir(tmp_path, tiny(seed=1), {"norm_pix_loss": False})
    torch.save({"model": {"x": Evil(tmp_path / "PWNED")}}, tmp_path / "evil.pth")
    (tmp_path / "cut.safetensors").write_bytes(good.read_bytes()[:100])
    (tmp_path / "notes.txt").write_text("hi")
    torch.save({"model": tiny().state_dict()}, tmp_path / "unknown_heads.pth")
    torch.save({"model": tiny().state_dict(), "optimizer": {}}, tmp_path / "run.resume.pt")
    (tmp_path / "empty_dir").mkdir()
    assert find_checkpoints(tmp_path) == sorted([good, hf])
    assert not (tmp_path / "PWNED").exists()
    with pytest.raises(CheckpointError):
        find_checkpoints(tmp_path / "notes.txt")


def test_info_cli_json(tmp_path, capsys):
    path = save_checkpoint(tiny(), tmp_path / "c.safetensors", training={"mask_unit": 2, "final_loss": 0.5})
    assert cli_main(["info", str(path), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["format"] == "mae_core .safetensors" and d["kind"] == "long-seq"
    assert d["native_image_size"] == [32, 32] and d["native_patch_size"] == 8 and d["L"] == 16
    assert d["n_params"] > 0 and d["training"]["final_loss"] == 0.5
    assert cli_main(["info", str(path)]) == 0
    text = capsys.readouterr().out
    assert "long-seq" in text and "p=8" in text


def test_info_cli_heads_and_errors(tmp_path, capsys):
    torch.save({"model": tiny().state_dict()}, tmp_path / "x.pth")
    assert cli_main(["info", str(tmp_path / "x.pth")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err
    assert cli_main(["info", str(tmp_path / "x.pth"), "--heads", "2,4", "--no-probe"]) == 0
    marker = tmp_path / "PWNED"
    torch.save({"model": {"x": Evil(marker)}}, tmp_path / "evil.pth")
    assert cli_main(["info", str(tmp_path / "evil.pth")]) == 2
    assert not marker.exists()


def test_info_cli_default_checkpoint(tiny_family, capsys, monkeypatch):
    monkeypatch.setenv("MAE_CHECKPOINT_DIR", str(tiny_family["p8-m2"].parent))
    assert cli_main(["info", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["path"].endswith("p8-m2.safetensors") and d["mask_unit"] == 2


def test_sharded_transformers_folder(tmp_path):
    m = tiny(seed=15)
    d = _hf_dir(tmp_path, m, {"norm_pix_loss": True})
    from safetensors.torch import load_file

    sd = load_file(str(d / "model.safetensors"))
    (d / "model.safetensors").unlink()
    names = sorted(sd)
    half = len(names) // 2
    shards = {"model-00001-of-00002.safetensors": names[:half], "model-00002-of-00002.safetensors": names[half:]}
    for fname, keys in shards.items():
        save_file({k: sd[k] for k in keys}, str(d / fname))
    index = {"metadata": {}, "weight_map": {k: f for f, ks in shards.items() for k in ks}}
    (d / "model.safetensors.index.json").write_text(json.dumps(index))
    model, info = load_checkpoint(d)
    same_weights(model, m)
    assert info.target == "normalised pixels"
    before = info.sha256
    (d / "model-00002-of-00002.safetensors").write_bytes((d / "model-00002-of-00002.safetensors").read_bytes())
    assert inspect_checkpoint(d).sha256 == before  # same content, same key
    with open(d / "model-00002-of-00002.safetensors", "r+b") as f:  # one changed byte in a tensor of shard 2
        f.seek(-1, 2)
        b = f.read(1)
        f.seek(-1, 2)
        f.write(bytes([b[0] ^ 1]))
    assert inspect_checkpoint(d).sha256 != before


def test_safetensors_whose_header_length_starts_with_pickle_byte(tmp_path):
    """Regression: a header length with low byte 0x80 (pickle's protocol byte) is still our safetensors."""
    import torch as _torch

    from mae_core.checkpoints import FORMAT_OURS, load_checkpoint as _load
    from mae_core.model import MAEConfig as _Cfg, build_model as _build
    from mae_core.checkpoints import save_checkpoint as _save

    _torch.manual_seed(0)
    m = _build(_Cfg(img_size=32, patch_size=8, embed_dim=32, depth=1, num_heads=2, decoder_embed_dim=32,
                    decoder_depth=1, decoder_num_heads=2))
    path = tmp_path / "edge.safetensors"
    for k in range(512):
        _save(m, path, training={"pad": "x" * k})
        if path.read_bytes()[0] == 0x80:
            break
    assert path.read_bytes()[0] == 0x80
    loaded, info = _load(path)
    assert info.format == FORMAT_OURS
    for key, v in m.state_dict().items():
        _torch.testing.assert_close(loaded.state_dict()[key], v.half().float())


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
    from mae_core.checkpoints import save_checkpoint

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
    from mae_core.checkpoints import save_checkpoint

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
    from mae_core.checkpoints import save_checkpoint

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
