"""`sketch3d <command>`: the only entry point the workflow rules call.

Commands are not listed here: ``sketch3d.commands`` (the project-wide ones) and
every subpackage of sketch3d that has a ``commands`` module contribute their
``COMMANDS`` (a tuple of :class:`Command`), so a chapter package registers its
own commands. A rule, its command and the
package function the command calls share one name (``rasterize_sketches`` the
rule, ``sketch3d rasterize_sketches`` the command, ``rasterize_sketches`` the
function). Rules pass the parameters they depend on as a JSON object
(``--settings``), a subset of the validated params.yaml, so Snakemake reruns a
rule exactly when one of its own parameters changes.

A command's handler imports what it runs inside its own body: the rule's code
version (:mod:`sketch3d.codeversion`) follows exactly those imports.
"""
from __future__ import annotations

import argparse
import functools
import importlib
import json
import logging
import signal
import sys
from dataclasses import dataclass, field
from typing import Any, Callable

from sketch3d.discovery import subpackage_modules

log = logging.getLogger("sketch3d")


class CliError(ValueError):
    """A command-line argument that cannot be used as given."""


def arg(*flags: str, **kwargs: Any) -> tuple[tuple[str, ...], dict]:
    """One argparse argument of a :class:`Command`: ``arg("--out", required=True)``."""
    return flags, kwargs


@dataclass(frozen=True)
class Command:
    """A ``sketch3d`` subcommand: its name, one-line help, handler and arguments."""

    name: str
    help: str
    run: Callable[[argparse.Namespace], None]
    arguments: tuple = field(default_factory=tuple)

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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sketch3d", description=__doc__.splitlines()[0])
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)
    for cmd in commands().values():
        c = sub.add_parser(cmd.name, help=cmd.help, description=cmd.help)
        for flags, kwargs in cmd.arguments:
            c.add_argument(*flags, **kwargs)
        c.set_defaults(func=cmd.run)
    return p


def _exit_on_sigterm(signum, frame):  # Snakemake stops jobs with SIGTERM: unwind so temporaries are removed
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        args.func(args)
    except Exception as exc:  # one readable line for users; full traceback with -v
        if args.verbose:
            raise
        log.error("%s: %s", type(exc).__name__, exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
