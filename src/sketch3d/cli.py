"""`sketch3d <command>`: the only entry point the workflow rules call.

Commands are not listed here: ``sketch3d.commands`` (the project-wide ones) and
every subpackage of sketch3d that has a ``commands`` module contribute their
``COMMANDS`` (a tuple of :class:`~sketch3d.command_line.Command`), so a chapter
package registers its own commands. A rule, its command and the
package function the command calls share one name (``rasterize_sketches`` the
rule, ``sketch3d rasterize_sketches`` the command, ``rasterize_sketches`` the
function). Rules pass the parameters they depend on as a JSON object
(``--settings``), a subset of the validated params.yaml, so Snakemake reruns a
rule exactly when one of its own parameters changes.

A command's handler imports what it runs inside its own body: the rule's code
version (:mod:`sketch3d.codeversion`) follows exactly those imports. The modules
declaring commands import :mod:`sketch3d.command_line`, not this module, so the
help's layout here is no part of any rule's code version.

``sketch3d --help`` shows first the commands a person runs on their own data:
those whose ``Command`` names a ``group`` (one of the headings of
``command_line.GROUPS``) and an ``example``, under their headings; the
pipeline's step commands (no group: one per workflow rule) are listed apart by
``sketch3d steps``, by the package that holds them.
"""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import textwrap

from sketch3d.command_line import (GROUPS, IMAGES, REHEARSAL_ARG, SETUP, SHAPES, CliError, Command,  # noqa: F401
                                   arg, commands, parse_settings)

log = logging.getLogger("sketch3d")


# the subcommand that lists the pipeline's step commands (part of the help, not a registered Command)
STEPS = "steps"
WIDTH = 100  # help text is wrapped here, whatever the terminal (the same text everywhere)


def _wrapped(text: str, indent: int, first: str = "") -> list[str]:
    """``first`` padded to ``indent`` then ``text``, wrapped at :data:`WIDTH` with later lines at ``indent``."""
    head = first.ljust(indent) if len(first) < indent else first + "\n" + " " * indent
    return textwrap.wrap(text, WIDTH, initial_indent=head, subsequent_indent=" " * indent,
                         break_on_hyphens=False) or [head.rstrip()]


def person_commands(cmds: dict[str, Command] | None = None) -> dict[str, list[Command]]:
    """``{group: [commands]}`` of the commands a person runs on their own data, in the order of :data:`GROUPS`
    (commands in their order of registration); a group not there is an error, as is one without an example."""
    groups: dict[str, list[Command]] = {g: [] for g in GROUPS}
    for cmd in (commands() if cmds is None else cmds).values():
        if cmd.group:
            if cmd.group not in groups or not cmd.example.startswith(f"sketch3d {cmd.name}"):
                raise RuntimeError(f"command {cmd.name!r} ({cmd.root}): group {cmd.group!r} must be one of "
                                   f"sketch3d.cli.GROUPS {GROUPS} and its example a `sketch3d {cmd.name} ...` line")
            groups[cmd.group].append(cmd)
    return {g: members for g, members in groups.items() if members}


def step_commands(cmds: dict[str, Command] | None = None) -> dict[str, list[Command]]:
    """``{package: [commands]}`` of the pipeline's step commands (no group), by the package of their handler."""
    steps: dict[str, list[Command]] = {}
    for cmd in (commands() if cmds is None else cmds).values():
        if not cmd.group:
            parts = cmd.run.__module__.split(".")
            steps.setdefault(parts[1] if len(parts) > 2 else "sketch3d", []).append(cmd)
    return steps


def _listing(intro: str, groups: dict[str, list[Command]], indent: int, examples: bool = False) -> list[str]:
    """An introduction, then each group's heading and its commands (name, help, and with ``examples`` the
    command's example on a line of its own, to copy as it is)."""
    lines = [*_wrapped(intro, 0), ""]
    for group, members in groups.items():
        lines.append(f"{group}:")
        for cmd in members:
            lines += _wrapped(cmd.help, indent, f"  {cmd.name}")
            if examples:
                lines.append(" " * indent + "$ " + cmd.example)
        lines.append("")
    return lines


def overview(cmds: dict[str, Command] | None = None) -> str:
    """The text of ``sketch3d --help`` above the options: the person's commands, grouped, each with its example,
    then where the pipeline's steps are listed."""
    cmds = commands() if cmds is None else cmds
    lines = _listing("Reproduce 'Understanding 3D structures from Sketches' (Berardi, 2023) with `snakemake`, or run "
                     "its methods on your own sketches, images and depth maps with the commands below. `sketch3d "
                     "COMMAND -h` gives a command's arguments.", person_commands(cmds), 22, examples=True)
    n_steps = sum(len(v) for v in step_commands(cmds).values())
    lines += _wrapped(f"{n_steps} commands, one per rule of the workflow (`snakemake` runs them, each as `sketch3d "
                      f"RULE`): `sketch3d {STEPS}` lists them by stage.", 2, "pipeline steps:")
    return "\n".join(lines)


def steps_text(cmds: dict[str, Command] | None = None) -> str:
    """The text of ``sketch3d steps``: the pipeline's step commands by package, each with its one-line help."""
    lines = _listing("The pipeline's step commands: each is one rule of the workflow (workflow/rules/*.smk), which "
                     "runs it as `sketch3d RULE --settings JSON ...`; run them through `snakemake`. `sketch3d "
                     "COMMAND -h` gives a command's arguments.", step_commands(cmds), 26)
    return "\n".join(lines).rstrip() + "\n"


def _print_steps(a: argparse.Namespace) -> None:
    print(steps_text(), end="")


def build_parser() -> argparse.ArgumentParser:
    cmds = commands()
    if STEPS in cmds:
        raise RuntimeError(f"command {STEPS!r} ({cmds[STEPS].root}) hides the list of the pipeline's steps")
    raw = argparse.RawDescriptionHelpFormatter
    p = argparse.ArgumentParser(prog="sketch3d", usage="sketch3d [-h] [-v] COMMAND [ARGUMENTS]",
                                description=overview(cmds), formatter_class=raw)
    p.add_argument("-v", "--verbose", action="store_true", help="log debug lines; an error shows its traceback")
    # no help per subcommand: argparse would list all of them in one flat line; the overview lists them instead
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND", help=argparse.SUPPRESS)
    for cmd in cmds.values():
        epilog = f"example:\n  $ {cmd.example}" if cmd.example else None
        c = sub.add_parser(cmd.name, description="\n".join(_wrapped(cmd.help, 0)), epilog=epilog,
                           formatter_class=raw)
        for flags, kwargs in cmd.arguments:
            c.add_argument(*flags, **kwargs)
        c.set_defaults(func=cmd.run)
    s = sub.add_parser(STEPS, description="list the pipeline's step commands (one per workflow rule) by stage")
    s.set_defaults(func=_print_steps)
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
