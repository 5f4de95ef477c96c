"""Scores of finished inversions against their targets, and the score table."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from _inversion_fakes import FakeClip, FakeGenerator, install, settings, write_sdf_targets

from sketch3d.reconstruction import inversion as inv
from sketch3d.reconstruction import scores, tables


LEVEL = 0.0  # settings()' mc_level


def _write_examples(root, shapes: dict):
    """A reconstruction_targets folder: examples.csv naming each shape's mesh (OBJ, mesh frame, Y up)."""
    (root / "targets").mkdir(parents=True, exist_ok=True)
    rows = []
    for k, (shape, mesh) in enumerate(shapes.items()):
        path = root / f"{shape}.obj"
        mesh.export(path)
        rows.append({"example": k, "shape_id": shape, "category": "chair", "split": "test",
                     "mesh_path": str(path), "up_axis": "Y"})
    pd.DataFrame(rows).to_csv(root / "targets" / "examples.csv", index=False)
    return root / "targets"


@pytest.fixture
def runs(monkeypatch, tmp_path):
    install(monkeypatch)
    gen = FakeGenerator()
    folders, grids, meshes = [], {}, {}
    for k in range(2):
        with torch.no_grad():
            true = gen.broadcast(gen.map(torch.randn(1, gen.style_dim, generator=torch.Generator().manual_seed(k))))
        grid = inv.styles_grid(gen, true, 12)
        grids[f"chair_{k}"], meshes[f"chair_{k}"] = grid, inv.mesh_of_grid(inv.styles_grid(gen, true, 24), LEVEL)
        target = inv.Target(f"{k:02d}", f"chair_{k}", sdf=grid, sketches={0.0: np.full((32, 32), 255, np.uint8)})
        for sup in ("sdf", "clip"):
            folder = tmp_path / sup / f"{k:02d}"
            inv.invert(gen, target, sup, settings(), folder, clip=FakeClip())
            folders.append(folder)
    write_sdf_targets(tmp_path / "sdf.npz", grids)
    return folders, tmp_path, _write_examples(tmp_path, meshes), gen


def _settings():
    return {**settings(), "reconstruction": {**settings()["reconstruction"], "scores": {"points": 400, "snapshots": 2}}}


def test_scores_against_the_shape_and_an_independent_iou(runs):
    import trimesh

    from sketch3d.reconstruction.shape_metrics import surface_scores

    folders, root, targets, _ = runs
    df = scores.reconstruction_scores(folders, root / "sdf.npz", targets, _settings(), root / "scores.csv")
    assert len(df) == 4 and set(df["supervision"]) == {"sdf", "clip"}
    row = df[(df["supervision"] == "sdf") & (df["example"] == "01")].iloc[0]
    pred, target = np.load(root / "sdf" / "01" / inv.SDF_GRID), np.load(root / "sdf.npz")["sdf"][1]
    inter, union = np.sum((pred < LEVEL) & (target < LEVEL)), np.sum((pred < LEVEL) | (target < LEVEL))
    assert row["iou"] == pytest.approx(inter / union)
    # the surface scores are against the shape's own mesh (chair_1.obj), sampled as documented
    shape = trimesh.load(root / "chair_1.obj", force="mesh")
    mine = trimesh.load(root / "sdf" / "01" / inv.MESH, force="mesh")
    gp, gf = trimesh.sample.sample_surface(shape, 400, seed=np.random.default_rng(0))
    pp, pf = trimesh.sample.sample_surface(mine, 400, seed=np.random.default_rng(1))
    want = surface_scores(pp, mine.face_normals[pf], gp, shape.face_normals[gf], float(np.max(shape.extents)))
    for key in ("chamfer_l1", "chamfer_l2", "f1", "f2", "normal_consistency"):
        assert row[key] == pytest.approx(want[key]), key
    assert pd.read_csv(root / "scores.csv").shape == (4, len(scores.COLUMNS))


