"""A gallery from a user's folder of meshes: read, normalise, render and embed, all cached.

Every file of the folder whose suffix trimesh reads (OBJ, OFF, PLY, STL, GLB, glTF)
is loaded as one mesh, normalised as ShapeNetCore v2 is (bounding-box centre at the
origin, unit bounding-box diagonal; the file is taken as Y-up with its front on the
``render.front_axis`` side), written as OBJ and rendered with the pipeline's own
Freestyle settings. A file that cannot be read, or holds no faces, is reported with
the reason and left out; the others are still ranked. Everything lives under a
cache folder keyed by file content and settings, so a second query on the same
folder renders and embeds nothing again.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from sketch3d.atomic import atomic_path
from sketch3d.features.cache import hash_file

MESH_SUFFIXES = (".obj", ".off", ".ply", ".stl", ".glb", ".gltf")


@dataclass(frozen=True)
class Skipped:
    """A file of the folder that is not in the gallery, and why."""

    path: str
    reason: str


def _load_mesh(path: Path):
    """The file's geometry as one trimesh.Trimesh; raises ValueError with the reason."""
    import trimesh

    try:
        mesh = trimesh.load(path, force="mesh", process=False)
    except Exception as exc:  # trimesh raises many kinds for unreadable files
        raise ValueError(f"cannot be read as a mesh ({type(exc).__name__}: {exc})") from None
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
        raise ValueError("holds no triangles")
    return mesh


def prepare_meshes(meshes_dir: Path, cache_dir: Path) -> tuple[pd.DataFrame, list[Skipped]]:
    """Normalised OBJ copies of the folder's meshes under ``cache_dir/meshes`` (made once per file content).

    Returns the shapes table (shape_id = the file name, mesh_path, up_axis "Y") and the skipped files.
    """
    from sketch3d.data.procedural.build import normalise_like_shapenet

    meshes_dir = Path(meshes_dir)
    if not meshes_dir.is_dir():
        raise FileNotFoundError(f"--meshes {meshes_dir} is not a folder; give a folder of mesh files")
    rows, skipped = [], []
    for path in sorted(p for p in meshes_dir.iterdir() if p.is_file()):
        if path.suffix.lower() not in MESH_SUFFIXES:
            skipped.append(Skipped(path.name, f"not a mesh file (readable: {', '.join(MESH_SUFFIXES)})"))
            continue
        out = Path(cache_dir) / "meshes" / f"{hash_file(path)[:24]}.obj"
        if not out.is_file():
            try:
                mesh = normalise_like_shapenet(_load_mesh(path))
            except ValueError as exc:
                skipped.append(Skipped(path.name, str(exc)))
                continue
            with atomic_path(out) as tmp:
                mesh.export(tmp, file_type="obj")
        rows.append({"shape_id": path.name, "mesh_path": str(out), "up_axis": "Y"})
    if not rows:
        reasons = "; ".join(f"{s.path}: {s.reason}" for s in skipped) or "the folder is empty"
        raise ValueError(f"no readable mesh in {meshes_dir} ({reasons})")
    return pd.DataFrame(rows), skipped


def render_meshes(shapes: pd.DataFrame, render: dict, cache_dir: Path) -> pd.DataFrame:
    """Gallery renders of every shape, cached per mesh content and render settings; the image index.

    The meshes not yet rendered go through one Blender session (the scene is set up once); each
    mesh's views then move into place as one folder, so a folder that exists is complete.
    """
    import os
    import tempfile

    from sketch3d.render.gallery import render_settings
    from sketch3d.render.view_sets import views_of
    from sketch3d.render.views import render_views

    # a folder of meshes has no category: the gallery view set must list its views itself
    views = views_of(render, render["gallery_view_set"], category=None)
    # keyed by what the images depend on: the render settings and the views (not the other view sets)
    key = {k: v for k, v in render.items() if k not in ("view_sets", "gallery_view_set", "sketch_azimuths")}
    key["views"] = [v.token for v in views]
    root = Path(cache_dir) / "renders" / hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    stems = [Path(p).stem for p in shapes["mesh_path"]]
    todo = shapes.assign(shape_id=stems).drop_duplicates("shape_id")
    todo = todo[[not (root / s).is_dir() for s in todo["shape_id"]]]
    if len(todo):
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=root, prefix=".rendering-") as tmp:
            render_views(todo, views, render["elevation"], render_settings(render), Path(tmp))
            for stem in todo["shape_id"]:
                os.replace(Path(tmp) / stem, root / stem)
    rows = [{"image_id": f"{shape_id}:{v.token}", "shape_id": shape_id, "azimuth": v.azimuth,
             "path": str(root / stem / f"{v.token}.png")}
            for shape_id, stem in zip(shapes["shape_id"], stems) for v in views]
    return pd.DataFrame(rows)
