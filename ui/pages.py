"""The app's pages, listed once: the router (app.py), Home's tiles, the warm-up, the screenshot script and the tests
all read this table. Adding a page is adding its file to app_pages/ and one entry here."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PageSpec:
    file: str  # app_pages/<name>.py; its URL path is the file name (the default page's is "")
    title: str  # in the menu and on Home's tiles
    icon: str  # a Material icon shipped with Streamlit's frontend
    blurb: str  # Home's one line on what the page is for ("" for Home itself)
    default: bool = False
    model_free: bool = False  # its first paint runs no model (precomputed data): the warm-up's light stage suffices

    @property
    def name(self) -> str:
        return self.file.rsplit("/", 1)[-1].removesuffix(".py")

    @property
    def url_path(self) -> str:
        return "" if self.default else self.name


PAGES: tuple[PageSpec, ...] = (
    PageSpec("app_pages/home.py", "Home", ":material/home:", "", default=True),
    PageSpec("app_pages/lesson.py", "Lesson: the paper in 8 steps", ":material/school:",
             "For a class: patches and L, how MAE masks, what a mask unit changes, the evidence, the receptive "
             "field.", model_free=True),
    PageSpec("app_pages/reconstruction.py", "Reconstruction", ":material/image:",
             "Mask an image with any I, p, m, r and seed; see the four MAE panels, the per-patch error and "
             "baselines."),
    PageSpec("app_pages/sequence_grid.py", "Sequence length × mask unit", ":material/grid_view:",
             "The paper's question on one image: trained p16-m1 vs p8-m2 vs p4-m4 (L = 64, 256, 1024), same mask."),
    PageSpec("app_pages/attention.py", "Attention & receptive field", ":material/visibility:",
             "Per-head attention maps, rollout, mean attention distance against uniform attention, and the gradient "
             "effective receptive field, at two sequence lengths."),
    PageSpec("app_pages/ablations.py", "Ablation curves", ":material/show_chart:",
             "Published MAE / long-seq MAE numbers with sources, our measured sweeps, and your own CSV."),
    PageSpec("app_pages/checkpoints.py", "Checkpoints", ":material/inventory_2:",
             "What each checkpoint is, how it was trained, and what it can and cannot show."),
)
BY_NAME = {p.name: p for p in PAGES}