def test_mean_shape_baseline_and_snapshot_scores(runs):
    folders, root, targets, gen = runs
    out = root / "snaps.csv"
    df = scores.reconstruction_scores(folders, root / "sdf.npz", targets, _settings(), root / "scores.csv", gen,
                                      out, root / "plot.png")
    mean = df[df["supervision"] == scores.MEAN]
    assert list(mean["example"]) == ["00", "01"] and list(df["supervision"])[:2] == [scores.MEAN] * 2
    snaps = pd.read_csv(out, dtype={"example": str})
    # 6 iterations, a snapshot every 2 (0, 2, 4), at most 2 scored: the first and the last
    assert sorted(set(snaps["iteration"])) == [0, 4] and len(snaps) == 2 * len(folders)
    # iteration 0 is the start: the mean styles, so its scores are the mean shape's
    first = snaps[(snaps["iteration"] == 0) & (snaps["supervision"] == "sdf")].set_index("example")
    assert first["iou"].to_numpy() == pytest.approx(mean.set_index("example")["iou"].to_numpy())
    losses = inv.read_losses(root / "sdf" / "00" / inv.LOSSES)
    assert snaps[(snaps["supervision"] == "sdf") & (snaps["example"] == "00")]["loss"].tolist() == \
        pytest.approx([losses[0], losses[4]])
    assert (root / "plot.png").stat().st_size > 0


def test_scores_use_the_frame_of_the_inverted_mesh():
    """A known, asymmetric shape through the pipeline's frames: its SDF grid (geometry.sdf, cube frame) meshed as the
    inversion meshes its grid (inversion.mesh_of_grid) lies on the shape's own surface; the same mesh left in the
    cube frame does not."""
    import trimesh

    from sketch3d.geometry.sdf import mesh_to_cube_mesh, sdf_grid

    shape = trimesh.creation.box([0.6, 0.3, 0.15])
    shape.apply_translation([0.05, -0.1, 0.12])
    grid = sdf_grid(shape, 24)
    ref = scores.shape_reference(shape, grid, 1000, 0)
    assert ref.size == pytest.approx(0.6)
    mesh = inv.mesh_of_grid(grid, 0.0)
    good = scores.score_shape(mesh, grid, ref, 0.0, 1000, 0)
    # on the surface up to marching cubes' rounded edges and the samples' spacing (~0.025 = 4 % of the side)
    assert good["chamfer_l1"] < 30 and good["f2"] > 0.4 and good["iou"] == 1.0 and not good["empty"]
    for wrong in (mesh_to_cube_mesh(mesh),  # left in the generator's cube frame
                  trimesh.Trimesh(mesh.vertices * [-1, 1, -1], mesh.faces)):  # turned 180 degrees about Y
        off = scores.score_shape(wrong, grid, ref, 0.0, 1000, 0)
        assert off["chamfer_l1"] > 200 and off["f2"] < 0.05


def test_an_empty_inverted_shape_is_a_counted_failure():
    import trimesh

    shape = trimesh.creation.box([0.5, 0.5, 0.5])
    grid = np.full((8, 8, 8), -1.0, np.float32)
    ref = scores.shape_reference(shape, grid, 100, 0)
    row = scores.score_shape(None, np.ones_like(grid), ref, 0.0, 100, 0)
    assert row["empty"] and np.isnan(row["chamfer_l1"]) and row["iou"] == 0.0


def test_scores_refuse_unfinished_runs(monkeypatch, tmp_path):
    install(monkeypatch)
    write_sdf_targets(tmp_path / "sdf.npz", {"a": np.zeros((2, 2, 2))})
    with pytest.raises(scores.ScoreError, match="not a finished inversion"):
        scores.reconstruction_scores([tmp_path / "nothing"], tmp_path / "sdf.npz", tmp_path, settings(),
                                     tmp_path / "s.csv")


def _rows(values: dict) -> pd.DataFrame:
    """Score rows: values[(supervision, example)] = (chamfer_l1, iou) or None for an empty shape."""
    rows = []
    for (sup, ex), v in values.items():
        c, iou = (float("nan"), 0.0) if v is None else v
        f1, f2, nc = (float("nan"),) * 3 if v is None else (0.5, 0.7, 0.8)
        rows.append({"example": ex, "shape_id": f"chair_{ex}", "supervision": sup, "chamfer_l1": c,
                     "chamfer_l2": c / 10, "f1": f1, "f2": f2, "normal_consistency": nc, "iou": iou,
                     "empty": v is None, "best_iteration": 0, "best_loss": 0.0, "iterations": 5})
    return pd.DataFrame(rows)


