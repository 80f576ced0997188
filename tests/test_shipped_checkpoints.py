"""The embedded family in assets/checkpoints: loads strictly, says what it is, and clears the quality bar
(masked-region MSE <= 0.6 x filling removed patches with the mean visible colour) on the held-out images."""
import pytest

from mae_core.assets import DEMO_IMAGES, EMBEDDED, FAMILY
from mae_core.checkpoints import load_checkpoint
from mae_core.reconstruct import held_out_quality

EXPECTED = {"p16-m1": (16, 1, "pixel-target"), "p8-m1": (8, 1, "pixel-target"), "p8-m2": (8, 2, "long-seq"),
            "p4-m4": (4, 4, "long-seq")}


@pytest.mark.parametrize("name", sorted(FAMILY))
def test_shipped_checkpoint_loads_and_clears_the_quality_bar(name):
    path = EMBEDDED[name]
    assert path.is_file(), f"{path} is missing: the app has no default checkpoint"
    assert path.stat().st_size < 10 * 2**20  # small enough to commit
    model, info = load_checkpoint(path)
    p, m, kind = EXPECTED[name]
    assert (info.config.img_size, info.patch_size, info.mask_unit, info.kind) == ((128, 128), p, m, kind)
    assert info.target == "pixels" and info.can_reconstruct
    t = info.training
    assert t["steps"] == 1200 and t["images_seen"] == 57600
    assert not any("china" in d or "flower" in d for d in t["training_data"])  # demo images held out
    q = held_out_quality(model, m, images=DEMO_IMAGES.values(), seeds=5, mask_ratio=0.75)
    mse, mean_fill = q["model"], q["mean_fill"]
    assert mse <= 0.6 * mean_fill, f"{name}: masked MSE {mse:.4f} vs mean-fill {mean_fill:.4f}"
