"""Project-wide CLI commands: check-params, preflight (stage and chapter commands live in their packages)."""
from __future__ import annotations

import argparse

from sketch3d.command_line import SETUP, Command, arg, parse_settings


def _check_params(a: argparse.Namespace) -> None:
    from sketch3d.config import load_params

    overrides = dict(kv.split("=", 1) for kv in a.set or [])
    params = load_params(a.params, overrides)
    print(f"{a.params}: valid (profile {params['profile']}, chapters {', '.join(params['chapters'])})")


def _preflight(a: argparse.Namespace) -> None:
    from sketch3d.preflight import require_chapter_inputs, require_paper_inputs

    if a.settings is not None:  # the data and features sections alone: the shared data and CLIP checks
        s = parse_settings(a.settings)
        require_paper_inputs(s["data"], features_weights=s["features"]["weights"], probe_network=not a.no_probe)
        print("paper profile: every dataset and weight file is in place or downloadable")
        return
    from sketch3d.config import load_params

    overrides = {"profile": "paper", **dict(kv.split("=", 1) for kv in a.set or [])}
    params = load_params(a.params, overrides)
    chapters = a.chapter or params["chapters"]
    require_chapter_inputs(params, chapters, probe_network=not a.no_probe)
    print(f"{params['profile']} profile: every dataset and weight file of {', '.join(chapters)} is in place or "
          "downloadable")


COMMANDS = (
    Command("check-params", "validate params.yaml against the schema", _check_params, (
        arg("--params", default="params.yaml"),
        arg("--set", action="append", metavar="KEY=VALUE", help="override, e.g. profile=paper"),
    ), group=SETUP,
       example="sketch3d check-params --set profile=paper"),
    Command("preflight", "paper profile: stop if a dataset or weight file of a chapter cannot be had", _preflight, (
        arg("--params", default="params.yaml"),
        arg("--set", action="append", metavar="KEY=VALUE", help="override (the profile is paper unless set)"),
        arg("--chapter", action="append", metavar="NAME",
            help="a chapter to check (repeatable; default: params' chapters), by its preflight module"),
        arg("--settings", help="instead of --params: JSON with the effective 'data' and 'features' sections "
                               "(the shared data and CLIP checks only)"),
        arg("--no-probe", action="store_true", help="do not probe download URLs"),
    ), group=SETUP,
       example="sketch3d preflight --chapter retrieval --chapter reconstruction"),
)
