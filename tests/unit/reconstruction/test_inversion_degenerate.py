"""Degenerate inversions (the demo's short runs on a small generator can give them): an empty shape or one
filling the cube. The CLIP loss stays defined (no gradient: the styles stay put), the outputs are still
written with warnings in summary.json, and the scores take an empty shape (no Chamfer distance, IoU 0)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from sketch3d.reconstruction import inversion as inv
from sketch3d.reconstruction.generator import GeneratorConfig, SDFStyleGAN
from sketch3d.reconstruction.scores import score_inversion

TINY = dict(z_dim=8, style_dim=8, style_depth=2, volume_res=8, channels=4, network_capacity=1, fmap_max=4,
            mlp_hidden=8, mlp_layers=1)


def _generator(offset: float) -> SDFStyleGAN:
    """A tiny real generator whose SDF is shifted by ``offset`` cube units (+5: empty; -5: the whole cube)."""
    torch.manual_seed(0)
    g = SDFStyleGAN(GeneratorConfig.from_settings(TINY))
    with torch.no_grad():
        g.M.mapping[-1].bias.fill_(offset)
    return g.eval()


def _clip() -> torch.nn.Module:
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 8, stride=8), torch.nn.ReLU()).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def _settings(**inversion):
    return {"seed": 0, "reconstruction": {
        "inversion": {"iterations": {"sdf": 3, "clip": 3, "clip_argmax": 3}, "clip_size": 32, **inversion},
        "render": {"size": 16, "steps": 32}, "generator": {"mean_samples": 8, "mc_resolution": 12}}}


def _target(res=8):
    sketch = np.full((224, 224), 255, np.uint8)
    sketch[60:160, 100:104] = 0
    axis = np.linspace(-1, 1, res)
    x, y, z = np.meshgrid(axis, axis, axis, indexing="ij")
    return inv.Target("00", "shape", sdf=(np.sqrt(x ** 2 + y ** 2 + z ** 2) - 0.5).astype(np.float32),
                      sketches={0.0: sketch})


@pytest.mark.parametrize("supervision", ["clip", "clip_argmax"])
def test_clip_inversion_of_an_empty_shape_is_defined_and_warned(tmp_path, supervision):
    gen = _generator(5.0)
    r = inv.invert(gen, _target(), supervision, _settings(), tmp_path / "out", clip=_clip())
    assert all(np.isfinite(r.losses)) and len(set(r.losses)) == 1  # no gradient: the page never changes
    assert torch.equal(r.best_styles, r.init_styles)
    summary = json.loads((tmp_path / "out" / inv.SUMMARY).read_text())
    assert summary["empty"] and not summary["watertight"]
    assert any("empty shape" in w for w in summary["warnings"])
    assert "no surface" in (tmp_path / "out" / inv.MESH).read_text()
    import trimesh

    from sketch3d.reconstruction.scores import shape_reference

    ref = shape_reference(trimesh.creation.icosphere(2, 0.25), _target().sdf, 200, 0)  # the sphere, mesh frame
    scores = score_inversion(tmp_path / "out", ref, _settings())
    assert scores["empty"] and np.isnan(scores["chamfer_l1"]) and np.isnan(scores["f1"]) and scores["iou"] == 0.0


def test_a_shape_filling_the_cube_is_meshed_as_the_box_and_warned(tmp_path):
    gen = _generator(-5.0)
    inv.invert(gen, _target(), "clip", _settings(), tmp_path / "out", clip=_clip())
    summary = json.loads((tmp_path / "out" / inv.SUMMARY).read_text())
    assert not summary["empty"] and summary["watertight"]
    assert any("fills the whole cube" in w for w in summary["warnings"])
    assert any("blank" in w for w in summary["warnings"])


def test_shape_warnings_of_analytic_grids():
    sphere = _target(12).sdf
    assert inv.shape_warnings(sphere, 0.01) == []
    assert "empty shape" in inv.shape_warnings(sphere + 2.0, 0.01)[0]
    assert "fills the whole cube" in inv.shape_warnings(sphere - 2.0, 0.01)[0]
