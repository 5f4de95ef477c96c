"""Load and validate params.yaml against the package's JSON schema, and resolve its profile.

params.yaml has one section per shared stage (``data``, ``render``,
``features``) and per chapter (``retrieval``, ...), plus ``profiles``: what
differs between the offline ``demo`` and the thesis's ``paper`` settings, side
by side, in the same shape as the sections. :func:`validate` checks the file
against the schema and returns the *effective* parameters: the sections with the
active profile's block merged over them (``profiles`` itself is dropped). The
same function validates for the Snakefile, the CLI and the tests, so a bad
value is reported once, naming its key, before any job runs.
"""
from __future__ import annotations

import copy
import os
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

PROFILES = ("demo", "paper")
PACKAGE_DATA = ("params.schema.yaml",)


class ParamsError(ValueError):
    """A parameter is missing, has the wrong type or an invalid value."""


def schema() -> dict:
    text = resources.files("sketch3d").joinpath("params.schema.yaml").read_text()
    return yaml.safe_load(text)


def _key_path(error: jsonschema.ValidationError) -> str:
    parts = [str(p) for p in error.absolute_path]
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else "?"
        parts.append(missing)
    if error.validator == "additionalProperties":
        extra = error.message.split("'")[1] if "'" in error.message else "?"
        parts.append(extra)
    return ".".join(parts) or "<top level>"


def merge(base: dict, over: dict) -> dict:
    """``base`` with ``over`` merged in, recursively for mappings (new dicts; inputs untouched)."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def effective(params: dict) -> dict:
    """The active profile's block merged over the sections; ``profiles`` dropped."""
    base = {k: v for k, v in params.items() if k != "profiles"}
    return merge(base, params["profiles"][params["profile"]])


def validate(params: dict, source: str = "params.yaml") -> dict:
    """Validate raw ``params`` (a params.yaml mapping); return the effective parameters (a new dict).

    An already effective mapping (no ``profiles`` key, e.g. a rule's settings) is not accepted:
    validate the file, then pass its effective sections around. Raise ParamsError naming the key.
    """
    params = copy.deepcopy(params)
    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(params), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        key = _key_path(err)
        if err.validator == "additionalProperties":
            msg = "unknown key (typo?); allowed keys are listed in workflow/schemas/params.schema.yaml"
        elif err.validator == "required":
            msg = "missing required key"
        else:
            msg = err.message
        more = f" ({len(errors) - 1} more problem(s) after this one)" if len(errors) > 1 else ""
        raise ParamsError(f"{source}: invalid parameter '{key}': {msg}{more}")
    _check_consistency(params, source)
    return effective(params)


def _check_consistency(params: dict, source: str) -> None:
    if params["rehearsal"] and params["profile"] != "paper":
        raise ParamsError(
            f"{source}: invalid parameter 'rehearsal': true rehearses the paper profile, but profile is "
            f"'{params['profile']}'; set profile: paper (workflow/rehearsal.yaml does) or rehearsal: false"
        )
    demo = params["profiles"]["demo"]["data"]
    total = sum(demo["splits"].values())
    if total != demo["shapes_per_category"]:
        raise ParamsError(
            f"{source}: invalid parameter 'profiles.demo.data.splits': train+val+test = {total} but "
            f"profiles.demo.data.shapes_per_category = {demo['shapes_per_category']}; make them equal"
        )
    res = params["render"]["resolution"]
    for key, value in (("baseline_box", params["retrieval"]["baseline_box"]),
                       ("thesis_choice.obb_box", params["retrieval"]["thesis_choice"]["obb_box"])):
        if value > res:
            raise ParamsError(
                f"{source}: invalid parameter 'retrieval.{key}': {value} px exceeds render.resolution = {res} px"
            )
    for key in ("overshoot", "width"):
        lo, hi = demo["sketch"][key]
        if lo > hi:
            raise ParamsError(
                f"{source}: invalid parameter 'profiles.demo.data.sketch.{key}': [{lo}, {hi}] is not an interval "
                "(low > high)"
            )
    if demo["sketch"]["width"][0] <= 0:
        raise ParamsError(f"{source}: invalid parameter 'profiles.demo.data.sketch.width': widths must be > 0")
    from sketch3d.render.view_sets import ViewSetError, check_view_sets

    try:
        check_view_sets(params["render"], list(params["render"]["sketch_azimuths"]))
    except ViewSetError as exc:
        raise ParamsError(f"{source}: invalid parameter in 'render.view_sets': {exc}") from None


def results_dir(params: dict) -> Path:
    """Where the workflow writes a run's outputs (the workflow's ``RESULTS``), relative to the repository root:
    ``results/<profile>``, ``results/<profile>-<variant>`` for a named variant (``variant``, e.g. appendix A.1.6's
    256 px SketchyDepth, so that it does not overwrite the profile's own run), ``results/rehearsal`` for the paper
    rehearsal (``results/rehearsal-<variant>`` for a variant's). The one place this is decided: the workflow, ``sketch3d query`` and ``sketch3d reconstruct`` read it."""
    variant = params.get("variant")
    base = "results/rehearsal" if params.get("rehearsal") else f"results/{params.get('profile', 'demo')}"
    return Path(base + (f"-{variant}" if variant else ""))


def load_params(path: str | os.PathLike = "params.yaml", overrides: dict[str, Any] | None = None) -> dict:
    """Read a params file, apply dotted-key overrides (``{"profile": "paper"}``), validate, and return
    the effective parameters of its profile (see :func:`validate`)."""
    path = Path(path)
    if not path.exists():
        raise ParamsError(f"parameter file {path} not found; run from the repository root or pass --params")
    try:
        params = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(params, dict):
        raise ParamsError(f"{path}: expected a mapping of parameters, got {type(params).__name__}")
    for dotted, value in (overrides or {}).items():
        node = params
        *parents, last = dotted.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    return validate(params, source=str(path))
