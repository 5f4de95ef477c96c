"""Marching cubes of analytic SDFs against exact areas and volumes.

Tolerances: on a 48^3 grid over [-1, 1]^3 (step 0.043) marching cubes of a sphere of radius 0.6 is within
0.5 % of the exact area and volume (measured: -0.16 % and -0.3 %); a box's sharp edges and corners are cut
by about one cell, so on 64^3 its area is within 3 % and its volume within 1 % (measured: -2.4 %, -0.3 %).
"""
import math

import numpy as np
import pytest

from sketch3d.geometry.meshing import MeshingError, grid_points, mesh_from_sdf_fn, mesh_from_sdf_grid


def sphere_grid(res, r, centre=(0.0, 0.0, 0.0), bound=(-1.0, 1.0)):
    p = grid_points(res, bound)
    return (np.linalg.norm(p - np.asarray(centre), axis=1) - r).reshape(res, res, res)


def box_sdf(p, half):
    q = np.abs(p) - np.asarray(half)
    return np.linalg.norm(np.maximum(q, 0.0), axis=1) + np.minimum(q.max(axis=1), 0.0)


def test_sphere_area_volume_and_orientation():
    r = 0.6
    mesh = mesh_from_sdf_grid(sphere_grid(48, r))
    assert mesh.is_watertight and mesh.is_winding_consistent
    assert mesh.volume > 0  # outward normals
    assert mesh.area == pytest.approx(4 * math.pi * r * r, rel=5e-3)
    assert mesh.volume == pytest.approx(4 / 3 * math.pi * r ** 3, rel=5e-3)
    radii = np.linalg.norm(mesh.vertices, axis=1)
    assert np.abs(radii - r).max() < 0.01  # vertices lie on the sphere (linear interpolation of an SDF)


def test_box_area_volume():
    half = np.array([0.5, 0.3, 0.4])
    res = 64
    grid = box_sdf(grid_points(res), half).reshape(res, res, res)
    mesh = mesh_from_sdf_grid(grid)
    assert mesh.is_watertight and mesh.volume > 0
    assert mesh.area == pytest.approx(8 * (half[0] * half[1] + half[1] * half[2] + half[0] * half[2]), rel=0.03)
    assert mesh.volume == pytest.approx(8 * half.prod(), rel=0.01)
    assert np.allclose(mesh.bounds, [-half, half], atol=2.0 / (res - 1))


def test_level_and_bound_place_the_surface():
    # the level set f = 0.1 of |p| - 0.3 is the sphere of radius 0.4; a shifted bound moves the coordinates
    bound = (-0.5, 0.7)
    mesh = mesh_from_sdf_grid(sphere_grid(40, 0.3, centre=(0.1, 0.1, 0.1), bound=bound), level=0.1, bound=bound)
    assert np.linalg.norm(mesh.vertices - 0.1, axis=1) == pytest.approx(0.4, abs=0.01)


def test_cut_shape_is_closed_at_the_bound():
    mesh = mesh_from_sdf_fn(lambda p: np.linalg.norm(p, axis=1) - 1.2, 32)
    assert mesh.is_watertight and mesh.volume > 0
    assert np.allclose(mesh.bounds, [[-1, -1, -1], [1, 1, 1]], atol=1e-5)
    open_mesh = mesh_from_sdf_fn(lambda p: np.linalg.norm(p, axis=1) - 1.2, 32, close=False)
    assert not open_mesh.is_watertight


@pytest.mark.parametrize("res", [5, 16])
def test_a_grid_all_inside_is_the_closed_box_of_the_bound(res):
    mesh = mesh_from_sdf_grid(np.full((res,) * 3, -0.1), bound=(-1.0, 0.5))
    assert mesh.is_watertight and mesh.is_winding_consistent
    assert len(mesh.split(only_watertight=False)) == 1
    assert mesh.volume == pytest.approx(1.5 ** 3, rel=1e-5)
    assert mesh.area == pytest.approx(6 * 1.5 ** 2, rel=1e-5)
    assert np.allclose(mesh.bounds, [[-1.0] * 3, [0.5] * 3], atol=1e-5)


def test_a_slab_cut_on_four_sides_is_closed():
    # |y| < 0.5 over the whole x-z extent: the caps on four sides of the bound meet the slab's faces at edges
    res = 16
    grid = (np.abs(grid_points(res)[:, 1]) - 0.5).reshape(res, res, res)
    mesh = mesh_from_sdf_grid(grid)
    assert mesh.is_watertight and len(mesh.split(only_watertight=False)) == 1
    assert mesh.volume == pytest.approx(2 * 2 * 1.0, rel=1e-5)


def test_torch_function_gives_the_same_mesh_and_chunks_do_not_matter():
    a = mesh_from_sdf_fn(lambda p: np.linalg.norm(p, axis=1) - 0.5, 24)
    b = mesh_from_sdf_fn(lambda p: p.norm(dim=1) - 0.5, 24, as_torch=True, chunk=1000)
    assert np.allclose(a.vertices, b.vertices, atol=1e-6) and np.array_equal(a.faces, b.faces)


def test_largest_only_drops_specks():
    p = grid_points(32)
    grid = np.minimum(np.linalg.norm(p, axis=1) - 0.5, np.linalg.norm(p - 0.85, axis=1) - 0.1).reshape(32, 32, 32)
    assert len(mesh_from_sdf_grid(grid).split(only_watertight=False)) == 2
    kept = mesh_from_sdf_grid(grid, largest_only=True)
    assert len(kept.split(only_watertight=False)) == 1 and kept.volume > 0.4


@pytest.mark.parametrize("grid, match", [
    (np.zeros((4, 4, 5)), "cube array"),
    (np.full((4, 4, 4), np.nan), "NaN"),
    (np.ones((8, 8, 8)), "no surface"),
    (-np.ones((8, 8, 8)), "no surface"),
])
def test_bad_grids_raise(grid, match):
    with pytest.raises(MeshingError, match=match):
        mesh_from_sdf_grid(grid, close=False)


def test_bad_bound_raises():
    with pytest.raises(MeshingError, match="lo < hi"):
        mesh_from_sdf_grid(sphere_grid(8, 0.5), bound=(1.0, -1.0))
    with pytest.raises(MeshingError, match="resolution"):
        grid_points(1)
