"""The house's structure: no import cycle in mae_core and ui (function-level imports included), and the torch-free
core stays torch-free."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("mae_core", "ui")


def import_graph() -> dict:
    """module -> the project modules it imports anywhere in its body (ui.import_graph, function-level included)."""
    from ui import import_graph as g

    return g.graph()


def cycles(graph: dict) -> list:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_sees_function_level_and_relative_imports():
    g = import_graph()
    assert "mae_core.settings" in g["mae_core.fetch.limits"]  # `from .. import settings`
    assert "mae_core.checkpoints" in g["mae_core.commands.reconstruct"]  # inside cli()


def test_no_import_cycle_in_mae_core_and_ui():
    assert cycles(import_graph()) == []


TORCH_FREE = ["mae_core.settings", "mae_core.assets", "mae_core.digest", "mae_core.geometry", "mae_core.errors",
              "mae_core.config", "mae_core.cost", "mae_core.architectures", "mae_core.metrics", "mae_core.baselines",
              "mae_core.attention_conventions", "mae_core.sources"]


def test_the_light_core_imports_no_torch():
    code = ("import sys\n" + "".join(f"import {m}\n" for m in TORCH_FREE)
            + "print(sorted(m for m in ('torch', 'streamlit', 'timm') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", out.stdout


def test_every_page_file_is_registered_once():
    from ui.pages import PAGES

    files = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "app_pages").glob("*.py"))
    assert sorted(p.file for p in PAGES) == files
    assert sum(p.default for p in PAGES) == 1 and len({p.url_path for p in PAGES}) == len(PAGES)


# Third-party modules that cost real time or memory to import (torch alone takes seconds): deferring them into the
# function that needs them is what keeps the light paths light.
HEAVY = {"torch", "torchvision", "timm", "transformers", "huggingface_hub", "safetensors", "sklearn", "skimage",
         "scipy", "plotly", "pandas", "numpy", "PIL", "tqdm", "requests", "streamlit", "playwright", "matplotlib"}
PLATFORM = {"resource": "Unix only: the benchmark measures peak memory where the platform has it"}


def light_function_level_imports() -> list[str]:
    """Function-level imports that defer nothing: not a heavy library, not a project module that imports one when
    it loads, not a platform-specific module, and not one that would close an import cycle at module level."""
    from ui import import_graph as g

    files = g.module_files()
    top = g.graph(module_level_only=True)

    def reaches(src, dst):
        todo, seen = [src], set()
        while todo:
            m = todo.pop()
            if m == dst:
                return True
            if m not in seen:
                seen.add(m)
                todo += top.get(m, ())
        return False

    bad = []
    for mod, path in files.items():
        for s in g.statements(path, mod, files):
            if s.module_level or any(g.loads(t, HEAVY) for t in s.targets) or s.targets[0].split(".")[0] in PLATFORM:
                continue
            if any((o := g.owner(t, files)) and reaches(o, mod) for t in s.targets):
                continue  # at module level it would close a cycle
            bad.append(f"{path.relative_to(ROOT)}:{s.line} imports {s.targets[0]} inside a function")
    return sorted(bad)


def test_function_level_imports_only_defer_heavy_libraries():
    # a light module imported inside a function only hides a dependency from the reader
    assert light_function_level_imports() == []


def test_the_warm_up_stages_come_from_the_pages_imports():
    """The warm-up lists no project module by hand: the pages' import statements give them, split by torch."""
    from ui import warmup

    light, models = warmup.project_modules()
    assert not set(light) & set(models)
    assert {"mae_core.cost", "mae_core.config", "ui.lesson", "ui.render", "mae_core.representations.results"} <= set(light)
    assert {"mae_core.model", "mae_core.reconstruct", "ui.views", "ui.resources"} <= set(models)
    assert "mae_core.train" not in light + models  # no page trains
