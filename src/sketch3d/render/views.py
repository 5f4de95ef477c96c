"""Renders of 3D shapes' views with Blender (thesis ch. 4.2, app. B): one job per view.

Two styles: ``lines``, a 224x224 8-bit grey PNG with black Freestyle silhouette and
crease lines on white (the thesis's gallery), and ``rgb``, a 224x224 8-bit RGB PNG of
the mesh shaded light grey on white, textureless (Table 4.5, Fig. B.1). Each view is
perspective or orthographic (app. B.4) and seen by the camera of
:class:`sketch3d.geometry.camera.View`, so a render and ``View.project`` of the
mesh's vertices agree. Meshes keep their own normalisation (ShapeNetCore v2: Y-up,
centred, unit bbox diagonal, front +Z).
``up_axis`` "Z" meshes are taken in Blender's frame (front facing -Y); their
Y-up equivalent for ``View.project`` is (x, z, -y).

The PNGs hold pixels only (no date, render time or other metadata, see
:func:`write_plain_png`), so two renders with equal pixels are equal files and
results can be compared by checksum.

``bpy`` is imported only inside the rendering functions.
"""
from __future__ import annotations

import math
import os
import pathlib
from collections import OrderedDict
from dataclasses import dataclass

import pandas as pd

from sketch3d.atomic import atomic_path
from sketch3d.geometry.camera import DEFAULT_SENSOR_MM, PROJECTIONS, Orientation, View
from sketch3d.render.quiet import quiet_stdout
from sketch3d.render.view_sets import ViewSetError, ViewSpec, parse_view

STYLES = ("lines", "rgb")  # Freestyle lines on white; textureless grey shading on white
UP_AXES = ("Y", "Z")
MESH_SUFFIXES = (".obj", ".ply", ".stl")  # formats Blender's built-in importers read
GALLERY_COLUMNS = ["image_id", "shape_id", "azimuth", "path"]


# Freestyle's edge types (Blender's line set `select_<type>` flags)
EDGE_TYPES = ("silhouette", "border", "crease", "contour", "external_contour", "ridge_valley",
              "suggestive_contour", "material_boundary", "edge_mark")


class RenderError(ValueError):
    """A render job that cannot be done (missing or empty mesh, bad parameter)."""


@dataclass
class RenderSettings:
    resolution: int = 224
    stroke_width: float = 2.2
    camera_distance: float = 2.5
    lens_mm: float = 50.0
    samples: int = 16
    crease_angle: float = 134.43  # Freestyle crease threshold, degrees
    threads: int = 0  # Blender render threads; 0 = one per core
    edge_types: tuple[str, ...] = ("silhouette", "crease", "border")  # Blender's default line set
    front_axis: str = "+z"  # the meshes' front (geometry.camera.Orientation); ShapeNetCore v2: +Z
    azimuth_sign: int = 1

    @property
    def orientation(self) -> Orientation:
        return Orientation(self.front_axis, self.azimuth_sign)


    def validate(self) -> None:
        if int(self.resolution) != self.resolution or self.resolution < 8:
            raise RenderError(f"render.resolution must be an integer >= 8, got {self.resolution}")
        for name in ("stroke_width", "camera_distance", "lens_mm"):
            if not getattr(self, name) > 0:
                raise RenderError(f"render.{name} must be > 0, got {getattr(self, name)}")
        if int(self.samples) != self.samples or self.samples < 1:
            raise RenderError(f"render.samples must be an integer >= 1, got {self.samples}")
        if int(self.threads) != self.threads or self.threads < 0:
            raise RenderError(f"render.threads must be an integer >= 0 (0: all cores), got {self.threads}")
        if not 0 <= self.crease_angle <= 180:
            raise RenderError(f"render.crease_angle must be in [0, 180] degrees, got {self.crease_angle}")
        try:
            self.orientation
        except ValueError as exc:
            raise RenderError(str(exc)) from None
        unknown = sorted(set(self.edge_types) - set(EDGE_TYPES))
        if not self.edge_types or unknown:
            raise RenderError(f"render.edge_types must be a non-empty subset of {EDGE_TYPES}, got {list(self.edge_types)}")


