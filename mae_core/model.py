"""The Masked Autoencoder on timm's PatchEmbed and Block, with facebookresearch/mae's parameter names.

Differences from models_mae.py, all deliberate:
- masking is an input (ids_keep, ids_restore from mae_core.masking), as in long_seq_mae, so one mask can be
  shown across models and every result is reproducible;
- non-square images, and the long-seq options decoder_downsampling / pred_downsampling;
- ``adapt_model`` builds a *new* model for another image size or patch size (never mutates the given one).

Shapes: N batch, H x W image, p patch size, (gh, gw) = (H/p, W/p), L = gh*gw, K = visible tokens,
D encoder width, Dd decoder width.
"""
from __future__ import annotations

from functools import partial

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.layers import PatchEmbed, resample_abs_pos_embed, resample_patch_embed
from timm.models.vision_transformer import Block

from .config import MAEConfig
from .errors import ConfigError
from .geometry import as_hw, sincos_pos_embed_2d


def patchify(imgs: torch.Tensor, p: int) -> torch.Tensor:
    """(N, C, H, W) -> (N, L, p*p*C), per token (row-in-patch, col-in-patch, channel), channel fastest (MAE)."""
    n, c, h, w = imgs.shape
    x = imgs.reshape(n, c, h // p, p, w // p, p)
    return torch.einsum("nchpwq->nhwpqc", x).reshape(n, (h // p) * (w // p), p * p * c)


def unpatchify(x: torch.Tensor, grid: tuple[int, int], p: int, c: int = 3) -> torch.Tensor:
    """(N, L, p*p*C) -> (N, C, gh*p, gw*p); the inverse of patchify, non-square grids included."""
    gh, gw = grid
    x = x.reshape(x.shape[0], gh, gw, p, p, c)
    return torch.einsum("nhwpqc->nchpwq", x).reshape(x.shape[0], c, gh * p, gw * p)


class MaskedAutoencoderViT(nn.Module):
    """MAE with a ViT encoder (visible tokens only) and a light ViT decoder (all tokens)."""

    approximations: tuple = ()  # set by adapt_model on the new model it builds

    def __init__(self, cfg: MAEConfig):
        super().__init__()
        self.cfg = cfg
        norm = partial(nn.LayerNorm, eps=cfg.norm_eps)
        D, Dd = cfg.embed_dim, cfg.decoder_embed_dim
        self.patch_embed = PatchEmbed(cfg.img_size, cfg.patch_size, cfg.in_chans, D)
        L = cfg.num_patches
        self.cls_token = nn.Parameter(torch.zeros(1, 1, D))
        self.pos_embed = nn.Parameter(torch.zeros(1, L + 1, D), requires_grad=cfg.learned_pos_embed)
        self.blocks = nn.ModuleList([Block(D, cfg.num_heads, cfg.mlp_ratio, qkv_bias=True, norm_layer=norm)
                                     for _ in range(cfg.depth)])
        self.norm = norm(D)
        if cfg.has_decoder:
            k = cfg.decoder_downsampling
            self.decoder_embed = nn.Linear(D, Dd)
            self.mask_token = nn.Parameter(torch.zeros(1, 1, Dd))
            if k > 1:
                self.decoder_downsample = nn.Conv2d(Dd, Dd, kernel_size=k, stride=k)
            if k // cfg.pred_downsampling > 1:
                self.decoder_upsample = nn.ConvTranspose2d(Dd, Dd, kernel_size=k // cfg.pred_downsampling,
                                                           stride=k // cfg.pred_downsampling)
            dgh, dgw = cfg.decoder_grid
            self.decoder_pos_embed = nn.Parameter(torch.zeros(1, dgh * dgw + 1, Dd),
                                                  requires_grad=cfg.learned_pos_embed)
            self.decoder_blocks = nn.ModuleList([Block(Dd, cfg.decoder_num_heads, cfg.dec_mlp_ratio, qkv_bias=True,
                                                       norm_layer=norm) for _ in range(cfg.decoder_depth)])
            self.decoder_norm = norm(Dd)
            self.decoder_pred = nn.Linear(Dd, cfg.pred_patch_size**2 * cfg.in_chans)
        self.initialize_weights()

    # ------------------------------------------------------------------ init (models_mae.py recipe)
    def initialize_weights(self):
        with torch.no_grad():
            self.pos_embed.copy_(torch.from_numpy(sincos_pos_embed_2d(self.cfg.embed_dim, self.cfg.grid))[None])
            if self.cfg.has_decoder:
                self.decoder_pos_embed.copy_(torch.from_numpy(
                    sincos_pos_embed_2d(self.cfg.decoder_embed_dim, self.cfg.decoder_grid))[None])
                nn.init.normal_(self.mask_token, std=0.02)
            w = self.patch_embed.proj.weight
            nn.init.xavier_uniform_(w.view(w.shape[0], -1))
            nn.init.normal_(self.cls_token, std=0.02)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(m):
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    # ------------------------------------------------------------------ encoder
    def embed(self, imgs: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, L, D) patch tokens with position embedding, raster order, no CLS."""
        return self.patch_embed(imgs) + self.pos_embed[:, 1:, :]

    def cls(self, n: int) -> torch.Tensor:
        return (self.cls_token + self.pos_embed[:, :1, :]).expand(n, -1, -1)

    def encoder_tokens(self, imgs: torch.Tensor, ids_keep: torch.Tensor) -> torch.Tensor:
        """imgs (N, C, H, W), ids_keep (N, K) -> the first encoder block's input (N, 1+K, D): CLS, then the kept
        patches in ids_keep order, position tables added."""
        x = self.embed(imgs)
        x = torch.gather(x, 1, ids_keep.unsqueeze(-1).expand(-1, -1, x.shape[-1]))
        return torch.cat([self.cls(x.shape[0]), x], dim=1)

    def forward_encoder(self, imgs: torch.Tensor, ids_keep: torch.Tensor) -> torch.Tensor:
        """imgs (N, C, H, W), ids_keep (N, K) -> latent (N, 1+K, D); token 0 is CLS, token 1+i is ids_keep[:, i]."""
        x = self.encoder_tokens(imgs, ids_keep)
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x)

    # ------------------------------------------------------------------ decoder
    def decoder_tokens(self, latent: torch.Tensor, ids_restore: torch.Tensor) -> torch.Tensor:
        """latent (N, 1+K, D), ids_restore (N, L) -> the first decoder block's input (N, 1+Ld, Dd): CLS, then every
        cell of cfg.decoder_grid in raster order (mask tokens at removed cells), position tables added."""
        if not self.cfg.has_decoder:
            raise ConfigError("this checkpoint has no decoder (encoder only): it cannot reconstruct")
        x = self.decoder_embed(latent)
        n, L, Dd = x.shape[0], ids_restore.shape[1], x.shape[-1]
        x_ = torch.cat([x[:, 1:], self.mask_token.expand(n, L - (x.shape[1] - 1), -1)], dim=1)
        x_ = torch.gather(x_, 1, ids_restore.unsqueeze(-1).expand(-1, -1, Dd))  # unshuffle to raster order
        gh, gw = self.cfg.grid
        if self.cfg.decoder_downsampling > 1:
            x_ = self.decoder_downsample(x_.transpose(1, 2).reshape(n, Dd, gh, gw)).flatten(2).transpose(1, 2)
        return torch.cat([x[:, :1], x_], dim=1) + self.decoder_pos_embed

    def forward_decoder(self, latent: torch.Tensor, ids_restore: torch.Tensor) -> torch.Tensor:
        """latent (N, 1+K, D), ids_restore (N, L) -> prediction (N, L_pred, p_pred^2 * C), raster order."""
        x = self.decoder_tokens(latent, ids_restore)
        for blk in self.decoder_blocks:
            x = blk(x)
        x = x[:, 1:]
        n, Dd = x.shape[0], x.shape[-1]
        if hasattr(self, "decoder_upsample"):
            dgh, dgw = self.cfg.decoder_grid
            x = self.decoder_upsample(x.transpose(1, 2).reshape(n, Dd, dgh, dgw)).flatten(2).transpose(1, 2)
        return self.decoder_pred(self.decoder_norm(x))

    def forward(self, imgs: torch.Tensor, ids_keep: torch.Tensor, ids_restore: torch.Tensor) -> torch.Tensor:
        return self.forward_decoder(self.forward_encoder(imgs, ids_keep), ids_restore)

    # ------------------------------------------------------------------ loss (models_mae.forward_loss)
    def target(self, imgs: torch.Tensor) -> torch.Tensor:
        t = patchify(imgs, self.cfg.pred_patch_size)
        if self.cfg.norm_pix_loss:
            mean = t.mean(dim=-1, keepdim=True)
            var = t.var(dim=-1, keepdim=True)
            t = (t - mean) / (var + 1.0e-6) ** 0.5
        return t

    def loss(self, imgs: torch.Tensor, pred: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean squared error over removed patches; mask (N, L) or (N, gh, gw), 1 = removed."""
        mask = mask.reshape(mask.shape[0], -1).to(pred.dtype)
        k = self.cfg.pred_downsampling
        if k > 1:
            gh, gw = self.cfg.grid
            mask = F.avg_pool2d(mask.view(-1, 1, gh, gw), k, k).flatten(1)
        per_patch = ((pred - self.target(imgs)) ** 2).mean(dim=-1)
        return (per_patch * mask).sum() / mask.sum().clamp_min(1e-8)


def build_model(cfg: MAEConfig) -> MaskedAutoencoderViT:
    return MaskedAutoencoderViT(cfg)


def resample_pred_head(weight: torch.Tensor, bias: torch.Tensor, old_p: int, new_p: int, c: int = 3):
    """Resize the decoder's per-patch output from old_p^2*c to new_p^2*c values.

    Hand-written because no library has it (timm resamples only the *input* patch embedding). Output pixels
    are a linear function of the decoder feature, and resizing is linear, so resizing the rows of the weight
    as images gives exactly the resized prediction patch.
    """
    dd = weight.shape[1]
    w = weight.reshape(old_p, old_p, c, dd).permute(3, 2, 0, 1)  # (Dd, c, p, p)
    b = bias.reshape(1, old_p, old_p, c).permute(0, 3, 1, 2)
    mode = dict(size=(new_p, new_p), mode="bilinear", align_corners=False, antialias=new_p < old_p)
    w = F.interpolate(w.float(), **mode).permute(2, 3, 1, 0).reshape(new_p * new_p * c, dd)
    b = F.interpolate(b.float(), **mode).permute(0, 2, 3, 1).reshape(-1)
    return w.to(weight.dtype), b.to(bias.dtype)


def adapt_model(model: MaskedAutoencoderViT, img_size=None, patch_size: int | None = None):
    """A new model for another image size and/or patch size; the given model is left untouched.

    Returns (model, notes): notes lists every approximation made, for the UI to show.
    - image size: fixed sin-cos tables are regenerated in MAE's exact layout (exact); learned ones are
      2-D resampled with timm's resample_abs_pos_embed (approximation);
    - patch size: input embedding PI-resized with timm's resample_patch_embed and the decoder's output patch
      resized with resample_pred_head (approximation: the model never saw this patch size).
    """
    cfg = model.cfg
    new_cfg = cfg.replace(img_size=as_hw(img_size) if img_size is not None else cfg.img_size,
                          patch_size=int(patch_size) if patch_size is not None else cfg.patch_size)
    if new_cfg == cfg:
        return model, []
    notes = []
    sd = {k: v.detach().clone() for k, v in model.state_dict().items()}
    new = MaskedAutoencoderViT(new_cfg).to(next(model.parameters()).device)
    if new_cfg.patch_size != cfg.patch_size:
        p0, p1 = cfg.patch_size, new_cfg.patch_size
        sd["patch_embed.proj.weight"] = resample_patch_embed(sd["patch_embed.proj.weight"].float(), [p1, p1]
                                                             ).to(sd["patch_embed.proj.weight"].dtype)
        notes.append(f"patch size {p1} differs from the trained {p0}: input embedding resampled "
                     f"(timm PI-resize) - an approximation")
        if cfg.has_decoder:
            pp0, pp1 = cfg.pred_patch_size, new_cfg.pred_patch_size
            sd["decoder_pred.weight"], sd["decoder_pred.bias"] = resample_pred_head(
                sd["decoder_pred.weight"], sd["decoder_pred.bias"], pp0, pp1, cfg.in_chans)
            notes.append(f"decoder output resized from {pp0}x{pp0} to {pp1}x{pp1} pixels per patch - an approximation")
    if new_cfg.grid != cfg.grid:
        for key, old_grid, new_grid in (("pos_embed", cfg.grid, new_cfg.grid),
                                        ("decoder_pos_embed", cfg.decoder_grid, new_cfg.decoder_grid)):
            if key not in sd:
                continue
            if cfg.learned_pos_embed:
                sd[key] = resample_abs_pos_embed(sd[key].float(), list(new_grid), list(old_grid),
                                                 num_prefix_tokens=1).to(sd[key].dtype)
            else:
                sd[key] = new.state_dict()[key].clone()  # regenerated sin-cos (exact)
        if cfg.learned_pos_embed:
            notes.append(f"learned position embeddings resampled from {cfg.grid} to {new_cfg.grid} - an approximation")
        else:
            notes.append(f"sin-cos position tables regenerated for the {new_cfg.grid[0]}x{new_cfg.grid[1]} grid (exact)")
        if new_cfg.img_size != cfg.img_size and new_cfg.patch_size == cfg.patch_size:
            notes.append(f"image size {new_cfg.img_size[0]}x{new_cfg.img_size[1]} differs from the trained "
                         f"{cfg.img_size[0]}x{cfg.img_size[1]}: the model sees a grid it was not trained on")
    new.load_state_dict(sd, strict=True)
    new.eval()
    new.approximations = tuple(notes)
    return new, notes
