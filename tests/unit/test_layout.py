"""Rules of the house about the package's shape: no import cycles, no workflow tools inside,
bpy only in render, tests grouped as the package is."""
import ast
from pathlib import Path

import sketch3d
from sketch3d import codeversion as cv

SRC = Path(sketch3d.__file__).parent
TESTS = Path(__file__).parent


def _modules() -> list[str]:
    return [".".join(("sketch3d", *p.relative_to(SRC).with_suffix("").parts)).removesuffix(".__init__")
            for p in sorted(SRC.rglob("*.py"))]


def _external_imports(module: str) -> set[str]:
    names = set()
    for n in ast.walk(cv._tree(module)):
        if isinstance(n, ast.Import):
            names.update(a.name.split(".")[0] for a in n.names)
        elif isinstance(n, ast.ImportFrom) and not n.level and n.module:
            names.add(n.module.split(".")[0])
    return names


def test_no_import_cycles():
    """Module imports (inside functions too) form no cycle: each module can be read and tested bottom-up."""
    graph = {m: {d for d in cv._module_deps(m) if not cv._is_package(d)} for m in _modules()}
    state: dict[str, int] = {}
    cycles = []

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for d in sorted(graph.get(m, ())):
            if state.get(d) == 1:
                cycles.append(path[path.index(d):] + [d])
            elif d not in state:
                visit(d, path + [d])
        state[m] = 2

    for m in graph:
        if m not in state:
            visit(m, [m])
    assert not cycles, f"import cycles: {cycles}"


def test_package_never_imports_the_workflow_tools_and_bpy_only_in_render():
    for m in _modules():
        ext = _external_imports(m)
        assert not ext & {"snakemake", "dvc"}, f"{m} imports {ext & {'snakemake', 'dvc'}}"
        if not m.startswith("sketch3d.render"):
            assert not ext & {"bpy", "mathutils"}, f"{m} imports Blender outside sketch3d.render"


def test_unit_tests_mirror_the_package():
    packages = {p.name for p in SRC.iterdir() if (p / "__init__.py").is_file()}
    folders = {p.name for p in TESTS.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert folders <= packages, f"test folders without a package: {folders - packages}"
    names = [p.name for p in TESTS.rglob("test_*.py")]
    assert len(names) == len(set(names)), "two test files share a name (pytest imports them by name)"
