"""Check, before any job runs, that every external input of the paper profile can be had.

``check_paper_inputs`` returns one :class:`MissingInput` per item that is neither
present nor (where allowed) downloadable; ``require_paper_inputs`` raises a single
:class:`PreflightError` listing all of them, each with the path where it must lie
and how to get it. Network probes are short, run in parallel and are bounded by
``timeout`` in total, so a check with nothing present returns within seconds.
Each chapter lists its own inputs in ``<chapter>/preflight.py`` (``missing_inputs``), on these shared checks;
``require_chapter_inputs`` joins the chapters being built into one message, finding their modules by name
(:mod:`sketch3d.discovery`), as the CLI finds their commands.
This module imports neither torch nor open_clip.
"""
from __future__ import annotations

import importlib.util
import os
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.parse import urlparse

from sketch3d import weights
from sketch3d.data.download import VerificationError, verify
from sketch3d.data.manifest import resolve
from sketch3d.data.registry import Source, load_sources
from sketch3d.data.shapenet import SYNSETS, mesh_path

CLIP_NETWORK = "RN101"  # the paper profile's default main backbone; its weights are described in sketch3d.weights


@dataclass(frozen=True)
class MissingInput:
    """One input that cannot be had: what it is, where it must lie, how to get it."""

    what: str
    path: str
    how_to_get: str


class PreflightError(RuntimeError):
    """Raised by require_paper_inputs; ``missing`` holds every MissingInput."""

    def __init__(self, missing: list[MissingInput]):
        self.missing = list(missing)
        super().__init__(format_missing(self.missing))


def format_missing(missing: list[MissingInput]) -> str:
    """One message listing every missing input with its expected path and instructions."""
    lines = [f"the paper profile cannot start: {len(missing)} input(s) missing. Nothing was run."]
    for i, m in enumerate(missing, 1):
        lines += [f"{i}. {m.what}", f"   expected at: {m.path}", f"   how to get it: {m.how_to_get}"]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- probes