def test_table_means_per_supervision_with_the_mean_shape_first(tmp_path):
    _rows({("sdf", "00"): (10.0, 0.8), ("sdf", "01"): (30.0, 0.6), ("clip", "00"): (20.0, 0.5),
           ("clip", "01"): (60.0, 0.3), ("mean", "00"): (50.0, 0.2), ("mean", "01"): (70.0, 0.1)}
          ).to_csv(tmp_path / "scores.csv", index=False)
    tables.reconstruction_table(tmp_path / "scores.csv", tmp_path / "t.md", tmp_path / "t.csv", tmp_path / "t.json",
                                demo=True)
    metrics = json.loads((tmp_path / "t.json").read_text())["reconstruction"]
    assert metrics["SDF"]["chamfer_l1"] == pytest.approx(20) and metrics["CLIP"]["iou"] == pytest.approx(0.4)
    assert metrics["Mean shape (start)"]["chamfer_l1"] == pytest.approx(60)
    md = (tmp_path / "t.md").read_text()
    assert "| SDF | 20.00 | 2.000 | 0.500 | 0.700 | 0.800 | 0.700 | 2 of 2 | 0 |" in md
    assert "DEMO PROFILE" in md and "reports no numbers" in md
    assert md.index("| Mean shape (start) |") < md.index("| SDF |") < md.index("| CLIP |")
    # one row per example (pivot_table(dropna=False) once made a row for every example x shape id pair)
    assert [line for line in md.splitlines() if line.startswith("| 0")] == [
        "| 00 | chair_00 | 50.00 / 0.200 | 10.00 / 0.800 | 20.00 / 0.500 |",
        "| 01 | chair_01 | 70.00 / 0.100 | 30.00 / 0.600 | 60.00 / 0.300 |"]
    assert len(pd.read_csv(tmp_path / "t.csv")) == 6 * 6
    # the rehearsal's table says its numbers mean nothing (it lies under results/rehearsal/, beside the paper's)
    tables.reconstruction_table(tmp_path / "scores.csv", tmp_path / "r.md", tmp_path / "r.csv", tmp_path / "r.json",
                                rehearsal=True)
    assert "A REHEARSAL, NOT A RESULT" in (tmp_path / "r.md").read_text()
    assert json.loads((tmp_path / "r.json").read_text())["rehearsal"] is True
    assert "rehearsal" not in json.loads((tmp_path / "t.json").read_text())


def test_failures_are_counted_and_the_means_say_over_how_many(tmp_path):
    scores_csv = tmp_path / "scores.csv"
    _rows({("sdf", "00"): None, ("sdf", "01"): (5.0, 0.4), ("clip", "00"): None, ("clip", "01"): None}
          ).to_csv(scores_csv, index=False)
    md, csv, js = tmp_path / "t.md", tmp_path / "t.csv", tmp_path / "t.json"
    tables.reconstruction_table(scores_csv, md, csv, js, demo=True)
    text = md.read_text()
    assert "| SDF | 5.00 | 0.500 | 0.500 | 0.700 | 0.800 | 0.200 | 1 of 2 | 1 |" in text  # IoU over all 2
    assert "| CLIP | - | - | - | - | - | 0.000 | 0 of 2 | 2 |" in text and "nan" not in text
    assert "| 00 | chair_00 | - / 0.000 | - / 0.000 |" in text
    metrics = json.loads(js.read_text())["reconstruction"]  # strict JSON: no NaN
    assert metrics["CLIP"]["chamfer_l1"] is None and metrics["CLIP"]["empty"] == 2
    assert metrics["SDF"] == {**metrics["SDF"], "chamfer_l1": 5.0, "examples": 2, "scored": 1, "empty": 1}


def _retrieval_inputs(root, targets):
    """The examples' sketches (image set), a retrieve npz ranking them (q0 -> the box, q1 -> its own chair) and a
    shapes.csv holding the retrieved box's mesh."""
    import trimesh

    from sketch3d.imageset import write_index

    (targets / "sketches").mkdir(exist_ok=True)
    rows = []
    for image, shape, azimuth in (("q0", "chair_0", 0.0), ("q0b", "chair_0", 30.0), ("q1", "chair_1", 0.0)):
        (targets / "sketches" / f"{image}.png").write_bytes(b"")
        rows.append({"image_id": image, "shape_id": shape, "azimuth": azimuth,
                     "path": str(targets / "sketches" / f"{image}.png")})
    write_index(targets / "sketches", pd.DataFrame(rows))
    box = trimesh.creation.box([0.5, 0.3, 0.2]).apply_translation([0.1, 0.0, -0.05])
    box.export(root / "box.obj")
    pd.DataFrame([{"shape_id": s, "category": "chair", "split": "test", "mesh_path": str(root / f"{s}.obj"),
                   "up_axis": "Y", "source": "test"} for s in ("chair_0", "chair_1", "box")]).to_csv(
        root / "shapes.csv", index=False)
    # rows: q1, q0b, q0; columns: chair_0, chair_1, box. q0's least distance is the box's, q1's its own chair's
    np.savez(root / "ret.npz", dist=np.array([[0.5, 0.1, 0.2], [0.0, 0.9, 0.9], [0.3, 0.4, 0.2]]),
             query_ids=np.array(["q1", "q0b", "q0"]), shape_ids=np.array(["chair_0", "chair_1", "box"]),
             truth=np.array([1, 0, 0]), ranks=np.array([1, 1, 2]))
    return box


