"""Parameter tables (Choice/Range specs per category) and their sampling, variation and validation."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

CATEGORIES = ("chair", "lamp")


@dataclass(frozen=True)
class Choice:
    """A discrete parameter: one of ``values`` (strings or booleans), drawn with ``weights``;
    a ``major`` one (the object's overall type) is never changed by ``vary_shape_params``."""

    values: tuple
    weights: tuple[float, ...] | None = None
    major: bool = False


@dataclass(frozen=True)
class Range:
    """A continuous (or, with ``integer``, whole-number) parameter in [lo, hi]."""

    lo: float
    hi: float
    integer: bool = False


PARAM_SPECS: dict[str, dict[str, Choice | Range]] = {
    "chair": {
        "seat_shape": Choice(("box", "rounded", "disc"), (0.45, 0.35, 0.2)),
        "seat_width": Range(0.40, 0.62),        # x extent
        "seat_depth": Range(0.38, 0.58),        # z extent
        "seat_height": Range(0.36, 0.52),       # floor to seat top
        "seat_thickness": Range(0.025, 0.10),
        "seat_corner": Range(0.15, 0.9),        # rounded seat: corner radius / half the smaller side
        "leg_type": Choice(("straight", "splayed", "round", "pedestal", "sled"),
                           (0.25, 0.2, 0.2, 0.2, 0.15), major=True),
        "leg_thickness": Range(0.022, 0.06),
        "leg_inset": Range(0.0, 0.25),          # legs moved inwards, fraction of half the smaller side
        "leg_splay": Range(0.06, 0.3),          # splayed legs: outward offset per unit leg length
        "stretcher": Choice((False, True), (0.6, 0.4)),  # H-shaped stretcher between four legs
        "stretcher_height": Range(0.15, 0.5),   # fraction of leg length
        "pedestal_arms": Range(4, 6, integer=True),
        "back_type": Choice(("none", "panel", "slats", "rails"), (0.1, 0.35, 0.3, 0.25), major=True),
        "back_height": Range(0.32, 0.6),
        "back_width": Range(0.7, 1.0),          # fraction of seat width
        "back_thickness": Range(0.02, 0.06),
        "back_tilt": Range(0.0, 20.0),          # degrees, top leaning towards -Z
        "back_count": Range(2, 6, integer=True),  # slats or rails
        "arm_type": Choice(("none", "boxy", "rails"), (0.5, 0.2, 0.3)),
        "arm_height": Range(0.12, 0.26),        # above the seat top (always below the back top)
        "arm_thickness": Range(0.025, 0.08),
    },
    "lamp": {
        "lamp_type": Choice(("floor", "desk"), major=True),
        "base_type": Choice(("disc", "square", "tripod"), (0.45, 0.3, 0.25)),
        "base_size": Range(0.7, 1.3),
        "base_thickness": Range(0.08, 0.35),    # disc/square: height / radius; tripod: apex height
        "stem_type": Choice(("straight", "bent", "arched"), major=True),
        "stem_height": Range(0.7, 1.3),         # times the lamp type's nominal height
        "stem_thickness": Range(0.6, 1.6),
        "stem_joint": Range(0.35, 0.75),        # bent/arched: fraction of the stem below the bend
        "stem_bend": Range(20.0, 75.0),         # bent: upper segment from vertical; arched: 20 + 2x arc
        "stem_heading": Range(-90.0, 90.0),     # degrees, 0 = reaching towards +Z (front), + towards +X
        "shade_type": Choice(("cone", "cylinder", "dome", "inverted_cone", "bulb")),
        "shade_size": Range(0.7, 1.3),
        "shade_height": Range(0.6, 1.6),        # shade height / shade radius
        "shade_tilt": Range(0.0, 40.0),         # degrees from straight down, towards the heading
        "second_arm": Choice((False, True), (0.75, 0.25)),
        "second_arm_height": Range(0.4, 0.9),   # fraction of the vertical stem part
    },
}


def _check_category(category: str) -> dict[str, Choice | Range]:
    if category not in PARAM_SPECS:
        raise ValueError(f"unknown category {category!r}; expected one of {list(CATEGORIES)}")
    return PARAM_SPECS[category]


def _draw(spec: Choice | Range, rng: np.random.Generator) -> Any:
    if isinstance(spec, Choice):
        p = None if spec.weights is None else np.asarray(spec.weights) / np.sum(spec.weights)
        value = spec.values[int(rng.choice(len(spec.values), p=p))]
        return bool(value) if isinstance(value, (bool, np.bool_)) else str(value)
    if spec.integer:
        return int(rng.integers(int(spec.lo), int(spec.hi) + 1))
    return round(float(rng.uniform(spec.lo, spec.hi)), 4)


def sample_shape_params(category: str, rng: np.random.Generator) -> dict:
    """Draw every parameter of ``category`` independently; the dict is JSON-serialisable."""
    specs = _check_category(category)
    return {name: _draw(spec, rng) for name, spec in specs.items()}


def vary_shape_params(
    category: str, params: dict, rng: np.random.Generator, scale: float = 0.08, swap_prob: float = 0.12
) -> dict:
    """A close neighbour of ``params``: continuous values moved by N(0, scale * range),
    clipped; each non-major discrete value redrawn (whole numbers moved by +-1) with ``swap_prob``."""
    specs = _check_category(category)
    validate_params(category, params)
    out: dict = {}
    for name, spec in specs.items():
        value = params[name]
        if isinstance(spec, Choice):
            swap = rng.random() < swap_prob and not spec.major
            out[name] = _draw(spec, rng) if swap else value
        elif spec.integer:
            step = int(rng.choice([-1, 1])) if rng.random() < swap_prob else 0
            out[name] = int(np.clip(value + step, spec.lo, spec.hi))
        else:
            moved = value + rng.normal(0.0, scale * (spec.hi - spec.lo))
            out[name] = round(float(np.clip(moved, spec.lo, spec.hi)), 4)
    return out


def validate_params(category: str, params: dict) -> None:
    """Raise ValueError naming the key when ``params`` does not fit ``PARAM_SPECS[category]``."""
    specs = _check_category(category)
    if not isinstance(params, dict):
        raise ValueError(f"{category} params must be a dict, got {type(params).__name__}")
    missing = [k for k in specs if k not in params]
    if missing:
        raise ValueError(f"{category} params: missing key(s) {missing}; see PARAM_SPECS[{category!r}]")
    unknown = sorted(k for k in params if k not in specs)
    if unknown:
        raise ValueError(f"{category} params: unknown key(s) {unknown}; allowed {list(specs)}")
    for name, spec in specs.items():
        value = params[name]
        if isinstance(spec, Choice):
            if isinstance(spec.values[0], bool):
                ok = isinstance(value, (bool, np.bool_))
            else:
                ok = isinstance(value, str) and value in spec.values
            if not ok:
                raise ValueError(f"{category} param {name!r} = {value!r}; expected one of {list(spec.values)}")
            continue
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise ValueError(f"{category} param {name!r} = {value!r}; expected a number in [{spec.lo}, {spec.hi}]")
        if spec.integer and int(value) != value:
            raise ValueError(f"{category} param {name!r} = {value!r}; expected a whole number")
        if not (spec.lo - 1e-9 <= float(value) <= spec.hi + 1e-9):
            raise ValueError(f"{category} param {name!r} = {value!r} is outside [{spec.lo}, {spec.hi}]")
