"""The code version of a job: a hash of exactly the package code and data that it runs on.

Snakemake reruns a rule when its own shell text changes, not when the package
code it calls changes, and a feature cache must not serve features computed by
older code. Both need to know which code a computation depends on. It is
derived here, not listed by hand:

- the *roots*: a module, or one function of a module (a CLI command's handler,
  so that one command does not depend on the other commands of its file);
- the *closure*: every ``sketch3d`` module that the roots import, followed
  transitively, imports inside functions included (the modules are parsed,
  never imported, so the closure of a torch or bpy module costs no import), and
  the ``__init__`` of each package on the way (Python runs it on import);
- the *package data* of the closure: a module that reads files shipped in the
  package declares them in a module-level ``PACKAGE_DATA`` tuple of glob
  patterns relative to the package root (``("reference/table_4_8.csv",)``).

Sources are hashed by their syntax tree, so comments and formatting do not
count; data files by their bytes. Written by hand because no library derives a
job's code dependencies from imports (Snakemake's ``code`` trigger sees a rule's
own text only; DVC hashes whole folders).
"""
from __future__ import annotations

import ast
import functools
import hashlib
from pathlib import Path
from typing import Iterable

__all__ = ["PACKAGE", "module_closure", "package_data", "code_version", "command_version", "clear_caches"]

PACKAGE = "sketch3d"
ROOT = Path(__file__).resolve().parent


def _module_file(name: str) -> Path | None:
    """The source file of module ``name`` (``sketch3d.x.y``), or None if it is not a package module."""
    parts = name.split(".")
    if parts[0] != PACKAGE:
        return None
    base = ROOT.joinpath(*parts[1:])
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return None


def _is_package(name: str) -> bool:
    f = _module_file(name)
    return f is not None and f.name == "__init__.py"


@functools.lru_cache(maxsize=None)
def _tree(name: str) -> ast.Module:
    path = _module_file(name)
    if path is None:
        raise ValueError(f"code version: {name!r} is not a module of the {PACKAGE} package")
    return ast.parse(path.read_text(), filename=str(path))


def _imports(node: ast.AST, module: str) -> set[str]:
    """Package modules imported anywhere inside ``node`` (of module ``module``)."""
    package = module if _is_package(module) else module.rpartition(".")[0]
    found: set[str] = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Import):
            found.update(a.name for a in n.names)
        elif isinstance(n, ast.ImportFrom):
            if n.level:
                base = package.split(".")
                base = base[: len(base) - (n.level - 1)]
                prefix = ".".join(base + ([n.module] if n.module else []))
            else:
                prefix = n.module or ""
            found.add(prefix)
            # `from sketch3d.data import sketch` imports the submodule sketch3d.data.sketch
            found.update(f"{prefix}.{a.name}" for a in n.names if _module_file(f"{prefix}.{a.name}"))
    return {m for m in found if _module_file(m) is not None}


def _with_parents(name: str) -> set[str]:
    parts = name.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts) + 1)}


@functools.lru_cache(maxsize=None)
def _module_deps(name: str) -> frozenset[str]:
    return frozenset(_imports(_tree(name), name))


def _close(seeds: Iterable[str]) -> set[str]:
    todo = set()
    for s in seeds:
        todo |= _with_parents(s)
    seen: set[str] = set()
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        for dep in _module_deps(m):
            todo |= _with_parents(dep) - seen
    return seen


def _function_nodes(module: str, function: str) -> list[ast.stmt]:
    """A function's definition, the top-level definitions of its module that it uses (transitively)
    and the module's other top-level statements (imports, constants): what running it executes; of a table of
    ``Command(...)`` entries, the entry whose handler is ``function`` only."""
    tree = _tree(module)
    defs = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    if function not in defs or isinstance(defs[function], ast.ClassDef):
        raise ValueError(f"code version: module {module} has no top-level function {function!r}")
    used, todo = set(), [function]
    while todo:
        name = todo.pop()
        if name in used:
            continue
        used.add(name)
        todo += [n.id for n in ast.walk(defs[name]) if isinstance(n, ast.Name) and n.id in defs and n.id not in used]
    out = []
    for n in tree.body:
        if n in defs.values():
            if n.name in used:
                out.append(n)
            continue
        table = _command_table(n)
        if table is None:
            out.append(n)
        else:  # a table of Command(...) entries: only the entry that runs `function` is its code
            out.append(ast.Assign(targets=n.targets, value=ast.Tuple(
                elts=[c for c in table if _handler(c) == function], ctx=ast.Load())))
    return out


