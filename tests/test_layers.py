"""The package layers of ``bgs`` (docs/architecture.md), checked on the source with ``ast``:
every import, at module level or inside a function, runs down the layers or sideways, never
up, and no two packages import each other."""

import ast
from pathlib import Path

import pytest

import bgs

ROOT = Path(bgs.__file__).parent

#: lowest first; a package may import its own layer's packages and the ones below
LAYERS = [
    {"errors", "io", "constraints", "embeddings", "stats", "kernels", ""},  # "": the bgs package itself (its version)
    {"data", "media", "synthetic", "objectives"},
    {"human", "models"},
    {"metrics"},
    {"report", "attention", "behavior", "pretrain"},
    {"train"},
    {"study"},  # the orchestration floor: the demo, the studies, the experiments
    {"commands"},
    {"cli", "__main__"},
]
LAYER = {pkg: k for k, layer in enumerate(LAYERS) for pkg in layer}


def _package(path: Path) -> str:
    """The top-level package (or module) of a source file; "" for ``bgs/__init__.py``."""
    name = path.relative_to(ROOT).parts[0].removesuffix(".py")
    return "" if name == "__init__" else name


def _imported_packages(tree: ast.AST) -> list[tuple[int, str]]:
    """``(line, top-level bgs package)`` of every absolute or relative import in ``tree``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] if node.module != "bgs" else [
                f"bgs.{a.name}" if a.name in LAYER else "bgs" for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            raise AssertionError(f"line {node.lineno}: relative import; bgs imports absolutely")
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "bgs":
                found.append((node.lineno, parts[1] if len(parts) > 1 else ""))
    return found


def _imports() -> dict[str, list[tuple[str, int, str]]]:
    """package → [(file, line, imported package)] across the source tree."""
    out: dict[str, list] = {}
    for path in sorted(ROOT.rglob("*.py")):
        pkg = _package(path)
        for line, target in _imported_packages(ast.parse(path.read_text(), str(path))):
            if target != pkg:
                out.setdefault(pkg, []).append((str(path.relative_to(ROOT)), line, target))
    return out


def test_every_package_has_a_layer():
    packages = {_package(p) for p in ROOT.rglob("*.py")}
    assert packages - set(LAYER) == set(), "add the new package to LAYERS (and docs/architecture.md)"


def test_no_import_runs_up_the_layers():
    upward = [f"{file}:{line} imports bgs.{target} (layer {LAYER.get(target)} above {LAYER[pkg]})"
              for pkg, rows in _imports().items() for file, line, target in rows
              if target not in LAYER or LAYER[target] > LAYER[pkg]]
    assert upward == []


def test_no_two_packages_import_each_other():
    deps = {pkg: {t for _, _, t in rows} for pkg, rows in _imports().items()}
    mutual = sorted({tuple(sorted((a, b))) for a, ts in deps.items() for b in ts
                     if a != b and a in deps.get(b, set())})
    assert mutual == []


def test_library_never_imports_the_study_floor():
    below = {pkg for pkg, k in LAYER.items() if k < LAYER["study"]}
    hits = [f"{file}:{line}" for pkg, rows in _imports().items() if pkg in below
            for file, line, target in rows if target in ("study", "commands", "cli")]
    assert hits == []
    assert "train" not in {t for _, _, t in _imports().get("behavior", [])}


@pytest.mark.parametrize("source, expected", [
    ("import bgs.study.demo", [(1, "study")]),
    ("def f():\n    from bgs.train.trainer import Trainer", [(2, "train")]),
    ("from bgs import study", [(1, "study")]),
    ("import numpy", []),
])
def test_the_check_sees_function_level_imports(source, expected):
    assert _imported_packages(ast.parse(source)) == expected
