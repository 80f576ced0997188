"""Image input: decode safely (every PIL mode), convert to RGB, fit to I x I (or H x W) by stretching, cropping or
padding, normalise with ImageNet statistics."""
from __future__ import annotations

import hashlib
import io

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from .errors import ConfigError, ImageError
from .geometry import as_hw
from .sources import read_source

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
MAX_PIXELS = 40_000_000  # refuse decompression bombs and absurd uploads before decoding them
MAX_BYTES = 50 * 1024 * 1024


NOTES_KEY = "mae_core.notes"  # PIL Image.info entry: how the image was decoded (modes, scaling, transparency)


def image_notes(img) -> list[str]:
    """What load_image had to decide to turn an input into RGB (16-bit scaling, float ranges, transparency...)."""
    return list(getattr(img, "info", {}).get(NOTES_KEY, ()))


def _unit_to_uint8(x: np.ndarray) -> np.ndarray:
    return (np.clip(x, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _scale_numbers(arr: np.ndarray, what: str, notes: list, bits16: bool = False) -> np.ndarray:
    """High-bit-depth or float samples -> uint8, scaled by their type's range (stated in a note).

    16-bit integers (bits16): 0..65535. Other integers: 0..255 if they fit, else 0..65535 if they fit, else their own
    min..max. Floats: [0, 1] if they fit (the usual convention), else 0..255 if they fit, else their own min..max.
    """
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all():
            raise ImageError(f"the {what} contains NaN or infinite values")
        arr = arr.astype(np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        if lo >= 0.0 and hi <= 1.0:
            notes.append(f"{what}: values read as the [0, 1] convention")
            return _unit_to_uint8(arr)
        if lo >= 0.0 and hi <= 255.0:
            notes.append(f"{what}: values in {lo:g}..{hi:g} read as 0..255")
            return _unit_to_uint8(arr / 255.0)
    elif arr.dtype.kind in "ui":
        arr = arr.astype(np.int64)
        lo, hi = int(arr.min()), int(arr.max())
        if bits16:
            notes.append(f"{what}: scaled from its 16-bit range 0..65535 to 8 bits")
            return _unit_to_uint8(arr / 65535.0)
        if lo >= 0 and hi <= 255:
            notes.append(f"{what}: values in 0..255, read as 8-bit")
            return arr.astype(np.uint8)
        if lo >= 0 and hi <= 65535:
            notes.append(f"{what}: values in 0..65535, scaled from the 16-bit range to 8 bits")
            return _unit_to_uint8(arr / 65535.0)
    else:
        raise ImageError(f"cannot read an image from {arr.dtype} values")
    notes.append(f"{what}: no standard range, so its own range {lo:g}..{hi:g} is stretched to black..white")
    return _unit_to_uint8((arr - lo) / (hi - lo) if hi > lo else np.zeros_like(arr, dtype=np.float64))


def _from_array(arr: np.ndarray, notes: list) -> Image.Image:
    """HxW or HxWx{1,3,4} arrays of uint8, uint16 or floats -> a PIL image (8 bits per channel)."""
    if arr.ndim not in (2, 3) or arr.size == 0 or (arr.ndim == 3 and arr.shape[2] not in (1, 3, 4)):
        raise ImageError(f"an image array must be HxW or HxWx1/3/4, got shape {arr.shape}")
    if arr.dtype.kind not in "uif" or arr.dtype == np.bool_:
        raise ImageError(f"cannot read an image from {arr.dtype} values (expected uint8, uint16 or floats)")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.dtype != np.uint8:
        what = "16-bit image array" if arr.dtype == np.uint16 else f"{arr.dtype} image array"
        arr = _scale_numbers(arr, what, notes, bits16=arr.dtype == np.uint16)
    return Image.fromarray(np.ascontiguousarray(arr))


def _lab_to_rgb(img: Image.Image) -> Image.Image:
    from PIL import ImageCms

    t = ImageCms.buildTransform(ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB"), "LAB", "RGB")
    return ImageCms.applyTransform(img, t)


def _over_white(img: Image.Image, notes: list) -> Image.Image:
    rgba = img.convert("RGBA")
    alpha = rgba.getchannel("A")
    if alpha.getextrema()[0] < 255:
        notes.append("transparent pixels shown over white")
    bg = Image.new("RGB", img.size, (255, 255, 255))
    bg.paste(rgba.convert("RGB"), mask=alpha)
    return bg


def _to_rgb(img: Image.Image, notes: list) -> Image.Image:
    """Any PIL mode -> RGB (8 bits per channel), every decision recorded in notes; ImageError for the rest."""
    mode = img.mode
    if mode == "RGB":
        return img
    if mode.startswith("I;16"):
        arr = np.asarray(img)
        return Image.fromarray(_scale_numbers(arr, "16-bit greyscale image", notes, bits16=True)).convert("RGB")
    if mode == "I":
        return Image.fromarray(_scale_numbers(np.asarray(img), "32-bit integer image", notes)).convert("RGB")
    if mode == "F":
        return Image.fromarray(_scale_numbers(np.asarray(img), "floating-point image", notes)).convert("RGB")
    if mode == "La":  # premultiplied grey + alpha: undo the premultiplication
        la = np.asarray(img).astype(np.float64)
        a = la[..., 1]
        grey = np.where(a > 0, la[..., 0] * 255.0 / np.maximum(a, 1), 0)
        img = Image.fromarray(np.stack([np.clip(grey, 0, 255), a], -1).round().astype(np.uint8), mode="LA")
        mode = "LA"
    if mode in ("RGBA", "RGBa", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        return _over_white(img, notes)
    if mode == "LAB":
        return _lab_to_rgb(img)
    if mode == "CMYK":
        notes.append("CMYK image converted to RGB without its colour profile: colours are approximate")
        return img.convert("RGB")
    if mode in ("1", "L", "P", "RGBX", "YCbCr", "HSV"):
        return img.convert("RGB")
    raise ImageError(f"images in PIL mode {mode} are not supported; save it as an 8- or 16-bit PNG, a JPEG or a TIFF")


def load_image(source) -> Image.Image:
    """A path, bytes, a file-like object, a PIL image or an HxW / HxWx{1,3,4} array -> PIL RGB image (8-bit).

    Every PIL mode is decoded to RGB: 16-bit images are scaled by their 0..65535 range, float images by the [0, 1]
    convention (else their range), transparency is shown over white, LAB goes through an sRGB transform, EXIF
    orientation is applied; each such decision is a note (image_notes). Raises ImageError (one line, in the user's
    terms) for anything that is not a decodable, reasonably sized image."""
    notes: list[str] = []
    if isinstance(source, Image.Image):
        img = source
    elif isinstance(source, np.ndarray):
        img = _from_array(source, notes)
    else:
        data, _ = read_source(source, limit=MAX_BYTES, error=ImageError, noun="image")
        if not data:
            raise ImageError("the image file is empty")
        if len(data) > MAX_BYTES:
            raise ImageError(f"the image is larger than {MAX_BYTES // 2**20} MB")
        img = _decode(data, notes)
    if img.width < 1 or img.height < 1:
        raise ImageError("the image has no pixels")
    if img.mode == "RGB" and not notes:
        return img
    prior = image_notes(img)
    img = _to_rgb(img, notes)
    img.info[NOTES_KEY] = tuple(prior + notes)
    return img


def _decode(data: bytes, notes: list) -> Image.Image:
    """Bytes -> a PIL image (first frame, EXIF orientation applied); ImageError in the user's terms."""
    from PIL import ImageOps

    try:
        img = Image.open(io.BytesIO(data))
        w, h = img.size
        if w * h > MAX_PIXELS:
            raise ImageError(f"the image is {w}x{h} pixels; the limit is {MAX_PIXELS // 10**6} megapixels")
        n_frames = getattr(img, "n_frames", 1)
        img.load()
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError("not a readable image: the file is not a PNG, JPEG, WebP, BMP, GIF or TIFF image "
                         "(or it is damaged)") from None
    except Image.DecompressionBombError:
        raise ImageError(f"the image declares more than {MAX_PIXELS // 10**6} megapixels; refused") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        truncated = "truncated" in str(e) or isinstance(e, EOFError)
        raise ImageError("not a readable image: the file is " + ("incomplete (it may be truncated or still "
                                                                "downloading)" if truncated else
                                                                "damaged or in a variant this reader does not "
                                                                "support")) from None
    if n_frames > 1:
        notes.append(f"the first of its {n_frames} frames is used")
    orientation = img.getexif().get(0x0112, 1) if hasattr(img, "getexif") else 1
    if orientation not in (None, 1):
        img = ImageOps.exif_transpose(img)
        notes.append("turned upright as its EXIF orientation says")
    return img


# How a photo whose aspect ratio differs from the model's input is fitted to it:
#   stretch - resized to H x W, distorting it (MAE's demo does this);
#   crop    - the largest centred box of the target's aspect ratio, then resized (loses the sides);
#   pad     - resized to fit inside, centred, the rest filled with the ImageNet mean colour (what the model treats
#             as zero input, and the grey MAE's demo shows for removed patches); padding is never scored.
FIT_MODES = ("stretch", "crop", "pad")
_FIT_ALIASES = {"resize": "stretch"}
PAD_NOTE = ("non-square photo padded to a square with ImageNet-mean grey; the padding is not scored (metrics and "
            "baselines use the photo's pixels only)")


def check_fit(fit: str) -> str:
    """A fit mode (FIT_MODES; 'resize' is the old name of 'stretch') or ConfigError."""

    fit = _FIT_ALIASES.get(fit, fit)
    if fit not in FIT_MODES:
        raise ConfigError(f"fit must be one of {', '.join(FIT_MODES)}, got {fit!r}")
    return fit


def center_crop_square(img: Image.Image) -> Image.Image:
    w, h = img.size
    s = min(w, h)
    left, top = (w - s) // 2, (h - s) // 2
    return img.crop((left, top, left + s, top + s))


def _center_crop_to(img: Image.Image, h: int, w: int) -> Image.Image:
    """The largest centred box of aspect ratio w:h."""
    W, H = img.size
    if W * h > H * w:  # too wide
        cw, ch = max(1, round(H * w / h)), H
    else:
        cw, ch = W, max(1, round(W * h / w))
    left, top = (W - cw) // 2, (H - ch) // 2
    return img.crop((left, top, left + cw, top + ch))


def _pad_box(img_size, h: int, w: int) -> tuple[int, int, int, int]:
    """(left, top, width, height) of the photo inside an h x w canvas, aspect ratio kept, centred."""
    W, H = img_size
    s = min(w / W, h / H)
    nw, nh = max(1, min(w, round(W * s))), max(1, min(h, round(H * s)))
    return (w - nw) // 2, (h - nh) // 2, nw, nh


def resize(img: Image.Image, size, fit: str = "stretch") -> Image.Image:
    """To (H, W) as `fit` says (see FIT_MODES). An image already of that size is returned as is (no resampling)."""
    h, w = as_hw(size)
    fit = check_fit(fit)
    if img.size == (w, h):
        return img
    if fit == "crop":
        img = _center_crop_to(img, h, w)
    elif fit == "pad":
        left, top, nw, nh = _pad_box(img.size, h, w)
        canvas = Image.new("RGB", (w, h), tuple(int(round(v * 255)) for v in IMAGENET_MEAN))
        canvas.paste(img.resize((nw, nh), Image.BICUBIC) if (nw, nh) != img.size else img, (left, top))
        return canvas
    return img.resize((w, h), Image.BICUBIC)


def fit_image(img, size, fit: str = "stretch") -> tuple[np.ndarray, np.ndarray]:
    """(HxWx3 float32 in [0, 1], HxW bool: True where the photo is, False on padding) at `size` as `fit` says.

    With fit='pad' the padding is exactly IMAGENET_MEAN (zero after normalisation)."""
    img = load_image(img)
    h, w = as_hw(size)
    fit = check_fit(fit)
    valid = np.ones((h, w), dtype=bool)
    if fit == "pad" and img.size != (w, h):
        left, top, nw, nh = _pad_box(img.size, h, w)
        arr = np.empty((h, w, 3), dtype=np.float32)
        arr[:] = IMAGENET_MEAN
        inner = img.resize((nw, nh), Image.BICUBIC) if (nw, nh) != img.size else img
        arr[top:top + nh, left:left + nw] = np.asarray(inner, dtype=np.float32) / 255.0
        valid[:] = False
        valid[top:top + nh, left:left + nw] = True
        return arr, valid
    return np.asarray(resize(img, (h, w), fit), dtype=np.float32) / 255.0, valid


def to_array(img: Image.Image, size=None, fit: str = "stretch") -> np.ndarray:
    """HxWx3 float32 in [0, 1] (at `size` as `fit` says, when given)."""
    if size is not None:
        return fit_image(img, size, fit)[0]
    return np.asarray(img, dtype=np.float32) / 255.0


def normalise(arr01: np.ndarray) -> torch.Tensor:
    """HxWx3 in [0,1] -> (1, 3, H, W) ImageNet-normalised float32."""
    x = (arr01 - IMAGENET_MEAN) / IMAGENET_STD
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None].float()


def denormalise(x: torch.Tensor) -> np.ndarray:
    """(1|N, 3, H, W) ImageNet-normalised -> HxWx3 float32 in [0, 1] (first image, clipped)."""
    arr = x[0].detach().float().cpu().numpy().transpose(1, 2, 0) * IMAGENET_STD + IMAGENET_MEAN
    return np.clip(arr, 0.0, 1.0).astype(np.float32)


def to_tensor(img, size, fit: str = "stretch") -> torch.Tensor:
    """Any accepted image source -> (1, 3, H, W) ImageNet-normalised tensor at the given size."""
    return normalise(to_array(load_image(img), size, fit))


def image_hash(img) -> str:
    """Content hash of the decoded RGB pixels (sizes included): a cache key independent of file encoding."""
    img = load_image(img)
    h = hashlib.sha256(f"{img.size}".encode())
    h.update(img.tobytes())
    return h.hexdigest()[:16]
