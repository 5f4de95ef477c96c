"""Time gallery renders (Freestyle lines or textureless RGB): seconds per view, the first view apart from the rest.

Not a test. Generates a few meshes with trimesh (a box chair of a few dozen faces and
spheres of about 20k and 80k faces), normalised like ShapeNet (Y-up, centred, unit
bbox diagonal), and renders them with ``sketch3d.render.views``.

    python benchmarks/bench_render.py --views 5 --repeats 2 --style rgb
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def _normalise(mesh):
    lo, hi = mesh.bounds
    mesh.apply_translation(-(lo + hi) / 2)
    mesh.apply_scale(1.0 / np.linalg.norm(hi - lo))
    return mesh


def make_meshes(folder: Path) -> dict[str, Path]:
    """Write the benchmark meshes as Y-up OBJ files; return name -> path."""
    import trimesh

    parts = [((0.9, 0.08, 0.9), (0, 0, 0)), ((0.9, 0.9, 0.08), (0, 0.45, -0.41))]
    parts += [((0.08, 0.8, 0.08), (x, -0.44, z)) for x in (-0.41, 0.41) for z in (-0.41, 0.41)]
    boxes = []
    for extents, centre in parts:
        box = trimesh.creation.box(extents=extents)
        box.apply_translation(centre)
        boxes.append(box)
    meshes = {
        "chair": trimesh.util.concatenate(boxes),
        "sphere20k": trimesh.creation.icosphere(subdivisions=5),
        "sphere80k": trimesh.creation.icosphere(subdivisions=6),
    }
    paths = {}
    for name, mesh in meshes.items():
        path = folder / f"{name}.obj"
        _normalise(mesh).export(path)
        paths[f"{name} ({len(mesh.faces)} faces)"] = path
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--views", type=int, default=5, help="views per mesh (azimuths spread over 0..90)")
    parser.add_argument("--repeats", type=int, default=2, help="timed batches per mesh after the first view")
    parser.add_argument("--threads", type=int, default=0, help="Blender render threads (0: all cores)")
    parser.add_argument("--style", choices=("lines", "rgb"), default="lines")
    parser.add_argument("--projection", choices=("perspective", "orthographic"), default="perspective")
    args = parser.parse_args()

    t0 = time.perf_counter()
    import bpy  # noqa: F401  (timed on its own)

    t_import = time.perf_counter() - t0
    from sketch3d.render.views import RenderSettings, ViewJob, render_view_jobs

    settings = RenderSettings(threads=args.threads)
    azimuths = np.linspace(0, 90, args.views)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        meshes = make_meshes(folder)
        print(f"import bpy: {t_import:.2f} s")
        first_path = next(iter(meshes.values()))
        t, c = time.perf_counter(), time.process_time()
        render_view_jobs([ViewJob(str(first_path), "Y", 0.0, 20.0, str(folder / "first.png"), args.projection,
                                  args.style)], settings)
        print(f"first view (scene setup + first render): {time.perf_counter() - t:.3f} s wall, "
              f"{time.process_time() - c:.3f} s CPU")
        for name, path in meshes.items():
            per_view, cpu_per_view = [], []
            for rep in range(args.repeats):
                jobs = [ViewJob(str(path), "Y", float(az), 20.0, str(folder / f"r{rep}_{i}.png"), args.projection,
                                args.style) for i, az in enumerate(azimuths)]
                t, c = time.perf_counter(), time.process_time()
                render_view_jobs(jobs, settings)
                per_view.append((time.perf_counter() - t) / len(jobs))
                cpu_per_view.append((time.process_time() - c) / len(jobs))
            print(f"{name}: {np.median(per_view):.3f} s/view wall, {np.median(cpu_per_view):.3f} s/view CPU "
                  f"(median of {args.repeats} calls of {len(azimuths)} views, each call incl. scene reset + import)")


if __name__ == "__main__":
    main()
