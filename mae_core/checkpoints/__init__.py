"""Load every published MAE checkpoint format, auto-detected, loaded strictly, and classified.

Formats (detected from the content, not the file name):
- facebookresearch/mae ``.pth``: ``{'model': state_dict}`` (visualize = pixel target, ``*_full`` = norm-pix target,
  ``mae_pretrain_vit_*`` = encoder only);
- facebookresearch/long_seq_mae ``.pth``: the same key names, plus optional ``decoder_downsample``/``decoder_upsample``,
  BEiT-style ``attn.q_bias``/``attn.v_bias`` (converted at load time to ``qkv.bias = cat(q_bias, 0, v_bias)``) and an
  ``argparse.Namespace`` under ``args`` (input size, mask unit = ``mask_downsampling``, norm_pix_loss, model name);
- Hugging Face transformers ViTMAE directories (``config.json`` + ``model.safetensors`` | ``pytorch_model.bin``) in the
  three key namings met in practice (see HF_NAMINGS);
- our ``.safetensors`` (config + training facts in the header; written by ``save_checkpoint``) or any safetensors
  of MAE-named weights with a sidecar ``<stem>.json`` (``{"config": {...}, "training": {...}}``).

Safety: pickles are read only with ``torch.load(weights_only=True)`` inside ``safe_globals([argparse.Namespace])``;
there is no unsafe fallback. Every problem (hostile or corrupt file, unknown keys, shape mismatch, absurd sizes,
unknown architecture without head counts) is a one-line CheckpointError. Loading is strict: missing or unexpected
keys are listed, never ignored.

One module per job:
- containers: reading pickles (weights only), safetensors and transformers folders; content hashes;
- transformers_format, ours, official: one module per format family (``claims`` + ``describe``; ours also writes);
- architecture: the MAEConfig from tensor shapes plus metadata, size limits, architecture names;
- probe: the target (pixels or normalised pixels) when nothing records it, with its evidence;
- loader: load_checkpoint, inspect_checkpoint, find_checkpoints / scan_checkpoints (with what was skipped);

Shapes: D encoder width, Dd decoder width, p patch size, L = number of patches, k decoder downsampling.
"""
from __future__ import annotations

from .architecture import KNOWN_DECODERS, KNOWN_ENCODERS, LIMITS, arch_name, arch_words, infer_config
from .containers import WEIGHT_SUFFIXES, file_sha256, safe_torch_load
from .info import (FORMAT_HF, FORMAT_LONGSEQ, FORMAT_MAE, FORMAT_OURS, FORMAT_SAFETENSORS, FORMAT_SIDECAR, KINDS,
                   TARGET_CHOICES, TARGET_NORM, TARGET_PIXELS, CheckpointInfo, target_for_choice)
from .loader import (FORMATS, CheckpointScan, find_checkpoints, inspect_checkpoint, load_checkpoint, retarget,
                     scan_checkpoints)
from .ours import save_checkpoint
from .probe import (PROBE_NORM_BELOW, PROBE_PIXELS_ABOVE, ProbeEvidence, probe_evidence, probe_target,
                    target_statistic)
from .transformers_format import HF_NAMINGS, detect_hf_naming, hf_config_for, to_hf_state_dict

__all__ = [
    "CheckpointInfo", "CheckpointScan", "FORMATS", "FORMAT_HF", "FORMAT_LONGSEQ", "FORMAT_MAE", "FORMAT_OURS",
    "FORMAT_SAFETENSORS", "FORMAT_SIDECAR", "HF_NAMINGS", "KINDS", "KNOWN_DECODERS", "KNOWN_ENCODERS", "LIMITS",
    "PROBE_NORM_BELOW", "PROBE_PIXELS_ABOVE", "ProbeEvidence", "TARGET_CHOICES", "TARGET_NORM", "TARGET_PIXELS",
    "WEIGHT_SUFFIXES", "arch_name", "arch_words", "detect_hf_naming", "file_sha256", "find_checkpoints",
    "hf_config_for", "infer_config", "inspect_checkpoint", "load_checkpoint", "probe_evidence", "probe_target",
    "retarget", "safe_torch_load", "save_checkpoint", "scan_checkpoints", "target_for_choice", "target_statistic",
    "to_hf_state_dict",
]
