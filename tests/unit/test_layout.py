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


# the chapters: each may import the shared layer (every other module of the package), never the other way round,
# and never another chapter
CHAPTERS = ("retrieval", "sketchydepth", "reconstruction", "netspace")


def _package_imports(path: Path, module: str) -> list[tuple[int, str]]:
    """(line, module) of every ``sketch3d`` import in the file of ``module``, inside functions too; relative imports
    resolved."""
    package = module.removesuffix(".__init__") if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for n in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(n, ast.Import):
            found += [(n.lineno, a.name) for a in n.names]
        elif isinstance(n, ast.ImportFrom):
            if n.level:
                base = package.split(".")[: len(package.split(".")) - (n.level - 1)]
                prefix = ".".join(base + ([n.module] if n.module else []))
            else:
                prefix = n.module or ""
            found.append((n.lineno, prefix))
            found += [(n.lineno, f"{prefix}.{a.name}") for a in n.names]  # `from sketch3d import retrieval`
    return [(line, name) for line, name in found if name.split(".")[0] == "sketch3d"]


def _chapter_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in CHAPTERS else None


def test_layers_point_down():
    """The shared layer (data, render, features, geometry, report, devices, config, weights, ... and the top-level
    modules) imports no chapter package, not even inside a function; a chapter imports no other chapter."""
    assert set(CHAPTERS) <= {p.name for p in SRC.iterdir() if (p / "__init__.py").is_file()}
    upward = []
    for path in sorted(SRC.rglob("*.py")):
        module = ".".join(("sketch3d", *path.relative_to(SRC).with_suffix("").parts))
        own = _chapter_of(module)
        for line, name in _package_imports(path, module):
            target = _chapter_of(name)
            if target is not None and target != own:
                upward.append(f"{path.relative_to(SRC)}:{line} imports {name}")
    assert not upward, "imports into a chapter from outside it:\n" + "\n".join(upward)


def test_the_layer_check_sees_imports_inside_functions(tmp_path):
    """The scan above would catch the former `features.transforms` import of retrieval's box fitting (inside a
    method) and a relative one."""
    probe = tmp_path / "transforms.py"
    probe.write_text("def f():\n    from sketch3d.retrieval.box import fit_to_box\n    from ..netspace import zoo\n")
    names = [name for _, name in _package_imports(probe, "sketch3d.features.transforms")]
    assert [_chapter_of(n) for n in names] == ["retrieval", "retrieval", "netspace", "netspace"], names
    assert "sketch3d.retrieval.box" in names and "sketch3d.netspace.zoo" in names
