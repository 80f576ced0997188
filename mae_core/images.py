"""Image input: decode safely, convert to RGB, resize to I x I (or H x W), normalise with ImageNet statistics."""
from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from .errors import ImageError
from .geometry import as_hw

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
MAX_PIXELS = 40_000_000  # refuse decompression bombs and absurd uploads before decoding them
MAX_BYTES = 50 * 1024 * 1024


def load_image(source) -> Image.Image:
    """A path, bytes, a file-like object, a PIL image or an HxWx{1,3,4} uint8 array -> PIL RGB image.

    Raises ImageError (one line) for anything that is not a decodable, reasonably sized image.
    """
    if isinstance(source, Image.Image):
        img = source
    elif isinstance(source, np.ndarray):
        arr = source
        if arr.dtype != np.uint8 or arr.ndim not in (2, 3) or arr.size == 0:
            raise ImageError(f"an image array must be HxW or HxWxC uint8, got {arr.dtype} {arr.shape}")
        img = Image.fromarray(arr)
    else:
        if isinstance(source, (str, Path)):
            p = Path(source)
            if not p.is_file():
                raise ImageError(f"no image file at {p}")
            if p.stat().st_size > MAX_BYTES:
                raise ImageError(f"{p.name} is larger than {MAX_BYTES // 2**20} MB")
            data = p.read_bytes()
        elif isinstance(source, (bytes, bytearray, memoryview)):
            data = bytes(source)
        elif hasattr(source, "read"):
            data = source.read()
        else:
            raise ImageError(f"cannot read an image from a {type(source).__name__}")
        if not data:
            raise ImageError("the image file is empty")
        if len(data) > MAX_BYTES:
            raise ImageError(f"the image is larger than {MAX_BYTES // 2**20} MB")
        try:
            img = Image.open(io.BytesIO(data))
            w, h = img.size
            if w * h > MAX_PIXELS:
                raise ImageError(f"the image is {w}x{h} pixels; the limit is {MAX_PIXELS // 10**6} megapixels")
            img.load()
        except ImageError:
            raise
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
            raise ImageError(f"not a readable image ({type(e).__name__}: {str(e).splitlines()[0][:120]})") from None
    if img.width < 1 or img.height < 1:
        raise ImageError("the image has no pixels")
    if img.mode != "RGB":
        if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
            bg = Image.new("RGB", img.size, (255, 255, 255))  # transparency over white, not black
            bg.paste(img.convert("RGBA"), mask=img.convert("RGBA").split()[-1])
            img = bg
        else:
            img = img.convert("RGB")
    return img


def center_crop_square(img: Image.Image) -> Image.Image:
    w, h = img.size
    s = min(w, h)
    left, top = (w - s) // 2, (h - s) // 2
    return img.crop((left, top, left + s, top + s))


def resize(img: Image.Image, size, fit: str = "resize") -> Image.Image:
    """To (H, W): 'resize' stretches (MAE demo behaviour), 'crop' takes the centre square first.

    An image already of that size is returned as is (no resampling)."""
    h, w = as_hw(size)
    if fit == "crop" and h == w:
        img = center_crop_square(img)
    if img.size == (w, h):
        return img
    return img.resize((w, h), Image.BICUBIC)


def to_array(img: Image.Image, size=None, fit: str = "resize") -> np.ndarray:
    """HxWx3 float32 in [0, 1]."""
    if size is not None:
        img = resize(img, size, fit)
    return np.asarray(img, dtype=np.float32) / 255.0


def normalise(arr01: np.ndarray) -> torch.Tensor:
    """HxWx3 in [0,1] -> (1, 3, H, W) ImageNet-normalised float32."""
    x = (arr01 - IMAGENET_MEAN) / IMAGENET_STD
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None].float()


def denormalise(x: torch.Tensor) -> np.ndarray:
    """(1|N, 3, H, W) ImageNet-normalised -> HxWx3 float32 in [0, 1] (first image, clipped)."""
    arr = x[0].detach().float().cpu().numpy().transpose(1, 2, 0) * IMAGENET_STD + IMAGENET_MEAN
    return np.clip(arr, 0.0, 1.0).astype(np.float32)


def to_tensor(img, size, fit: str = "resize") -> torch.Tensor:
    """Any accepted image source -> (1, 3, H, W) ImageNet-normalised tensor at the given size."""
    return normalise(to_array(load_image(img), size, fit))


def image_hash(img) -> str:
    """Content hash of the decoded RGB pixels (sizes included): a cache key independent of file encoding."""
    img = load_image(img)
    h = hashlib.sha256(f"{img.size}".encode())
    h.update(img.tobytes())
    return h.hexdigest()[:16]
