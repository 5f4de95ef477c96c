"""Evaluation sweeps and the figures drawn from them."""
import json

import numpy as np
import pytest
import torch

from helpers_netspace import SMALL_MODEL, images, nets
from sketch3d.netspace import evaluation as E
from sketch3d.netspace import figures
from sketch3d.netspace import training as T
from sketch3d.netspace.model import NetSpace


def _model(setting, train, width):
    templates = T.templates_for([n for n, _ in train], setting)
    height = T.common_height(templates, width)
    torch.manual_seed(0)
    classes = 4 if setting in ("multi", "unseen") else None
    model = NetSpace((height, width), SMALL_MODEL["embedding"], classes, SMALL_MODEL["channels"]).eval()
    return model, {"setting": setting, "prep_width": width, "prep_height": height}


def test_weight_space_sweep_ends_at_the_anchors():
    test = nets("lenetlike", 2, 0)
    model, record = _model("single", test, 2048)
    targets = T.make_targets(test, 2048, record["prep_height"])
    x, y = images(16)
    rows = E.interpolation_sweep(model, targets[0], targets[1], T.templates_for([test[0][0]], "single"), x, y,
                                 E.factors_of(3))
    weights = [r for r in rows if r["space"] == "weights"]
    assert [r["factor"] for r in weights] == [0.0, 0.5, 1.0]
    assert weights[0]["accuracy"] == pytest.approx(T.accuracy(test[0][0], x, y))
    assert weights[-1]["accuracy"] == pytest.approx(T.accuracy(test[1][0], x, y))
    assert len([r for r in rows if r["space"] == "embedding"]) == 3


def test_single_evaluation_and_its_figures(tmp_path):
    test = nets("lenetlike", 3, 0)
    model, record = _model("single", test, 2048)
    x, y = images(16)
    res = E.evaluate_netspace(model, record, test, {"test": (x, y)}, {"factors": 3}, tmp_path / "ev")
    assert len(res["target_vs_predicted"]) == 3
    saved = json.loads((tmp_path / "ev" / "results.json").read_text())
    assert saved["setting"] == "single"
    paths = figures.figure_netspace(tmp_path / "ev", tmp_path / "fig", demo=True)
    assert [p.name for p in paths] == ["fig_5_3.png", "fig_C_5.png"] and all(p.exists() for p in paths)


def test_sdf_meshes_of_a_sphere():
    grid = E.sdf_grid(lambda p: p.norm(dim=1) - 0.5, 24)
    verts, faces = E.mesh_of(grid)
    assert np.abs(np.linalg.norm(verts, axis=1) - 0.5).max() < 0.05
    assert E.mesh_of(np.ones((8, 8, 8))) is None


def test_multi_anchor_pairs_are_lenetlike_and_resnet32():
    test = nets("lenetlike", 2, 0) + nets("vanillacnn", 1, 0)
    model, record = _model("multi", test, 8192)
    targets = T.make_targets(test, 8192, record["prep_height"])
    with pytest.raises(E.EvaluationInputError, match="anchor pair"):
        E.anchor_pairs(targets, "multi", 1)
    with pytest.raises(E.EvaluationInputError, match="at least 2"):
        E.factors_of(1)
