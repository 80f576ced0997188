"""Errors in the user's terms: a broken checkpoint or image is refused in one line that names it and says why, with no
library internals."""
from __future__ import annotations

import io

import pytest
import torch


# ------------------------------------------------------------------ errors in the user's terms
INTERNALS = ("PytorchStreamReader", "SafetensorError", "RuntimeError", "UnpicklingError", "deserializing", "0x",
             "BytesIO", "Traceback", "central directory", "header length")


def _broken_checkpoints(tmp_path) -> dict:
    import os

    from mae_core.model import MAEConfig, build_model
    from mae_core.checkpoints import save_checkpoint

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

    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 200, 30)).save(buf, format="PNG")
    full = buf.getvalue()
    for data in (b"\x89PNG\r\n\x1a\nnot really", full[: len(full) // 2], b"GIF89a" + b"\x00" * 20, b"hello"):
        with pytest.raises(ImageError) as e:
            load_image(data)
        msg = str(e.value)
        assert "\n" not in msg and not [w for w in INTERNALS if w in msg], msg
        assert "not a readable image" in msg
