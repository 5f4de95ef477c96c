"""The chapter's paper-profile inputs, checked before any job: the archive of each image set of
``netspace.datasets`` (CIFAR-10, Tiny-ImageNet: present, or one of its URLs answering so that fetch_netspace gets it) and the chairs of the SDF
MLP zoo (AmateurSketch's chairs on ShapeNetCore, the shared data stage's). Nothing is downloaded here."""
from __future__ import annotations

import os

from sketch3d.data.manifest import resolve
from sketch3d.preflight import MissingInput, check_paper_inputs, probe_all


def missing_inputs(params: dict, base: str | os.PathLike = ".", probe_network: bool = True,
                   timeout: float = 5) -> list[MissingInput]:
    """Every paper-profile input of chapter 5 that is missing (``params``: the effective params)."""
    from sketch3d.netspace.images import DATASETS
    from sketch3d.netspace.sources import chapter_sources

    out = []
    for dataset in params["netspace"]["datasets"]:  # every image set of the run (netspace.datasets)
        name = DATASETS[dataset].source
        if name is None:
            continue
        src = chapter_sources()[name]
        data_dir = resolve(params["netspace"]["data"].get("data_dir") or params["data"]["data_dir"], base)
        path = src.path(data_dir)
        if not path.is_file():
            answers = probe_all(list(src.urls), timeout) if probe_network else {}
            if not any(answers.get(u, "x") is None for u in src.urls):
                tried = "; ".join(f"{u} ({answers.get(u) or 'not probed'})" for u in src.urls)
                out.append(MissingInput(f"{src.name} archive ({dataset})", str(path), f"{src.how_to_get} URLs: {tried}."))
    data = {**params["data"], "categories": ["chair"]}
    out += check_paper_inputs(data, probe_network=probe_network, timeout=timeout, features={}, networks=[],
                              base=base)
    return out