def _probe(url: str, timeout: float) -> str | None:
    """None if ``url`` answers (HTTP status < 400, or an existing file:// path), else the error."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return None if Path(urllib.request.url2pathname(parsed.path)).is_file() else "file does not exist"
    try:
        req = urllib.request.Request(url, method="HEAD")
        with urllib.request.urlopen(req, timeout=timeout):
            return None
    except urllib.error.HTTPError as err:
        if err.code in (403, 405, 501):  # some servers refuse HEAD: ask for one byte instead
            try:
                req = urllib.request.Request(url, headers={"Range": "bytes=0-0"})
                with urllib.request.urlopen(req, timeout=timeout):
                    return None
            except Exception as err2:
                return f"{type(err2).__name__}: {err2}"
        return f"HTTP {err.code} {err.reason}"
    except Exception as err:
        return f"{type(err).__name__}: {err}"


def probe_all(urls: list[str], timeout: float) -> dict[str, str | None]:
    """Probe ``urls`` in parallel; each gets ``timeout`` s and the whole call at most about ``timeout`` + 0.5 s.

    Daemon threads are used because name resolution ignores socket timeouts and a
    hanging probe must not keep the process alive.
    """
    results: dict[str, str | None] = {u: f"no answer within {timeout:g} s" for u in urls}
    lock = threading.Lock()

    def run(u: str) -> None:
        r = _probe(u, timeout)
        with lock:
            results[u] = r

    threads = [threading.Thread(target=run, args=(u,), daemon=True) for u in dict.fromkeys(urls)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout + 0.5
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    with lock:
        return dict(results)


# ----------------------------------------------------------------------------- checks


def _archive_state(src: Source, data_dir: Path) -> tuple[bool, str]:
    """(present and valid, note) for a downloadable file."""
    path = src.path(data_dir)
    if not path.exists():
        return False, ""
    try:
        verify(path, src, data_dir)
        return True, ""
    except VerificationError as err:
        return False, f" The file there is rejected: {err}"


@dataclass(frozen=True)
class _Weights:
    """One weights setting to check: the network it is for and the params key that sets it."""

    backbone: str
    value: str
    setting: str


def _weights_needed(paper: dict, features_weights: str | None, features: dict | None,
                    networks: list[str] | tuple[str, ...] | None) -> list[_Weights]:
    """The weights settings the configured targets need, each (backbone, value) once."""
    features = features or {}
    out: list[_Weights] = []
    main = features_weights or paper.get("clip_weights", "")
    if networks is None or main:  # the main network, as always before named networks existed
        out.append(_Weights(features.get("backbone", CLIP_NETWORK), main, weights.CLIP_SETTING))
    table = features.get("networks") or {}
    for name in networks or ():
        entry = table.get(name)
        if not isinstance(entry, dict) or "backbone" not in entry or "weights" not in entry:
            raise ValueError(f"preflight: network {name!r} is not configured with a backbone and weights in "
                             f"features.networks (known: {sorted(table)}); add it to params.yaml")
        out.append(_Weights(entry["backbone"], entry["weights"], weights.network_setting(name)))
    seen: set[tuple[str, str]] = set()
    unique = []
    for w in out:
        if (w.backbone, w.value) not in seen:
            seen.add((w.backbone, w.value))
            unique.append(w)
    return unique


def check_paper_inputs(
    paper: dict,
    features_weights: str | None = None,
    probe_network: bool = True,
    timeout: float = 5,
    *,
    features: dict | None = None,
    networks: list[str] | tuple[str, ...] | None = None,
    base: str | os.PathLike = ".",
    sources: dict[str, Source] | None = None,
    hf_cache_dir: str | None = None,
    hf_endpoint: str | None = None,
) -> list[MissingInput]:
    """Every paper-profile input that is neither present nor downloadable (empty list: all good).

    Checks, for ``paper["categories"]``: the AmateurSketch archives (present and
    verified, or, with ``probe_network``, one of their URLs answering); the ShapeNet
    root with each category's synset folder holding at least one mesh; and the weights
    of every network needed:

    - the main CLIP network (``features["backbone"]``, default RN101) with weights
      ``features_weights`` (default ``paper["clip_weights"]``), checked unless ``networks``
      is given and neither of those is set;
    - each name in ``networks`` (the networks the configured targets need), read from
      ``features["networks"][name]`` (``backbone``, ``weights``); a name that is not there
      raises ValueError.

    Each setting is read as :mod:`sketch3d.weights` reads it: ``random`` (nothing to check),
    an existing local file, or a registered tag (``openai``, ``IMAGENET1K_V1``) with a local
    copy (:func:`sketch3d.weights.find_local`: Hugging Face cache in ``hf_cache_dir``,
    ``<data_dir>/weights``, torch hub's checkpoints) or, for open_clip's tags, a reachable
    Hugging Face hub (``hf_endpoint``, default $HF_ENDPOINT or huggingface.co; never probed
    when HF_HUB_OFFLINE is set). torchvision's weights are never downloaded: they must be on
    disk. Relative paths are taken from ``base``.
    """
    needed = _weights_needed(paper, features_weights, features, networks)
    sources = load_sources() if sources is None else sources
    data_dir = resolve(paper["data_dir"], base)
    missing: list[MissingInput] = []
    to_probe: list[tuple[Source, str]] = []  # (source, note) awaiting a network answer

    for category in paper["categories"]:
        name = f"amateursketch_{category}"
        if name not in sources:
            missing.append(MissingInput(f"AmateurSketch {category} sketches", str(data_dir), f"no entry '{name}' in sources.yaml"))
            continue
        src = sources[name]
        ok, note = _archive_state(src, data_dir)
        if not ok:
            to_probe.append((src, note))

    weights_missing: list[tuple[MissingInput, str | None]] = []  # (what is missing, hub URL that may serve it)
    for need in needed:
        k = weights.kind(need.value, need.backbone, base)
        if k == "random":  # random initialisation needs no file
            continue
        found = weights.local_file(need.value, need.backbone, data_dir=data_dir, base=base,
                                   hf_cache_dir=hf_cache_dir, sources=sources)
        if found is not None:
            wrong = _clip_architecture_error(found, need)
            if wrong is not None:
                missing.append(wrong)
            continue
        if found is None:
            u = weights.unavailable(need.value, need.backbone, setting=need.setting, data_dir=data_dir, base=base,
                                    hf_cache_dir=hf_cache_dir, sources=sources)
            hub_url = None
            if k == "tag" and not weights.hub_offline():
                hub_url = weights.find(need.backbone, need.value).hub_url(hf_endpoint)  # None: not on the hub
            weights_missing.append((MissingInput(u.what, u.path, u.how_to_get), hub_url))

    answers: dict[str, str | None] = {}
    if probe_network:
        urls = [u for src, _ in to_probe for u in src.urls] + [h for _, h in weights_missing if h]
        answers = probe_all(urls, timeout) if urls else {}

    for src, note in to_probe:
        errors = [f"{u} ({answers[u]})" if u in answers else f"{u} (not probed)" for u in src.urls]
        if probe_network and any(answers.get(u, "x") is None for u in src.urls):
            continue  # downloadable: fetch() will get it
        tried = f" URLs: {'; '.join(errors)}." if errors else ""
        missing.append(MissingInput(f"AmateurSketch archive '{src.name}'", str(src.path(data_dir)), f"{src.how_to_get}{tried}{note}"))

    shapenet = resolve(paper["shapenet_root"], base)
    shapenet_src = sources.get("shapenetcore_v2")
    shapenet_how = shapenet_src.how_to_get if shapenet_src else "supply a local ShapeNetCore v2 copy"
    if not shapenet.is_dir():
        missing.append(MissingInput("ShapeNetCore v2 (local copy; profiles.paper.data.shapenet_root)", str(shapenet), shapenet_how))
    else:
        for category in paper["categories"]:
            folder = shapenet / SYNSETS[category]
            if not _has_mesh(folder):
                missing.append(MissingInput(
                    f"ShapeNetCore v2 {category} meshes (synset {SYNSETS[category]})",
                    str(mesh_path(shapenet, category, "<model_id>")),
                    shapenet_how,
                ))

    for m, hub_url in weights_missing:
        if hub_url and probe_network and answers.get(hub_url, "x") is None:
            continue  # open_clip will download it from the hub
        if hub_url:
            state = answers.get(hub_url, "not probed")
            m = MissingInput(m.what, m.path, f"{m.how_to_get} Hugging Face hub {hub_url}: {state}.")
        missing.append(m)
    return missing


def _clip_architecture_error(path: Path, need: _Weights) -> MissingInput | None:
    """A present CLIP weights file of another model than ``need.backbone``, as an input to fix (None: fine, or
    not a CLIP backbone)."""
    from sketch3d.features.clip_files import ClipArchitectureError, arch_from_config, check_clip_file

    if arch_from_config(need.backbone) is None:
        return None
    try:
        check_clip_file(path, need.backbone, need.setting)
    except ClipArchitectureError as err:
        return MissingInput(f"CLIP {need.backbone} weights ({need.setting}): the file holds another model",
                            str(path), str(err))
    return None


def _has_mesh(folder: Path, limit: int = 200) -> bool:
    """True if some ``<folder>/<id>/models/model_normalized.obj`` exists (looks at most ``limit`` entries)."""
    if not folder.is_dir():
        return False
    with os.scandir(folder) as it:
        for i, entry in enumerate(it):
            if i >= limit:
                break
            if entry.is_dir() and (Path(entry.path) / "models" / "model_normalized.obj").is_file():
                return True
    return False


def require_paper_inputs(
    paper: dict,
    features_weights: str | None = None,
    probe_network: bool = True,
    timeout: float = 5,
    **kwargs,
) -> None:
    """Raise one PreflightError listing every missing input; return None when all can be had.

    ``kwargs`` go to :func:`check_paper_inputs`, e.g. ``features=config["features"]`` and
    ``networks=[...]``: the named networks the configured targets need.
    """
    missing = check_paper_inputs(paper, features_weights, probe_network, timeout, **kwargs)
    if missing:
        raise PreflightError(missing)


# ----------------------------------------------------------------------------- the chapters' checks


def chapter_checks() -> dict[str, Callable[..., list[MissingInput]]]:
    """``{package: missing_inputs}`` of every subpackage with a ``preflight`` module, found as the CLI finds the
    ``commands`` modules: each chapter's ``missing_inputs(params, base=".", probe_network=True, timeout=5)``
    lists what it needs and cannot have (``params``: the effective params)."""
    from sketch3d.discovery import subpackage_modules

    return {name: module.missing_inputs for name, module in subpackage_modules("preflight").items()
            if callable(getattr(module, "missing_inputs", None))}


def missing_chapter_inputs(params: dict, chapters: list[str] | tuple[str, ...], *, base: str | os.PathLike = ".",
                           probe_network: bool = True, timeout: float = 5) -> list[MissingInput]:
    """The missing inputs of ``chapters``, in their order, each input once (chapters share data and weights).
    A chapter without a ``preflight`` module has no external input; a name that is no package raises ValueError."""
    checks = chapter_checks()
    unknown = [c for c in chapters if c not in checks and importlib.util.find_spec(f"sketch3d.{c}") is None]
    if unknown:
        raise ValueError(f"preflight: no chapter package {unknown} in sketch3d (chapters with a preflight module: "
                         f"{sorted(checks)})")
    missing: list[MissingInput] = []
    for chapter in chapters:
        if chapter in checks:
            missing += [m for m in checks[chapter](params, base=base, probe_network=probe_network, timeout=timeout)
                        if m not in missing]
    return missing


def require_chapter_inputs(params: dict, chapters: list[str] | tuple[str, ...], **kwargs) -> None:
    """Raise one PreflightError listing every missing input of ``chapters`` (the workflow's onstart check);
    ``kwargs`` go to :func:`missing_chapter_inputs`."""
    missing = missing_chapter_inputs(params, chapters, **kwargs)
    if missing:
        raise PreflightError(missing)
