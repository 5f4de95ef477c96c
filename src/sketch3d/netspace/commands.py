"""CLI commands of the netspace chapter. Each part's commands sit in a block of their own; ``COMMANDS`` joins
the blocks."""
from __future__ import annotations

import argparse  # noqa: F401
import json  # noqa: F401
import logging
from pathlib import Path  # noqa: F401

from sketch3d.command_line import REHEARSAL_ARG, Command, arg, parse_settings  # noqa: F401
from sketch3d.names import SPLITS
from sketch3d.netspace.names import MULTI, SDF, SETTINGS, UNSEEN

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
    from sketch3d.data.download import fetch
    from sketch3d.data.registry import stored_at
    from sketch3d.netspace.sources import chapter_sources

    source = stored_at(a.out, chapter_sources().values(), a.data_dir, "src/sketch3d/netspace/sources.yaml")
    print(fetch(source, Path(a.data_dir)))


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
        train_member(member, settings, data, out, checkpoints, device, curves=a.curves)


def _zoo_table(a: argparse.Namespace) -> None:
    from sketch3d.netspace.zoo_table import zoo_table

    profile = parse_settings(a.settings).get("profile", "demo") if a.settings else "demo"
    zoo_table(a.members, Path(a.out_csv), Path(a.out_md), Path(a.out_json), profile, a.thesis, rehearsal=a.rehearsal)


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
        arg("--curves", help="where to write the training curve (curves.csv: epoch, loss, train_accuracy, lr)"),
        arg("--checkpoints", help="folder of the resumable checkpoint (default OUT's folder/checkpoints); keep it "
                                  "outside the rule's outputs so a failed job's checkpoint survives"),
    )),
    Command("zoo_table", "Table C.1: the zoo's ClassIds, accuracies and parameter counts beside the thesis's",
            _zoo_table, (
        arg("--members", nargs="+", required=True, help="train_member files (single, multi, teacher)"),
        arg("--thesis", required=True, help="the thesis's Table C.1 (package reference CSV)"),
        arg("--settings", help="JSON with profile"),
        arg("--out-csv", required=True), arg("--out-md", required=True), arg("--out-json", required=True),
        REHEARSAL_ARG,
    )),
)


# ----------------------------------------------------------------------------- block C
# NetSpace itself: teacher_logits, train_netspace, evaluate_netspace, optimise_latent, netspace_table,
# figure_netspace

def _netspace_section(settings: dict) -> dict:
    from sketch3d.command_line import CliError

    if not isinstance(settings.get("netspace"), dict):
        raise CliError("--settings lacks the netspace section (params.yaml netspace:)")
    return settings["netspace"]


def _netspace_images(settings: dict, splits: tuple[str, ...]) -> dict:
    """{split: (normalised float images, labels)}; augmented, the training split's raw images and its augmentation +
    normalisation as ``train_transform``."""
    import torch  # noqa: F401

    from sketch3d.netspace import images

    raw = images.load_splits(settings, splits)
    out = {s: (images.normalise(x), y) for s, (x, y) in raw.items() if s != "train"}
    if "train" in raw:
        if bool(_netspace_section(settings)["data"].get("augment", True)):
            out["train"] = raw["train"]
            out["train_transform"] = lambda x, g: images.normalise(images.augment(x, g))
        else:  # fixed images, normalised once: the trainings then look the fixed nets' logits up (FixedLogits)
            x, y = raw["train"]
            out["train"] = (images.normalise(x), y)
    return out


def _with_teacher_logits(data: dict, path: str | None) -> dict:
    """``data`` with the teacher's logits of ``path`` (the teacher_logits rule's file) for its fixed training
    images; unchanged without a path."""
    if not path:
        return data
    from sketch3d.netspace import teacher_logits

    images = _fixed_training_images(data, f"--teacher-logits {path}")
    return {**data, "teacher_logits": teacher_logits.read(path, images)}


def _fixed_training_images(data: dict, what: str) -> "torch.Tensor":
    """The training images of ``data``; refused when augmented: each step draws new ones, so there is no fixed table
    of the teacher's logits (``what``: the flag or command that asked for one)."""
    if "train_transform" in data:
        from sketch3d.command_line import CliError

        raise CliError(f"{what}: the training images are augmented (netspace.data.augment): each step draws new ones, "
                       "so there is no fixed table of the teacher's logits (the jobs compute them at each step); "
                       "fixed logits are for unaugmented images only")
    return data["train"][0]


