"""CLI commands of the netspace chapter. Each part's commands sit in a block of their own; ``COMMANDS`` joins
the blocks."""
from __future__ import annotations

import argparse  # noqa: F401
import json  # noqa: F401
import logging
from pathlib import Path  # noqa: F401

from sketch3d.cli import Command, arg, parse_settings  # noqa: F401

log = logging.getLogger("sketch3d")


# ----------------------------------------------------------------------------- block A

def _fit_sdf_mlp(a: argparse.Namespace) -> None:
    from sketch3d.devices import claim_device
    from sketch3d.netspace.sdf_mlps import fit_sdf_mlp_file

    settings = parse_settings(a.settings)
    try:
        seed, section = int(settings["seed"]), settings["netspace"]["sdf_mlps"]
    except (KeyError, TypeError) as exc:
        raise ValueError(f"fit_sdf_mlp --settings needs seed and netspace.sdf_mlps (missing {exc})") from None
    with claim_device() as device:
        meta = fit_sdf_mlp_file(Path(a.samples), section, seed, Path(a.out), a.name, device)
    log.info("fit_sdf_mlp %s: %s", meta["name"], json.dumps(meta))


_A_COMMANDS: tuple = (
    Command("fit_sdf_mlp", "fit one SIREN SDF MLP to a shape's SDF samples (thesis C.5); one MLP per job",
            _fit_sdf_mlp, (
                arg("--settings", required=True, help="JSON: seed and netspace.sdf_mlps"),
                arg("--samples", required=True, help="the shape's SDF samples: .npz with points [N, 3], sdf [N]"),
                arg("--out", required=True, help="the MLP file (.pt): state dict and metadata"),
                arg("--name", help="the shape's id, which seeds its MLP (default: the samples file's stem)"),
            )),
)


# ----------------------------------------------------------------------------- block B



_B_COMMANDS: tuple = ()


# ----------------------------------------------------------------------------- block C



_C_COMMANDS: tuple = ()


COMMANDS = (*_A_COMMANDS, *_B_COMMANDS, *_C_COMMANDS)
