"""Freestyle line renders: image format, camera convention against View.project, errors."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy import ndimage
from skimage.draw import polygon as fill_polygon

from sketch3d.geometry.camera import View, yup_to_blender
from sketch3d.render.plain_png import write_plain_png
from sketch3d.render.freestyle import (
    GALLERY_COLUMNS,
    RenderError,
    RenderSettings,
    ViewJob,
    gallery_jobs,
    render_views,
    render_line_views,
    view_of,
)
from _helpers import png_chunk_types

AZIMUTHS = (0.0, 30.0, 90.0)
ELEVATION = 20.0
SIZE = 224


@pytest.fixture(scope="module")
def bpy_module():
    return pytest.importorskip("bpy", reason="bpy (Blender as a Python module) is not installed")


def _asymmetric_mesh():
    """A tall post on the left (-X), a base along +X, a foot forward (+Z) at the right end: no mirror symmetry."""
    import trimesh

    # parts overlap without coincident faces, so no line depends on z-fighting
    parts = [
        ((1.15, 0.25, 0.30), (0.0, -0.375, 0.0)),   # base along X
        ((0.25, 0.95, 0.26), (-0.425, 0.025, 0.0)),  # post on the left
        ((0.22, 0.21, 0.50), (0.41, -0.375, 0.35)),  # foot towards +Z on the right
    ]
    boxes = []
    for extents, centre in parts:
        box = trimesh.creation.box(extents=extents)
        box.apply_translation(centre)
        boxes.append(box)
    mesh = trimesh.util.concatenate(boxes)
    lo, hi = mesh.bounds
    mesh.apply_translation(-(lo + hi) / 2)
    mesh.apply_scale(1.0 / np.linalg.norm(hi - lo))
    return mesh


@pytest.fixture(scope="module")
def scene(bpy_module, tmp_path_factory):
    """One render call: the Y-up mesh at three azimuths plus the same mesh stored Z-up."""
    root = tmp_path_factory.mktemp("freestyle")
    mesh = _asymmetric_mesh()
    y_path = root / "shape_y.obj"
    mesh.export(y_path)
    z_mesh = mesh.copy()
    z_mesh.vertices = yup_to_blender(mesh.vertices)
    z_path = root / "shape_z.obj"
    z_mesh.export(z_path)
    jobs = [ViewJob(str(y_path), "Y", az, ELEVATION, str(root / f"y_az{int(az):03d}.png")) for az in AZIMUTHS]
    jobs.append(ViewJob(str(z_path), "Z", 30.0, ELEVATION, str(root / "z_az030.png")))
    settings = RenderSettings()
    render_line_views(jobs, settings)
    return {"mesh": mesh, "jobs": jobs, "settings": settings, "root": root}


def _load(path: str) -> np.ndarray:
    image = Image.open(path)
    assert image.mode == "L" and image.size == (SIZE, SIZE)
    return np.asarray(image)


def _silhouette(mesh, view: View) -> np.ndarray:
    """Filled projection of every triangle: the mesh's silhouette mask at ``view``."""
    uv, depth = view.project(mesh.vertices, SIZE)
    assert (depth > 0).all()
    mask = np.zeros((SIZE, SIZE), bool)
    for tri in mesh.faces:
        # pixel (r, c) covers [c, c+1) x [r, r+1): sample at its centre
        rr, cc = fill_polygon(uv[tri, 1] - 0.5, uv[tri, 0] - 0.5, shape=mask.shape)
        mask[rr, cc] = True
    return mask


def _assert_same_picture(path_a: str, path_b: str) -> None:
    """Same mesh, same view: the same picture, up to rare 8-bit rounding flips."""
    diff = np.abs(_load(path_a).astype(int) - _load(path_b).astype(int))
    assert diff.max() <= 2 and diff.mean() < 0.05


