"""``python -m mae_core erf``: the command line of mae_core.receptive_field."""
from __future__ import annotations

import argparse

from ..assets import default_checkpoint, image_set
from ..errors import ConfigError
from ..receptive_field import ATTENTION_MODES, effective_receptive_field


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
    from ..checkpoints import load_checkpoint
    from ..precision import resolve_device

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
