"""What ships in assets/: the embedded checkpoint family and the held-out demo images."""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "assets"
# MAE_CHECKPOINT_DIR points the embedded family elsewhere (tests, or a team's own trained family).
CHECKPOINT_DIR = Path(os.environ.get("MAE_CHECKPOINT_DIR") or ROOT / "checkpoints")
IMAGE_DIR = ROOT / "images"
ABLATION_DIR = ROOT / "ablations"

# name -> (path, one-line description). Same architecture and training budget; only the paper's variables differ.
FAMILY = {
    "p8-m2": "I=128, p=8 (L=256), 2x2 mask units: the long-sequence recipe (16-px masking granularity)",
    "p8-m1": "I=128, p=8 (L=256), 1x1 mask units: long sequence with the mask tied to the patch",
    "p16-m1": "I=128, p=16 (L=64), 1x1 mask units: the original MAE recipe",
    "p4-m4": "I=128, p=4 (L=1024), 4x4 mask units: the longest sequence, masked in the same 16-px cells as p16-m1 "
             "and p8-m2",
}
EMBEDDED = {name: CHECKPOINT_DIR / f"{name}.safetensors" for name in FAMILY}
DEFAULT_NAME = "p8-m2"
DEFAULT_CHECKPOINT = EMBEDDED[DEFAULT_NAME]

DEMO_IMAGES = {"china": IMAGE_DIR / "china.png", "flower": IMAGE_DIR / "flower.png"}
DEFAULT_IMAGE = "flower"

# The natural photographs scikit-image ships in skimage/data (synthetic test patterns, text, logos and binary images
# left out): the embedded family's training data. scikit-learn's china and flower are held out on purpose: they are
# the demo images above.
TRAINING_IMAGES = (
    "astronaut.png", "brick.png", "camera.png", "chelsea.png", "coffee.png", "coins.png", "grass.png",
    "gravel.png", "hubble_deep_field.jpg", "ihc.png", "moon.png", "motorcycle_left.png",
    "motorcycle_right.png", "retina.jpg", "rocket.jpg",
)


def available_embedded() -> dict:
    """The embedded checkpoints that are actually present on disk."""
    return {k: p for k, p in EMBEDDED.items() if p.is_file()}


def default_image() -> Path:
    return DEMO_IMAGES[DEFAULT_IMAGE]


def training_image_paths(names=TRAINING_IMAGES) -> dict:
    """name (file stem) -> path of the scikit-image photographs that are installed ({} without scikit-image)."""
    try:
        import skimage.data
    except ImportError:
        return {}
    root = Path(skimage.data.__file__).parent
    return {Path(n).stem: root / n for n in names if (root / n).is_file()}


def image_set() -> dict:
    """The images mean attention distance is averaged over (ViT Fig. 7 uses a set, not one image): the held-out
    demo images, then the scikit-image photographs. name -> path, demo images first."""
    return {**DEMO_IMAGES, **training_image_paths()}