def _handler(call: ast.Call) -> str | None:
    """The name of the handler of a ``Command(name, help, run, ...)`` call (its ``run``)."""
    run = call.args[2] if len(call.args) > 2 else next((k.value for k in call.keywords if k.arg == "run"), None)
    return run.id if isinstance(run, ast.Name) else None


def _command_table(node: ast.stmt) -> list[ast.Call] | None:
    """The ``Command(...)`` calls of a top-level ``NAME = (Command(...), ...)`` (a module's table of CLI commands),
    or None: any other statement. Each command's version holds its own entry only, so that editing one command's
    arguments does not rerun the jobs of the other commands of its module."""
    if not (isinstance(node, ast.Assign) and isinstance(node.value, (ast.Tuple, ast.List)) and node.value.elts):
        return None
    calls = node.value.elts
    if all(isinstance(c, ast.Call) and getattr(c.func, "id", getattr(c.func, "attr", None)) == "Command"
           for c in calls):
        return list(calls)
    return None


def module_closure(*roots: str) -> list[str]:
    """Sorted package modules reachable from ``roots``.

    A root is a module name (``sketch3d.retrieval.evaluate``, or a short form
    ``retrieval.evaluate``) or ``module:function`` (only that function's imports
    and its module's top-level imports are followed).
    """
    seeds: set[str] = set()
    for root in roots:
        name, _, function = root.partition(":")
        if not name.startswith(PACKAGE):
            name = f"{PACKAGE}.{name}"
        if _module_file(name) is None:
            raise ValueError(f"code version: {name!r} is not a module of the {PACKAGE} package")
        if function:
            for node in _function_nodes(name, function):
                seeds |= _imports(node, name)
            seeds |= _with_parents(name.rpartition(".")[0])
        else:
            seeds.add(name)
    return sorted(_close(seeds))


def _declared_data(name: str) -> list[str]:
    """The ``PACKAGE_DATA`` patterns a module declares (read from its syntax tree)."""
    for node in _tree(name).body:
        targets = []
        if isinstance(node, ast.Assign):
            targets = [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            targets = [node.target.id]
        if "PACKAGE_DATA" in targets and node.value is not None:
            value = ast.literal_eval(node.value)
            if isinstance(value, str) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"{name}.PACKAGE_DATA must be a tuple of glob patterns (strings)")
            return list(value)
    return []


def package_data(modules: Iterable[str]) -> list[Path]:
    """Sorted package data files declared by ``modules``; a pattern matching nothing is an error."""
    files: set[Path] = set()
    for m in modules:
        for pattern in _declared_data(m):
            hits = [p for p in ROOT.glob(pattern) if p.is_file()]
            if not hits:
                raise ValueError(f"{m}.PACKAGE_DATA: pattern {pattern!r} matches no file under {ROOT}")
            files.update(hits)
    return sorted(files)


def clear_caches() -> None:
    """Forget parsed sources (after a source file changed within one process, e.g. in tests)."""
    for f in (_tree, _module_deps, _source_digest):
        f.cache_clear()


@functools.lru_cache(maxsize=None)
def _source_digest(name: str) -> str:
    return hashlib.sha256(ast.dump(_tree(name)).encode()).hexdigest()


def code_version(*roots: str) -> str:
    """16-hex-digit hash of the closure of ``roots`` (sources by syntax tree) and its package data."""
    modules = module_closure(*roots)
    digest = hashlib.sha256()
    data_modules = list(modules)
    for root in sorted(r for r in roots if ":" in r):
        name, _, function = root.partition(":")
        name = name if name.startswith(PACKAGE) else f"{PACKAGE}.{name}"
        data_modules.append(name)
        if name not in modules:  # the function's own module counts by the code that the function runs
            nodes = _function_nodes(name, function)
            digest.update(f"{root}\0{ast.dump(ast.Module(body=nodes, type_ignores=[]))}\0".encode())
    for m in modules:
        digest.update(f"{m}\0{_source_digest(m)}\0".encode())
    for f in package_data(data_modules):
        digest.update(f"{f.relative_to(ROOT).as_posix()}\0".encode())
        digest.update(hashlib.sha256(f.read_bytes()).digest())
    return digest.hexdigest()[:16]


def command_version(name: str) -> str:
    """Code version of the ``sketch3d`` command ``name`` (its handler is the root)."""
    from sketch3d.command_line import commands

    try:
        cmd = commands()[name]
    except KeyError:
        raise ValueError(f"no sketch3d command {name!r}; known: {sorted(commands())}") from None
    return code_version(cmd.root)
