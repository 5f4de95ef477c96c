"""Renders of views: Freestyle lines and textureless RGB, perspective and orthographic; image format, camera
convention against View.project, errors."""
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
from sketch3d.render.blender_scene import RGB_ALBEDO, RGB_AMBIENT, RGB_LIGHTS
from sketch3d.render.view_sets import ViewSpec
from sketch3d.render.views import (
    GALLERY_COLUMNS,
    RenderError,
    RenderSettings,
    ViewJob,
    gallery_jobs,
    render_view_jobs,
    render_views,
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
    """One render call: the Y-up mesh at three azimuths, the same mesh stored Z-up, and the Y-up mesh seen
    orthographically at azimuth 30."""
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
    jobs.append(ViewJob(str(y_path), "Y", 30.0, ELEVATION, str(root / "y_az030o.png"), "orthographic"))
    settings = RenderSettings()
    render_view_jobs(jobs, settings)
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


PROJECTED = (*range(len(AZIMUTHS)), 4)  # the Y-up mesh's jobs: three perspective views, one orthographic


@pytest.mark.blender
@pytest.mark.parametrize("index", PROJECTED)
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
@pytest.mark.parametrize("index", PROJECTED)
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
    render_view_jobs([again], scene["settings"])
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
        render_view_jobs(jobs, RenderSettings())
    assert not (tmp_path / "a.png").exists()


def test_empty_file_and_bad_fields_raise(tmp_path):
    empty = tmp_path / "empty.obj"
    empty.write_text("")
    with pytest.raises(RenderError, match="empty.obj"):
        render_view_jobs([ViewJob(str(empty), "Y", 0, 20, str(tmp_path / "a.png"))], RenderSettings())
    good = tmp_path / "good.obj"
    good.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
    with pytest.raises(RenderError, match="up_axis"):
        render_view_jobs([ViewJob(str(good), "X", 0, 20, str(tmp_path / "a.png"))], RenderSettings())
    with pytest.raises(RenderError, match="elevation"):
        render_view_jobs([ViewJob(str(good), "Y", 0, 90, str(tmp_path / "a.png"))], RenderSettings())
    with pytest.raises(RenderError, match="samples"):
        render_view_jobs([], RenderSettings(samples=0))


@pytest.mark.blender
def test_mesh_without_faces_raises_naming_file(bpy_module, tmp_path):
    no_faces = tmp_path / "points_only.obj"
    no_faces.write_text("# vertices but no faces\nv 0 0 0\nv 1 0 0\n")
    with pytest.raises(RenderError, match="points_only.obj"):
        render_view_jobs([ViewJob(str(no_faces), "Y", 0, 20, str(tmp_path / "a.png"))], RenderSettings())
    assert not (tmp_path / "a.png").exists()


def test_gallery_jobs_names_and_checks(tmp_path):
    shapes = pd.DataFrame({"shape_id": ["a", "b"], "mesh_path": ["a.obj", "b.obj"], "up_axis": ["Y", "Z"]})
    jobs, index = gallery_jobs(shapes, [0, 45], 20.0, tmp_path)
    assert [Path(j.out_path).relative_to(tmp_path).as_posix() for j in jobs] == [
        "a/az000.png", "a/az045.png", "b/az000.png", "b/az045.png"]
    assert index["image_id"].tolist() == ["a_az000", "a_az045", "b_az000", "b_az045"]
    assert index["azimuth"].tolist() == [0, 45, 0, 45] and index["azimuth"].dtype.kind == "i"
    assert [j.up_axis for j in jobs] == ["Y", "Y", "Z", "Z"]
    assert {(j.style, j.projection) for j in jobs} == {("lines", "perspective")}
    with pytest.raises(RenderError, match="mesh_path"):
        gallery_jobs(shapes.drop(columns="mesh_path"), [0], 20.0, tmp_path)


def test_gallery_jobs_negative_decimal_and_orthographic_views(tmp_path):
    shapes = pd.DataFrame({"shape_id": ["a"], "mesh_path": ["a.obj"], "up_axis": ["Y"]})
    jobs, index = gallery_jobs(shapes, [-5, 12.5, "180o", ViewSpec(200.0, "orthographic")], 10.0, tmp_path,
                               style="rgb")
    assert index["image_id"].tolist() == ["a_az-005", "a_az012.5", "a_az180o", "a_az200o"]
    assert [Path(j.out_path).name for j in jobs] == ["az-005.png", "az012.5.png", "az180o.png", "az200o.png"]
    assert [(j.azimuth, j.elevation, j.projection, j.style) for j in jobs] == [
        (-5.0, 10.0, "perspective", "rgb"), (12.5, 10.0, "perspective", "rgb"),
        (180.0, 10.0, "orthographic", "rgb"), (200.0, 10.0, "orthographic", "rgb")]
    assert index["azimuth"].tolist() == [-5.0, 12.5, 180.0, 200.0]
    with pytest.raises(RenderError, match="repeat.*az030"):
        gallery_jobs(shapes, [30, 30.0], 20.0, tmp_path)
    with pytest.raises(RenderError, match="orthographic view is written"):
        gallery_jobs(shapes, ["180 ortho"], 20.0, tmp_path)
    with pytest.raises(RenderError, match="style"):
        gallery_jobs(shapes, [0], 20.0, tmp_path, style="shaded")


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
        render_view_jobs([ViewJob(str(path), "Y", 30.0, ELEVATION, str(out))],
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
    render_view_jobs([ViewJob(str(path), "Y", 0.0, ELEVATION, str(turned))],
                      RenderSettings(samples=4, front_axis="-z"))
    render_view_jobs([ViewJob(str(path), "Y", 180.0, ELEVATION, str(default))], RenderSettings(samples=4))
    a, b = _load(str(turned)).astype(int), _load(str(default)).astype(int)
    assert (a < 128).sum() > 300
    assert np.abs(a - b).mean() < 0.5, "the same camera must give the same picture"
    with pytest.raises(RenderError, match="render.front_axis"):
        RenderSettings(front_axis="up").validate()


# ----------------------------------------------------------------------------- orthographic views, rgb style

CUBE_SIDE = 0.4


def _srgb8(linear: float) -> int:
    """8-bit sRGB code of a linear value (Blender's Standard view transform)."""
    c = 12.92 * linear if linear <= 0.0031308 else 1.055 * linear ** (1 / 2.4) - 0.055
    return int(round(255 * c))


def _expected_grey(normal_world: np.ndarray, view: View) -> int:
    """The rgb style's shade of a flat face, computed here from the documented formula."""
    right, up, forward = view.basis()
    n = np.array([normal_world @ right, normal_world @ up, -(normal_world @ forward)])  # camera (right, up, back)
    value = RGB_AMBIENT + sum(strength * max(0.0, float(n @ np.array(d))) for d, strength in RGB_LIGHTS)
    return _srgb8(RGB_ALBEDO * value)


@pytest.fixture(scope="module")
def styled(bpy_module, tmp_path_factory):
    """One render call mixing styles and projections: a cube (and the same cube with its faces flipped)
    and the asymmetric mesh."""
    import trimesh

    root = tmp_path_factory.mktemp("styled")
    cube = trimesh.creation.box(extents=(CUBE_SIDE,) * 3)
    cube.export(root / "cube.obj")
    flipped = cube.copy()
    flipped.invert()
    flipped.export(root / "flipped.obj")
    _asymmetric_mesh().export(root / "shape.obj")
    spec = {  # name: (mesh, azimuth, elevation, projection, style)
        "cube_front_ortho_rgb": ("cube", 0.0, 0.0, "orthographic", "rgb"),
        "cube_front_persp_rgb": ("cube", 0.0, 0.0, "perspective", "rgb"),
        "cube_front_ortho_lines": ("cube", 0.0, 0.0, "orthographic", "lines"),
        "cube_rgb": ("cube", 30.0, ELEVATION, "perspective", "rgb"),
        "flipped_rgb": ("flipped", 30.0, ELEVATION, "perspective", "rgb"),
        "shape_persp_rgb": ("shape", 30.0, ELEVATION, "perspective", "rgb"),
        "shape_ortho_rgb": ("shape", 30.0, ELEVATION, "orthographic", "rgb"),
    }
    jobs = {name: ViewJob(str(root / f"{mesh}.obj"), "Y", az, el, str(root / f"{name}.png"), proj, style)
            for name, (mesh, az, el, proj, style) in spec.items()}
    settings = RenderSettings(samples=8)
    render_view_jobs(list(jobs.values()), settings)
    return {"jobs": jobs, "settings": settings, "cube": cube}


def _rgb(path: str) -> np.ndarray:
    image = Image.open(path)
    assert image.mode == "RGB" and image.size == (SIZE, SIZE)
    return np.asarray(image).astype(int)


@pytest.mark.blender
def test_orthographic_cube_front_is_a_square_of_the_expected_size(styled):
    """Seen orthographically from the front, a cube is a square whose side is side * size / ortho_scale
    (its front and back faces coincide); in perspective the nearer front face looks larger."""
    sides = {}
    for name in ("cube_front_ortho_rgb", "cube_front_persp_rgb"):
        job = styled["jobs"][name]
        grey = _rgb(job.out_path)[..., 0]
        rows, cols = np.nonzero(grey < (255 + grey[SIZE // 2, SIZE // 2]) / 2)  # half covered or more
        height, width = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
        assert abs(height - width) <= 1, name
        sides[name] = (width + height) / 2
    view = view_of(styled["jobs"]["cube_front_ortho_rgb"], styled["settings"])
    assert view.ortho_scale == pytest.approx(36.0 * 2.5 / 50.0)
    expected = CUBE_SIDE * SIZE / view.ortho_scale  # 49.8 px
    assert sides["cube_front_ortho_rgb"] == pytest.approx(expected, abs=1.0)
    persp = CUBE_SIDE * view.focal_px(SIZE) / (2.5 - CUBE_SIDE / 2)  # the front face: 54.1 px
    assert sides["cube_front_persp_rgb"] == pytest.approx(persp, abs=1.0)
    # the line render of the same view outlines the same square
    dark = _load(styled["jobs"]["cube_front_ortho_lines"].out_path) < 128
    rows, cols = np.nonzero(dark)
    assert cols.max() - cols.min() + 1 == pytest.approx(expected, abs=3.0)
    assert rows.max() - rows.min() + 1 == pytest.approx(expected, abs=3.0)


@pytest.mark.blender
def test_orthographic_and_perspective_views_have_about_the_same_extent(styled):
    areas = {}
    for name in ("shape_persp_rgb", "shape_ortho_rgb"):
        rows, cols = np.nonzero(_rgb(styled["jobs"][name].out_path)[..., 0] < 250)
        areas[name] = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
    assert 0.85 < areas["shape_ortho_rgb"] / areas["shape_persp_rgb"] < 1.15, areas


@pytest.mark.blender
def test_rgb_render_is_grey_shading_on_white_as_the_formula_says(styled):
    """Each visible face of the cube has one flat shade, the one the documented lighting formula gives for
    its normal in camera axes (key light upper left, fill right, ambient), on a white background."""
    job = styled["jobs"]["cube_rgb"]
    img = _rgb(job.out_path)
    assert (img[..., 0] == img[..., 1]).all() and (img[..., 1] == img[..., 2]).all()  # grey, stored as RGB
    border = np.concatenate([img[:3].reshape(-1, 3), img[-3:].reshape(-1, 3)])
    assert (border == 255).all()
    view = view_of(job, styled["settings"])
    h = CUBE_SIDE / 2
    faces = {  # outward normal: corners
        "front": ((0, 0, 1), [(-h, -h, h), (h, -h, h), (h, h, h), (-h, h, h)]),
        "right": ((1, 0, 0), [(h, -h, h), (h, -h, -h), (h, h, -h), (h, h, h)]),
        "top": ((0, 1, 0), [(-h, h, h), (h, h, h), (h, h, -h), (-h, h, -h)]),
    }
    shades = {}
    for name, (normal, corners) in faces.items():
        uv, _ = view.project(np.array(corners, dtype=float), SIZE)
        mask = np.zeros((SIZE, SIZE), bool)
        rr, cc = fill_polygon(uv[:, 1] - 0.5, uv[:, 0] - 0.5, shape=mask.shape)
        mask[rr, cc] = True
        inner = ndimage.binary_erosion(mask, iterations=2)
        assert inner.sum() > 100, name
        values = img[..., 0][inner]
        assert values.max() - values.min() <= 1, f"{name}: a flat face must have one shade"
        shades[name] = int(np.median(values))
        assert shades[name] == pytest.approx(_expected_grey(np.array(normal, float), view), abs=1), name
    assert len(set(shades.values())) == 3, "the three faces must be told apart"
    assert max(shades.values()) < 230, "surfaces stay darker than the white background"


@pytest.mark.blender
def test_rgb_back_faces_shade_like_front_faces(styled):
    """Inconsistently oriented faces (common in ShapeNet) do not change the picture."""
    a = _rgb(styled["jobs"]["cube_rgb"].out_path)
    b = _rgb(styled["jobs"]["flipped_rgb"].out_path)
    assert np.abs(a - b).max() <= 1


@pytest.mark.blender
def test_rgb_render_again_gives_the_same_bytes(styled, tmp_path):
    """Rendered alone, in a new scene, an rgb view gives the same file as within a call that switched styles."""
    for name in ("cube_rgb", "shape_ortho_rgb"):
        first = styled["jobs"][name]
        again = ViewJob(first.mesh_path, first.up_axis, first.azimuth, first.elevation,
                        str(tmp_path / f"{name}.png"), first.projection, first.style)
        render_view_jobs([again], styled["settings"])
        assert Path(again.out_path).read_bytes() == Path(first.out_path).read_bytes(), name
        assert png_chunk_types(again.out_path) == ["IHDR", "IDAT", "IEND"]


def test_bad_style_or_projection_raises_before_rendering(tmp_path):
    good = tmp_path / "good.obj"
    good.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
    with pytest.raises(RenderError, match="style must be one of"):
        render_view_jobs([ViewJob(str(good), "Y", 0, 20, str(tmp_path / "a.png"), style="shaded")], RenderSettings())
    with pytest.raises(RenderError, match="projection must be one of"):
        render_view_jobs([ViewJob(str(good), "Y", 0, 20, str(tmp_path / "a.png"), projection="fisheye")],
                         RenderSettings())
