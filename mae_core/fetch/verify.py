"""The last check of a download: mae_core.checkpoints' strict, weights-only loader must accept it, and what it
finds (format, encoder, decoder, class, target, image size, mask unit) must match the catalogue entry."""
from __future__ import annotations

from pathlib import Path

from ..catalogue import Entry
from ..errors import MAEError
from .errors import FetchError


def check_against_entry(entry: Entry, info) -> list[str]:
    """Differences between what the loader found (CheckpointInfo) and what the entry says; [] when they agree."""
    c = info.config
    bad = []
    if not info.format.startswith(entry.format):
        bad.append(f"format {info.format} (expected {entry.format})")
    got = (c.embed_dim, c.depth, c.patch_size)
    want = (entry.embed_dim, entry.depth, entry.patch_size)
    if got != want:
        bad.append(f"encoder width/depth/patch {got} (expected {want}, {entry.encoder}/{entry.patch_size})")
    if tuple(c.img_size) != (entry.image_size, entry.image_size):
        bad.append(f"native image size {c.img_size[0]}x{c.img_size[1]} (expected {entry.image_size})")
    dec = entry.decoder
    if dec is None and c.has_decoder:
        bad.append("a decoder (expected encoder only)")
    elif dec is not None and not c.has_decoder and dec.presence != "unverified":
        bad.append(f"no decoder (expected {dec.name})")
    elif dec is not None and c.has_decoder and (c.decoder_embed_dim, c.decoder_depth) != (dec.embed_dim, dec.depth):
        bad.append(f"decoder {c.decoder_embed_dim} wide, {c.decoder_depth} blocks (expected {dec.name})")
    kind = entry.kind if (dec is None or c.has_decoder) else "encoder-only"
    if info.kind != kind:
        bad.append(f"class {info.kind} (expected {kind})")
    if c.has_decoder and entry.target and info.target != entry.target:
        bad.append(f"target {info.target} (expected {entry.target})")
    if c.has_decoder and int(info.mask_unit) != entry.mask_unit:
        bad.append(f"training mask unit {info.mask_unit} (expected {entry.mask_unit})")
    return bad


def _verify(entry: Entry, ckpt: Path) -> dict:
    from ..checkpoints import load_checkpoint

    try:
        model, info = load_checkpoint(ckpt, probe=False, **entry.heads)
    except MAEError as e:
        raise FetchError(f"{entry.id}: refused by the strict loader ({' '.join(str(e).split())[:200]}); "
                         f"deleted it", discard=True) from None
    del model
    bad = check_against_entry(entry, info)
    if bad:
        raise FetchError(f"{entry.id}: the file does not match the catalogue: {'; '.join(bad)}; deleted it",
                         discard=True)
    return {"format": info.format, "class": info.kind, "architecture": info.arch_name, "sha256": info.sha256,
            "mask_unit": info.mask_unit, "num_heads": info.config.num_heads,
            "decoder_num_heads": info.config.decoder_num_heads if info.config.has_decoder else None,
            "has_decoder": info.config.has_decoder, "notes": list(info.notes)}
