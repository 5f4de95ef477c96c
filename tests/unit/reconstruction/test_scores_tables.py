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


@pytest.fixture
def runs(monkeypatch, tmp_path):
    install(monkeypatch)
    gen = FakeGenerator()
    folders, grids = [], {}
    for k in range(2):
        with torch.no_grad():
            true = gen.broadcast(gen.map(torch.randn(1, gen.style_dim, generator=torch.Generator().manual_seed(k))))
        grid = inv.styles_grid(gen, true, 12)
        grids[f"chair_{k}"] = grid
        target = inv.Target(f"{k:02d}", f"chair_{k}", sdf=grid, sketches={0.0: np.full((32, 32), 255, np.uint8)})
        for sup in ("sdf", "clip"):
            folder = tmp_path / sup / f"{k:02d}"
            inv.invert(gen, target, sup, settings(), folder, clip=FakeClip())
            folders.append(folder)
    write_sdf_targets(tmp_path / "sdf.npz", grids)
    return folders, tmp_path


def test_scores_against_an_independent_iou(runs):
    folders, root = runs
    df = scores.reconstruction_scores(folders, root / "sdf.npz", settings(), root / "scores.csv")
    assert len(df) == 4 and set(df["supervision"]) == {"sdf", "clip"}
    row = df[(df["supervision"] == "sdf") & (df["example"] == "01")].iloc[0]
    pred, target = np.load(root / "sdf" / "01" / inv.SDF_GRID), np.load(root / "sdf.npz")["sdf"][1]
    inter, union = np.sum((pred < 0) & (target < 0)), np.sum((pred < 0) | (target < 0))
    assert row["iou"] == pytest.approx(inter / union)
    assert row["chamfer"] > 0
    assert pd.read_csv(root / "scores.csv").shape == (4, len(scores.COLUMNS))


def test_scores_refuse_unfinished_runs(monkeypatch, tmp_path):
    install(monkeypatch)
    write_sdf_targets(tmp_path / "sdf.npz", {"a": np.zeros((2, 2, 2))})
    with pytest.raises(scores.ScoreError, match="not a finished inversion"):
        scores.reconstruction_scores([tmp_path / "nothing"], tmp_path / "sdf.npz", settings(), tmp_path / "s.csv")


def test_table_means_per_supervision(tmp_path):
    df = pd.DataFrame({"example": ["00", "01", "00", "01"], "shape_id": ["a", "b", "a", "b"],
                       "supervision": ["sdf", "sdf", "clip", "clip"], "chamfer": [0.1, 0.3, 0.2, 0.6],
                       "iou": [0.8, 0.6, 0.5, 0.3], "best_iteration": 0, "best_loss": 0.0, "iterations": 5})
    df.to_csv(tmp_path / "scores.csv", index=False)
    tables.reconstruction_table(tmp_path / "scores.csv", tmp_path / "t.md", tmp_path / "t.csv", tmp_path / "t.json",
                                demo=True)
    metrics = json.loads((tmp_path / "t.json").read_text())["reconstruction"]
    assert metrics["SDF"]["chamfer"] == pytest.approx(0.2) and metrics["CLIP"]["iou"] == pytest.approx(0.4)
    md = (tmp_path / "t.md").read_text()
    assert "**0.2000**" in md and "DEMO PROFILE" in md and "reports no numbers" in md
    assert md.index("SDF Chamfer") < md.index("CLIP Chamfer")
    assert len(pd.read_csv(tmp_path / "t.csv")) == 8
    # the rehearsal's table says its numbers mean nothing (it lies under results/rehearsal/, beside the paper's)
    tables.reconstruction_table(tmp_path / "scores.csv", tmp_path / "r.md", tmp_path / "r.csv", tmp_path / "r.json",
                                rehearsal=True)
    assert "A REHEARSAL, NOT A RESULT" in (tmp_path / "r.md").read_text()
    assert json.loads((tmp_path / "r.json").read_text())["rehearsal"] is True
    assert "rehearsal" not in json.loads((tmp_path / "t.json").read_text())


def test_an_empty_shape_has_no_chamfer_and_the_table_still_builds(tmp_path):
    import json

    import pandas as pd

    from sketch3d.reconstruction.tables import reconstruction_table

    rows = [{"example": f"{i:02d}", "shape_id": f"chair_{i}", "supervision": s, "chamfer": float("nan"),
             "iou": 0.0} for i in range(2) for s in ("sdf", "clip")]
    rows[2]["chamfer"], rows[2]["iou"] = 0.05, 0.4  # example 01, sdf
    scores = tmp_path / "scores.csv"
    pd.DataFrame(rows).to_csv(scores, index=False)
    md, csv, js = tmp_path / "t.md", tmp_path / "t.csv", tmp_path / "t.json"
    reconstruction_table(scores, md, csv, js, demo=True)
    text = md.read_text()
    assert "| 00 | chair_0 | - | 0.000 | - | 0.000 |" in text and "nan" not in text
    metrics = json.loads(js.read_text())  # strict JSON: no NaN
    assert metrics["reconstruction"]["CLIP"]["chamfer"] is None
    assert metrics["reconstruction"]["SDF"]["chamfer"] == 0.05
