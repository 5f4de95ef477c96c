"""Stage render_gallery: one style and view set per call, files named by view, checks before rendering."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from sketch3d.data.manifest import write_manifest
from sketch3d.imageset import read_index
from sketch3d.render.gallery import render_gallery
from sketch3d.render.view_sets import ViewSetError
from sketch3d.render.views import RenderError

TINY = Path(__file__).parents[2] / "data" / "params_tiny.yaml"


@pytest.fixture()
def shapes_csv(tmp_path):
    import trimesh

    mesh = trimesh.creation.box(extents=(0.5, 0.3, 0.2))
    mesh.export(tmp_path / "box.obj")
    path = tmp_path / "shapes.csv"
    write_manifest(pd.DataFrame([{"shape_id": "box", "category": "lamp", "split": "test",
                                  "mesh_path": str(tmp_path / "box.obj"), "up_axis": "Y", "source": "unit"}]),
                   path, "shapes")
    return path


@pytest.fixture(scope="module")
def render():
    return yaml.safe_load(TINY.read_text())["render"]


@pytest.mark.blender
def test_rgb_gallery_of_the_schlachte_views(shapes_csv, render, tmp_path):
    pytest.importorskip("bpy")
    out = tmp_path / "renders" / "rgb_schlachte" / "lamp" / "test"
    n = render_gallery(shapes_csv, "lamp", "test", render, out, threads=1, style="rgb", view_set="schlachte")
    assert n == 3
    index = read_index(out)
    assert index["image_id"].tolist() == ["box_az000o", "box_az030", "box_az180o"]
    assert index["azimuth"].tolist() == [0, 30, 180]
    assert [Path(p).relative_to(out).as_posix() for p in index["path"]] == [
        "box/az000o.png", "box/az030.png", "box/az180o.png"]
    images = [np.asarray(Image.open(p)) for p in index["path"]]
    assert all(im.shape == (224, 224, 3) for im in images)
    # a box is symmetric front to back: its orthographic front and back views are mirror images
    front, back = (im[..., 0] < 250 for im in (images[0], images[2]))
    assert front.sum() > 500
    assert (front != back[:, ::-1]).mean() < 0.01


def test_bad_style_or_view_set_fails_before_rendering(shapes_csv, render, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(RenderError, match=r"style 'shaded' must be one of \('lines', 'rgb'\)"):
        render_gallery(shapes_csv, "lamp", "test", render, out, style="shaded")
    with pytest.raises(ViewSetError, match="unknown view set 'nine'"):
        render_gallery(shapes_csv, "lamp", "test", render, out, view_set="nine")
    only_five = {**render, "view_sets": {"five": render["view_sets"]["five"]}}  # what the rule passes
    with pytest.raises(ViewSetError, match=r"defines \['five'\]"):
        render_gallery(shapes_csv, "lamp", "test", only_five, out, view_set="sketch")
    assert not out.exists()
