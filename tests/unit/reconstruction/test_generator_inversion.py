"""SDF-supervised inversion (eq. 4.6) of the REAL generator class recovers a known shape.

A tiny ``SDFStyleGAN`` with seeded random weights draws a style s* (``sample_styles``); its SDF on a 12^3 grid
is the target, and ``inversion.invert`` starts from the mean style, as the thesis does (4.3.3.2). The mapping
from styles to shapes is many-to-one (W+ has n_styles x dim numbers, the grid far fewer independent ones, and
the demodulated convolutions ignore the scale of parts of the style), so the styles found need not come near s*:
the test asserts on what the inversion is for, the SDF and the shape (inside-outside IoU at level 0), not on
the style distance. The learning rate is 10x the paper's 0.005 so that 150 iterations suffice here.
"""
import numpy as np
import torch

from sketch3d.reconstruction import generator as G
from sketch3d.reconstruction import inversion as I

CONFIG = dict(z_dim=16, style_dim=16, style_depth=2, volume_res=8, channels=8, network_capacity=2, fmap_max=16,
              mlp_hidden=16, mlp_layers=1)
RES = 12


def _iou(a: torch.Tensor, b: torch.Tensor) -> float:
    inside_a, inside_b = a < 0, b < 0
    return float((inside_a & inside_b).sum()) / float((inside_a | inside_b).sum())


def test_sdf_inversion_recovers_a_sampled_shape_of_the_real_generator():
    torch.manual_seed(0)
    generator = G.SDFStyleGAN(G.GeneratorConfig(**CONFIG)).eval()
    s_star = G.sample_styles(generator, 1, seed=1)
    mean = G.mean_style(generator, 200, seed=2)
    with torch.no_grad():
        target = generator.sdf_grid(s_star, RES)[0]
        start = generator.sdf_grid(mean, RES)[0]
    inside = float((target < 0).float().mean())
    assert 0.1 < inside < 0.9, "the target must have an inside and an outside for the IoU to mean something"
    start_mse = float(((start - target) ** 2).mean())
    start_iou = _iou(start, target)
    assert start_iou < 0.8, "the mean style must start away from the target"

    settings = {"seed": 0, "reconstruction": {"inversion": {"lr": 0.05, "iterations": {"sdf": 150}}}}
    result = I.invert(generator, I.Target("known_style", sdf=target.numpy()), "sdf", settings, None, mean=mean)

    with torch.no_grad():  # an independent evaluation of the best styles on the same grid
        found = generator.sdf_grid(result.best_styles, RES)[0]
    mse = float(((found - target) ** 2).mean())
    np.testing.assert_allclose(result.best_loss, mse, rtol=1e-4)  # the inversion's loss is that MSE
    assert mse < start_mse / 50
    assert _iou(found, target) > 0.9
