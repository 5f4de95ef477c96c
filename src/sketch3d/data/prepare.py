"""Stage 'dataset': build the shapes and sketches manifests of the active profile.

demo:  procedural meshes + simulated amateur sketches (generated here, seeded).
paper: ShapeNetCore v2 meshes + AmateurSketch sketches (downloaded / user-supplied).
Both end as ``shapes.csv`` + ``sketches.csv`` (see ``sketch3d.data.manifest``),
so everything downstream runs one code path.
"""
from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from sketch3d.atomic import atomic_dir
from sketch3d.data.manifest import write_manifest


def prepare_dataset(params: dict, items_dir: Path, shapes_csv: Path, sketches_csv: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Write meshes/sketch files under ``items_dir`` and the two manifests; return them.

    ``params``: the effective ``profile``, ``seed``, ``data`` and ``render`` sections.
    """
    _warn_if_cpu_dependent_numpy()
    profile = params["profile"]
    with atomic_dir(items_dir) as tmp:
        if profile == "demo":
            shapes, sketches = _demo(params, tmp)
        else:
            shapes, sketches = _paper(params, tmp)
        # manifests must point at the final folder, not the temporary one
        for df, col in ((shapes, "mesh_path"), (sketches, "path")):
            df[col] = [str(Path(items_dir) / Path(p).relative_to(tmp)) if _inside(p, tmp) else p for p in df[col]]
    write_manifest(shapes, shapes_csv, "shapes")
    write_manifest(sketches, sketches_csv, "sketches")
    return shapes, sketches


def _warn_if_cpu_dependent_numpy() -> None:
    """The generated shapes and sketches are the same on every x86-64 CPU only with numpy's AVX-512 kernels
    off (see sketch3d/__init__.py); say so when numpy was imported before sketch3d and they are on."""
    from numpy.core._multiarray_umath import __cpu_features__

    if __cpu_features__.get("AVX512_SKX") or __cpu_features__.get("AVX512F"):
        logging.getLogger(__name__).warning(
            "numpy's AVX-512 kernels are active (numpy was imported before sketch3d?): generated meshes and "
            "sketches may differ in the last bits from other CPUs'; set NPY_DISABLE_CPU_FEATURES as "
            "sketch3d/__init__.py does, before numpy is imported"
        )


def _inside(path: str, folder: Path) -> bool:
    try:
        Path(path).relative_to(folder)
        return True
    except ValueError:
        return False


def _demo(params: dict, out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    from sketch3d.data.demo_shapes import build_demo_shapes
    from sketch3d.data.simulate import SimulationSettings, build_demo_sketches
    from sketch3d.geometry.camera import Orientation

    demo, render = params["data"], params["render"]
    shapes = build_demo_shapes(
        out / "meshes", list(demo["categories"]), demo["shapes_per_category"], dict(demo["splits"]), params["seed"]
    )
    shapes["split_source"] = f"seeded (demo, seed {params['seed']})"
    settings = SimulationSettings.from_dict(demo["sketch"])
    sketches = build_demo_sketches(
        shapes,
        {c: render["sketch_azimuths"][c] for c in demo["categories"]},
        render["elevation"],
        render["camera_distance"],
        settings,
        params["seed"],
        out / "sketches",
        orientation=Orientation(render["front_axis"], render["azimuth_sign"]),
    )
    return shapes, sketches


def _paper(params: dict, out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    from sketch3d.data.paper_dataset import prepare_paper_data

    return prepare_paper_data(params["data"], params["seed"], out)
