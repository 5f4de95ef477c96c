"""Latent space optimisation (Table 5.1): only the embedding moves; initial / optimised accuracies as defined."""
import pytest
import torch

from helpers_netspace import SMALL_MODEL, images, nets
from sketch3d.netspace import latent
from sketch3d.netspace import training as T
from sketch3d.netspace.model import NetSpace


def _setup(arch: str, classes):
    (net, record), = nets(arch, 1, 0)
    templates = T.templates_for([net], "multi" if classes else "single")
    width = 2048
    height = T.common_height(templates, width)
    torch.manual_seed(0)
    model = NetSpace((height, width), SMALL_MODEL["embedding"], classes, SMALL_MODEL["channels"])
    start = T.make_targets([(net, record)], width, height)[0]
    x, y = images(24)
    data = {"train": (x, y), "val": (x[:8], y[:8]), "test": (x[8:], y[8:])}
    return model, start, data


def test_lso_moves_only_the_embedding_and_reports_the_start_nets_accuracy():
    model, start, data = _setup("lenetlike", None)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    teacher = nets("lenetlike", 1, 7)[0][0]
    r = latent.optimise_latent(model, start, teacher, data, {"steps": 3, "eval_every": 1, "images_per_step": 8,
                                                            "lr": 1e-2})
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    x, y = data["test"]
    assert r["initial"] == pytest.approx(T.accuracy(start.net, x, y))
    assert [c["step"] for c in r["curve"]] == [0, 1, 2, 3]
    assert r["best_validation"] == max(c["validation"] for c in r["curve"])


def test_lso_without_improvement_keeps_the_start_embedding():
    model, start, data = _setup("lenetlike", None)
    teacher = nets("lenetlike", 1, 7)[0][0]
    r = latent.optimise_latent(model, start, teacher, data, {"steps": 2, "eval_every": 1, "lr": 0.0})
    assert r["best_step"] == 0
    assert r["optimized"] == r["initial_decoded"]


def test_multi_lso_adds_the_class_loss_and_decodes_by_the_class_head():
    model, start, data = _setup("lenetlike", 4)
    teacher = nets("lenetlike", 1, 7)[0][0]
    r = latent.optimise_latent(model, start, teacher, data, {"steps": 2, "eval_every": 2, "images_per_step": 4})
    assert r["class_id"] == 0
    assert r["optimized_architecture"] in T.CLASSIFIERS


def test_bad_lso_settings_are_refused():
    model, start, data = _setup("lenetlike", None)
    with pytest.raises(latent.LatentInputError, match="steps"):
        latent.optimise_latent(model, start, None, data, {"eval_every": 1})
    with pytest.raises(latent.LatentInputError, match="test"):
        latent.optimise_latent(model, start, None, {"train": data["train"], "val": data["val"]},
                               {"steps": 1, "eval_every": 1})


def test_stopping_rule_on_a_synthetic_accuracy_curve():
    # rises, plateaus (ties are no improvement), then a late bump the rule must not wait for with patience 3
    curve = [10.0, 20.0, 30.0, 35.0, 35.0, 34.0, 33.0, 40.0]
    fired = [k for k in range(1, len(curve) + 1) if latent.stopped(curve[:k], 3)]
    assert fired[0] == 7                          # 35.0 at index 3, then 3 validations without a new best
    assert not latent.stopped(curve[:6], 3)       # only 2 after the best
    assert not latent.stopped(curve, 0) and not latent.stopped(curve, None)
    assert not latent.stopped([1.0, 2.0, 3.0, 4.0], 2)   # still improving


def test_lso_stops_when_the_validation_stops_improving():
    model, start, data = _setup("lenetlike", None)
    teacher = nets("lenetlike", 1, 7)[0][0]
    # lr 0: the embedding never moves, so the validation accuracy is flat; patience 2 ends the run after 2 evals
    r = latent.optimise_latent(model, start, teacher, data, {"steps": 50, "eval_every": 1, "lr": 0.0,
                                                            "images_per_step": 4, "patience": 2})
    assert [c["step"] for c in r["curve"]] == [0, 1, 2]
    assert r["steps"] == 2 and r["stopped_early"] and r["best_step"] == 0
