"""The differentiable SDF renderer against analytic spheres and boxes, and its gradients against finite
differences.

Tolerances (measured values in brackets): the silhouette radius of a sphere within 0.02 px of the
projection of its tangent cone (0.004 px; the soft silhouette's area exceeds the disc by pi^3 s^2 / 3, the
logistic edge's second moment on a circle, which is subtracted); the contour distance within 1e-3 px in an
orthographic view (3e-4) and 0.15 px in perspective (0.09: the origin plane's pixel is used at every depth);
centre depth and surface points within 1e-4 shape units (float32; 2e-6); normals within 1e-4 (they are taken at
the corrected point, on the surface). Gradients (float64): a smooth SDF (sphere plus a small MLP) agrees with central differences
within 1 % (0.1 % measured); sharp boxes are left out of the gradient checks, their minima along rays being
kinks whose numerical search makes finite differences noisy.
"""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sketch3d.geometry.camera import View
from sketch3d.reconstruction.sdf_render import (LINE_DEFAULTS, RENDER_DEFAULTS, camera_rays, lambertian,
                                                line_drawing, line_options, render_options, render_sdf, shaded)

D = 2.5
VIEW = View(0.0, 20.0, D)


def sphere(r, centre=(0.0, 0.0, 0.0)):
    c = torch.as_tensor(centre)
    return lambda p: (p - c.to(p.dtype)).norm(dim=1) - r


def box(half):
    def fn(p):
        q = p.abs() - torch.as_tensor(half, dtype=p.dtype)
        return q.clamp(min=0).norm(dim=1) + q.max(dim=1).values.clamp(max=0)
    return fn


def pixel_offsets(size):
    c = np.arange(size) + 0.5 - size / 2.0
    jj, ii = np.meshgrid(c, c)
    return np.hypot(jj, ii)


def tangent_radius_px(view, r, size):
    """Image radius of a sphere's silhouette: View.project of a point where the tangent cone touches it."""
    right, _up, forward = view.basis()
    alpha = math.asin(r / view.distance)
    point = view.position + math.sqrt(view.distance ** 2 - r * r) * (math.cos(alpha) * forward
                                                                       + math.sin(alpha) * right)
    uv, _ = view.project(point[None], size)
    return uv[0, 0] - size / 2.0


def test_sphere_silhouette_radius_matches_the_projection():
    r, size = 0.35, 65
    R = render_sdf(sphere(r), VIEW, size)
    rho = tangent_radius_px(VIEW, r, size)
    area = R.silhouette.sum().item() - math.pi ** 3 * R.softness ** 2 / 3.0
    assert math.sqrt(area / math.pi) == pytest.approx(rho, abs=0.02)
    assert math.sqrt(R.hit.sum().item() / math.pi) == pytest.approx(rho, abs=0.1)
    rr = pixel_offsets(size)
    band = np.abs(rr - rho) < 2.5
    assert np.abs(R.distance.detach().numpy()[band] - (rho - rr[band])).max() < 0.15
    assert bool(torch.all(R.hit[torch.as_tensor(rr < rho - 1)])) and not bool(torch.any(R.hit[torch.as_tensor(rr > rho + 1)]))


def test_orthographic_contour_distance_is_exact():
    r, size = 0.35, 49
    view = View(30.0, 20.0, D, projection="orthographic")
    R = render_sdf(sphere(r), view, size, dtype="float64")
    rho = r / R.pixel
    rr = pixel_offsets(size)
    band = np.abs(rr - rho) < 3
    assert np.abs(R.distance.numpy()[band] - (rho - rr[band])).max() < 1e-3


