"""The project's import statements, read from the source with ast (nothing is imported): which project modules the
pages can reach, and which of those load a given library when they load. The warm-up takes its two stages from
here, so a new module is warmed without being listed, and tests/test_structure.py checks cycles and deferred imports
on the same reading. Python's own import machinery answers only by importing, which is what the warm-up must plan."""
from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("mae_core", "ui")


@dataclass(frozen=True)
class Statement:
    """One import statement: its line, what it names (project modules or a library's dotted name; the first is
    the one a reader sees), and whether it runs when its module loads (rather than inside a function)."""

    line: int
    targets: tuple
    module_level: bool


def module_files(root: Path = ROOT) -> dict:
    """Dotted name -> file of every module in the project's packages."""
    out = {}
    for pkg in PACKAGES:
        for p in (root / pkg).rglob("*.py"):
            parts = list(p.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = p
    return out


def statements(path: Path, mod: str | None, files: dict) -> list:
    """The import statements of one file (``mod`` None for a script outside the packages, such as a page)."""
    here = [] if mod is None else (mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1])

    def targets(node):
        if isinstance(node, ast.Import):
            return tuple(a.name for a in node.names)
        base = ".".join(here[: len(here) - node.level + 1] + ([node.module] if node.module else [])) \
            if node.level else (node.module or "")
        subs = tuple(f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in files)
        # `from pkg import sub` names the submodule; the package counts only for names that are not submodules
        return subs if len(subs) == len(node.names) else (base,) + subs

    out = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                visit(child, True)
            elif isinstance(child, (ast.Import, ast.ImportFrom)):
                out.append(Statement(child.lineno, targets(child), not in_function))
            elif isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            else:
                visit(child, in_function)

    visit(ast.parse(path.read_text(), str(path)), False)
    return out


def owner(name: str, files: dict) -> str | None:
    """The project module a dotted name lives in (a name imported from a module counts as that module)."""
    while name and name not in files:
        name = name.rpartition(".")[0]
    return name or None


@lru_cache(maxsize=4)
def _table(root: Path = ROOT):
    files = module_files(root)
    return files, {m: statements(p, m, files) for m, p in files.items()}


def graph(module_level_only: bool = False, root: Path = ROOT) -> dict:
    """Project module -> the project modules it imports (anywhere in its body, or only as it loads)."""
    files, table = _table(root)
    return {m: {o for s in rows if s.module_level or not module_level_only for t in s.targets
                if (o := owner(t, files)) and o != m} for m, rows in table.items()}


def loads(name: str, libraries, root: Path = ROOT, _seen=None) -> bool:
    """Whether importing ``name`` (a project module, or a library's dotted name) imports one of ``libraries``
    (top-level names such as "torch"), following module-level imports through the project; loading a submodule
    runs its packages' ``__init__`` too."""
    files, table = _table(root)
    mod = owner(name, files)
    if name.split(".")[0] in libraries or (mod is None and set(name.split(".")) & set(libraries)):
        return True  # e.g. safetensors.torch
    seen = set() if _seen is None else _seen
    if mod is None or mod in seen:
        return False
    seen.add(mod)
    chain = [mod] + [".".join(mod.split(".")[:k]) for k in range(1, mod.count("."))]
    return any(loads(t, libraries, root, seen) for c in chain if c in table
               for s in table[c] if s.module_level for t in s.targets)


def reachable_from(scripts, root: Path = ROOT) -> list:
    """The project modules that running these scripts (app.py, the pages) can import, function-level imports
    included, in a stable order."""
    files, _ = _table(root)
    full = graph(root=root)
    todo = [o for p in scripts for s in statements(Path(p), None, files) for t in s.targets
            if (o := owner(t, files))]
    seen: set = set()
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo += full.get(m, ())
    return sorted(seen)
