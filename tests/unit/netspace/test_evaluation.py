"""Evaluation sweeps and the figures drawn from them."""
import json
import math

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
    res = E.evaluate_netspace(model, record, test, {"test": (x, y)}, {"factors": 3, "dataset": "digits"},
                              tmp_path / "ev")
    assert len(res["target_vs_predicted"]) == 3
    saved = json.loads((tmp_path / "ev" / "results.json").read_text())
    assert saved["setting"] == "single"
    from scipy.stats import kendalltau
    rows = saved["target_vs_predicted"]
    tau = kendalltau([r["target"] for r in rows], [r["predicted"] for r in rows]).statistic
    assert saved["agreement"]["nets"] == 3 and (
        saved["agreement"]["kendall_tau"] == pytest.approx(tau) or math.isnan(tau))
    # the sweeps' summary names the anchors' own accuracies; the weight sweep ends at them
    by_name = {r["net"]: r["target"] for r in rows}
    (weights,) = [w for w in saved["sweeps"] if w["space"] == "weights"]
    assert weights["anchor_a_accuracy"] == by_name[weights["anchor_a"]] == pytest.approx(weights["at_0"])
    assert weights["anchor_b_accuracy"] == by_name[weights["anchor_b"]] == pytest.approx(weights["at_1"])
    size = saved["size"]
    assert size["encoder"] + size["decoder"] == size["netspace_total"] == sum(p.numel() for p in model.parameters())
    assert size["zoo_net_params"] == {"lenetlike": sum(p.numel() for p in test[0][0].parameters())}
    paths = figures.figure_netspace(tmp_path / "ev", tmp_path / "fig", demo=True)
    assert [p.name for p in paths] == ["fig_5_3_digits.png", "fig_C_5_digits.png"] and all(p.exists() for p in paths)


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


def test_agreement_numbers_against_a_hand_computation():
    rows = [{"target": t, "predicted": p, "architecture": "resnet8", "predicted_architecture": a}
            for t, p, a in [(10.0, 12.0, "resnet8"), (20.0, 35.0, "resnet8"), (30.0, 25.0, "lenetlike"),
                            (40.0, 41.0, "resnet8")]]
    a = E.agreement(rows)
    # pairs: 6, discordant only (20, 30) -> tau = (5 - 1) / 6
    assert a["kendall_tau"] == pytest.approx(4 / 6)
    # SS_tot = 500, SS_res = 4 + 225 + 25 + 1 = 255
    assert a["r2"] == pytest.approx(1 - 255 / 500)
    assert a["accuracy_error_mean"] == pytest.approx((2 + 15 + 5 + 1) / 4) and a["accuracy_error_max"] == 15
    assert a["architecture_match"] == 0.75 and a["nets"] == 4
    assert math.isnan(E.r_squared([5, 5], [1, 2]))
    assert E.r_squared([1, 2, 3], [1, 2, 3]) == 1.0


def test_figure_names_carry_the_dataset():
    assert figures.figure_names("single", "cifar10") == ["fig_5_3_cifar10.png", "fig_C_5_cifar10.png"]
    assert figures.figure_names("unseen", "tinyimagenet") == ["fig_5_5_unseen_tinyimagenet.png"]
    assert figures.figure_names("sdf", None) == ["fig_5_4.png"]