@dataclass
class ViewJob:
    mesh_path: str
    up_axis: str
    azimuth: float
    elevation: float
    out_path: str
    projection: str = "perspective"  # or "orthographic"
    style: str = "lines"             # or "rgb"


def view_of(job: ViewJob, settings: RenderSettings) -> View:
    """The camera of one job, as used by both the renderer and ``View.project``."""
    return View(azimuth=float(job.azimuth), elevation=float(job.elevation),
                distance=float(settings.camera_distance), lens_mm=float(settings.lens_mm),
                sensor_mm=DEFAULT_SENSOR_MM, orientation=settings.orientation, projection=job.projection)


def validate_jobs(jobs: list[ViewJob], suffixes: tuple[str, ...] = MESH_SUFFIXES) -> None:
    """Check every job before any render time is spent; raise naming the first bad file or field."""
    for i, job in enumerate(jobs):
        if job.up_axis not in UP_AXES:
            raise RenderError(f"job {i} ({job.mesh_path}): up_axis must be one of {UP_AXES}, got {job.up_axis!r}")
        if job.projection not in PROJECTIONS:
            raise RenderError(f"job {i} ({job.mesh_path}): projection must be one of {PROJECTIONS}, "
                              f"got {job.projection!r}")
        if job.style not in STYLES:
            raise RenderError(f"job {i} ({job.mesh_path}): style must be one of {STYLES}, got {job.style!r}")
        if not (math.isfinite(job.azimuth) and math.isfinite(job.elevation)) or abs(job.elevation) >= 90:
            raise RenderError(f"job {i} ({job.mesh_path}): azimuth must be finite and elevation in (-90, 90), "
                              f"got azimuth={job.azimuth}, elevation={job.elevation}")
        path = pathlib.Path(job.mesh_path)
        if not path.is_file():
            raise FileNotFoundError(f"mesh {path} not found (job {i}); check mesh_path in the shapes manifest")
        if path.suffix.lower() not in suffixes:
            raise RenderError(f"mesh {path}: unsupported format {path.suffix!r}; use one of {list(suffixes)}")
        if path.stat().st_size == 0 or not os.access(path, os.R_OK):
            raise RenderError(f"mesh {path} is empty or unreadable; re-create or re-download it")
        if not str(job.out_path).lower().endswith(".png"):
            raise RenderError(f"job {i}: out_path {job.out_path} must end in .png")


def _group_by_mesh(jobs: list[ViewJob]) -> "OrderedDict[tuple[str, str], list[ViewJob]]":
    groups: OrderedDict[tuple[str, str], list[ViewJob]] = OrderedDict()
    for job in jobs:
        key = (str(pathlib.Path(job.mesh_path).resolve()), job.up_axis)
        groups.setdefault(key, []).append(job)
    return groups


