"""Effective receptive field (ERF) of a ViT encoder token: which input pixels move it, layer by layer.

For one output token (a patch of the grid) and each encoder block l, the map is |d s_l / d pixel| summed over the
three colour channels, where s_l is the sum of the token's features after block l: the gradient definition of Luo
et al. 2016 ("Understanding the effective receptive field in deep CNNs"), which back-propagates from one output
unit with all its channels, as their and RepLKNet's ERF code do. Pixels are the [0, 1] RGB input (the gradient
passes through the ImageNet normalisation). Each image's map is divided by its total so it holds mass 1; the maps
are then averaged over images (each image counts equally), and the radius around the token's centre that holds
50 % / 90 % of the mass is read off the averaged map (and per image, for the spread).

Two references frame a radius: the token's own patch (the radius holding q of a mass spread evenly over that
patch: a field that is "the patch itself") and the whole image (the same for a mass spread over every pixel: a
field that "covers the image").

attention= replaces every analysed block's attention weights, to validate the measure on constructed cases:
'model' (the checkpoint's own), 'zero' (no attention branch: the token sees only its own patch), 'identity' (each
token attends to itself only: again its own patch), 'uniform' (each token attends to all tokens equally: the
field covers the image). The model is never mutated: 'model' runs each timm Block as is (fused SDPA supports
autograd); the other modes recompute the block from its own modules (norm1, qkv, proj, ls1, norm2, mlp, ls2).

Cost: one forward and, per analysed layer, one backward of the blocks up to it (sharing the forward graph), for a
batch of images at once. The embedded 3.2 M-parameter models at I=128 take about a second per image on 2 CPU cores.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .errors import ConfigError
from .images import IMAGENET_MEAN, IMAGENET_STD

ATTENTION_MODES = ("model", "zero", "identity", "uniform")
QUANTILES = (0.5, 0.9)


@dataclass(frozen=True, eq=False)
class ReceptiveField:
    """The ERF of one token through the encoder, averaged over images. Radii in pixels of the input image.

    maps:        (n, H, W) mean over images of each image's |gradient| map (each normalised to mass 1)
    radius:      (n, 2)    radius around the token centre holding 50 % / 90 % of the mean map's mass
    radius_std:  (n, 2)    standard deviation of the per-image radii (0 for one image)
    per_image_radius: (N, n, 2)
    patch_radius / image_radius: (2,) the same radii for a mass spread evenly over the token's own patch / the
                 whole image (the two reference levels)
    """

    maps: np.ndarray
    radius: np.ndarray
    radius_std: np.ndarray
    per_image_radius: np.ndarray
    patch_radius: np.ndarray
    image_radius: np.ndarray
    layers: tuple[int, ...]
    token: tuple[int, int]  # (row, col) on the patch grid
    centre: tuple[float, float]  # (y, x) pixels: the token's patch centre
    grid: tuple[int, int]
    patch_size: int
    img_size: tuple[int, int]
    n_images: int
    attention: str
    convention: str

    @property
    def radius_fraction(self) -> np.ndarray:
        """(n, 2) radii as a fraction of the image width (comparable across sequence lengths)."""
        return self.radius / self.img_size[1]

    def to_npz(self, path, **extra) -> None:
        np.savez_compressed(path, maps=self.maps.astype(np.float32), radius=self.radius, radius_std=self.radius_std,
                            per_image_radius=self.per_image_radius, patch_radius=self.patch_radius,
                            image_radius=self.image_radius, quantiles=np.asarray(QUANTILES),
                            layers=np.asarray(self.layers, dtype=np.int64), token=np.asarray(self.token),
                            centre=np.asarray(self.centre), grid=np.asarray(self.grid),
                            patch_size=np.int64(self.patch_size), img_size=np.asarray(self.img_size),
                            n_images=np.int64(self.n_images), attention=np.array(self.attention),
                            convention=np.array(self.convention), **extra)


# ---------------------------------------------------------------------------------------------- mass radii
def _pixel_distance(img_size, centre) -> np.ndarray:
    H, W = img_size
    ys = np.arange(H, dtype=np.float64)[:, None] + 0.5
    xs = np.arange(W, dtype=np.float64)[None, :] + 0.5
    return np.hypot(ys - centre[0], xs - centre[1])


def mass_radius(weights: np.ndarray, centre, quantiles=QUANTILES) -> np.ndarray:
    """Radii around `centre` (y, x pixels) holding each quantile of a non-negative (H, W) pixel mass.

    The radius of q is the distance of the pixel centre at which the mass, accumulated from the nearest pixel
    outwards, first reaches q of the total. Returns (len(quantiles),) float64; NaN for an all-zero map."""
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 2 or (w < 0).any():
        raise ConfigError("mass_radius needs a non-negative (H, W) map")
    total = w.sum()
    if not total > 0:
        return np.full(len(quantiles), np.nan)
    d = _pixel_distance(w.shape, centre).reshape(-1)
    order = np.argsort(d, kind="stable")
    cum = np.cumsum(w.reshape(-1)[order]) / total
    idx = [min(int(np.searchsorted(cum, q - 1e-12)), len(cum) - 1) for q in quantiles]
    return d[order][idx]


def reference_radii(img_size, patch_size: int, token, quantiles=QUANTILES) -> tuple[np.ndarray, np.ndarray]:
    """(own patch, whole image): radii holding each quantile of a mass spread evenly over the token's patch, and
    over every pixel of the image, around the token's centre."""
    H, W = img_size
    r, c = token
    centre = ((r + 0.5) * patch_size, (c + 0.5) * patch_size)
    patch = np.zeros((H, W))
    patch[r * patch_size:(r + 1) * patch_size, c * patch_size:(c + 1) * patch_size] = 1.0
    return mass_radius(patch, centre, quantiles), mass_radius(np.ones((H, W)), centre, quantiles)


