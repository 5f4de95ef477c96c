"""NetSpace's losses against hand computations (eqs. 5.1-5.12)."""
import math

import numpy as np
import pytest
import torch

from sketch3d.netspace import losses


def _softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def test_kd_matches_a_hand_computation():
    rng = np.random.default_rng(0)
    p, t = rng.normal(size=(5, 7)) * 3, rng.normal(size=(5, 7)) * 3
    T = 4.0
    q_t, q_p = _softmax(t / T), _softmax(p / T)
    expected = (q_t * (np.log(q_t) - np.log(q_p))).sum(axis=1).mean() * T * T
    got = losses.kd(torch.tensor(p), torch.tensor(t), T)
    assert float(got) == pytest.approx(expected, rel=1e-9)
    assert float(losses.kd(torch.tensor(t), torch.tensor(t), T)) == pytest.approx(0.0, abs=1e-12)


def test_l_kd_weights_distillation_and_task():
    rng = np.random.default_rng(1)
    p, t = torch.tensor(rng.normal(size=(4, 3))), torch.tensor(rng.normal(size=(4, 3)))
    y = torch.tensor([0, 2, 1, 1])
    ce = -np.log(_softmax(p.numpy())[np.arange(4), y.numpy()]).mean()
    expected = 0.9 * float(losses.kd(p, t, 4.0)) + 0.1 * ce
    assert float(losses.l_kd(p, t, y, 0.9, 4.0)) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("archs,expected", [(4, [1 / 3, 2 / 3]), (5, [0.25, 0.5, 0.75]), (2, []), (3, [0.5])])
def test_interpolation_factors_of_eq_5_12(archs, expected):
    assert losses.interpolation_factors(archs) == pytest.approx(expected)


def test_interpolated_class_targets_are_the_inner_class_ids():
    # boundary ClassIds 0 and 3 (LeNetLike, ResNet32): gamma 1/3 -> VanillaCNN (1), 2/3 -> ResNet8 (2)
    for gamma, cid in zip(losses.interpolation_factors(4), (1, 2)):
        target = losses.interpolated_class_target(0, 3, gamma, 4)
        assert target.tolist() == [float(i == cid) for i in range(4)]
    soft = losses.interpolated_class_target(0, 3, 0.5, 4)  # c = 1.5: half VanillaCNN, half ResNet8
    assert soft.tolist() == pytest.approx([0, 0.5, 0.5, 0])


def test_soft_class_loss_equals_hard_for_one_hot_targets():
    logits = torch.tensor([[0.3, -1.0, 2.0, 0.1]])
    hard = losses.l_class(logits, torch.tensor([2]))
    soft = losses.l_class(logits, losses.interpolated_class_target(0, 3, 2 / 3, 4).unsqueeze(0))
    assert float(hard) == pytest.approx(float(soft))
    assert float(hard) == pytest.approx(-math.log(_softmax(logits.numpy())[0, 2]))


def test_interpolate_and_sdf_mse():
    a, b = torch.tensor([0.0, 3.0]), torch.tensor([3.0, 0.0])
    assert losses.interpolate(a, b, 1 / 3).tolist() == pytest.approx([1.0, 2.0])
    assert float(losses.sdf_mse(torch.tensor([1.0, 2.0]), torch.tensor([0.0, 0.0]))) == pytest.approx(2.5)
    with pytest.raises(ValueError, match="shapes differ"):
        losses.sdf_mse(torch.zeros(2), torch.zeros(3))
    with pytest.raises(ValueError, match="different shapes"):
        losses.kd(torch.zeros(2, 3), torch.zeros(2, 4))
