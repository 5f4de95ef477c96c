"""The chapter's paper-profile inputs, checked before any job: SketchyCOCO's archives (or an extracted copy),
MiDaS v2.1's weights and pytorch-fid's Inception weights. Nothing is downloaded or built here; the workflow's
preflight joins these with the other chapters' into one message (:class:`sketch3d.preflight.PreflightError`)."""
from __future__ import annotations

import os
from pathlib import Path

from sketch3d.preflight import MissingInput, probe_all


def missing_inputs(params: dict, base: str | os.PathLike = ".", probe_network: bool = True,
                   timeout: float = 5) -> list[MissingInput]:
    """Every input of the paper profile's chapter 3 that is neither on disk nor, for SketchyCOCO's archives,
    downloadable by the `fetch` rule (one of its URLs answering; ``probe_network=False``: not asked)
    (``params``: the effective params). Weights are never downloaded: they must be on disk."""
    from sketch3d import weights
    from sketch3d.sketchydepth import fid, midas
    from sketch3d.sketchydepth.sketchycoco import missing_archives
    from sketch3d.sketchydepth.sources import chapter_sources

    sources = chapter_sources()
    sd = params["sketchydepth"]
    data_dir = sd["sketchycoco"]["data_dir"]
    archives = missing_archives(params, base=base, sources=sources)
    names = {f"SketchyCOCO archive '{n}'": n for n in sd["sketchycoco"]["archives"]}
    urls = [u for what, _, _ in archives if what in names for u in sources[names[what]].urls]
    answers = probe_all(urls, timeout) if probe_network and urls else {}
    out = []
    for what, where, how in archives:
        src_urls = sources[names[what]].urls if what in names else ()
        if any(answers.get(u, "x") is None for u in src_urls):
            continue  # downloadable: the fetch_sketchycoco rule gets it
        tried = "; ".join(f"{u} ({answers.get(u) or 'not probed'})" for u in src_urls)
        out.append(MissingInput(what, str(where), f"{how} URLs: {tried}." if tried else how))
    value = str(sd["labeller"]["weights"])
    if weights.setting_path(value, base).is_file():  # present: of the configured architecture?
        lab = sd["labeller"]
        problem = midas.weights_problem(weights.setting_path(value, base), lab["encoder"], lab["features"])
        if problem:
            out.append(MissingInput("MiDaS weights (sketchydepth.labeller.weights): the file does not fit the "
                                    "configured network", str(weights.setting_path(value, base)), problem))
    else:
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
