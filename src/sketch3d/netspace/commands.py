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

def _fetch_netspace(a: argparse.Namespace) -> None:
    from sketch3d.cli import CliError
    from sketch3d.data.download import fetch
    from sketch3d.netspace.sources import chapter_sources

    wanted = Path(a.out).resolve()
    sources = [s for s in chapter_sources().values() if s.filename]
    match = [s for s in sources if s.path(a.data_dir).resolve() == wanted]
    if not match:
        raise CliError(f"no NetSpace archive is registered at {a.out}; registered: "
                       f"{[str(s.path(a.data_dir)) for s in sources]} (src/sketch3d/netspace/sources.yaml)")
    print(fetch(match[0], Path(a.data_dir)))


def _train_member(a: argparse.Namespace) -> None:
    from sketch3d.devices import claim_device
    from sketch3d.netspace.images import load_splits
    from sketch3d.netspace.zoo import Member, train_member

    member = Member.from_dict(parse_settings(a.member))
    settings = parse_settings(a.settings)
    data = load_splits(settings)
    out = Path(a.out)
    checkpoints = Path(a.checkpoints) if a.checkpoints else out.parent / "checkpoints"
    with claim_device() as device:
        train_member(member, settings, data, out, checkpoints, device)


def _zoo_table(a: argparse.Namespace) -> None:
    from sketch3d.netspace.zoo_table import zoo_table

    profile = parse_settings(a.settings).get("profile", "demo") if a.settings else "demo"
    zoo_table(a.members, Path(a.out_csv), Path(a.out_md), Path(a.out_json), profile, a.thesis)


_B_COMMANDS: tuple = (
    Command("fetch_netspace", "download one of the chapter's registered image archives (CIFAR-10, Tiny-ImageNet), "
                              "with checksum", _fetch_netspace, (
        arg("--data-dir", required=True, help="the paper profile's data folder (downloads/, checksums/)"),
        arg("--out", required=True, help="the archive's path: <data dir>/downloads/<file name>"),
    )),
    Command("train_member", "train one zoo network (single, multi or teacher); resumable, batch norm folded",
            _train_member, (
        arg("--member", required=True, help="the member as JSON (netspace.zoo.Member.to_json(): name, regime, "
                                            "epochs, seed, ...)"),
        arg("--settings", required=True, help="JSON with seed and netspace.data"),
        arg("--out", required=True, help="the member file (.pt)"),
        arg("--checkpoints", help="folder of the resumable checkpoint (default OUT's folder/checkpoints); keep it "
                                  "outside the rule's outputs so a failed job's checkpoint survives"),
    )),
    Command("zoo_table", "Table C.1: the zoo's ClassIds, accuracies and parameter counts beside the thesis's",
            _zoo_table, (
        arg("--members", nargs="+", required=True, help="train_member files (single, multi, teacher)"),
        arg("--thesis", required=True, help="the thesis's Table C.1 (package reference CSV)"),
        arg("--settings", help="JSON with profile"),
        arg("--out-csv", required=True), arg("--out-md", required=True), arg("--out-json", required=True),
    )),
)


# ----------------------------------------------------------------------------- block C



_C_COMMANDS: tuple = ()


COMMANDS = (*_A_COMMANDS, *_B_COMMANDS, *_C_COMMANDS)