def _line_match(dark: np.ndarray, mask: np.ndarray, tol: int = 2) -> tuple[float, float]:
    """(share of silhouette outline pixels near a line, share of line pixels on or near the shape)."""
    outline = mask & ~ndimage.binary_erosion(mask)
    near_line = ndimage.binary_dilation(dark, iterations=tol)
    near_shape = ndimage.binary_dilation(mask, iterations=tol)
    return float(near_line[outline].mean()), float(near_shape[dark].mean())


@pytest.mark.blender
def test_images_are_grey_black_lines_on_white(scene):
    for job in scene["jobs"]:
        img = _load(job.out_path)
        assert img.dtype == np.uint8
        border = np.concatenate([img[:3].ravel(), img[-3:].ravel(), img[:, :3].ravel(), img[:, -3:].ravel()])
        assert (border == 255).all()
        assert np.median(img) == 255
        assert (img < 64).sum() > 200
        assert img.min() == 0
    leftovers = [p.name for p in scene["root"].iterdir() if ".tmp" in p.name]
    assert leftovers == []


@pytest.mark.blender
@pytest.mark.parametrize("index", range(len(AZIMUTHS)))
def test_dark_bbox_matches_projection(scene, index):
    job = scene["jobs"][index]
    img = _load(job.out_path)
    rows, cols = np.nonzero(img < 128)
    uv, _ = view_of(job, scene["settings"]).project(scene["mesh"].vertices, SIZE)
    expected = np.array([uv[:, 0].min(), uv[:, 1].min(), uv[:, 0].max(), uv[:, 1].max()])
    # a pixel index i covers [i, i+1); lines are centred on the silhouette
    got = np.array([cols.min() + 0.5, rows.min() + 0.5, cols.max() + 0.5, rows.max() + 0.5])
    np.testing.assert_allclose(got, expected, atol=3.0, err_msg=f"azimuth {job.azimuth}")


@pytest.mark.blender
@pytest.mark.parametrize("index", range(len(AZIMUTHS)))
def test_lines_follow_the_silhouette_not_its_mirror(scene, index):
    job = scene["jobs"][index]
    dark = _load(job.out_path) < 128
    mask = _silhouette(scene["mesh"], view_of(job, scene["settings"]))
    outline_hit, lines_on_shape = _line_match(dark, mask)
    assert outline_hit > 0.97, f"azimuth {job.azimuth}: silhouette outline not drawn ({outline_hit:.3f})"
    assert lines_on_shape > 0.99, f"azimuth {job.azimuth}: lines off the shape ({lines_on_shape:.3f})"
    # the same check against the left-right mirrored silhouette must fail (the shape is asymmetric)
    mirror_hit, _ = _line_match(dark, mask[:, ::-1])
    assert mirror_hit < 0.8


@pytest.mark.blender
def test_z_up_file_renders_like_its_y_up_original(scene):
    _assert_same_picture(scene["jobs"][1].out_path, scene["jobs"][3].out_path)