def _teacher_logits(a: argparse.Namespace) -> None:
    from sketch3d.devices import claim_device
    from sketch3d.netspace import teacher_logits
    from sketch3d.netspace.training import load_net

    settings = parse_settings(a.settings)
    teacher = load_net(a.teacher)[0]
    images = _fixed_training_images(_netspace_images(settings, ("train",)), "teacher_logits")
    with claim_device() as device:
        logits = teacher_logits.compute(teacher, images, device)
    teacher_logits.write(a.out, logits, images, Path(a.teacher).name)
    log.info("teacher_logits %s: %s on %d images", a.out, tuple(logits.shape), len(images))


def _training_settings(settings: dict, setting: str) -> dict:
    ns = _netspace_section(settings)
    training = ns.get("training", {})
    section = training.get(setting)
    if setting == UNSEEN and training.get(MULTI) is not None:  # multi's section, unseen's keys over it
        section = {**training[MULTI], **(section or {})}
    if section is None:
        from sketch3d.command_line import CliError
        raise CliError(f"--settings: netspace.training.{setting} missing")
    return {"training": {"seed": settings.get("seed", 0), **section}, "model": ns.get("model", {}),
            "prep": ns.get("prep", {})}


def _train_netspace(a: argparse.Namespace) -> None:
    from sketch3d.devices import claim_device
    from sketch3d.netspace.training import load_net, train_netspace

    settings = parse_settings(a.settings)
    train = [load_net(p) for p in a.train]
    val = [load_net(p) for p in a.val]
    teacher = load_net(a.teacher)[0] if a.teacher else None
    data = None if a.setting == SDF else _with_teacher_logits(_netspace_images(settings, ("train", "val")),
                                                              a.teacher_logits)
    with claim_device() as device:
        summary = train_netspace(a.setting, train, val, data, teacher, _training_settings(settings, a.setting),
                                 Path(a.out), Path(a.checkpoints), device)
    log.info("train_netspace %s: %s", a.setting, json.dumps(summary, sort_keys=True))


def _evaluate_netspace(a: argparse.Namespace) -> None:
    from sketch3d.netspace.evaluation import evaluate_netspace
    from sketch3d.netspace.training import load_net, load_netspace

    settings = parse_settings(a.settings)
    model, record = load_netspace(a.model)
    tests = [load_net(p) for p in a.test]
    data = None if record["setting"] == SDF else _netspace_images(settings, ("test",))
    dataset = None if record["setting"] == SDF else _netspace_section(settings)["data"]["dataset"]
    evaluate_netspace(model, record, tests, data, {**_netspace_section(settings).get("evaluation", {}),
                                                   "dataset": dataset}, Path(a.out), int(settings.get("seed", 0)))
    log.info("evaluate_netspace %s: %d test nets", record["setting"], len(tests))


def _optimise_latent(a: argparse.Namespace) -> None:
    from sketch3d.netspace.latent import optimise_latent, write_latent
    from sketch3d.netspace.training import load_net, load_netspace, make_targets

    settings = parse_settings(a.settings)
    model, record = load_netspace(a.model)
    start = make_targets([load_net(a.net)], int(record["prep_width"]), int(record["prep_height"]))[0]
    teacher = load_net(a.teacher)[0]
    data = _with_teacher_logits(_netspace_images(settings, SPLITS), a.teacher_logits)
    latent = {"seed": settings.get("seed", 0), **_netspace_section(settings).get("latent", {})}
    from sketch3d.devices import claim_device

    with claim_device() as device:
        result = optimise_latent(model, start, teacher, data, latent, device)
    write_latent(result, record["setting"], Path(a.out), settings.get("profile") == "demo")
    log.info("optimise_latent %s %s: %.2f -> %.2f", record["setting"], start.name, result["initial"],
             result["optimized"])


def _netspace_table(a: argparse.Namespace) -> None:
    from sketch3d.netspace.tables import netspace_table

    netspace_table(a.results, Path(a.out_csv), Path(a.out_md), Path(a.out_json) if a.out_json else None, a.thesis,
              rehearsal=a.rehearsal)


def _figure_netspace(a: argparse.Namespace) -> None:
    from sketch3d.netspace.figures import figure_netspace

    demo = parse_settings(a.settings).get("profile") == "demo"
    for evaluation in a.evaluation:  # one process for every setting's figures: a start-up each costs seconds
        paths = figure_netspace(Path(evaluation), Path(a.out), demo)
        log.info("figure_netspace %s: %s", evaluation, ", ".join(p.name for p in paths))


# the flag of the jobs that read the teacher's logits (train_netspace multi / unseen, optimise_latent)
TEACHER_LOGITS_ARG = arg("--teacher-logits", help="the teacher's logits on the fixed training images (the "
                         "teacher_logits rule's file; without augmentation only): read instead of computed")