def render_view_jobs(jobs: list[ViewJob], settings: RenderSettings, quiet: bool = True) -> None:
    """Render every job in this process, in one Blender scene set up once for both styles: each
    distinct mesh is imported once, all its views rendered (grouped by style, so the scene switches
    style at most once per mesh and style), then removed with its orphan data before the next mesh.

    Outputs are written atomically. Raises ``FileNotFoundError`` / ``RenderError`` naming
    the mesh for a missing, empty or unreadable file (all paths are checked first).
    """
    settings.validate()
    jobs = list(jobs)
    if not jobs:
        return
    validate_jobs(jobs)
    from sketch3d.render import blender_scene as bs  # imports bpy

    with quiet_stdout(quiet):
        scene = bs.setup_scene(int(settings.resolution), float(settings.stroke_width), float(settings.lens_mm),
                               int(settings.samples), float(settings.crease_angle), DEFAULT_SENSOR_MM,
                               int(settings.threads), tuple(settings.edge_types))
    style = "lines"  # what setup_scene leaves
    for (mesh_path, up_axis), group in _group_by_mesh(jobs).items():
        with quiet_stdout(quiet):
            try:
                objects = bs.import_mesh(pathlib.Path(mesh_path), up_axis)
            except ValueError as exc:
                raise RenderError(str(exc)) from exc
        try:
            for job in sorted(group, key=lambda j: STYLES.index(j.style)):  # stable: views keep their order
                if job.style != style:
                    bs.set_style(scene, job.style)
                    style = job.style
                bs.place_camera(scene, view_of(job, settings))
                with atomic_path(job.out_path) as tmp, quiet_stdout(quiet):
                    bs.render_still(scene, tmp.resolve())
        finally:
            bs.remove_objects(objects)


def _as_views(views: list) -> list[ViewSpec]:
    """ViewSpecs from ViewSpecs or params.yaml-style values (30, "180o"); no two with the same file name."""
    out = []
    for i, v in enumerate(views):
        try:
            out.append(v if isinstance(v, ViewSpec) else parse_view(v, f"gallery view {i}"))
        except ViewSetError as exc:
            raise RenderError(str(exc)) from None
    tokens = [v.token for v in out]
    repeated = sorted({t for t in tokens if tokens.count(t) > 1})
    if repeated:
        raise RenderError(f"gallery views repeat {repeated}; each view must be listed once")
    if not out:
        raise RenderError("no gallery views given; list at least one")
    return out


def gallery_jobs(shapes: pd.DataFrame, views: list, elevation: float, out_dir: pathlib.Path,
                 style: str = "lines") -> tuple[list[ViewJob], pd.DataFrame]:
    """The jobs of a gallery and its index (image_id, shape_id, azimuth, path), without rendering.

    ``views``: :class:`ViewSpec` or params.yaml values (30, -5, "180o"). Files are
    ``out_dir/<shape_id>/<token>.png`` and image ids ``<shape_id>_<token>`` (tokens:
    ``sketch3d.render.view_sets.view_token``). The azimuth column holds integers when every
    azimuth is whole, floats otherwise.
    """
    missing = [c for c in ("shape_id", "mesh_path", "up_axis") if c not in shapes.columns]
    if missing:
        raise RenderError(f"shapes table lacks columns {missing}; pass the shapes manifest (SHAPE_COLUMNS)")
    if style not in STYLES:
        raise RenderError(f"render style {style!r} must be one of {STYLES}")
    views = _as_views(list(views))
    whole = all(v.azimuth.is_integer() for v in views)
    jobs, rows = [], []
    for shape in shapes.itertuples(index=False):
        shape_id = str(shape.shape_id)
        for view in views:
            out = pathlib.Path(out_dir) / shape_id / f"{view.token}.png"
            jobs.append(ViewJob(mesh_path=str(shape.mesh_path), up_axis=str(shape.up_axis),
                                azimuth=view.azimuth, elevation=float(elevation), out_path=str(out),
                                projection=view.projection, style=style))
            rows.append({"image_id": f"{shape_id}_{view.token}", "shape_id": shape_id,
                         "azimuth": int(view.azimuth) if whole else view.azimuth, "path": str(out)})
    return jobs, pd.DataFrame(rows, columns=GALLERY_COLUMNS)


def render_views(shapes: pd.DataFrame, views: list, elevation: float, settings: RenderSettings,
                 out_dir: pathlib.Path, style: str = "lines") -> pd.DataFrame:
    """Render every shape at every view into ``out_dir/<shape_id>/<token>.png``; return the index.

    Relative mesh paths are taken from the current directory.
    """
    jobs, index = gallery_jobs(shapes, views, elevation, out_dir, style)
    render_view_jobs(jobs, settings)
    return index
