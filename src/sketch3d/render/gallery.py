"""Stage 'render_gallery': the renderings of one category/split of shapes, in one style and view set."""
from __future__ import annotations

from pathlib import Path

from sketch3d.atomic import atomic_dir
from sketch3d.data.manifest import read_shapes, select
from sketch3d.imageset import write_index


def render_settings(render: dict, threads: int = 0):
    """The renderer's settings from params.yaml's ``render`` section."""
    from sketch3d.render.views import RenderSettings

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


def render_gallery(shapes_csv: Path, category: str, split: str, render: dict, out_dir: Path, threads: int = 0,
                   style: str = "lines", view_set: str = "five") -> int:
    """Render every shape of (category, split) at the views of ``render.view_sets[view_set]`` in ``style``
    ("lines" or "rgb") into ``out_dir``; return the number of views.

    Files: ``out_dir/<shape_id>/<view token>.png`` (``az030``, ``az-005``, ``az180o``, see
    ``render.view_sets``) and ``out_dir/index.csv``. Every setting, view and mesh path is checked
    before Blender starts.
    """
    from sketch3d.render.view_sets import elevation_of, views_of
    from sketch3d.render.views import STYLES, RenderError, render_views

    if style not in STYLES:
        raise RenderError(f"render style {style!r} must be one of {STYLES}")
    views = views_of(render, view_set, category)
    shapes = select(read_shapes(shapes_csv), category, split)
    if shapes.empty:
        raise ValueError(f"{shapes_csv}: no shapes of category '{category}' in split '{split}'")
    settings = render_settings(render, threads)
    settings.validate()
    with atomic_dir(out_dir) as tmp:
        index = render_views(shapes, views, elevation_of(render, view_set), settings, tmp, style)
        write_index(tmp, index)
    return len(index)
