"""geometry.sdf: signed distances against analytic shapes, winding-number signs, cube grids, the frame map."""
import numpy as np
import pytest
import torch
import trimesh

from sketch3d.geometry import sdf


def _box_sdf(points, extents, centre=(0, 0, 0)):
    q = np.abs(np.asarray(points) - centre) - np.asarray(extents) / 2
    return np.linalg.norm(np.maximum(q, 0), axis=1) + np.minimum(q.max(axis=1), 0)


def _box(extents, centre=(0, 0, 0)):
    b = trimesh.creation.box(extents=extents)
    b.apply_translation(centre)
    return b


def test_box_signed_distance_is_exact():
    rng = np.random.default_rng(0)
    points = rng.uniform(-0.6, 0.6, size=(400, 3))
    mesh = _box((0.5, 0.3, 0.7), (0.05, -0.1, 0.0))
    got = sdf.signed_distance(mesh, points)
    np.testing.assert_allclose(got, _box_sdf(points, (0.5, 0.3, 0.7), (0.05, -0.1, 0.0)), atol=1e-9)


def test_sphere_mesh_matches_the_analytic_sphere():
    mesh = trimesh.creation.icosphere(subdivisions=4, radius=0.4)
    rng = np.random.default_rng(1)
    points = rng.uniform(-0.7, 0.7, size=(300, 3))
    expected = np.linalg.norm(points, axis=1) - 0.4
    got = sdf.signed_distance(mesh, points)
    assert np.abs(got - expected).max() < 2e-3  # the icosphere's facets lie within ~1e-3 of the sphere
    assert (np.sign(got) == np.sign(expected))[np.abs(expected) > 2e-3].all()


def test_overlapping_closed_parts_are_inside_where_ray_parity_fails():
    a, b = _box((0.4, 0.4, 0.4)), _box((0.4, 0.4, 0.4), (0.2, 0, 0))
    union = trimesh.util.concatenate([a, b])
    overlap = np.array([[0.1, 0.0, 0.0], [0.15, 0.05, -0.1]])
    outside = np.array([[0.6, 0.0, 0.0], [0.1, 0.5, 0.1], [-0.5, -0.4, 0.3]])
    assert np.all(sdf.winding_number(union, overlap) > 1.5)
    assert np.all(sdf.signed_distance(union, overlap) < 0)
    expected = np.minimum(_box_sdf(outside, (0.4,) * 3), _box_sdf(outside, (0.4,) * 3, (0.2, 0, 0)))
    np.testing.assert_allclose(sdf.signed_distance(union, outside), expected, atol=1e-9)


def test_grid_layout_values_and_signs_on_a_box():
    mesh = _box((0.8, 0.4, 1.2), (0.3, 0.0, -0.2))  # off-centre: a transposed grid would not match
    grid = sdf.sdf_grid(mesh, 12, frame="cube")
    assert grid.shape == (12, 12, 12) and grid.dtype == np.float32
    axis = np.linspace(-1, 1, 12)
    x, y, z = np.meshgrid(axis, axis, axis, indexing="ij")
    expected = _box_sdf(np.stack([x, y, z], -1).reshape(-1, 3), (0.8, 0.4, 1.2), (0.3, 0.0, -0.2)).reshape(12, 12, 12)
    near = np.abs(expected) < 2 / 11
    np.testing.assert_allclose(grid[near], expected[near], atol=1e-6)  # exact near the surface
    np.testing.assert_allclose(grid, expected, atol=(2 / 11) / 30)  # the far field: within 1/30 of a step
    assert ((grid < 0) == (expected < 0)).all()


def test_grid_in_the_mesh_frame_is_the_cube_map_of_the_mesh():
    mesh = _box((0.3, 0.2, 0.1), (0.0, 0.05, 0.1))  # in the mesh frame: +Z is the front
    grid = sdf.sdf_grid(mesh, 10)
    points = sdf.cube_to_mesh(sdf.grid_points(10))
    expected = sdf.sdf_mesh_to_cube(sdf.signed_distance(mesh, points)).reshape(10, 10, 10)
    np.testing.assert_allclose(grid, expected, atol=0.01)
    assert ((grid < 0) == (expected < 0)).all()


def test_frame_map_turns_the_front_to_minus_x_and_scales():
    front = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    np.testing.assert_allclose(sdf.mesh_to_cube(front), [[-sdf.CUBE_SCALE, 0, 0], [0, sdf.CUBE_SCALE, 0]], atol=1e-12)
    p = np.random.default_rng(2).normal(size=(5, 3))
    np.testing.assert_allclose(sdf.cube_to_mesh(sdf.mesh_to_cube(p)), p, atol=1e-12)
    assert np.isclose(np.linalg.det(sdf.CUBE_ROTATION), 1.0)
    t = torch.tensor(p, requires_grad=True)
    sdf.mesh_to_cube(t).sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), np.tile(sdf.CUBE_SCALE * sdf.CUBE_ROTATION.sum(axis=0), (5, 1)))
    assert sdf.sdf_cube_to_mesh(sdf.sdf_mesh_to_cube(0.3)) == pytest.approx(0.3)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match=r"\[N, 3\]"):
        sdf.signed_distance(_box((1, 1, 1)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="no faces"):
        sdf.signed_distance(trimesh.Trimesh(), np.zeros((1, 3)))
    with pytest.raises(ValueError, match="resolution"):
        sdf.grid_points(1)
    with pytest.raises(ValueError, match="frame"):
        sdf.sdf_grid(_box((1, 1, 1)), 4, frame="world")
