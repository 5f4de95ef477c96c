"""What each subpackage contributes, found by module name rather than listed by hand.

A subpackage of ``sketch3d`` takes part in a shared mechanism by having a module of the agreed name:
``<package>.commands`` (its ``COMMANDS``, read by :func:`sketch3d.command_line.commands`) and
``<package>.preflight`` (its ``missing_inputs``, read by :func:`sketch3d.preflight.chapter_checks`). The shared
layer thus never names a chapter: a new chapter adds its own modules and nothing else changes.
"""
from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from types import ModuleType

import sketch3d

__all__ = ["subpackage_modules"]


def subpackage_modules(name: str) -> dict[str, ModuleType]:
    """``{package: module}`` for every direct subpackage of sketch3d that has a module ``name`` (imported), in the
    order of the packages' names."""
    found: dict[str, ModuleType] = {}
    for info in sorted(pkgutil.iter_modules(sketch3d.__path__), key=lambda i: i.name):
        module = f"sketch3d.{info.name}.{name}"
        if info.ispkg and importlib.util.find_spec(module) is not None:
            found[info.name] = importlib.import_module(module)
    return found
