"""Gallery view sets: which views a shape is rendered from, and how their files are named.

``render.view_sets`` in params.yaml maps a set's name to its views. A view is a
number, the azimuth of a perspective view (degrees, negative and >= 180 allowed),
or a string ``"<azimuth>o"`` for an orthographic one (``"180o"``). A set is a list
of views, or ``{around_sketch: [offsets...]}``: each of the category's sketch
azimuths (``render.sketch_azimuths``) plus each offset (a view as above, its
azimuth added), so the sketch views are written down in one place only. Either form
may be written ``{views: [...], elevation: 10}`` / ``{around_sketch: [...], elevation: 10}``
to render that set at its own elevation instead of ``render.elevation`` (Fig. B.1's
view is at elevation 10, the galleries' at 20).

Each view has a file-name token: ``az`` + sign (``-`` only when negative) + the
azimuth's integer part on 3 digits + its decimals, if any + ``o`` when orthographic:
``az030``, ``az-005``, ``az012.5``, ``az180o``. Tokens of different views differ, and
:func:`parse_view_token` reads a token back.

Pure python: no Blender needed.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from sketch3d.geometry.camera import PROJECTIONS

MAX_ABS_AZIMUTH = 360.0
DECIMALS = 3  # azimuth resolution kept in file names
_VIEW_STRING = re.compile(r"^(-?\d+(?:\.\d+)?)o$")
_TOKEN = re.compile(r"^az(-?)(\d{3})(?:\.(\d+))?(o?)$")
SET_NAME = re.compile(r"^[a-z0-9_]+$")  # a set's name is part of a folder name and a Snakemake wildcard


class ViewSetError(ValueError):
    """A view set that is unknown or badly written (names the set and the fix)."""


@dataclass(frozen=True)
class ViewSpec:
    """One gallery view: a camera azimuth (degrees) and its projection."""

    azimuth: float
    projection: str = "perspective"

    def __post_init__(self) -> None:
        if self.projection not in PROJECTIONS:
            raise ViewSetError(f"view projection {self.projection!r} must be one of {PROJECTIONS}")
        az = float(self.azimuth)
        if not math.isfinite(az) or abs(az) > MAX_ABS_AZIMUTH:
            raise ViewSetError(f"view azimuth {self.azimuth} must be finite and within +-{MAX_ABS_AZIMUTH:g} degrees")
        if round(az, DECIMALS) != az:
            raise ViewSetError(f"view azimuth {self.azimuth} has more than {DECIMALS} decimals "
                               "(file names keep the azimuth to that precision); round it")
        object.__setattr__(self, "azimuth", az)

    @property
    def token(self) -> str:
        return view_token(self.azimuth, self.projection)

    @property
    def camera_key(self) -> tuple[float, str]:
        """Equal for views that have the same camera (azimuths equal modulo 360)."""
        return (round(self.azimuth % 360.0, DECIMALS) % 360.0, self.projection)


def view_token(azimuth: float, projection: str = "perspective") -> str:
    """File-name token of a view: ``az030``, ``az-005``, ``az012.5``, ``az180o``."""
    if projection not in PROJECTIONS:
        raise ViewSetError(f"view projection {projection!r} must be one of {PROJECTIONS}")
    az = round(float(azimuth), DECIMALS)
    whole, frac = f"{abs(az):.{DECIMALS}f}".split(".")
    frac = frac.rstrip("0")
    sign = "-" if az < 0 else ""
    return f"az{sign}{int(whole):03d}{'.' + frac if frac else ''}{'o' if projection == 'orthographic' else ''}"


def parse_view_token(token: str) -> ViewSpec:
    """The view a token names (the inverse of :func:`view_token`)."""
    m = _TOKEN.match(token)
    if not m:
        raise ViewSetError(f"{token!r} is not a view token (expected e.g. az030, az-005, az012.5, az180o)")
    sign, whole, frac, ortho = m.groups()
    az = float(f"{whole}.{frac or 0}")
    return ViewSpec(-az if sign else az, "orthographic" if ortho else "perspective")


def parse_view(value: Any, where: str = "view") -> ViewSpec:
    """A view as params.yaml writes it: a number (perspective azimuth) or ``"<azimuth>o"`` (orthographic)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ViewSetError(f"{where}: {value!r} is not a view; write an azimuth in degrees (30) or an "
                           'orthographic view as a string "<azimuth>o" ("180o")')
    if isinstance(value, str):
        m = _VIEW_STRING.match(value.strip())
        if not m:
            raise ViewSetError(f'{where}: {value!r} is not a view; an orthographic view is written "<azimuth>o" '
                               '(e.g. "0o", "180o"), a perspective view as a plain number (30)')
        azimuth, projection = float(m.group(1)), "orthographic"
    else:
        azimuth, projection = float(value), "perspective"
    try:
        return ViewSpec(azimuth, projection)
    except ViewSetError as exc:
        raise ViewSetError(f"{where}: {exc}") from None


