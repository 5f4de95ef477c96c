"""Code versions: derived from imports (inside functions too) and declared package data."""
import ast
import textwrap
from pathlib import Path

import pytest

import sketch3d
from sketch3d import codeversion as cv
from sketch3d.cli import commands

SRC = Path(sketch3d.__file__).parent


@pytest.fixture
def pkg(tmp_path, monkeypatch):
    """A throw-away package 'toy' that the code-version functions analyse instead of sketch3d."""
    root = tmp_path / "toy"
    files = {
        "__init__.py": "",
        "a.py": """
            import os
            from toy import c

            def one():
                from toy.sub import b  # inside a function
                return b

            def two():
                import toy.d
                return toy.d
            """,
        "c.py": "X = 1\n",
        "d.py": "Y = 1\n",
        "sub/__init__.py": "",
        "sub/b.py": """
            from ..e import E  # relative import
            PACKAGE_DATA = ("tables/*.csv",)
            """,
        "e.py": "E = 1\n",
        "cmds.py": """
            from toy.c import X

            def _one(a):
                return X

            def _two(a):
                return 2

            COMMANDS = (
                Command("one", "the first", _one, (arg("--x", default=1),)),
                Command("two", "the second", run=_two, arguments=(arg("--y", default=1),)),
            )
            """,
        "tables/t1.csv": "a,b\n1,2\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text))
    monkeypatch.setattr(cv, "PACKAGE", "toy")
    monkeypatch.setattr(cv, "ROOT", root)
    cv.clear_caches()
    yield root
    cv.clear_caches()


def test_closure_follows_imports_in_functions_and_relative_imports(pkg):
    assert cv.module_closure("a") == ["toy", "toy.a", "toy.c", "toy.d", "toy.e", "toy.sub", "toy.sub.b"]
    assert cv.module_closure("a:one") == ["toy", "toy.c", "toy.e", "toy.sub", "toy.sub.b"]
    assert cv.module_closure("a:two") == ["toy", "toy.c", "toy.d"]
    assert cv.package_data(cv.module_closure("a:one")) == [pkg / "tables/t1.csv"]
    assert cv.package_data(cv.module_closure("a:two")) == []


def _edit(pkg, name, text):
    (pkg / name).write_text(text)
    cv.clear_caches()


def test_version_moves_with_code_and_data_it_depends_on_only(pkg):
    v1, v2 = cv.code_version("a:one"), cv.code_version("a:two")
    _edit(pkg, "e.py", "E = 1  # a comment is not code\n\n")
    assert cv.code_version("a:one") == v1
    _edit(pkg, "e.py", "E = 2\n")
    assert cv.code_version("a:one") != v1 and cv.code_version("a:two") == v2
    v1 = cv.code_version("a:one")
    _edit(pkg, "tables/t1.csv", "a,b\n1,3\n")
    assert cv.code_version("a:one") != v1 and cv.code_version("a:two") == v2
    v1 = cv.code_version("a:one")
    # editing one function of a module does not move the version of its sibling
    _edit(pkg, "a.py", (pkg / "a.py").read_text().replace("return toy.d", "return toy.d.Y"))
    assert cv.code_version("a:one") == v1 and cv.code_version("a:two") != v2


def test_a_commands_version_holds_its_own_entry_of_the_modules_command_table(pkg):
    one, two = cv.code_version("cmds:_one"), cv.code_version("cmds:_two")
    text = (pkg / "cmds.py").read_text()
    _edit(pkg, "cmds.py", text.replace('"--y", default=1', '"--y", default=2'))
    assert cv.code_version("cmds:_one") == one and cv.code_version("cmds:_two") != two
    _edit(pkg, "cmds.py", text.replace('"--x", default=1', '"--x", default=3'))
    assert cv.code_version("cmds:_one") != one and cv.code_version("cmds:_two") == two
    _edit(pkg, "cmds.py", text.replace("the first", "the first command"))  # its help is part of it too
    assert cv.code_version("cmds:_one") != one and cv.code_version("cmds:_two") == two
    # a new command in the table moves neither
    _edit(pkg, "cmds.py", text.replace("COMMANDS = (", 'COMMANDS = (\n    Command("three", "3", print, ()),'))
    assert cv.code_version("cmds:_one") == one and cv.code_version("cmds:_two") == two


def test_bad_roots_and_patterns_are_named(pkg):
    with pytest.raises(ValueError, match="not a module"):
        cv.module_closure("nope")
    with pytest.raises(ValueError, match="no top-level function 'three'"):
        cv.module_closure("a:three")
    _edit(pkg, "sub/b.py", 'PACKAGE_DATA = ("tables/*.json",)\n')
    with pytest.raises(ValueError, match=r"toy.sub.b.PACKAGE_DATA: pattern 'tables/\*.json' matches no file"):
        cv.code_version("a:one")


def test_commands_of_one_module_do_not_depend_on_each_other():
    cmds = commands()
    retrieve = cv.module_closure(cmds["retrieve"].root)
    figure = cv.module_closure(cmds["figure_top5"].root)
    assert "sketch3d.retrieval.pixel" in retrieve and "sketch3d.retrieval.figures" not in retrieve
    assert "sketch3d.retrieval.figures" in figure and "sketch3d.retrieval.pixel" not in figure
    # the feature stage runs the weights resolution and the box fitting: both are part of its version
    features = cv.module_closure(cmds["extract_features"].root)
    assert {"sketch3d.weights", "sketch3d.features.box", "sketch3d.devices"} <= set(features)
    assert "sketch3d.geometry.batching" in cv.module_closure(cmds["rasterize_sketches"].root)
    # a thesis table is an input of its table job (reference.table_file), not code of the table rule
    assert cv.package_data(cv.module_closure(cmds["retrieval_table"].root)) == []


def _calls(tree: ast.AST, name: str) -> bool:
    return any(isinstance(n, ast.Call) and getattr(n.func, "attr", getattr(n.func, "id", None)) == name
               for n in ast.walk(tree))


def test_every_module_that_reads_package_files_declares_them():
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text())
        name = ".".join(("sketch3d", *path.relative_to(SRC).with_suffix("").parts)).removesuffix(".__init__")
        if name == "sketch3d.report.reference":
            continue  # the thesis's tables: each is an input of the rule that tabulates it (table_file)
        if _calls(tree, "files"):  # importlib.resources.files(...)
            assert cv._declared_data(name), f"{path} reads package files but declares no PACKAGE_DATA"


def test_the_help_layout_is_no_part_of_any_rules_code():
    """Commands are declared with sketch3d.command_line, so editing the CLI's help (sketch3d.cli) reruns no rule and
    keeps every cached feature."""
    assert "sketch3d.cli" not in cv.module_closure("sketch3d.features.extract")
    for name, cmd in commands().items():
        closure = cv.module_closure(cmd.root)
        assert "sketch3d.command_line" in closure and "sketch3d.cli" not in closure, name
