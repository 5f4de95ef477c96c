"""The chapter's paper-profile inputs, checked before any job: the official SDF-StyleGAN chair checkpoint (present,
readable, and of the architecture ``reconstruction.generator`` describes), the AmateurSketch chairs and ShapeNet
meshes (the shared data stage's), and the CLIP weights of the sketch loss. Nothing is downloaded here; the
workflow's preflight joins these with the other chapters' into one message."""
from __future__ import annotations

import os
from pathlib import Path

from sketch3d.preflight import MissingInput, check_paper_inputs

CHECKPOINT_HOW_TO_GET = (
    "SDF-StyleGAN's pretrained chair model (Zheng et al. 2022) is linked from the README of "
    "https://github.com/Zhengxinyang/SDF-StyleGAN (section 'Pretrained models'): download the chair checkpoint "
    "(a pytorch-lightning file named epoch=199.ckpt) elsewhere if this machine is offline, and place it, unchanged, "
    "at the path given, or set reconstruction.generator.weights (profiles.paper) to where it lies.")


def missing_inputs(params: dict, base: str | os.PathLike = ".", probe_network: bool = True,
                   timeout: float = 5) -> list[MissingInput]:
    """Every paper-profile input of chapter 4.3 that is missing (``params``: the effective params)."""
    rc = params["reconstruction"]
    out = []
    weights = Path(base) / rc["generator"]["weights"]
    if not weights.is_file():
        out.append(MissingInput("SDF-StyleGAN chair checkpoint (epoch=199.ckpt)", str(weights), CHECKPOINT_HOW_TO_GET))
    else:
        problem = checkpoint_problem(weights, rc["generator"])
        if problem:
            out.append(problem)
    data = {**params["data"], "categories": [rc["targets"]["category"]]}
    out += check_paper_inputs(data, features_weights=params["features"]["weights"], probe_network=probe_network,
                              timeout=timeout, features=params["features"], networks=[], base=base)
    return out


def checkpoint_problem(path: Path, generator_settings: dict) -> MissingInput | None:
    """None when the weights file at ``path`` is readable and of the params' architecture; else the item naming the
    file, both architectures and the fix. Reads the checkpoint's hyper_parameters and tensor shapes only (the
    tensors are memory-mapped): a second or so for the real 700 MB file."""
    from sketch3d.reconstruction.generator import (ArchitectureMismatch, GeneratorConfig, architecture_mismatch,
                                                   checkpoint_architecture)

    expect = GeneratorConfig.from_settings(generator_settings)
    what = "SDF-StyleGAN chair checkpoint (epoch=199.ckpt) of the architecture reconstruction.generator describes"
    try:
        config, source = checkpoint_architecture(path, lr_default=expect.lr_multiplier)
    except (ArchitectureMismatch, ValueError) as exc:
        return MissingInput(what, str(path), f"the file present there cannot be used: {exc}. {CHECKPOINT_HOW_TO_GET}")
    message = architecture_mismatch(path, expect, config, source)
    return MissingInput(what, str(path), message) if message else None
