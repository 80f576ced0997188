"""Our MAE against transformers' ViTMAEForPreTraining (the reference), on tiny random weights.

Every checkpoint layout we read (transformers' three key namings, facebookresearch/mae .pth, long_seq_mae .pth with
q_bias/v_bias) must give the same encoder latent and decoder output as HF for an explicit mask.
HF takes no ids: it keeps the `len_keep = int(L * (1 - mask_ratio))` tokens with the smallest `noise`, in
ascending noise order. We give kept patches noise in [0, 0.1) and removed ones noise in [1, 1.01), each increasing
in raster order, so HF keeps exactly our ids_keep in our order and its ids_restore equals ours.
"""
import argparse
import json

import pytest
import torch

transformers = pytest.importorskip("transformers")
from safetensors.torch import save_file  # noqa: E402
from transformers import ViTMAEConfig, ViTMAEForPreTraining  # noqa: E402

from conftest import randomise  # noqa: E402
from mae_core.checkpoints import (detect_hf_naming, hf_config_for, load_checkpoint,  # noqa: E402
                                  to_hf_state_dict)
from mae_core.geometry import sincos_pos_embed_2d  # noqa: E402
from mae_core.masking import make_mask  # noqa: E402
from mae_core.model import MAEConfig, build_model  # noqa: E402

ATOL = 1e-5
TINY = dict(img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2, decoder_embed_dim=48, decoder_depth=2,
            decoder_num_heads=4)


def our_model(seed=0, **kw) -> torch.nn.Module:
    torch.manual_seed(seed)
    return randomise(build_model(MAEConfig(**{**TINY, **kw})), seed)


def hf_from_ours(model) -> ViTMAEForPreTraining:
    hf = ViTMAEForPreTraining(ViTMAEConfig(**hf_config_for(model.cfg), attn_implementation="eager")).eval()
    naming = detect_hf_naming(hf.state_dict().keys())
    hf.load_state_dict(to_hf_state_dict(model, naming), strict=True)
    return hf


def inputs(cfg, n=2, seed=0, mask_unit=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, *cfg.img_size, generator=g)
    masks = [make_mask(cfg.grid, mask_unit, 0.75, seed=seed + i) for i in range(n)]
    ids_keep = torch.stack([m.ids_keep for m in masks])
    ids_restore = torch.stack([m.ids_restore for m in masks])
    return x, ids_keep, ids_restore


def hf_noise(ids_keep: torch.Tensor, L: int) -> torch.Tensor:
    n, k = ids_keep.shape
    noise = (1.0 + 0.01 * torch.arange(L, dtype=torch.float32) / L).expand(n, -1)  # removed: raster order
    kept = torch.arange(k, dtype=torch.float32).expand(n, -1) / (10 * k)
    return noise.scatter(1, ids_keep, kept)


