"""What a ``sketch3d`` command is, for the modules that declare commands: :class:`Command`, :func:`arg`,
:func:`parse_settings`, :class:`CliError`, the tables' ``--rehearsal`` flag and the headings of ``sketch3d --help``;
and :func:`commands`, the registry (each subpackage's ``commands`` module, found by name).

Kept apart from :mod:`sketch3d.cli` (the parser, the help's layout, ``main``): a command's code version
(:mod:`sketch3d.codeversion`) follows its module's imports, so its rule reruns when this module changes, never
when only the help text's layout does.
"""
from __future__ import annotations

import argparse
import functools
import importlib
import json
from dataclasses import dataclass, field
from typing import Any, Callable

from sketch3d.discovery import subpackage_modules

__all__ = ["CliError", "Command", "GROUPS", "IMAGES", "REHEARSAL_ARG", "SETUP", "SHAPES", "arg", "commands",
           "parse_settings"]


class CliError(ValueError):
    """A command-line argument that cannot be used as given."""


def arg(*flags: str, **kwargs: Any) -> tuple[tuple[str, ...], dict]:
    """One argparse argument of a :class:`Command`: ``arg("--out", required=True)``."""
    return flags, kwargs


@dataclass(frozen=True)
class Command:
    """A ``sketch3d`` subcommand: its name, one-line help, handler and arguments.

    A command a person runs on their own data names its ``group`` (the heading it is listed under in
    ``sketch3d --help``) and an ``example`` (a full command line); a pipeline step (a rule's command) names
    neither and is listed by ``sketch3d steps``."""

    name: str
    help: str
    run: Callable[[argparse.Namespace], None]
    arguments: tuple = field(default_factory=tuple)
    group: str = ""
    example: str = ""

    @property
    def root(self) -> str:
        """``module:function`` of the handler: where the command's code version starts."""
        return f"{self.run.__module__}:{self.run.__name__}"


# the flag every table command takes: the paper rehearsal's table says its numbers mean nothing (the rules pass it
# only in the rehearsal, so that the demo's and the paper's jobs are unchanged)
REHEARSAL_ARG = arg("--rehearsal", action="store_true", help="the paper rehearsal's table: say its numbers mean nothing")


def parse_settings(text: str) -> dict:
    """The ``--settings`` JSON object a rule passes."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(f"--settings is not valid JSON ({exc}): {text[:200]}") from None
    if not isinstance(value, dict):
        raise CliError("--settings must be a JSON object")
    return value


# the headings under which `sketch3d --help` lists the commands a person runs on their own data, in this order
SETUP = "check your setup"
SHAPES = "your sketches to 3D shapes"
IMAGES = "your images and depth maps"
GROUPS = (SETUP, SHAPES, IMAGES)


# ----------------------------------------------------------------------------- registry


@functools.lru_cache(maxsize=1)
def commands() -> dict[str, Command]:
    """Every command: those of ``sketch3d.commands`` and of each subpackage's ``commands`` module."""
    found: dict[str, Command] = {}
    modules = [importlib.import_module("sketch3d.commands"), *subpackage_modules("commands").values()]
    for module in modules:
        for cmd in getattr(module, "COMMANDS", ()):
            if cmd.name in found:
                raise RuntimeError(f"command {cmd.name!r} is registered twice ({found[cmd.name].root}, {cmd.root})")
            found[cmd.name] = cmd
    return found