# ---------------------------------------------------------------------------------------------- the forward
def _attention_override(blk, h: torch.Tensor, mode: str) -> torch.Tensor:
    """One timm Block on (B, T, C) with its attention weights replaced ('model' recomputes them as timm's eager
    path does: softmax(q k^T * scale), used to check this copy against the Block)."""
    a = blk.attn
    B, T, C = h.shape
    x = blk.norm1(h)
    if mode == "zero":
        out = torch.zeros_like(h)
    else:
        qkv = a.qkv(x).reshape(B, T, 3, a.num_heads, a.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        if mode == "identity":
            o = v
        elif mode == "uniform":
            o = v.mean(dim=2, keepdim=True).expand_as(v)
        else:  # "model", explicit
            q, k = a.q_norm(q), a.k_norm(k)
            o = torch.softmax((q * a.scale) @ k.transpose(-2, -1), dim=-1) @ v
        o = a.norm(o.transpose(1, 2).reshape(B, T, C))
        out = blk.ls1(a.proj(o))
    h = h + out
    return h + blk.ls2(blk.mlp(blk.norm2(h)))


def _check_blocks(model) -> None:
    for blk in model.blocks:
        a = getattr(blk, "attn", None)
        if a is None or not hasattr(a, "qkv") or not all(hasattr(blk, n) for n in ("norm1", "ls1", "norm2", "mlp",
                                                                                    "ls2")):
            raise ConfigError(f"the receptive field needs timm Blocks with a fused-qkv Attention, got "
                              f"{type(blk).__name__}")


def _parse_layers(layers, depth: int) -> list[int]:
    if layers is None:
        return list(range(depth))
    sel = [int(x) for x in ([layers] if isinstance(layers, int) else layers)]
    sel = sorted({x + depth if x < 0 else x for x in sel})
    if not sel or sel[0] < 0 or sel[-1] >= depth:
        raise ConfigError(f"layers must be encoder block indices in 0..{depth - 1}, got {layers!r}")
    return sel


def _token(token, grid) -> tuple[int, int]:
    gh, gw = grid
    if token is None:
        return gh // 2, gw // 2
    if isinstance(token, (int, np.integer)):
        if not 0 <= int(token) < gh * gw:
            raise ConfigError(f"token {token} is outside the {gh}x{gw} grid")
        return divmod(int(token), gw)
    r, c = (int(t) for t in token)
    if not (0 <= r < gh and 0 <= c < gw):
        raise ConfigError(f"token ({r}, {c}) is outside the {gh}x{gw} grid")
    return r, c


def _as_batch(model, images, device, fit: str = "stretch") -> list[torch.Tensor]:
    """Each image as a (1, 3, H, W) tensor of [0, 1] pixels at the model's size (fitted as `fit` says, as
    mae_core.images does for every result), in the model's dtype."""
    from .images import load_image, to_array

    dtype = model.patch_embed.proj.weight.dtype
    out = []
    for im in images:
        if isinstance(im, torch.Tensor):  # already [0, 1] pixels
            t = im.to(dtype)
            t = t[None] if t.ndim == 3 else t
            if tuple(t.shape[-2:]) != tuple(model.cfg.img_size) or t.shape[1] != 3:
                raise ConfigError(f"image tensor {tuple(t.shape)} does not match the model's "
                                  f"3 x {model.cfg.img_size[0]} x {model.cfg.img_size[1]}")
            out.append(t.to(device))
        else:
            arr = to_array(load_image(im), model.cfg.img_size, fit)
            out.append(torch.from_numpy(arr.transpose(2, 0, 1).copy())[None].to(device, dtype))
    if not out:
        raise ConfigError("the receptive field needs at least one image")
    return out


def _gradient_maps(model, x01: torch.Tensor, tok: int, sel: list[int], mode: str) -> torch.Tensor:
    """(B, n, H, W) |d (sum of token tok's features after block l) / d pixel|, summed over channels."""
    mean = torch.as_tensor(IMAGENET_MEAN, device=x01.device, dtype=x01.dtype).view(1, 3, 1, 1)
    std = torch.as_tensor(IMAGENET_STD, device=x01.device, dtype=x01.dtype).view(1, 3, 1, 1)
    x01 = x01.detach().requires_grad_(True)
    B = x01.shape[0]
    ids = torch.arange(model.cfg.num_patches, device=x01.device)[None].expand(B, -1)
    outs = {}
    with torch.enable_grad():
        h = model.encoder_tokens((x01 - mean) / std, ids)
        for i in range(sel[-1] + 1):
            blk = model.blocks[i]
            h = blk(h) if mode == "model" else _attention_override(blk, h, mode)
            if i in sel:
                outs[i] = h[:, tok].sum()  # images are independent: the sum over the batch keeps them apart
        maps = []
        for n, i in enumerate(sel):
            if not outs[i].requires_grad:  # 'zero' with a frozen model can leave no path: the field is empty
                maps.append(torch.zeros_like(x01[:, 0]))
                continue
            (g,) = torch.autograd.grad(outs[i], x01, retain_graph=n < len(sel) - 1, allow_unused=True)
            maps.append(torch.zeros_like(x01[:, 0]) if g is None else g.abs().sum(1))
    return torch.stack(maps, 1).detach()


def effective_receptive_field(model, images, *, token=None, layers=None, attention: str = "model",
                              batch_size: int = 4, progress: bool = False, callback=None,
                              fit: str = "stretch") -> ReceptiveField:
    """Gradient-based effective receptive field of one encoder token, per layer, averaged over images.

    model: MaskedAutoencoderViT (not mutated; any device); images: an iterable of what
    mae_core.images.load_image accepts, or (3, H, W) / (1, 3, H, W) tensors of [0, 1] pixels at the model's size.
    token: (row, col) on the patch grid or a raster index; default the centre patch (gh // 2, gw // 2).
    layers: encoder block indices (negative from the end); default all. attention: see ATTENTION_MODES.
    fit: how a non-square photo is brought to the model's size (mae_core.images.FIT_MODES).
    batch_size: images per forward/backward. progress: a tqdm bar; callback(done, total) after each batch (the app's
    st.progress). Returns ReceptiveField."""
    if attention not in ATTENTION_MODES:
        raise ConfigError(f"attention must be one of {ATTENTION_MODES}, got {attention!r}")
    _check_blocks(model)
    cfg = model.cfg
    device = next(model.parameters()).device
    sel = _parse_layers(layers, cfg.depth)
    r, c = _token(token, cfg.grid)
    tok = 1 + r * cfg.grid[1] + c
    p = cfg.patch_size
    centre = ((r + 0.5) * p, (c + 0.5) * p)
    imgs = _as_batch(model, list(images), device, fit)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(imgs), desc="effective receptive field", unit="image")
    per_maps = []
    try:
        for s in range(0, len(imgs), max(1, int(batch_size))):
            chunk = torch.cat(imgs[s:s + batch_size])
            m = _gradient_maps(model, chunk, tok, sel, attention).double().cpu()
            total = m.sum((-2, -1), keepdim=True)
            per_maps.append(torch.where(total > 0, m / total.clamp_min(1e-300), m))
            if bar is not None:
                bar.update(len(chunk))
            if callback is not None:
                callback(min(s + batch_size, len(imgs)), len(imgs))
    finally:
        if bar is not None:
            bar.close()
    per = torch.cat(per_maps).numpy()  # (N, n, H, W), each map mass 1 (or 0)
    mean = per.mean(0)
    radius = np.stack([mass_radius(m, centre) for m in mean])
    per_r = np.stack([[mass_radius(m, centre) for m in img] for img in per])
    patch_r, image_r = reference_radii(cfg.img_size, p, (r, c))
    conv = (f"Effective receptive field (Luo et al. 2016): |d s / d pixel| summed over RGB, s = the sum of the "
            f"features of token ({r}, {c}) (patch centre y={centre[0]:g}, x={centre[1]:g} px) after each encoder "
            f"block, pixels in [0, 1]; each image's map normalised to mass 1, then averaged over {len(per)} "
            f"image(s); radius = distance from the token centre holding 50 % / 90 % of the mass. Attention: "
            f"{attention}. References: the token's own {p}x{p} patch, and the whole "
            f"{cfg.img_size[0]}x{cfg.img_size[1]} image, each with the mass spread evenly.")
    return ReceptiveField(maps=mean.astype(np.float32), radius=radius,
                          radius_std=per_r.std(0) if len(per) > 1 else np.zeros_like(radius), per_image_radius=per_r,
                          patch_radius=patch_r, image_radius=image_r, layers=tuple(sel), token=(r, c),
                          centre=centre, grid=tuple(cfg.grid), patch_size=int(p), img_size=tuple(cfg.img_size),
                          n_images=len(per), attention=attention, convention=conv)