def hf_run(hf, x, ids_keep):
    L = (hf.config.image_size // hf.config.patch_size) ** 2
    k = ids_keep.shape[1]
    hf.config.mask_ratio = 1.0 - (k + 0.5) / L  # int(L * (1 - r)) == k
    noise = hf_noise(ids_keep, L)
    with torch.no_grad():
        latent = hf.vit(x, noise=noise).last_hidden_state
        out = hf(pixel_values=x, noise=noise)
    return latent, out


def assert_same(model, hf, x, ids_keep, ids_restore):
    with torch.no_grad():
        latent = model.forward_encoder(x, ids_keep)
        pred = model(x, ids_keep, ids_restore)
    hf_latent, out = hf_run(hf, x, ids_keep)
    torch.testing.assert_close(out.ids_restore, ids_restore)  # HF kept exactly our patches
    assert latent.shape == hf_latent.shape
    torch.testing.assert_close(latent, hf_latent, atol=ATOL, rtol=0)
    torch.testing.assert_close(pred, out.logits, atol=ATOL, rtol=0)
    assert pred.abs().max() > 0.1  # a real signal, not zeros on both sides


@pytest.mark.parametrize("mask_unit", [1, 2])
def test_our_model_matches_hf(mask_unit):
    model = our_model(seed=mask_unit)
    hf = hf_from_ours(model)
    x, ids_keep, ids_restore = inputs(model.cfg, n=2, seed=3, mask_unit=mask_unit)
    assert not torch.equal(ids_keep[0], ids_keep[1])  # two different masks in one batch
    assert_same(model, hf, x, ids_keep, ids_restore)


def test_mismatch_is_detected():
    """The comparison can fail: one changed weight gives a visible difference."""
    model = our_model(seed=5)
    hf = hf_from_ours(model)
    with torch.no_grad():
        model.blocks[0].attn.qkv.weight[0, 0] += 0.5  # one query weight
    x, ids_keep, ids_restore = inputs(model.cfg)
    with pytest.raises(AssertionError):
        assert_same(model, hf, x, ids_keep, ids_restore)


# ------------------------------------------------------------------ transformers directories, three namings
def _legacy_names(sd: dict) -> dict:
    """5.x module names -> the hub's names (written here independently of mae_core's converter)."""
    out = {}
    for k, v in sd.items():
        k2 = k.replace("vit.layers.", "vit.encoder.layer.")
        for a, b in ((".attention.q_proj.", ".attention.attention.query."),
                     (".attention.k_proj.", ".attention.attention.key."),
                     (".attention.v_proj.", ".attention.attention.value."),
                     (".attention.o_proj.", ".attention.output.dense."),
                     (".mlp.fc1.", ".intermediate.dense."), (".mlp.fc2.", ".output.dense.")):
            k2 = k2.replace(a, b)
        out[k2] = v.contiguous()
    return out


def hf_reference(seed=11):
    torch.manual_seed(seed)
    cfg = ViTMAEConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128,
                       image_size=32, patch_size=8, decoder_hidden_size=48, decoder_num_hidden_layers=2,
                       decoder_num_attention_heads=4, decoder_intermediate_size=192, layer_norm_eps=1e-6,
                       norm_pix_loss=True, attn_implementation="eager")
    hf = ViTMAEForPreTraining(cfg)
    # transformers 5.23 leaves the position tables at zero on construction: set MAE's sin-cos tables
    with torch.no_grad():
        hf.vit.embeddings.position_embeddings.copy_(torch.from_numpy(sincos_pos_embed_2d(32, 4))[None])
        hf.decoder.decoder_pos_embed.copy_(torch.from_numpy(sincos_pos_embed_2d(48, 4))[None])
    return randomise(hf, seed)


def write_hf_dir(hf, path, naming: str, container: str = "safetensors"):
    if naming == "v5-saved":
        hf.save_pretrained(path)  # whatever the installed transformers writes
        return path
    path.mkdir()
    hf.config.to_json_file(path / "config.json")
    sd = hf.state_dict()
    assert detect_hf_naming(sd) == "v5-module"
    sd = _legacy_names(sd) if naming == "hub" else {k: v.contiguous() for k, v in sd.items()}
    if container == "safetensors":
        save_file(sd, str(path / "model.safetensors"))
    else:
        torch.save(sd, path / "pytorch_model.bin")
    return path


@pytest.mark.parametrize("naming,container", [("hub", "safetensors"), ("hub", "bin"), ("v5-saved", "safetensors"),
                                              ("v5-module", "safetensors")])
def test_hf_directory_loads_and_matches(tmp_path, naming, container):
    hf = hf_reference()
    d = write_hf_dir(hf, tmp_path / "vit-mae-tiny", naming, container)
    if naming == "v5-saved":
        from safetensors import safe_open

        with safe_open(str(d / "model.safetensors"), "pt") as f:
            found = detect_hf_naming(f.keys())
        assert found == "v5-saved", found  # transformers 5.23 writes decoder.decoder_encoder.layer.N.*
    model, info = load_checkpoint(d)
    assert info.format.startswith("transformers ViTMAE")
    assert info.config.num_heads == 2 and info.config.decoder_num_heads == 4  # from config.json
    assert info.target == "normalised pixels" and info.kind == "norm-pix-target"
    assert info.config.norm_eps == 1e-6
    x, ids_keep, ids_restore = inputs(model.cfg, seed=4)
    assert_same(model, hf, x, ids_keep, ids_restore)
    if naming == "hub":  # the hand-made hub layout is one transformers itself accepts
        again = ViTMAEForPreTraining.from_pretrained(d, attn_implementation="eager").eval()
        assert_same(model, again, x, ids_keep, ids_restore)


def test_installed_transformers_namings():
    """Record what the installed transformers uses in memory and on disk (documents the namings we handle)."""
    hf = hf_reference()
    assert detect_hf_naming(hf.state_dict()) == "v5-module"
    assert any(k.startswith("vit.layers.0.attention.q_proj") for k in hf.state_dict())