def test_depth_points_and_normals_of_a_sphere():
    r, size = 0.3, 33  # odd: the centre pixel's ray is the view axis
    R = render_sdf(sphere(r), VIEW, size)
    R.depth, R.points, R.normals = R.depth.detach(), R.points.detach(), R.normals.detach()
    assert R.depth[size // 2, size // 2].item() == pytest.approx(D - r, abs=1e-4)
    pts = R.points[R.hit].detach().numpy().astype(np.float64)
    assert np.abs(np.linalg.norm(pts, axis=1) - r).max() < 1e-4
    uv, depth = VIEW.project(pts, size)  # each point lies on its own pixel's ray, at the rendered depth
    rows, cols = np.nonzero(R.hit.numpy())
    assert np.abs(uv - np.stack([cols + 0.5, rows + 0.5], axis=1)).max() < 1e-3
    assert np.abs(depth - R.depth[R.hit].detach().numpy()).max() < 1e-4
    n = R.normals[R.hit].detach().numpy()
    exact = pts / np.linalg.norm(pts, axis=1, keepdims=True)
    assert np.abs(n - exact).max() < 1e-4
    assert np.all(R.depth[~R.hit].numpy() == 0) and np.all(R.normals[~R.hit].numpy() == 0)


def test_box_front_view_orthographic():
    half, size = (0.3, 0.2, 0.1), 40
    view = View(0.0, 0.0, D, projection="orthographic")
    R = render_sdf(box(half), view, size)
    R.depth, R.normals = R.depth.detach(), R.normals.detach()
    px = view.ortho_scale / size
    c = (np.arange(size) + 0.5 - size / 2.0) * px  # pixel centres in world x (columns) and y (rows, flipped)
    inside = (np.abs(c)[None, :] < half[0]) & (np.abs(c)[:, None] < half[1])
    assert np.array_equal(R.hit.numpy(), inside)
    assert R.depth[R.hit].numpy() == pytest.approx(D - half[2], abs=1e-4)
    assert np.abs(R.normals[R.hit].numpy() - [0.0, 0.0, 1.0]).max() < 1e-4


def _segment_distance(p, a, b):
    ab = b - a
    t = np.clip(((p - a) @ ab) / (ab @ ab), 0, 1)
    return np.linalg.norm(p - (a + t[:, None] * ab), axis=1)


def test_box_perspective_silhouette_is_the_projected_hull():
    from scipy.spatial import ConvexHull

    half, size = np.array([0.3, 0.2, 0.25]), 48
    view = View(30.0, 20.0, D)
    R = render_sdf(box(half), view, size)
    corners = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)]) * half
    uv, _ = view.project(corners, size)
    hull = uv[ConvexHull(uv).vertices]
    rows, cols = np.mgrid[0:size, 0:size]
    centres = np.stack([cols.ravel() + 0.5, rows.ravel() + 0.5], axis=1)
    edge_dist = np.min([_segment_distance(centres, hull[i], hull[(i + 1) % len(hull)]) for i in range(len(hull))], axis=0)
    from matplotlib.path import Path
    inside = Path(hull).contains_points(centres)
    clear = edge_dist > 0.05
    assert np.array_equal(R.hit.numpy().ravel()[clear], inside[clear])
    # normals: one of the six face directions, away from the edges
    n = R.normals[R.hit].detach().numpy()
    assert np.mean(np.abs(n).max(axis=1) > 0.999) > 0.95


def test_box_lines_draw_its_visible_edges():
    half, size = np.array([0.3, 0.2, 0.25]), 64
    view = View(30.0, 20.0, D)
    R = render_sdf(box(half), view, size)
    img = line_drawing(R, stroke_width=2.0).detach().numpy()  # pixels beside a crease (0.5 px off) get full ink
    assert img.min() >= 0.0 and img.max() <= 1.0
    def ink_at(pts, reach=0):  # the most ink within `reach` pixels of each point (creases sit between pixels)
        r, c = np.floor(pts[:, 1]).astype(int), np.floor(pts[:, 0]).astype(int)
        return np.array([1.0 - img[i - reach:i + reach + 1, j - reach:j + reach + 1].min() for i, j in zip(r, c)])

    # the front vertical edge (x, z) = (+0.3, +0.25) is a crease between two visible faces, inside the silhouette
    mid_edge, _ = view.project(np.array([[half[0], 0.0, half[2]]]), size)
    assert ink_at(mid_edge, reach=1)[0] > 0.9
    # the top face's edge towards the viewer, and the face centres stay white
    assert ink_at(view.project(np.array([[0.0, half[1], half[2]]]), size)[0], reach=1)[0] > 0.9
    centres = np.array([[half[0], 0.0, 0.0], [0.0, 0.0, half[2]], [0.0, half[1], 0.0]]) * [1, 1, 1]
    assert np.all(ink_at(view.project(centres, size)[0]) < 0.05)
    assert float(line_drawing(R, lines=("crease",)).detach().min()) <= 0.25  # creases alone draw (1.5 px pen: 0.75 ink)
    out = line_drawing(R, stroke_width=2.0, out_size=224)
    assert out.shape == (224, 224)
    expected = F.interpolate(torch.as_tensor(img)[None, None], size=(224, 224), mode="bilinear", align_corners=False)[0, 0]
    assert torch.allclose(out.detach(), expected)


