"""The house's structure: no import cycle in mae_core and ui (function-level imports included), and the torch-free
core stays torch-free."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("mae_core", "ui")


def _modules() -> dict:
    out = {}
    for pkg in PACKAGES:
        for p in (ROOT / pkg).rglob("*.py"):
            parts = list(p.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = p
    return out


def import_graph() -> dict:
    """module -> the project modules it imports anywhere in its body (a name imported from a package counts as the
    submodule when one exists, else as the package)."""
    files = _modules()

    def resolve(name):
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for mod, path in files.items():
        here = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                edges |= {resolve(a.name) for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = ".".join(here[: len(here) - node.level + 1] + ([node.module] if node.module else [])) \
                    if node.level else (node.module or "")
                edges |= {resolve(f"{base}.{a.name}") if f"{base}.{a.name}" in files else resolve(base)
                          for a in node.names}
        graph[mod] = edges - {None, mod}
    return graph


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


def _imports(path: Path, mod: str, files: dict):
    """(line, [targets], at_module_level) for each import statement; targets as in import_graph, plus the raw
    third-party name."""
    here = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]

    def targets(node):
        if isinstance(node, ast.Import):
            return [a.name for a in node.names]
        base = ".".join(here[: len(here) - node.level + 1] + ([node.module] if node.module else [])) \
            if node.level else (node.module or "")
        return [base] + [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in files]

    out = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                visit(child, True)
            elif isinstance(child, (ast.Import, ast.ImportFrom)):
                out.append((child.lineno, targets(child), not in_function))
            elif isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            else:
                visit(child, in_function)

    visit(ast.parse(path.read_text(), str(path)), False)
    return out


def light_function_level_imports() -> list[str]:
    """Function-level imports that defer nothing: not a heavy library, not a project module that imports one when
    it loads, not a platform-specific module, and not one that would close an import cycle at module level."""
    files = _modules()

    def owner(name):
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name or None

    table = {m: _imports(p, m, files) for m, p in files.items()}
    top = {m: {t for _, ts, level in rows if level for t in ts} for m, rows in table.items()}
    memo: dict = {}

    def heavy(name, seen=()):
        if name.split(".")[0] in HEAVY:
            return True
        mod = owner(name)
        if mod is None or mod in seen:
            return False
        if mod not in memo:
            # loading a submodule runs its packages' __init__ too
            chain = [mod] + [".".join(mod.split(".")[:k]) for k in range(1, mod.count("."))]
            memo[mod] = any(heavy(t, seen + (mod,)) for c in chain if c in files for t in top[c])
        return memo[mod]

    def reaches(src, dst):
        todo, seen = [src], set()
        while todo:
            m = todo.pop()
            if m == dst:
                return True
            if m in seen:
                continue
            seen.add(m)
            todo += [o for t in top.get(m, ()) if (o := owner(t))]
        return False

    bad = []
    for mod, rows in table.items():
        for line, targets, level in rows:
            if level or any(heavy(t) for t in targets) or targets[0].split(".")[0] in PLATFORM:
                continue
            if any(owner(t) and reaches(owner(t), mod) for t in targets):
                continue  # at module level it would close a cycle
            bad.append(f"{files[mod].relative_to(ROOT)}:{line} imports {targets[0]} inside a function")
    return sorted(bad)


def test_function_level_imports_only_defer_heavy_libraries():
    # a light module imported inside a function only hides a dependency from the reader
    assert light_function_level_imports() == []
