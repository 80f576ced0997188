"""View helpers for the representation measurements: one colour per checkpoint, the same on the Representations
page and in the Lesson (switch here to a shared palette when the app has one)."""
from __future__ import annotations

FAMILY_COLOURS = {"p16-m1": "#1f77b4", "p8-m1": "#ff7f0e", "p8-m2": "#2ca02c", "p4-m4": "#d62728"}
OTHER_COLOURS = ("#9467bd", "#8c564b", "#e377c2", "#17becf")


def checkpoint_colour(name: str, i: int = 0) -> str:
    """The checkpoint's fixed colour; others cycle through OTHER_COLOURS by their position i."""
    return FAMILY_COLOURS.get(name, OTHER_COLOURS[i % len(OTHER_COLOURS)])
