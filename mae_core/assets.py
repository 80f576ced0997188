"""What ships in assets/: the embedded checkpoint family and the held-out demo images."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import settings

ROOT = Path(__file__).resolve().parent.parent / "assets"
SHIPPED_DIR = ROOT / "checkpoints"  # the family this repository ships
IMAGE_DIR = ROOT / "images"
ABLATION_DIR = ROOT / "ablations"

@dataclass(frozen=True)
class Member:
    """One member of the embedded family: the geometry it was trained at, its training mask unit (m x m patches),
    and what it stands for. Every member has the same architecture and training budget."""

    image_size: int
    patch_size: int
    mask_unit: int
    about: str

    @property
    def L(self) -> int:  # noqa: N802 (the paper's symbol)
        return (self.image_size // self.patch_size) ** 2

    def describe(self) -> str:
        m = self.mask_unit
        return f"I={self.image_size}, p={self.patch_size} (L={self.L}), {m}x{m} mask units: {self.about}"


# The embedded family; only the paper's variables differ. The default comes first wherever the family is listed.
MEMBERS = {
    "p8-m2": Member(128, 8, 2, "the long-sequence recipe (16-px masking granularity)"),
    "p8-m1": Member(128, 8, 1, "long sequence with the mask tied to the patch"),
    "p16-m1": Member(128, 16, 1, "the original MAE recipe"),
    "p4-m4": Member(128, 4, 4, "the longest sequence, masked in the same 16-px cells as p16-m1 and p8-m2"),
}
FAMILY = {name: m.describe() for name, m in MEMBERS.items()}  # name -> one-line description
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
