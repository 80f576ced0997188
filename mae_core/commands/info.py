"""``python -m mae_core info CHECKPOINT``: describe a checkpoint (format, class, architecture, native I and p)."""
from __future__ import annotations

import argparse
import json
import sys

from ..assets import default_checkpoint
from ..checkpoints.info import TARGET_CHOICES, CheckpointInfo
from ..checkpoints.loader import inspect_checkpoint
from ..errors import ConfigError


def format_info(info: CheckpointInfo) -> str:
    c = info.config
    h, w = c.img_size
    lines = [f"checkpoint   {info.path}",
             f"format       {info.format}",
             f"class        {info.kind}" + (f" (target: {info.target}" + (f", from the {info.target_source}"
                                                                      if info.target_source else "") + ")"
                                                 if info.target else ""),
             f"architecture {info.arch_name}",
             f"native       I={h}" + (f"x{w}" if w != h else "") + f", p={c.patch_size}, grid {c.grid[0]}x{c.grid[1]}"
             f", L={c.num_patches}",
             f"parameters   {info.n_params:,} ({info.n_params / 1e6:.2f} M, fixed position tables included)",
             f"mask unit    {info.mask_unit}x{info.mask_unit} patches (training)",
             f"reconstruct  {'yes' if info.can_reconstruct else 'no'}",
             f"sha256       {info.sha256}"]
    if info.probe:
        p = info.probe
        lines.append(f"probe        rms(patch mean)/rms(output) = {p['statistic']:.2f} (norm-pix below "
                     f"{p['norm_below']}, pixels above {p['pixels_above']}); MSE to pixels {p['mse_pixels']:.3f}, "
                     f"to normalised pixels {p['mse_norm']:.3f} -> {p['verdict']} (decided by the "
                     f"{p['decided_by']})")
    if info.training:
        lines.append("training     " + ", ".join(f"{k}={v}" for k, v in info.training.items()
                                                  if not isinstance(v, (list, dict))))
    lines += [f"note         {n}" for n in info.notes]
    return "\n".join(lines)


def cli(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m mae_core info",
                                 description="Describe a checkpoint: format, class, architecture, native I and p.")
    ap.add_argument("checkpoint", nargs="?", help="file or transformers folder (default: the embedded checkpoint)")
    ap.add_argument("--json", action="store_true", help="print JSON")
    ap.add_argument("--heads", help="ENC[,DEC] head counts for an unknown architecture without metadata")
    ap.add_argument("--no-probe", action="store_true", help="do not run the target probe")
    ap.add_argument("--target", choices=TARGET_CHOICES, default="auto",
                    help="the reconstruction target: auto (what the file records, else the probe) or your choice, "
                         "which wins over both")
    a = ap.parse_args(argv)
    path = a.checkpoint
    if path is None:

        path = default_checkpoint()
    heads = [None, None]
    if a.heads:
        try:
            parts = [int(x) for x in a.heads.split(",")]
        except ValueError:
            raise ConfigError(f"--heads must be ENC or ENC,DEC integers, got {a.heads!r}") from None
        heads[: len(parts)] = parts[:2]
    info = inspect_checkpoint(path, num_heads=heads[0], decoder_num_heads=heads[1], probe=not a.no_probe,
                              target=a.target)
    if a.json:
        json.dump(info.to_dict(), sys.stdout, indent=2)
        print()
    else:
        print(format_info(info))
    return 0