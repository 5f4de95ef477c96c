"""The chapter's paper-profile inputs, checked before any job: AmateurSketch's archives of the configured categories
(present and verified, or one of their URLs answering so that `fetch` gets them), the ShapeNetCore v2 meshes, and
the weights of the main network and of every named network (``features.networks``: Tables 4.5, 4.6). The checks
are the shared data and features stages' (:func:`sketch3d.preflight.check_paper_inputs`); nothing is downloaded
here."""
from __future__ import annotations

import os

from sketch3d.preflight import MissingInput, check_paper_inputs


def missing_inputs(params: dict, base: str | os.PathLike = ".", probe_network: bool = True,
                   timeout: float = 5) -> list[MissingInput]:
    """Every paper-profile input of chapter 4.2 that is missing (``params``: the effective params)."""
    features = params["features"]
    return check_paper_inputs(params["data"], features_weights=features["weights"], probe_network=probe_network,
                              timeout=timeout, features=features, networks=list(features.get("networks", {})),
                              base=base)
