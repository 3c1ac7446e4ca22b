"""The layer rule of docs/architecture.md, enforced by reading every import in the tree.

Function-level (lazy) imports count too: a layer may not reach upward or sideways at any time.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# layer -> the project layers its modules may import (besides itself)
ALLOWED = {
    "bench": set(),  # the package's own __init__ only (see layer_of)
    "bench.core": set(),
    "bench.training": {"bench.core"},
    "suites": {"bench.core"},
    "methods": {"bench.core", "bench.training"},
    "bench.app": {"bench.core", "bench.training", "methods", "suites"},
    "bench.ablation": {"bench.core", "bench.training", "methods", "suites", "bench.app"},
    "bench.cli": {"bench.core", "bench.training", "methods", "suites", "bench.app", "bench.ablation"},
}
PROJECT_PACKAGES = ("bench", "methods", "suites")


def layer_of(module: str) -> str | None:
    """The layer a dotted module name belongs to (None: not part of the project)."""
    for layer in sorted(ALLOWED, key=len, reverse=True):
        if module == layer or (layer != "bench" and module.startswith(layer + ".")):
            return layer
    if module.split(".")[0] in PROJECT_PACKAGES:
        return module  # a project module outside every layer (e.g. bench/foo.py): flagged below
    return None


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, root: Path = ROOT) -> list[tuple[int, str]]:
    """``(line, module)`` of every import statement in a file, relative imports resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    name = module_name(path, root)
    package = name.rsplit(".", 1)[0] if path.name != "__init__.py" else name
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.append((node.lineno, base))
    return found


def violations(files: list[Path], root: Path = ROOT) -> list[str]:
    out = []
    for path in files:
        own = layer_of(module_name(path, root))
        if own not in ALLOWED:
            out.append(f"{path.relative_to(root)}: not in any layer of docs/architecture.md")
            continue
        for line, module in imported_modules(path, root):
            target = layer_of(module)
            if target is None or target == own:
                continue
            if target not in ALLOWED[own]:
                out.append(f"{path.relative_to(root)}:{line}: {own} may not import {module}")
    return out


def project_files() -> list[Path]:
    return sorted(p for package in PROJECT_PACKAGES for p in (ROOT / package).rglob("*.py"))


def test_every_module_keeps_to_its_layer():
    files = project_files()
    assert len(files) > 40  # the walk found the tree
    assert violations(files) == []


@pytest.mark.parametrize(
    ("module", "source", "bad"),
    [
        ("bench/core/x.py", "from bench.app.store import ResultStore\n", True),
        ("methods/x.py", "def f():\n    from suites.sts import STS_SUITE\n", True),  # lazy import counts
        ("suites/x.py", "import methods\n", True),
        ("bench/training/x.py", "from ..app import runner\n", True),  # relative import resolved
        ("methods/x.py", "from bench.training.trainer import Trainer\nimport torch\n", False),
        ("bench/app/x.py", "from . import store\nfrom methods.configs import SLOT\n", False),
        ("bench/extra.py", "import os\n", True),  # a module outside every layer
    ],
)
def test_the_checker_catches_upward_and_sideways_imports(tmp_path, module, source, bad):
    path = tmp_path / module
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source)
    assert bool(violations([path], root=tmp_path)) == bad