def test_retrieval_baseline_scores_the_shape_retrieval_ranks_first_placed_as_a_target(runs):
    """The retrieval row: the nearest shape of the example's azimuth-0 sketch (not of its other views), its mesh
    normalised as a target (largest side 1.6, v1 turn, mesh2sdf grid stretch) and scored; placement checked
    against the formula written out here."""
    import trimesh

    from sketch3d.geometry.sdf import CUBE_ROTATION, CUBE_SCALE
    from sketch3d.reconstruction.sdf_targets import prepare_sdf
    from sketch3d.reconstruction.shape_metrics import surface_scores, volumetric_iou

    folders, root, targets, _ = runs
    box = _retrieval_inputs(root, targets)
    assert scores.retrieved_shapes(root / "ret.npz", targets, 0.0) == {"00": ("q0", "box"), "01": ("q1", "chair_1")}
    df = scores.reconstruction_scores(folders, root / "sdf.npz", targets, _settings(), root / "scores.csv",
                                      retrieval=root / "ret.npz", shapes_csv=root / "shapes.csv")
    ret = df[df["supervision"] == scores.RETRIEVAL].set_index("example")
    assert list(df["supervision"])[:2] == [scores.RETRIEVAL] * 2 and list(ret["retrieved"]) == ["box", "chair_1"]
    # example 00 retrieved the box: its vertices centred, scaled to a largest side 1.6, turned to v1, stretched by
    # R/(R-1) about -1 (R = 12, the target grid), back to the mesh frame (fixed map); the target chair as loaded
    # (the fakes' targets file places it by the fixed map: as loaded)
    k, v = 12 / 11, np.asarray(box.vertices)
    cube = ((v - (v.min(0) + v.max(0)) / 2) @ CUBE_ROTATION.T * (1.6 / 0.5) + 1) * k - 1
    placed = trimesh.Trimesh(cube @ CUBE_ROTATION / CUBE_SCALE, box.faces)
    assert np.max(placed.extents) == pytest.approx(1.6 * k / CUBE_SCALE)
    shape = trimesh.load(root / "chair_0.obj", force="mesh")
    gp, gf = trimesh.sample.sample_surface(shape, 400, seed=np.random.default_rng(0))
    pp, pf = trimesh.sample.sample_surface(placed, 400, seed=np.random.default_rng(1))
    want = surface_scores(pp, placed.face_normals[pf], gp, shape.face_normals[gf], float(np.max(shape.extents)))
    for key in ("chamfer_l1", "chamfer_l2", "f1", "f2", "normal_consistency"):
        assert ret.loc["00", key] == pytest.approx(want[key]), key
    grid = prepare_sdf(box, 12)[0]
    target = np.load(root / "sdf.npz")["sdf"][0]
    assert ret.loc["00", "iou"] == pytest.approx(volumetric_iou(grid, target, LEVEL))
    assert (ret["iterations"] == 0).all() and not ret["empty"].any()


def test_retrieval_baseline_errors_name_the_ranking(runs):
    folders, root, targets, _ = runs
    _retrieval_inputs(root, targets)
    with pytest.raises(scores.ScoreError, match="not found: run its retrieve job"):
        scores.retrieved_shapes(root / "none.npz", targets, 0.0)
    np.savez(root / "other.npz", dist=np.zeros((1, 3)), query_ids=np.array(["z"]), shape_ids=np.array(["a", "b", "c"]))
    with pytest.raises(scores.ScoreError, match="q0 of example 0 is not a query of .*other.npz"):
        scores.retrieved_shapes(root / "other.npz", targets, 0.0)
    np.savez(root / "views.npz", dist=np.zeros((3, 1)), query_ids=np.array(["q1", "q0b", "q0"]),
             shape_ids=np.array(["view_17"]))
    with pytest.raises(scores.ScoreError, match="view-level"):
        scores.reconstruction_scores(folders, root / "sdf.npz", targets, _settings(), root / "s.csv",
                                     retrieval=root / "views.npz", shapes_csv=root / "shapes.csv")