# ------------------------------------------------------------------ facebookresearch .pth layouts
def test_official_mae_pth_matches_hf(tmp_path):
    model = our_model(seed=7)
    path = tmp_path / "mae_pretrain_vit_tiny_full.pth"
    torch.save({"model": model.state_dict()}, path)
    loaded, info = load_checkpoint(path, num_heads=2, decoder_num_heads=4)
    assert info.format == "facebookresearch/mae .pth"
    assert info.kind == "norm-pix-target" and info.target == "normalised pixels"
    hf = hf_from_ours(model)
    x, ids_keep, ids_restore = inputs(loaded.cfg, seed=8)
    assert_same(loaded, hf, x, ids_keep, ids_restore)


def test_long_seq_pth_with_qv_bias_matches_hf(tmp_path):
    model = our_model(seed=9)
    with torch.no_grad():  # BEiT-style attention: no k bias
        for blk in list(model.blocks) + list(model.decoder_blocks):
            D = blk.attn.qkv.bias.shape[0] // 3
            blk.attn.qkv.bias[D:2 * D] = 0
    sd = {}
    for k, v in model.state_dict().items():
        if k.endswith("attn.qkv.bias"):
            q, _, vb = v.chunk(3)
            sd[k.replace("qkv.bias", "q_bias")] = q.clone()
            sd[k.replace("qkv.bias", "v_bias")] = vb.clone()
        else:
            sd[k] = v
    args = argparse.Namespace(model="mae_vit_tiny_patch8_dec48d4h2b", input_size=32, patch_size=-1,
                              mask_ratio=0.75, mask_downsampling=2, norm_pix_loss=True, decoder_downsampling=1,
                              pred_downsampling=1, no_k_bias_in_vit=True)
    path = tmp_path / "vitt_dec48d4h2b_img32_maskds2.pth"
    torch.save({"model": sd, "args": args, "epoch": 3}, path)
    loaded, info = load_checkpoint(path, num_heads=2)
    assert info.format == "facebookresearch/long_seq_mae .pth"
    assert info.kind == "long-seq" and info.mask_unit == 2 and info.target == "normalised pixels"
    assert info.config.decoder_num_heads == 4  # from the dec{dim}d{heads}h{blocks}b grammar
    assert any("q_bias" in n for n in info.notes)
    hf = hf_from_ours(model)
    x, ids_keep, ids_restore = inputs(loaded.cfg, seed=10, mask_unit=2)
    assert_same(loaded, hf, x, ids_keep, ids_restore)


# ------------------------------------------------------------------ position tables
@pytest.mark.parametrize("dim,grid,p", [(32, 4, 8), (48, 7, 8), (64, 14, 16), (384, 28, 16)])
def test_sincos_matches_hf_init(dim, grid, p):
    """Our table == the one transformers' own initialisation code builds (encoder and decoder) at native size."""
    cfg = ViTMAEConfig(hidden_size=dim, num_hidden_layers=1, num_attention_heads=4, intermediate_size=dim,
                       image_size=grid * p, patch_size=p, decoder_hidden_size=dim, decoder_num_hidden_layers=1,
                       decoder_num_attention_heads=4, decoder_intermediate_size=dim)
    hf = ViTMAEForPreTraining(cfg)
    emb = hf.vit.embeddings
    emb.patch_embeddings.projection._is_hf_initialized = False  # 5.23 skips this init on construction
    emb.initialize_weights()
    hf.decoder.initialize_weights(grid * grid)
    ours = torch.from_numpy(sincos_pos_embed_2d(dim, grid))
    assert emb.position_embeddings.abs().max() > 0.5
    torch.testing.assert_close(emb.position_embeddings[0].detach(), ours, atol=1e-6, rtol=0)
    torch.testing.assert_close(hf.decoder.decoder_pos_embed[0].detach(), ours, atol=1e-6, rtol=0)
    model = build_model(MAEConfig(img_size=grid * p, patch_size=p, embed_dim=dim, depth=1, num_heads=4,
                                  decoder_embed_dim=dim, decoder_depth=1, decoder_num_heads=4))
    torch.testing.assert_close(model.pos_embed[0].detach(), ours)


def test_hf_config_round_trip(tmp_path):
    """hf_config_for describes the same model: HF builds it, and our loader reads its config.json back."""
    model = our_model(seed=12)
    hf = hf_from_ours(model)
    hf.save_pretrained(tmp_path / "m")
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    assert cfg["hidden_size"] == 32 and cfg["decoder_num_attention_heads"] == 4
    loaded, info = load_checkpoint(tmp_path / "m")
    for f in ("img_size", "patch_size", "embed_dim", "depth", "num_heads", "decoder_embed_dim", "decoder_depth",
              "decoder_num_heads", "mlp_ratio", "norm_eps"):
        assert getattr(loaded.cfg, f) == getattr(model.cfg, f), f
    for k, v in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[k], v, atol=0, rtol=0)