def test_sphere_outline_is_a_ring_of_the_stroke_width():
    r, size, width = 0.35, 64, 2.0
    view = View(0.0, 20.0, D, projection="orthographic")
    R = render_sdf(sphere(r), view, size)
    ink = 1.0 - line_drawing(R, stroke_width=width, antialias=1.0).detach().numpy()
    rho = r / R.pixel
    rr = pixel_offsets(size)
    assert ink.sum() == pytest.approx(2 * math.pi * rho * width, rel=0.02)
    assert ink[np.abs(rr - rho) > width / 2 + 0.5 + 1e-6].max() == 0.0
    assert ink[np.abs(rr - rho) < width / 2 - 0.5].min() > 0.99


def test_internal_contour_of_a_part_in_front():
    big, small = sphere(0.4), sphere(0.12, centre=(0.0, 0.0, 0.45))  # the small one sits in front, inside the big one's outline
    fn = lambda p: torch.minimum(big(p), small(p))  # noqa: E731
    view = View(0.0, 0.0, D, projection="orthographic")
    R = render_sdf(fn, view, 64)
    contour = 1.0 - line_drawing(R, lines=("contour",)).detach().numpy()
    rho = 0.12 / R.pixel
    rr = pixel_offsets(64)
    assert contour[np.abs(rr - rho) < 0.25].min() > 0.9
    assert contour[np.abs(rr - rho) > 2.0].max() == 0.0


def _d(x):
    return torch.tensor(x, dtype=torch.float64)


