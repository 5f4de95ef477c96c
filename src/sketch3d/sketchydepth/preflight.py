"""The chapter's paper-profile inputs, checked before any job: SketchyCOCO's archives (or an extracted copy),
MiDaS v2.1's weights and pytorch-fid's Inception weights. Nothing is downloaded or built here; the workflow's
preflight joins these with the other chapters' into one message (:class:`sketch3d.preflight.PreflightError`)."""
from __future__ import annotations

import os
from pathlib import Path

from sketch3d.preflight import MissingInput


def missing_inputs(params: dict, base: str | os.PathLike = ".") -> list[MissingInput]:
    """Every input of the paper profile's chapter 3 that is not on disk (``params``: the effective params)."""
    from sketch3d import weights
    from sketch3d.sketchydepth import fid, midas
    from sketch3d.sketchydepth.sketchycoco import missing_archives
    from sketch3d.sketchydepth.sources import chapter_sources

    sources = chapter_sources()
    sd = params["sketchydepth"]
    data_dir = sd["sketchycoco"]["data_dir"]
    out = [MissingInput(what, str(where), how) for what, where, how in missing_archives(params, base=base,
                                                                                        sources=sources)]
    value = str(sd["labeller"]["weights"])
    if not weights.setting_path(value, base).is_file():
        u = weights.unavailable(value, midas.NETWORK, setting="profiles.paper.sketchydepth.labeller.weights",
                                data_dir=data_dir, base=base, sources=sources)
        out.append(MissingInput(u.what, u.path, u.how_to_get))
    value = str(sd["fid"]["weights"])
    try:
        fid.weights_file(value, Path(base) / data_dir, base)
    except fid.FidWeightsError:
        u = weights.unavailable(value, fid.NETWORK, setting=fid.SETTING, data_dir=data_dir, base=base,
                                sources=sources)
        out.append(MissingInput(u.what, u.path, u.how_to_get))
    return out
