"""The camera's orientation convention: ShapeNetCore v2 by default, front axis and azimuth sign as parameters."""
import numpy as np
import pytest

from sketch3d.geometry.camera import SHAPENET, Orientation, View


def test_shapenet_convention_azimuth_0_looks_at_the_plus_z_front():
    assert SHAPENET == Orientation("+z", 1)
    np.testing.assert_allclose(View(0, 0, 2.0).position, [0, 0, 2.0], atol=1e-12)
    np.testing.assert_allclose(View(90, 0, 2.0).position, [2.0, 0, 0], atol=1e-12)  # towards +X
    np.testing.assert_allclose(View(0, 90 - 1e-9, 2.0).position, [0, 2.0, 0], atol=1e-6)  # elevation lifts to +Y
    # a point on the front (+Z) is nearer to the azimuth-0 camera than one on the back
    _, depth = View(0, 20, 2.5).project(np.array([[0, 0, 0.4], [0, 0, -0.4]]), 224)
    assert depth[0] < depth[1]


@pytest.mark.parametrize("front, az_same_as_default", [("-z", 180.0), ("+x", 90.0), ("-x", -90.0)])
def test_front_axis_turns_the_whole_view_ring(front, az_same_as_default):
    for az in (0.0, 30.0, 75.0):
        got = View(az, 20, 2.5, orientation=Orientation(front, 1)).position
        np.testing.assert_allclose(got, View(az + az_same_as_default, 20, 2.5).position, atol=1e-12)


def test_azimuth_sign_mirrors_the_direction_of_turn():
    for az in (30.0, 45.0, 90.0):
        np.testing.assert_allclose(View(az, 20, 2.5, orientation=Orientation("+z", -1)).position,
                                   View(-az, 20, 2.5).position, atol=1e-12)


def test_bad_orientation_names_the_parameter():
    with pytest.raises(ValueError, match="render.front_axis"):
        Orientation("+y", 1)
    with pytest.raises(ValueError, match="render.azimuth_sign"):
        Orientation("+z", 2)


def test_orthographic_scale_matches_the_perspective_scale_at_the_origin():
    persp = View(30, 20, 2.5)
    ortho = View(30, 20, 2.5, projection="orthographic")
    assert ortho.ortho_scale == pytest.approx(36.0 * 2.5 / 50.0)
    # points in the plane through the origin facing the camera project to the same pixels
    right, up, _ = persp.basis()
    plane = np.array([a * right + b * up for a in (-0.4, 0.0, 0.3) for b in (-0.2, 0.5)])
    np.testing.assert_allclose(ortho.project(plane, 224)[0], persp.project(plane, 224)[0], atol=1e-9)


def test_orthographic_projection_keeps_parallel_edges_parallel_and_equal():
    ortho = View(30, 20, 2.5, projection="orthographic")
    persp = View(30, 20, 2.5)
    # the four vertical edges of a cube: equal length and parallel orthographically, not in perspective
    bottoms = np.array([[x, -0.2, z] for x in (-0.2, 0.2) for z in (-0.2, 0.2)])
    tops = bottoms + [0.0, 0.4, 0.0]
    for view, equal in ((ortho, True), (persp, False)):
        d = view.project(tops, 224)[0] - view.project(bottoms, 224)[0]
        lengths = np.linalg.norm(d, axis=1)
        assert np.allclose(lengths, lengths[0]) == equal
        assert np.allclose(d / lengths[:, None], d[0] / lengths[0]) == equal
    # depth does not move a point orthographically
    _, _, forward = ortho.basis()
    p = np.array([[0.1, 0.2, 0.0]])
    np.testing.assert_allclose(ortho.project(p + 0.5 * forward, 224)[0], ortho.project(p, 224)[0], atol=1e-9)


def test_bad_projection_is_refused():
    with pytest.raises(ValueError, match="projection 'fisheye'"):
        View(0, 20, 2.5, projection="fisheye")