_C_COMMANDS: tuple = (
    Command("teacher_logits", "the teacher's logits on the fixed (unaugmented) training images, computed once for "
                              "the multi and unseen trainings and the latent optimisations", _teacher_logits, (
        arg("--teacher", required=True, help="the ResNet56 teacher's member file"),
        arg("--settings", required=True, help="JSON with seed and netspace.data"),
        arg("--out", required=True, help="the logits file (.pt)"),
    )),
    Command("train_netspace", "train NetSpace on a zoo (single, multi, unseen or sdf); resumable, the model best on "
                              "the validation nets kept", _train_netspace, (
        arg("--setting", required=True, choices=SETTINGS),
        arg("--settings", required=True, help="JSON with seed, profile and netspace (data, prep, model, training)"),
        arg("--train", required=True, nargs="+", help="training nets (zoo member or SDF MLP files)"),
        arg("--val", required=True, nargs="+", help="validation nets"),
        arg("--teacher", help="the ResNet56 teacher's member file (multi, unseen)"),
        TEACHER_LOGITS_ARG,
        arg("--out", required=True, help="folder for model.pt, curves.csv, curves.png, summary.json"),
        arg("--checkpoints", required=True, help="folder of the resumable checkpoint (outside the rule's outputs)"),
    )),
    Command("evaluate_netspace", "a trained NetSpace on its test nets: target vs predicted, interpolation sweeps, "
                                 "SDF shapes, PReps", _evaluate_netspace, (
        arg("--model", required=True, help="train_netspace's model.pt"),
        arg("--test", required=True, nargs="+", help="test nets (zoo member or SDF MLP files)"),
        arg("--settings", required=True, help="JSON with seed, profile, netspace.data and netspace.evaluation"),
        arg("--out", required=True, help="folder for results.json, preps.npz (and the SDF meshes)"),
    )),
    Command("optimise_latent", "latent space optimisation of one test net's embedding (Table 5.1)", _optimise_latent, (
        arg("--model", required=True, help="train_netspace's model.pt (single or multi)"),
        arg("--net", required=True, help="the test net whose embedding starts the optimisation"),
        arg("--teacher", required=True, help="the ResNet56 teacher's member file"),
        TEACHER_LOGITS_ARG,
        arg("--settings", required=True, help="JSON with seed, profile, netspace.data and netspace.latent"),
        arg("--out", required=True, help="result JSON"),
    )),
    Command("netspace_table", "Table 5.1 beside the thesis's from optimise_latent results", _netspace_table, (
        arg("--results", required=True, nargs="+", help="optimise_latent JSONs"),
        arg("--out-csv", required=True), arg("--out-md", required=True), arg("--out-json"),
        arg("--thesis", help="the thesis's table (default the package's copy, under reference/)"),
        REHEARSAL_ARG,
    )),
    Command("figure_netspace", "Figs. 5.3-5.5, C.5-C.6 from evaluate_netspace folders", _figure_netspace, (
        arg("--evaluation", required=True, nargs="+", help="evaluate_netspace's folder(s)"),
        arg("--settings", required=True, help="JSON with profile"),
        arg("--out", required=True, help="figures folder"),
    )),
)


# ----------------------------------------------------------------------------- block D: the SDF MLPs' targets


def _sdf_samples(a: argparse.Namespace) -> None:
    from sketch3d.netspace.sdf_samples import sdf_samples

    settings = parse_settings(a.settings)
    try:
        samples, seed = settings["netspace"]["sdf_samples"], int(settings["seed"])
    except (KeyError, TypeError):
        raise ValueError("sdf_samples: --settings needs seed and netspace.sdf_samples") from None
    split, _, index = a.mlp.rpartition("-")
    if split not in SPLITS or not index.isdigit():
        raise ValueError(f"sdf_samples: --mlp {a.mlp!r} must be <split>-<index>, e.g. train-003")
    shape_id = sdf_samples(Path(a.shapes), split, int(index), samples, seed, Path(a.out))
    log.info("sdf_samples %s: %s", a.mlp, shape_id)


_D_COMMANDS: tuple = (
    Command("sdf_samples", "SDF samples of one chair (the i-th of a split of shapes.csv), the target of one SDF MLP",
            _sdf_samples, (
                arg("--settings", required=True, help="JSON: seed and netspace.sdf_samples"),
                arg("--shapes", required=True, help="the data stage's shapes.csv"),
                arg("--mlp", required=True, help="the MLP's name <split>-<index> (train-000): which chair"),
                arg("--out", required=True, help=".npz: points [N, 3], sdf [N] (cube frame), shape_id"),
            )),
)


COMMANDS = (*_A_COMMANDS, *_B_COMMANDS, *_C_COMMANDS, *_D_COMMANDS)
