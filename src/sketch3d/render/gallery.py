"""Stage 'render_gallery': Freestyle line renderings of one category/split of shapes."""
from __future__ import annotations

from pathlib import Path

from sketch3d.atomic import atomic_dir
from sketch3d.data.manifest import read_shapes, select
from sketch3d.imageset import write_index


def render_settings(render: dict, threads: int = 0):
    """The renderer's settings from params.yaml's ``render`` section."""
    from sketch3d.render.freestyle import RenderSettings

    return RenderSettings(
        resolution=render["resolution"],
        stroke_width=render["stroke_width"],
        camera_distance=render["camera_distance"],
        lens_mm=render["lens_mm"],
        samples=render["samples"],
        crease_angle=render["crease_angle"],
        edge_types=tuple(render["edge_types"]),
        front_axis=render["front_axis"],
        azimuth_sign=render["azimuth_sign"],
        threads=threads,
    )


def render_gallery(shapes_csv: Path, category: str, split: str, render: dict, out_dir: Path, threads: int = 0) -> int:
    """Render every shape of (category, split) at the gallery azimuths into ``out_dir``; return #views."""
    from sketch3d.render.freestyle import render_views

    shapes = select(read_shapes(shapes_csv), category, split)
    if shapes.empty:
        raise ValueError(f"{shapes_csv}: no shapes of category '{category}' in split '{split}'")
    settings = render_settings(render, threads)
    with atomic_dir(out_dir) as tmp:
        index = render_views(shapes, list(render["gallery_azimuths"]), render["elevation"], settings, tmp)
        write_index(tmp, index)
    return len(index)
