"""SDF samples of one chair for the SDF MLP zoo: values against an analytic box, the MLP -> chair mapping by split,
seeds by shape id (growing the zoo changes no existing file), errors."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import trimesh

from sketch3d.geometry.sdf import CUBE_SCALE
from sketch3d.netspace.sdf_samples import chair_ids, sample_sdf, sdf_samples

SETTINGS = {"uniform": 400, "surface": 600, "sigma_near": 0.005, "sigma_far": 0.05}


def _box_sdf(points, half):
    q = np.abs(points) - half
    return np.linalg.norm(np.maximum(q, 0), axis=1) + np.minimum(q.max(axis=1), 0)


def test_samples_are_the_exact_sdf_in_the_cube_frame():
    half = np.array([0.2, 0.3, 0.1])  # mesh frame
    points, sdf = sample_sdf(trimesh.creation.box(extents=2 * half), SETTINGS, seed=0)
    assert points.shape == (1000, 3) and sdf.shape == (1000,) and points.dtype == np.float32
    assert np.abs(points).max() <= 1.0
    # the cube frame turns the mesh by -90 degrees about Y (x_cube = -z_mesh, z_cube = x_mesh) and scales by 2
    half_cube = CUBE_SCALE * half[[2, 1, 0]]
    np.testing.assert_allclose(sdf, _box_sdf(points, half_cube), atol=1e-4)
    assert (sdf < 0).mean() > 0.2  # the surface samples put many points inside
    again = sample_sdf(trimesh.creation.box(extents=2 * half), SETTINGS, seed=0)
    np.testing.assert_array_equal(again[0], points)


def _shapes(tmp_path, n_train):
    rows = []
    for i in range(n_train + 2):
        split = "train" if i < n_train else "test"
        path = tmp_path / f"c{i}.obj"
        trimesh.creation.box(extents=[0.2 + 0.01 * i, 0.3, 0.2]).export(path)
        rows.append({"shape_id": f"chair_{i:04d}", "category": "chair", "split": split, "mesh_path": str(path),
                     "up_axis": "Y", "source": "test"})
    rows.append({"shape_id": "lamp_0000", "category": "lamp", "split": "train", "mesh_path": str(path),
                 "up_axis": "Y", "source": "test"})
    csv = tmp_path / "shapes.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    return csv


def test_mlp_i_of_a_split_fits_its_ith_chair_and_its_file_never_depends_on_the_count(tmp_path):
    small, big = tmp_path / "small", tmp_path / "big"
    small.mkdir(), big.mkdir()
    csv_small, csv_big = _shapes(small, 2), _shapes(big, 3)
    assert chair_ids(csv_small, "train") == ["chair_0000", "chair_0001"]
    assert chair_ids(csv_small, "test") == ["chair_0002", "chair_0003"]
    assert sdf_samples(csv_small, "train", 1, SETTINGS, 0, small / "a.npz") == "chair_0001"
    assert sdf_samples(csv_big, "train", 1, SETTINGS, 0, big / "a.npz") == "chair_0001"
    with np.load(small / "a.npz") as a, np.load(big / "a.npz") as b:
        np.testing.assert_array_equal(a["points"], b["points"])  # seeded by the shape id, not by a count
        assert str(a["shape_id"]) == "chair_0001"


def test_bad_requests_are_named(tmp_path):
    csv = _shapes(tmp_path, 2)
    with pytest.raises(ValueError, match="only 2 chair shapes in split 'train'.*sdf_mlps.count.train"):
        sdf_samples(csv, "train", 2, SETTINGS, 0, tmp_path / "x.npz")
    with pytest.raises(ValueError, match="lacks"):
        sample_sdf(trimesh.creation.box(), {"uniform": 10}, 0)
    with pytest.raises(ValueError, match="no chair shape in split 'val'"):
        chair_ids(csv, "val")
    assert not (tmp_path / "x.npz").exists()