def _set_of(render: dict, view_set: str) -> Any:
    sets = render.get("view_sets")
    if not isinstance(sets, dict) or not sets:
        raise ViewSetError("render.view_sets is missing or empty; add e.g. `five: [0, 30, 45, 75, 90]` to params.yaml")
    if view_set not in sets:
        raise ViewSetError(f"unknown view set {view_set!r}; render.view_sets defines {sorted(sets)}")
    return sets[view_set]


def views_of(render: dict, view_set: str, category: str | None = None) -> list[ViewSpec]:
    """The views of ``render.view_sets[view_set]`` for ``category`` (needed by ``around_sketch`` sets only).

    Raises :class:`ViewSetError` naming the set for an unknown set or category, a value that is
    not a view, a repeated camera (azimuths equal modulo 360, same projection) or an empty set.
    """
    where = f"render.view_sets.{view_set}"
    if not SET_NAME.match(str(view_set)):
        raise ViewSetError(f"view set name {view_set!r} must use only a-z, 0-9 and _ (it names a folder)")
    spec = _set_of(render, view_set)
    if isinstance(spec, dict):
        _check_set_keys(spec, where)
        if "views" in spec:
            spec = spec["views"]
    if isinstance(spec, dict):
        offsets = spec["around_sketch"]
        if not isinstance(offsets, list) or not offsets:
            raise ViewSetError(f"{where}.around_sketch must be a non-empty list of offsets in degrees, e.g. [-5, 0, 5]")
        sketch_azimuths = render.get("sketch_azimuths") or {}
        if category is None:
            raise ViewSetError(f"{where} is derived from a category's sketch azimuths (around_sketch), but no "
                               "category was given; use a set of fixed views here")
        if category not in sketch_azimuths:
            raise ViewSetError(f"{where} is derived from render.sketch_azimuths, which has no entry for category "
                               f"{category!r}; add render.sketch_azimuths.{category}")
        views = []
        for base in sketch_azimuths[category]:
            for i, off in enumerate(offsets):
                shift = parse_view(off, f"{where}.around_sketch[{i}]")
                views.append(_view_at(round(float(base) + shift.azimuth, DECIMALS), shift.projection,
                                      f"{where} (sketch azimuth {base} + offset {off})"))
    elif isinstance(spec, list):
        views = [parse_view(v, f"{where}[{i}]") for i, v in enumerate(spec)]
    else:
        raise ViewSetError(f"{where} must be a list of views or {{around_sketch: [offsets]}}, got {spec!r}")
    if not views:
        raise ViewSetError(f"{where} is empty; list at least one view")
    seen: dict[tuple[float, str], ViewSpec] = {}
    for v in views:
        if v.camera_key in seen:
            raise ViewSetError(f"{where} repeats a view: {seen[v.camera_key].token} and {v.token} are the same camera "
                               f"({v.projection}, azimuths equal modulo 360); remove one")
        seen[v.camera_key] = v
    return views


def _check_set_keys(spec: dict, where: str) -> None:
    keys = set(spec)
    if not keys <= {"around_sketch", "views", "elevation"} or len(keys & {"around_sketch", "views"}) != 1:
        raise ViewSetError(f"{where}: a set is a list of views, {{views: [...], elevation: e}} or "
                           f"{{around_sketch: [offsets]}} (with an optional elevation), got keys {sorted(keys)}")


def elevation_of(render: dict, view_set: str) -> float:
    """The elevation (degrees) a view set is rendered at: its own ``elevation`` if it has one, else
    ``render.elevation``."""
    where = f"render.view_sets.{view_set}"
    spec = _set_of(render, view_set)
    if isinstance(spec, dict):
        _check_set_keys(spec, where)
        if "elevation" in spec:
            value = spec["elevation"]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not -90 < float(value) < 90:
                raise ViewSetError(f"{where}.elevation must be a number of degrees in (-90, 90), got {value!r}")
            return float(value)
    if "elevation" not in render:
        raise ViewSetError("render.elevation is missing; add the galleries' camera elevation in degrees (thesis: 20)")
    return float(render["elevation"])


def _view_at(azimuth: float, projection: str, where: str) -> ViewSpec:
    try:
        return ViewSpec(azimuth, projection)
    except ViewSetError as exc:
        raise ViewSetError(f"{where}: {exc}") from None


def check_view_sets(render: dict, categories: list[str]) -> None:
    """Every set of ``render.view_sets`` for every category, and ``render.gallery_view_set``: raise on the first
    problem (see :func:`views_of`)."""
    gallery = render.get("gallery_view_set")
    if gallery is not None:
        _set_of(render, gallery)
    for name in render.get("view_sets") or {}:
        elevation_of(render, name)
        for category in categories:
            views_of(render, name, category)
