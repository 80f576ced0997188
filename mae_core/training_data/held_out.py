"""The held-out demo images (scikit-learn's china and flower) stay out of training, checked twice: a photograph
byte-identical to one (sha256) is refused when the manifest is read, and every fetched photograph is compared
with them by a 16x16 difference hash of the whole image and its centre square, mirrored too (a resized,
re-compressed, cropped or flipped copy is refused)."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from ..assets import DEMO_IMAGES
from ..digest import sha256_file
from ..errors import DataError

# sha256 of scikit-learn's originals (sklearn/datasets/images); the demo PNGs' own hashes are added at run time.
HELD_OUT_SHA256 = {
    "8378025ad2519d649d02e32bd98990db4ab572357d9f09841c2fbfbb4fefad29": "scikit-learn china.jpg",
    "a77f6ec41e353afdf8bdff2ea981b2955535d8d83294f8cfa49cf4e423dd5638": "scikit-learn flower.jpg",
}
# Perceptual near-duplicate test: 16x16 difference hash (256 bits). A resized or re-compressed copy of a demo
# image is 0-5 bits away, a 5 % crop ~30; the closest unrelated photograph in the manifest is 87 bits away.
DHASH_SIZE = 16
NEAR_DUPLICATE_BITS = 32


def held_out_sha256() -> dict:
    """sha256 -> name of every held-out demo image (scikit-learn's originals and our PNG crops)."""
    out = dict(HELD_OUT_SHA256)
    for name, path in DEMO_IMAGES.items():
        if Path(path).is_file():
            out[sha256_file(path)] = f"demo image {name} ({Path(path).name})"
    return out


def check_held_out(photos) -> None:
    """Refuse any manifest entry that is byte-identical to a held-out demo image."""
    banned = held_out_sha256()
    for p in photos:
        if p.sha256 in banned:
            raise DataError(f"{p.id} is the held-out {banned[p.sha256]}: the demo images must stay out of training")


def dhash(image, size: int = DHASH_SIZE) -> np.ndarray:
    """Difference hash: sign of horizontal gradients of a (size+1) x size grey thumbnail, as size*size bools."""
    from PIL import Image

    g = np.asarray(image.convert("L").resize((size + 1, size), Image.Resampling.LANCZOS), dtype=np.float32)
    return (g[:, 1:] > g[:, :-1]).ravel()


def _hashes(image) -> list:
    """Hashes of the whole image and of its centre square (the demo PNGs are centre crops)."""
    w, h = image.size
    s = min(w, h)
    left, top = (w - s) // 2, (h - s) // 2
    return [dhash(image), dhash(image.crop((left, top, left + s, top + s)))]


_DEMO_HASHES = None


def _demo_hashes() -> dict:
    global _DEMO_HASHES
    if _DEMO_HASHES is None:
        from PIL import Image, ImageOps

        out = {}
        for name, path in DEMO_IMAGES.items():
            with Image.open(path) as im:
                im = im.convert("RGB")
                out[name] = _hashes(im) + _hashes(ImageOps.mirror(im))
        _DEMO_HASHES = out
    return _DEMO_HASHES


def near_demo(image) -> str | None:
    """The demo image that ``image`` (PIL) is a near-duplicate of (resized, re-compressed, cropped, flipped), or
    None."""
    image = image.convert("RGB")
    mine = _hashes(image)
    for name, refs in _demo_hashes().items():
        if min(int(np.count_nonzero(a != b)) for a in mine for b in refs) <= NEAR_DUPLICATE_BITS:
            return name
    return None


def _check_not_demo(p, data: bytes) -> None:
    """Refuse the fetched bytes of manifest Photo `p` when they decode to a near-duplicate of a demo image."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            im.draft("RGB", (512, 512))
            name = near_demo(im)
    except OSError as e:
        raise DataError(f"{p.id}: cannot decode the image ({e})") from None
    if name:
        raise DataError(f"{p.id} looks like the held-out demo image {name!r}: refused (the demo images must stay "
                        "out of training)")