def combine(fields) -> ReceptiveField:
    """One ReceptiveField from several of the same model, token and attention mode (e.g. computed one image at a
    time, to show progress or cache per image): maps averaged with each image counting once, radii re-read from
    the combined map, per-image radii concatenated. Equals computing over all the images at once."""
    fields = list(fields)
    if not fields:
        raise ConfigError("combine needs at least one receptive field")
    f0 = fields[0]
    for f in fields[1:]:
        if (f.layers, f.token, f.grid, f.patch_size, f.img_size, f.attention) != \
                (f0.layers, f0.token, f0.grid, f0.patch_size, f0.img_size, f0.attention):
            raise ConfigError("combine needs receptive fields of the same layers, token, geometry and attention")
    n = sum(f.n_images for f in fields)
    mean = sum(f.maps.astype(np.float64) * f.n_images for f in fields) / n
    per_r = np.concatenate([f.per_image_radius for f in fields])
    radius = np.stack([mass_radius(m, f0.centre) for m in mean])
    conv = f0.convention.replace(f"averaged over {f0.n_images} image(s)", f"averaged over {n} image(s)")
    return ReceptiveField(maps=mean.astype(np.float32), radius=radius,
                          radius_std=per_r.std(0) if n > 1 else np.zeros_like(radius), per_image_radius=per_r,
                          patch_radius=f0.patch_radius, image_radius=f0.image_radius, layers=f0.layers,
                          token=f0.token, centre=f0.centre, grid=f0.grid, patch_size=f0.patch_size,
                          img_size=f0.img_size, n_images=n, attention=f0.attention, convention=conv)


