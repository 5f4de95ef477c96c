"""Architectures: Table C.1's parameter counts exactly, output shapes, ClassIds, seeded builds, errors."""
import json
from pathlib import Path

import pytest
import torch

from sketch3d.netspace.architectures import (ARCHITECTURES, CLASS_IDS, FOLDED_COUNTS, TABLE_C1_COUNTS, build,
                                             build_siren, count_parameters, rebuild)

CASES = [(size, classes, name) for (size, classes), counts in TABLE_C1_COUNTS.items() for name in counts]


@pytest.mark.parametrize("size,classes,name", CASES)
def test_table_c1_counts_as_trained(size, classes, name):
    model = build(name, classes, size, batch_norm=ARCHITECTURES[name].trained_with_batch_norm)
    assert count_parameters(model) == TABLE_C1_COUNTS[(size, classes)][name]


OFFICIAL = json.loads((Path(__file__).resolve().parents[2] / "fixtures" / "official" / "CVLAB-Unibo_netspace"
                       / "reference.json").read_text())["networks"]
OFFICIAL_DATASET = {(32, 10): "cifar10", (64, 200): "tiny-imagenet-200"}


@pytest.mark.parametrize("size,classes,name", CASES)
def test_folded_counts(size, classes, name):
    """The folded counts are the official code's (``get_parameters`` of its folded networks, reference.json)."""
    model = build(name, classes, size)
    official = OFFICIAL[f"{OFFICIAL_DATASET[(size, classes)]}/{name}"]["prep_params"]
    assert count_parameters(model) == FOLDED_COUNTS[(size, classes)][name] == official
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())


def test_folded_resnet_trades_gamma_beta_for_one_bias():
    # ResNet8: normalised channels 16 (stem) + 2*16 + 3*32 + 3*64 = 336; trained form has gamma+beta (672) and
    # no conv bias, folded form one bias each (336).
    trained, folded = build("resnet8", 10, 32, batch_norm=True), build("resnet8", 10, 32)
    assert count_parameters(trained) - count_parameters(folded) == 336


@pytest.mark.parametrize("size,classes", [(32, 10), (64, 200)])
def test_outputs_have_class_logits(size, classes):
    x = torch.randn(2, 3, size, size)
    for name in TABLE_C1_COUNTS[(size, classes)]:
        bn = ARCHITECTURES[name].trained_with_batch_norm
        assert build(name, classes, size, batch_norm=bn).eval()(x).shape == (2, classes)


def test_class_ids_and_siren():
    assert CLASS_IDS == {"lenetlike": 0, "vanillacnn": 1, "resnet8": 2, "resnet32": 3}
    assert ARCHITECTURES["resnet56"].class_id is None
    siren = build_siren(256)
    assert count_parameters(siren) == 3 * 256 + 256 + 256 * 256 + 256 + 256 + 1
    assert siren(torch.zeros(5, 3)).shape == (5,)
    first = siren.net[0].weight
    assert first.abs().max() <= 1 / 3 and siren.net[2].weight.abs().max() <= (6 / 256) ** 0.5 / 30


def test_seeded_builds_repeat_and_rebuild_keeps_architecture():
    a, b = build("vanillacnn", 10, 32, seed=3), build("vanillacnn", 10, 32, seed=3)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    c = build("vanillacnn", 10, 32, seed=4)
    assert not torch.equal(a.fc.weight, c.fc.weight)
    s1, s2 = build_siren(16, seed=1), build_siren(16, seed=1)
    assert all(torch.equal(p, q) for p, q in zip(s1.parameters(), s2.parameters()))
    r = rebuild(build("resnet8", 10, 32, batch_norm=True), batch_norm=False)
    assert r.architecture == "resnet8" and not r.batch_norm and r.class_id == 2


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="unknown architecture"):
        build("vgg", 10, 32)
    with pytest.raises(ValueError, match="image_size"):
        build("resnet8", 10, 48)
    with pytest.raises(ValueError, match="num_classes"):
        build("resnet8", None, 32)
    with pytest.raises(ValueError, match="no batch norm"):
        build("lenetlike", 10, 32, batch_norm=True)