@pytest.mark.blender
def test_stroke_width_follows_settings(scene):
    # A long vertical edge (the post's left side at azimuth 0): the line's coverage summed
    # across it, in linear light (PNG values are sRGB-encoded), is its width in pixels.
    img = _load(scene["jobs"][0].out_path)
    srgb = img / 255.0
    coverage = 1.0 - np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)
    rows = np.nonzero((img < 128).any(axis=1))[0]
    upper = rows[len(rows) // 3: len(rows) // 2]  # only the post reaches this high
    widths = []
    for r in upper:
        c = np.nonzero(coverage[r] > 0.5)[0].min()
        widths.append(coverage[r, max(c - 4, 0): c + 6].sum())
    assert np.median(widths) == pytest.approx(scene["settings"].stroke_width, abs=0.25)


@pytest.mark.blender
def test_render_views_writes_named_views(bpy_module, scene, tmp_path, capfd):
    shapes = pd.DataFrame([{"shape_id": "s1", "category": "chair", "split": "test",
                            "mesh_path": scene["jobs"][0].mesh_path, "up_axis": "Y", "source": "unit"}])
    index = render_views(shapes, [0, 90], ELEVATION, RenderSettings(), tmp_path / "gallery")
    out = capfd.readouterr().out
    assert "Saved:" not in out and "OBJ import" not in out  # Blender's stdout is silenced
    # the mesh and its data are gone once rendered: only the camera object is left
    assert len(bpy_module.data.meshes) == 0
    assert [o.type for o in bpy_module.data.objects] == ["CAMERA"]
    assert list(index.columns) == GALLERY_COLUMNS
    assert index["image_id"].tolist() == ["s1_az000", "s1_az090"]
    assert index["azimuth"].tolist() == [0, 90]
    for path, job in zip(index["path"], (scene["jobs"][0], scene["jobs"][2])):
        assert Path(path).parent == tmp_path / "gallery" / "s1"
        _assert_same_picture(path, job.out_path)


@pytest.mark.blender
def test_same_view_rendered_again_gives_the_same_bytes(scene, tmp_path):
    """A later render of the same view, to another folder: the same file, pixels only (no date,
    render time or path in it), so outputs can be compared by checksum."""
    first = scene["jobs"][1]
    again = ViewJob(first.mesh_path, first.up_axis, first.azimuth, first.elevation, str(tmp_path / "again.png"))
    render_line_views([again], scene["settings"])
    assert Path(again.out_path).read_bytes() == Path(first.out_path).read_bytes()
    assert png_chunk_types(first.out_path) == ["IHDR", "IDAT", "IEND"]


def test_write_plain_png_keeps_pixels_and_drops_metadata(tmp_path):
    from PIL import PngImagePlugin

    pixels = np.random.default_rng(0).integers(0, 256, size=(32, 48), dtype=np.uint8)
    info = PngImagePlugin.PngInfo()
    info.add_text("Date", "2026/11/24 13:20:47")
    info.add_text("RenderTime", "00:00.16")
    paths = []
    for name, text in (("a.png", info), ("b.png", None)):
        path = tmp_path / name
        Image.fromarray(pixels, mode="L").save(path, pnginfo=text, dpi=(72, 72))
        write_plain_png(path)
        paths.append(path)
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert png_chunk_types(paths[0]) == ["IHDR", "IDAT", "IEND"]
    with Image.open(paths[0]) as image:
        assert image.mode == "L" and not image.info
        np.testing.assert_array_equal(np.asarray(image), pixels)


def test_missing_mesh_raises_before_rendering(tmp_path):
    good = tmp_path / "good.obj"
    good.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
    missing = tmp_path / "nowhere" / "chair.obj"
    jobs = [ViewJob(str(good), "Y", 0, 20, str(tmp_path / "a.png")),
            ViewJob(str(missing), "Y", 0, 20, str(tmp_path / "b.png"))]
    with pytest.raises(FileNotFoundError, match="nowhere/chair.obj"):
        render_line_views(jobs, RenderSettings())
    assert not (tmp_path / "a.png").exists()


def test_empty_file_and_bad_fields_raise(tmp_path):
    empty = tmp_path / "empty.obj"
    empty.write_text("")
    with pytest.raises(RenderError, match="empty.obj"):
        render_line_views([ViewJob(str(empty), "Y", 0, 20, str(tmp_path / "a.png"))], RenderSettings())
    good = tmp_path / "good.obj"
    good.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
    with pytest.raises(RenderError, match="up_axis"):
        render_line_views([ViewJob(str(good), "X", 0, 20, str(tmp_path / "a.png"))], RenderSettings())
    with pytest.raises(RenderError, match="elevation"):
        render_line_views([ViewJob(str(good), "Y", 0, 90, str(tmp_path / "a.png"))], RenderSettings())
    with pytest.raises(RenderError, match="samples"):
        render_line_views([], RenderSettings(samples=0))


@pytest.mark.blender
def test_mesh_without_faces_raises_naming_file(bpy_module, tmp_path):
    no_faces = tmp_path / "points_only.obj"
    no_faces.write_text("# vertices but no faces\nv 0 0 0\nv 1 0 0\n")
    with pytest.raises(RenderError, match="points_only.obj"):
        render_line_views([ViewJob(str(no_faces), "Y", 0, 20, str(tmp_path / "a.png"))], RenderSettings())
    assert not (tmp_path / "a.png").exists()


def test_gallery_jobs_names_and_checks(tmp_path):
    shapes = pd.DataFrame({"shape_id": ["a", "b"], "mesh_path": ["a.obj", "b.obj"], "up_axis": ["Y", "Z"]})
    jobs, index = gallery_jobs(shapes, [0, 45], 20.0, tmp_path)
    assert [Path(j.out_path).relative_to(tmp_path).as_posix() for j in jobs] == [
        "a/az000.png", "a/az045.png", "b/az000.png", "b/az045.png"]
    assert index["image_id"].tolist() == ["a_az000", "a_az045", "b_az000", "b_az045"]
    assert [j.up_axis for j in jobs] == ["Y", "Y", "Z", "Z"]
    with pytest.raises(RenderError, match="azimuth 12.5"):
        gallery_jobs(shapes, [12.5], 20.0, tmp_path)
    with pytest.raises(RenderError, match="mesh_path"):
        gallery_jobs(shapes.drop(columns="mesh_path"), [0], 20.0, tmp_path)


def test_edge_types_choose_the_lines_border_outlines_open_meshes(bpy_module, tmp_path):
    """A single open sheet (a lamp shade's or a seat's kind of surface) has no silhouette or crease, only borders:
    drawn with Blender's default line set, blank without 'border'."""
    import trimesh

    sheet = trimesh.Trimesh(vertices=[[-0.3, 0.0, -0.3], [0.3, 0.0, -0.3], [0.3, 0.0, 0.3], [-0.3, 0.0, 0.3]],
                            faces=[[0, 2, 1], [0, 3, 2]], process=False)
    path = tmp_path / "sheet.obj"
    sheet.export(path)
    ink = {}
    for name, types in (("default", ("silhouette", "crease", "border")), ("no_border", ("silhouette", "crease"))):
        out = tmp_path / f"{name}.png"
        render_line_views([ViewJob(str(path), "Y", 30.0, ELEVATION, str(out))],
                          RenderSettings(samples=4, edge_types=types))
        ink[name] = int((_load(str(out)) < 128).sum())
    assert ink["default"] > 200 and ink["no_border"] == 0, ink
    assert RenderSettings().edge_types == ("silhouette", "crease", "border")
    with pytest.raises(RenderError, match="render.edge_types"):
        RenderSettings(edge_types=("outline",)).validate()


def test_orientation_parameters_reach_the_renderer(bpy_module, tmp_path):
    """A mesh whose front faces -Z, rendered at azimuth 0 with front_axis '-z', is the default (+Z) render at 180."""
    path = tmp_path / "shape.obj"
    _asymmetric_mesh().export(path)
    turned = tmp_path / "front_minus_z_az000.png"
    default = tmp_path / "default_az180.png"
    render_line_views([ViewJob(str(path), "Y", 0.0, ELEVATION, str(turned))],
                      RenderSettings(samples=4, front_axis="-z"))
    render_line_views([ViewJob(str(path), "Y", 180.0, ELEVATION, str(default))], RenderSettings(samples=4))
    a, b = _load(str(turned)).astype(int), _load(str(default)).astype(int)
    assert (a < 128).sum() > 300
    assert np.abs(a - b).mean() < 0.5, "the same camera must give the same picture"
    with pytest.raises(RenderError, match="render.front_axis"):
        RenderSettings(front_axis="up").validate()