def downsample_map(m: np.ndarray, factor: int) -> np.ndarray:
    """Sum-pool an (H, W) mass map by `factor` (mass is kept): for compact storage and display."""
    t = torch.as_tensor(np.asarray(m, dtype=np.float64))[None, None]
    return (F.avg_pool2d(t, factor, factor) * factor * factor)[0, 0].numpy()


# ---------------------------------------------------------------------------------------------- command line
def cli(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m mae_core erf",
                                 description="Gradient-based effective receptive field of one encoder token, per "
                                             "layer, averaged over images; writes an .npz and prints the radii.")
    ap.add_argument("--checkpoint", help="checkpoint file (default: the embedded default checkpoint)")
    ap.add_argument("--images", nargs="+", default=["set"],
                    help="'set' (the bundled photos: mae_core.assets.image_set), demo-image names or image files")
    ap.add_argument("--token", help="ROW,COL on the patch grid (default: the centre patch)")
    ap.add_argument("--layers", help="comma-separated encoder block indices (default: all)")
    ap.add_argument("--attention", choices=ATTENTION_MODES, default="model",
                    help="replace the attention weights (constructed cases: zero, identity, uniform)")
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    ap.add_argument("--out", required=True, help="output .npz")
    a = ap.parse_args(argv)
    from .assets import default_checkpoint, image_set
    from .checkpoints import load_checkpoint
    from .reconstruct import resolve_device

    token = None
    if a.token:
        try:
            token = tuple(int(t) for t in a.token.split(","))
        except ValueError:
            raise ConfigError(f"--token must be ROW,COL, got {a.token!r}") from None
        if len(token) != 2:
            raise ConfigError(f"--token must be ROW,COL, got {a.token!r}")
    layers = None
    if a.layers:
        try:
            layers = [int(t) for t in a.layers.split(",")]
        except ValueError:
            raise ConfigError(f"--layers must be comma-separated integers, got {a.layers!r}") from None
    known = image_set()
    paths = []
    for name in a.images:
        if name == "set":
            paths += list(known.values())
        else:
            paths.append(known.get(name, name))
    model, info = load_checkpoint(a.checkpoint or default_checkpoint(), device=resolve_device(a.device))
    erf = effective_receptive_field(model, paths, token=token, layers=layers, attention=a.attention,
                                    batch_size=a.batch_size, progress=True)
    erf.to_npz(a.out)
    print(f"{getattr(info, 'arch_name', '') or model.cfg.name or 'model'}: token {erf.token} of the "
          f"{erf.grid[0]}x{erf.grid[1]} grid, {erf.n_images} image(s), attention={erf.attention} -> {a.out}")
    for i, layer in enumerate(erf.layers):
        r50, r90 = erf.radius[i]
        print(f"layer {layer}: 50 % of the gradient mass within {r50:.1f} px, 90 % within {r90:.1f} px "
              f"({r90 / erf.img_size[1]:.2f} of the width)")
    print(f"references: own patch 50/90 % = {erf.patch_radius[0]:.1f}/{erf.patch_radius[1]:.1f} px; whole image "
          f"= {erf.image_radius[0]:.1f}/{erf.image_radius[1]:.1f} px")
    return 0
