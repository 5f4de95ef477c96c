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

from sketch3d.atomic import atomic_dir, atomic_path

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


def _digest(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()[:24]


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
        out = Path(cache_dir) / "meshes" / f"{_digest(path)}.obj"
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
    """Gallery renders of every shape (cached per mesh content and render settings); the image index."""
    from sketch3d.render.freestyle import RenderSettings, render_views
    from sketch3d.render.gallery import render_settings

    key = hashlib.sha256(json.dumps(render, sort_keys=True).encode()).hexdigest()[:12]
    frames = []
    for rec in shapes.itertuples(index=False):
        folder = Path(cache_dir) / "renders" / key / Path(rec.mesh_path).stem
        index_csv = folder / "index.csv"
        if not index_csv.is_file():
            one = pd.DataFrame([{"shape_id": "shape", "mesh_path": rec.mesh_path, "up_axis": rec.up_axis}])
            settings: RenderSettings = render_settings(render)
            with atomic_dir(folder) as tmp:
                index = render_views(one, list(render["gallery_azimuths"]), render["elevation"], settings, tmp)
                index["path"] = [Path(p).relative_to(tmp).as_posix() for p in index["path"]]
                index.to_csv(tmp / "index.csv", index=False)
        index = pd.read_csv(index_csv, dtype={"image_id": str})
        index["path"] = [str(folder / p) for p in index["path"]]
        index["shape_id"] = rec.shape_id
        index["image_id"] = [f"{rec.shape_id}:{a:03d}" for a in index["azimuth"].astype(int)]
        frames.append(index)
    return pd.concat(frames, ignore_index=True)
