"""View sets of params.yaml: parsing, around_sketch derivation, file-name tokens, errors, and the cameras of
the thesis's sets."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from sketch3d.config import ParamsError, validate
from sketch3d.render.view_sets import (
    ViewSetError,
    ViewSpec,
    check_view_sets,
    parse_view,
    parse_view_token,
    view_token,
    views_of,
)
from sketch3d.render.views import gallery_jobs

TINY = Path(__file__).parents[2] / "data" / "params_tiny.yaml"


@pytest.fixture(scope="module")
def params():
    return yaml.safe_load(TINY.read_text())


def _views(render, name, category="chair"):
    return [(v.azimuth, v.projection) for v in views_of(render, name, category)]


def test_thesis_view_sets(params):
    r = params["render"]
    assert _views(r, "five") == [(a, "perspective") for a in (0, 30, 45, 75, 90)]
    assert _views(r, "seven") == [(a, "perspective") for a in range(0, 91, 15)]
    assert _views(r, "seven_shifted") == [(a, "perspective") for a in range(-5, 86, 15)]
    assert _views(r, "schlachte") == [(0, "orthographic"), (30, "perspective"), (180, "orthographic")]
    assert r["gallery_view_set"] == "five"


def test_around_sketch_follows_each_categorys_sketch_azimuths(params):
    r = params["render"]
    for category, sketch in (("chair", [0, 30, 75]), ("lamp", [0, 45, 90])):
        assert r["sketch_azimuths"][category] == sketch
        assert [a for a, _ in _views(r, "sketch", category)] == sketch
        assert [a for a, _ in _views(r, "sketch_pm5", category)] == [s + d for s in sketch for d in (-5, 0, 5)]
    # the derivation reads sketch_azimuths, so a change there moves the set
    moved = {**r, "sketch_azimuths": {"chair": [10], "lamp": [0]}}
    assert _views(moved, "sketch_pm5") == [(5, "perspective"), (10, "perspective"), (15, "perspective")]
    # offsets may be orthographic views too
    ortho = {**r, "view_sets": {"s": {"around_sketch": ["0o", 2.5]}}}
    assert _views(ortho, "s", "lamp") == [(0, "orthographic"), (2.5, "perspective"), (45, "orthographic"),
                                          (47.5, "perspective"), (90, "orthographic"), (92.5, "perspective")]


@pytest.mark.parametrize("azimuth, projection, token", [
    (0, "perspective", "az000"), (30, "perspective", "az030"), (-5, "perspective", "az-005"),
    (180, "orthographic", "az180o"), (-90, "orthographic", "az-090o"), (12.5, "perspective", "az012.5"),
    (-0.25, "orthographic", "az-000.25o"), (360, "perspective", "az360"), (7.125, "perspective", "az007.125"),
])
def test_tokens_round_trip(azimuth, projection, token):
    assert view_token(azimuth, projection) == token
    assert ViewSpec(azimuth, projection).token == token
    assert parse_view_token(token) == ViewSpec(azimuth, projection)


def test_tokens_are_distinct_and_sort_by_azimuth_for_non_negative_views():
    views = [ViewSpec(a, p) for a in (0, 5, 12.5, 30, 45, 100, 180, 359.5) for p in ("perspective", "orthographic")]
    tokens = [v.token for v in views]
    assert len(set(tokens)) == len(tokens)
    assert sorted(tokens) == tokens  # perspective before orthographic at the same azimuth
    assert sorted(["az000", "az-005"]) == ["az-005", "az000"]  # negatives first
    with pytest.raises(ViewSetError, match="not a view token"):
        parse_view_token("az30")


def test_parse_view_values():
    assert parse_view(30) == ViewSpec(30.0, "perspective")
    assert parse_view(-5.5) == ViewSpec(-5.5, "perspective")
    assert parse_view("180o") == ViewSpec(180.0, "orthographic")
    assert parse_view("-12.5o") == ViewSpec(-12.5, "orthographic")
    for bad, message in (("30", "orthographic view is written"), ("180 o", "orthographic view is written"),
                         ("o", "orthographic view is written"), (True, "not a view"), (None, "not a view"),
                         (400, r"within \+-360"), ("361o", r"within \+-360"), (float("nan"), "finite"),
                         (1.23456, "more than 3 decimals")):
        with pytest.raises(ViewSetError, match=message):
            parse_view(bad, "render.view_sets.x[0]")


def test_errors_name_the_set_and_the_fix(params):
    r = params["render"]
    with pytest.raises(ViewSetError, match=r"unknown view set 'nine'.*'five', 'schlachte'"):
        views_of(r, "nine", "chair")
    cases = {
        "repeat": ([0, 30, 30], r"render.view_sets.repeat repeats a view: az030 and az030"),
        "wraps": ([-5, 355], "az-005 and az355 are the same camera"),
        "bad": ([0, "30x"], r"render.view_sets.bad\[1\]: '30x' is not a view"),
        "empty": ([], "is empty"),
        "derived": ({"around_sketch": [0], "extra": 1}, "around_sketch"),
        "offsets": ({"around_sketch": []}, "non-empty list of offsets"),
        "overlap": ({"around_sketch": [0, 30]}, "repeats a view: az030 and az030"),  # chair: 0+30 = 30+0
    }
    for name, (spec, message) in cases.items():
        with pytest.raises(ViewSetError, match=message):
            views_of({**r, "view_sets": {name: spec}}, name, "chair")
    # perspective and orthographic views of one azimuth are two views
    assert len(views_of({**r, "view_sets": {"both": [0, "0o"]}}, "both")) == 2
    with pytest.raises(ViewSetError, match="no category was given"):
        views_of(r, "sketch", None)
    with pytest.raises(ViewSetError, match="add render.sketch_azimuths.table"):
        views_of(r, "sketch", "table")
    with pytest.raises(ViewSetError, match="only a-z, 0-9 and _"):
        views_of(r, "Five", "chair")


def test_params_validation_stops_on_a_bad_view_set(params):
    validate(params)  # the tiny params are valid
    for render_change, message in (
        ({"gallery_view_set": "nine"}, "unknown view set 'nine'"),
        ({"view_sets": {**params["render"]["view_sets"], "dup": [0, 360]}}, "az000 and az360 are the same camera"),
        ({"view_sets": {"five": [0, "180"]}}, "render.view_sets.five"),  # schema: neither number nor "<az>o"
    ):
        bad = {**params, "render": {**params["render"], **render_change}}
        with pytest.raises(ParamsError, match=message):
            validate(bad)
    check_view_sets(params["render"], ["chair", "lamp"])


@pytest.mark.parametrize("name", ["five", "seven", "seven_shifted", "sketch", "sketch_pm5", "schlachte"])
def test_camera_angles_of_each_view_set(params, name, tmp_path):
    """The render jobs of a set carry its azimuths and projections, at the configured elevation."""
    r = params["render"]
    shapes = pd.DataFrame({"shape_id": ["s"], "mesh_path": ["s.obj"], "up_axis": ["Y"]})
    views = views_of(r, name, "lamp")
    jobs, index = gallery_jobs(shapes, views, r["elevation"], tmp_path, style="rgb")
    assert [(j.azimuth, j.elevation, j.projection) for j in jobs] == [
        (v.azimuth, float(r["elevation"]), v.projection) for v in views]
    assert index["image_id"].tolist() == [f"s_{v.token}" for v in views]
    assert [parse_view_token(Path(j.out_path).stem) for j in jobs] == views


def test_a_set_may_have_its_own_elevation(params):
    from sketch3d.render.view_sets import elevation_of

    r = params["render"]
    assert elevation_of(r, "five") == r["elevation"] == 20
    assert elevation_of(r, "figure") == 10  # Fig. B.1: azimuth 30, zenith 10
    assert _views(r, "figure") == [(30, "perspective")]
    own = {**r, "view_sets": {"s": {"around_sketch": [0], "elevation": -15.5}}}
    assert elevation_of(own, "s") == -15.5 and [a for a, _ in _views(own, "s", "lamp")] == [0, 45, 90]
    for spec, message in (({"views": [0], "elevation": 90}, r"elevation must be a number of degrees in \(-90, 90\)"),
                          ({"views": [0], "around_sketch": [0]}, "got keys"),
                          ({"elevation": 10}, "got keys")):
        with pytest.raises(ViewSetError, match=message):
            elevation_of({**r, "view_sets": {"s": spec}}, "s")
    bad = {**params, "render": {**r, "view_sets": {**r["view_sets"], "figure": {"views": [30], "elevation": 95}}}}
    with pytest.raises(ParamsError, match="elevation"):
        validate(bad)


def test_the_gallery_renders_a_set_at_its_elevation(params, tmp_path, monkeypatch):
    import sketch3d.render.views as views_mod
    from sketch3d.render.gallery import render_gallery

    seen = {}

    def fake_render_views(shapes, views, elevation, settings, out_dir, style):
        seen["elevation"] = elevation
        from sketch3d.imageset import COLUMNS

        return pd.DataFrame({c: [] for c in COLUMNS})

    monkeypatch.setattr(views_mod, "render_views", fake_render_views)
    csv = tmp_path / "shapes.csv"
    mesh = tmp_path / "m.obj"
    mesh.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
    pd.DataFrame([{"shape_id": "chair_0000", "category": "chair", "split": "test", "mesh_path": str(mesh),
                   "up_axis": "Y", "source": "procedural"}]).to_csv(csv, index=False)
    render_gallery(csv, "chair", "test", params["render"], tmp_path / "out", style="rgb", view_set="figure")
    assert seen["elevation"] == 10