@pytest.mark.parametrize("quantity", ["depth", "silhouette", "lines"])
def test_gradient_wrt_the_radius_matches_finite_differences(quantity):
    size, view = 33, View(30.0, 20.0, D)

    def q(r):
        R = render_sdf(sphere(r), view, size, dtype="float64")
        if quantity == "depth":
            return R.depth[size // 2, size // 2]
        if quantity == "silhouette":
            return R.silhouette.sum()
        return line_drawing(R, stroke_width=1.5).sum()

    r = _d(0.3).requires_grad_(True)
    (grad,) = torch.autograd.grad(q(r), r)
    h = 1e-4
    fd = (q(_d(0.3 + h)) - q(_d(0.3 - h))).item() / (2 * h)
    assert grad.item() == pytest.approx(fd, rel=0.01)
    if quantity == "depth":
        assert grad.item() == pytest.approx(-1.0, abs=1e-9)


def test_gradient_wrt_mlp_parameters_matches_finite_differences():
    size, view = 33, View(30.0, 20.0, D)
    gen = torch.Generator().manual_seed(0)
    w1, b1 = torch.randn(32, 3, generator=gen, dtype=torch.float64), torch.randn(32, generator=gen, dtype=torch.float64)
    w2 = (0.2 * torch.randn(32, generator=gen, dtype=torch.float64)).requires_grad_(True)

    def fn_of(w):
        return lambda p: p.norm(dim=1) - 0.3 + 0.05 * torch.tanh(F.softplus(p @ w1.T + b1, beta=20) @ w)

    def q(w):
        R = render_sdf(fn_of(w), view, size, dtype="float64")
        return R.silhouette.sum() + line_drawing(R, lines=("silhouette", "contour")).sum()

    (grad,) = torch.autograd.grad(q(w2), w2)
    h = 1e-4
    for k in (5, 7, 11):
        e = torch.zeros_like(w2)
        e[k] = h
        fd = (q(w2.detach() + e) - q(w2.detach() - e)).item() / (2 * h)
        assert grad[k].item() == pytest.approx(fd, rel=0.01, abs=1e-3)


def test_normal_gradients_match_finite_differences():
    size, view = 41, View(30.0, 20.0, D)
    # stretch along x: an ellipsoid, whose normals depend on s directly and through the hit point's motion
    s = _d(1.0).requires_grad_(True)
    fn_of = lambda s_: (lambda p: (p * torch.stack([1.0 / s_, _d(1.0), _d(1.0)])).norm(dim=1) - 0.3)  # noqa: E731
    R = render_sdf(fn_of(s), view, size, dtype="float64")
    i, j = size // 2 + 3, size // 2 + 3
    assert R.hit[i, j]
    n = R.normals[i, j]
    grads = torch.stack([torch.autograd.grad(n[k], s, retain_graph=True)[0] for k in range(3)])
    h = 1e-5
    fd = (render_sdf(fn_of(_d(1 + h)), view, size, dtype="float64").normals[i, j]
          - render_sdf(fn_of(_d(1 - h)), view, size, dtype="float64").normals[i, j]) / (2 * h)
    assert torch.allclose(grads, fd, rtol=0.05, atol=1e-3)


def test_chunks_and_no_grad():
    fn = sphere(0.3)
    a = render_sdf(fn, VIEW, 24)
    b = render_sdf(fn, VIEW, 24, chunk=37)
    assert torch.equal(a.hit, b.hit) and torch.allclose(a.depth, b.depth) and torch.allclose(a.distance, b.distance)
    r = torch.tensor(0.3, requires_grad=True)
    with torch.no_grad():
        R = render_sdf(lambda p: p.norm(dim=1) - r, VIEW, 24)
        img = line_drawing(R)
    assert not img.requires_grad and not R.depth.requires_grad and R.normals.abs().sum() > 0
    sh = shaded(R)
    assert sh.shape == (24, 24) and float(sh[0, 0]) == pytest.approx(1.0) and float(sh[12, 12]) < 0.9
    empty = render_sdf(lambda p: p.norm(dim=1) + 1.0, VIEW, 16)  # nothing to hit
    assert not empty.hit.any() and float(line_drawing(empty).min()) == 1.0


def test_settings_dicts_and_bad_input():
    settings = {"size": 64, "steps": 50, "stroke_width": 2.0, "weights": "x"}
    assert render_options(settings) == {"steps": 50} and line_options(settings) == {"stroke_width": 2.0}
    assert set(RENDER_DEFAULTS).isdisjoint(LINE_DEFAULTS)
    with pytest.raises(ValueError, match="unknown render option"):
        render_sdf(sphere(0.3), VIEW, 16, stroke_width=2)
    with pytest.raises(ValueError, match="size"):
        render_sdf(sphere(0.3), VIEW, 1)
    with pytest.raises(ValueError, match="step_scale"):
        render_sdf(sphere(0.3), VIEW, 16, step_scale=1.5)
    with pytest.raises(ValueError, match="N SDF values"):
        render_sdf(lambda p: p.norm(dim=1, keepdim=True).repeat(1, 2), VIEW, 16)
    R = render_sdf(sphere(0.3), VIEW, 16)
    with pytest.raises(ValueError, match="line type"):
        line_drawing(R, lines=("hatching",))
    with pytest.raises(ValueError, match="stroke_width"):
        line_drawing(R, stroke_width=0)
    origins, dirs, _z, _fp = camera_rays(VIEW, 8)
    assert origins.shape == (64, 3) and torch.allclose(dirs.norm(dim=1), torch.ones(64))


# ----------------------------------------------------------------------------- eq. 4.7's shaded image

# The shaded image's gradient checks trace to |f| < 0.002 px: at grazing hits (the silhouette's last pixel) the
# normal's gradient, taken after one Newton step from the traced point, is first-order in that point's residual:
# measured on the image sum of a sphere, 1.3 % off central differences at the default 0.02 px, 0.2 % at 0.001 px.
EPS_FD = 0.002


def _analytic_sphere_normals(view, r, size):
    """Per pixel: the first intersection of its ray with the sphere |x| = r (NaN where it misses), its normal."""
    o, d, _, _ = camera_rays(view, size, torch.float64)
    b = (o * d).sum(1)
    disc = b * b - ((o * o).sum(1) - r * r)
    t = -b - disc.clamp(min=0).sqrt()
    x = o + t[:, None] * d
    n = x / r
    n[disc < 0] = float("nan")
    return n.reshape(size, size, 3)


@pytest.mark.parametrize("light", [(0.0, 0.0, 1.0), (1.0, 0.0, 0.0), (-0.4, 0.5, 0.75)])
def test_shaded_sphere_is_lambertian_on_white(light):
    """Inside the silhouette (1.5 px from its edge) each pixel is max(0, n . l) with n the analytic normal where
    the pixel's ray meets the sphere and l the light turned from camera to world axes; beyond it the white page."""
    r, size = 0.35, 97
    R = render_sdf(sphere(r), VIEW, size, dtype="float64")
    img = lambertian(R, light=light).detach().numpy()
    right, up, forward = (np.asarray(v, dtype=np.float64) for v in VIEW.basis())
    lw = light[0] * right + light[1] * up - light[2] * forward
    lw /= np.linalg.norm(lw)
    n = _analytic_sphere_normals(VIEW, r, size).numpy()
    expect = np.clip(n @ lw, 0.0, None)
    rho = tangent_radius_px(VIEW, r, size)
    off = pixel_offsets(size)
    inside, outside = off < rho - 4.0, off > rho + 4.0  # 4 px: the logistic edge (0.5 px) is below 4e-4 there
    assert inside.sum() > 500 and outside.sum() > 5000
    assert np.abs(img[inside] - expect[inside]).max() < 1e-3
    assert img[outside].min() > 1.0 - 1e-3 and img[0, 0] == 1.0  # the page (far from the edge: exactly white)
    if light == (1.0, 0.0, 0.0):  # lit from the right: the left half is black (no ambient)
        assert img[size // 2, :size // 2 - 3][inside[size // 2, :size // 2 - 3]].max() < 1e-3


def test_shaded_ambient_and_bad_options():
    R = render_sdf(sphere(0.3), VIEW, 24)
    a0, a = lambertian(R, light=(1, 0, 0)), lambertian(R, light=(1, 0, 0), ambient=0.2)
    hit = R.hit
    assert torch.allclose(a[hit], 0.2 + 0.8 * a0[hit], atol=1e-6)
    assert lambertian(R, out_size=40).shape == (40, 40)
    with pytest.raises(ValueError, match="light"):
        lambertian(R, light=(0, 0, 0))
    with pytest.raises(ValueError, match="ambient"):
        lambertian(R, ambient=1.0)


@pytest.mark.parametrize("light", [(0.0, 0.0, 1.0), (-0.4, 0.5, 0.75)])
def test_shaded_gradient_wrt_the_radius_matches_finite_differences(light):
    size, view = 33, View(30.0, 20.0, D)
    weights = torch.rand(size, size, generator=torch.Generator().manual_seed(1), dtype=torch.float64)

    def q(r):
        return (lambertian(render_sdf(sphere(r), view, size, dtype="float64", eps=EPS_FD), light=light)
                * weights).sum()

    r = _d(0.3).requires_grad_(True)
    (grad,) = torch.autograd.grad(q(r), r)
    h = 1e-4
    fd = (q(_d(0.3 + h)) - q(_d(0.3 - h))).item() / (2 * h)
    assert abs(grad.item()) > 1.0
    assert grad.item() == pytest.approx(fd, rel=0.01)


def fn_of_grid(grid):
    vol = grid[None, None]

    def fn(p):
        g = (p / 0.55).flip(-1).reshape(1, -1, 1, 1, 3)
        return F.grid_sample(vol, g, mode="bilinear", padding_mode="border", align_corners=True).reshape(-1)
    return fn


def test_shaded_gradient_wrt_sdf_grid_values_matches_finite_differences():
    """The SDF as a trilinear grid (as SDFDiff renders one): the gradient of a weighted sum of the shaded image's
    interior (hit pixels 3 px or more inside the silhouette: the shading through the normals and the hit points'
    motion) w.r.t. all grid values, along a random direction, against central differences. The silhouette's
    gradient is checked on smooth SDFs above: a trilinear grid's minima along rays sit on kinks."""
    res = 12
    c = torch.linspace(-0.55, 0.55, res, dtype=torch.float64)
    X, Y, Z = torch.meshgrid(c, c, c, indexing="ij")
    base = (torch.stack([X, Y, Z], -1).norm(dim=-1) - 0.3) * (1.0 + 0.1 * torch.sin(3 * X + 2 * Y))
    size, view = 29, View(30.0, 20.0, D)
    weights = torch.rand(size, size, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    with torch.no_grad():
        R0 = render_sdf(fn_of_grid(base), view, size, dtype="float64", bound=0.5, eps=EPS_FD)
    weights = weights * (R0.hit & (R0.distance > 3.0))

    def fn_of(grid):
        vol = grid[None, None]

        def fn(p):
            g = (p / 0.55).flip(-1).reshape(1, -1, 1, 1, 3)
            return F.grid_sample(vol, g, mode="bilinear", padding_mode="border", align_corners=True).reshape(-1)
        return fn

    def q(grid):
        return (lambertian(render_sdf(fn_of(grid), view, size, dtype="float64", bound=0.5, eps=EPS_FD),
                           light=(-0.4, 0.5, 0.75)) * weights).sum()

    grid = base.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(q(grid), grid)
    direction = torch.randn(base.shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    h = 1e-5
    fd = (q(base + h * direction) - q(base - h * direction)).item() / (2 * h)
    analytic = (g * direction).sum().item()
    assert abs(analytic) > 1.0
    assert analytic == pytest.approx(fd, rel=0.03)
