"""What ships in assets/: the embedded checkpoint family and the held-out demo images."""
from __future__ import annotations

from pathlib import Path

from . import settings

ROOT = Path(__file__).resolve().parent.parent / "assets"
SHIPPED_DIR = ROOT / "checkpoints"  # the family this repository ships
IMAGE_DIR = ROOT / "images"
ABLATION_DIR = ROOT / "ablations"

# The embedded family: name -> one-line description. Same architecture and training budget; only the paper's
# variables differ. The default comes first wherever the family is listed.
FAMILY = {
    "p8-m2": "I=128, p=8 (L=256), 2x2 mask units: the long-sequence recipe (16-px masking granularity)",
    "p8-m1": "I=128, p=8 (L=256), 1x1 mask units: long sequence with the mask tied to the patch",
    "p16-m1": "I=128, p=16 (L=64), 1x1 mask units: the original MAE recipe",
    "p4-m4": "I=128, p=4 (L=1024), 4x4 mask units: the longest sequence, masked in the same 16-px cells as p16-m1 "
             "and p8-m2",
}
DEFAULT_NAME = "p8-m2"


def family_dir() -> Path:
    """The embedded family's folder: MAE_CHECKPOINT_DIR (tests, or a team's own trained family), read at call time,
    else the shipped one."""
    d = settings.get("MAE_CHECKPOINT_DIR")
    return Path(d) if d else SHIPPED_DIR


def embedded(folder: Path | None = None) -> dict:
    """name -> path of every member in ``folder`` (default: family_dir()), present or not, default first."""
    d = Path(folder) if folder is not None else family_dir()
    names = [DEFAULT_NAME] + [n for n in FAMILY if n != DEFAULT_NAME]
    return {n: d / f"{n}.safetensors" for n in names}


def family(folder: Path | None = None) -> dict:
    """name -> path of the members present on disk, default first."""
    return {n: p for n, p in embedded(folder).items() if p.is_file()}


def default_checkpoint() -> Path:
    """The default member's path in family_dir() (it may not exist yet)."""
    return embedded()[DEFAULT_NAME]


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
