"""Helpers of the parity tests: the official SDF-StyleGAN code's outputs and checkpoint layouts
(tests/fixtures/official/Zhengxinyang_SDF-StyleGAN/, made by the official code), and lightning checkpoints in that
layout holding the seeded values the references were made with."""
from __future__ import annotations

import importlib.util
import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

OFFICIAL = Path(__file__).resolve().parents[2] / "fixtures" / "official" / "Zhengxinyang_SDF-StyleGAN"
ARCHS = ("model_py", "train_chair")


@lru_cache(maxsize=None)
def seeded_weights():
    spec = importlib.util.spec_from_file_location("sdf_stylegan_seeded_weights", OFFICIAL / "seeded_weights.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def layout(arch: str) -> dict:
    return json.loads((OFFICIAL / f"layout_{arch}.json").read_text())


def reference(arch: str) -> dict:
    with np.load(OFFICIAL / f"reference_{arch}.npz") as data:
        return {k: data[k] for k in data.files}


def write_checkpoint(arch: str, path: Path, networks: dict | None = None, hyper_parameters: bool | dict = True) -> Path:
    """A lightning checkpoint of the official ``arch`` layout at ``path``: the networks named in ``networks``
    ({prefix: seed}; default the EMA ones with the references' seed) hold the seeded values, other keys are left
    out (the loader reads only the generator networks); ``hyper_parameters``: the official ones (True), none
    (False) or the given dict."""
    lay = layout(arch)
    sw = seeded_weights()
    networks = networks or {"SE": 1, "GE": 1, "ME": 1}
    shapes = {k: tuple(s) for k, s, _ in lay["state_dict"]}
    parts = sw.split_networks(shapes, tuple(networks))
    state = {}
    for prefix, seed in networks.items():
        state.update({f"{prefix}.{k}": torch.from_numpy(v) for k, v in sw.seeded_network(parts[prefix], seed).items()})
    checkpoint = {"epoch": 199, "global_step": 0, "pytorch-lightning_version": lay["pytorch_lightning_version"],
                  "state_dict": state}
    if hyper_parameters is True:
        checkpoint.update(hparams_name=lay["hparams_name"], hyper_parameters=lay["hyper_parameters"])
    elif hyper_parameters:
        checkpoint.update(hparams_name=lay["hparams_name"], hyper_parameters=hyper_parameters)
    torch.save(checkpoint, path)
    return path
