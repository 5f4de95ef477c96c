"""GPU readiness of chapter 4.3's GPU computations (mean_style, invert, reconstruct), without a GPU.

1. On PyTorch's ``meta`` device (a meta tensor beside a CPU tensor raises, as a CUDA one does), the paper's
   generator (the released chair model's architecture) and its inputs: ``mean_style``; one step of the SDF
   inversion (loss, backward, Adam step; all points, a random subset, the L1 term); one step of the CLIP
   inversions (clip, clip_argmax, augmented) from the rendering on: the renderer is the one part replaced.
2. The renderer cannot run on meta: its sphere tracing needs real values (rays leave the loop as they converge,
   ``torch.nonzero`` picks the active ones, the loop stops when none is left). So it runs for real, on the CPU,
   under an audit instead: every tensor that code of the package creates with a factory (zeros, full, arange,
   linspace, rand*, tensor/as_tensor of non-tensor data...) must name its device. A factory without a device makes
   a CPU tensor wherever the model is: on a GPU the next operation mixing the two raises. Audited: one CLIP and one
   SDF inversion step through the real renderer and a tiny real SDFStyleGAN, and a whole ``reconstruct``.
   (Before the fix, the renderer made every ray and buffer on the CPU: the CLIP inversions crashed at their
   first step on a GPU.)
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.overrides import TorchFunctionMode

from _inversion_fakes import FakeClip
from _inversion_fakes import settings as tiny_settings

import sketch3d
from sketch3d.reconstruction import generator as G
from sketch3d.reconstruction import inversion as I

PACKAGE = str(Path(sketch3d.__file__).resolve().parent)
CHAIR = Path(PACKAGE) / "data" / "quickdraw" / "chair.ndjson"
TINY = dict(z_dim=16, style_dim=16, style_depth=2, volume_res=8, channels=8, network_capacity=2, fmap_max=16,
            mlp_hidden=16, mlp_layers=1)


@pytest.fixture(scope="module")
def meta_generator():
    """The paper's generator (GeneratorConfig's defaults: train_chair.sh's architecture), on meta."""
    with torch.device("meta"):  # no memory, no init cost; the CPU-drawn noise buffers are moved below
        generator = G.SDFStyleGAN(G.GeneratorConfig())
    return generator.to("meta").eval()


def test_mean_style_on_the_meta_device(meta_generator):
    mean = G.mean_style(meta_generator, n=4, seed=0)
    assert mean.device.type == "meta" and mean.dtype == torch.float32 and mean.shape == (1, 4, 512)


def test_the_scores_generator_step_on_the_meta_device(meta_generator):
    """reconstruction_scores' GPU part: stored (numpy) styles onto the model, their SDF on a grid; the marching
    cubes and the distances after it run on the CPU's copy (``styles_grid``'s .cpu())."""
    from sketch3d.reconstruction import scores

    styles = scores.styles_on_model(meta_generator, np.zeros((1, 4, 512), np.float32))
    grid = I.styles_grid_tensor(meta_generator, styles, 4, "meta")
    assert styles.device.type == "meta" and grid.device.type == "meta" and grid.shape == (4, 4, 4)


@pytest.mark.parametrize("inversion", [{}, {"sdf_points": 32, "l1_mean": 0.1}])
def test_one_sdf_inversion_step_on_the_meta_device(meta_generator, inversion):
    settings = tiny_settings(**inversion)
    target = I.Target("00", sdf=np.random.default_rng(0).standard_normal((8, 8, 8)).astype(np.float32))
    mean = G.mean_style(meta_generator, n=4, seed=0)
    objective = I.Objective(meta_generator, target, "sdf", settings, I.inversion_settings(settings), mean, "meta")
    styles = mean.detach().clone().requires_grad_(True)
    optimizer = torch.optim.Adam([styles], lr=0.005)
    loss = objective(styles, torch.Generator())
    loss.backward()
    optimizer.step()
    assert loss.device.type == "meta" and styles.grad.device.type == "meta"


@pytest.mark.parametrize("supervision,augment,mode", [("clip", 0, "channels"), ("clip_argmax", 0, "channels"),
                                                      ("clip_argmax", 0, "spatial"), ("clip", 2, "channels")])
def test_one_clip_inversion_step_on_the_meta_device(meta_generator, monkeypatch, supervision, augment, mode):
    """From the rendering on (the framing of sketch and rendering into one box, features of both, argmax in either
    grouping, augmentation, MSE, backward, Adam). The renderer is replaced by an image computed from the generated
    SDF on the SDF's own device; the framing (features.box.fit_to_box_tensor) runs on meta as it is: its box stays
    a device tensor, no host synchronisation."""
    def drawing_of(sdf_fn, view, settings, renderer):
        points = torch.linspace(-0.4, 0.4, 16 * 16 * 3, device=sdf_fn.device).reshape(-1, 3)
        image = torch.sigmoid(sdf_fn(points)).reshape(16, 16)
        return image, image.detach() < 0.5

    monkeypatch.setattr(I, "render_image", drawing_of)
    settings = tiny_settings(augment=augment, argmax_mode=mode, frame_box=170)
    sketch = np.full((224, 224), 255, np.uint8)
    sketch[60:160, 100:104] = 0
    mean = G.mean_style(meta_generator, n=4, seed=0)
    objective = I.Objective(meta_generator, I.Target("00", sketches={0.0: sketch}), supervision, settings,
                            I.inversion_settings(settings), mean, "meta", FakeClip().to("meta"))
    styles = mean.detach().clone().requires_grad_(True)
    optimizer = torch.optim.Adam([styles], lr=0.005)
    gen = torch.Generator().manual_seed(0)
    loss = objective(styles, gen)
    loss.backward()
    optimizer.step()
    assert loss.device.type == "meta" and styles.grad.device.type == "meta"


# ----------------------------------------------------------------------------- the audit of the real renderer

_FACTORIES = {torch.zeros, torch.ones, torch.full, torch.empty, torch.arange, torch.linspace, torch.logspace,
              torch.eye, torch.rand, torch.randn, torch.randint, torch.randperm, torch.tensor, torch.as_tensor,
              torch.asarray, torch.empty_strided, torch.scalar_tensor}
_FROM_DATA = {torch.tensor, torch.as_tensor, torch.asarray}


class DeviceAudit(TorchFunctionMode):
    """Records every factory call made from the package's code without a device (file:line: function)."""

    def __init__(self):
        super().__init__()
        self.offences: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _FACTORIES and kwargs.get("device") is None:
            from_tensor = func in _FROM_DATA and args and isinstance(args[0], torch.Tensor)  # keeps its device
            caller = sys._getframe(1)
            if not from_tensor and caller.f_code.co_filename.startswith(PACKAGE):
                where = f"{Path(caller.f_code.co_filename).relative_to(PACKAGE)}:{caller.f_lineno}"
                self.offences.append(f"{where}: {func.__name__}")
        return func(*args, **kwargs)


@pytest.fixture()
def tiny_generator():
    torch.manual_seed(0)
    return G.SDFStyleGAN(G.GeneratorConfig(**TINY)).eval()


def test_the_audit_sees_a_factory_without_a_device():
    audit = DeviceAudit()
    package_code = compile("torch.zeros(2)\ntorch.zeros(2, device='cpu')\ntorch.as_tensor(torch.ones(1))\n"
                           "torch.as_tensor([1.0])\n", f"{PACKAGE}/some_module.py", "exec")
    with audit:
        exec(package_code, {"torch": torch})  # as if the package's own code ran it
        torch.zeros(2)  # this test's code: not the package's
    # line 3: the inner ones() has no device; as_tensor of a tensor keeps that tensor's device
    assert audit.offences == ["some_module.py:1: zeros", "some_module.py:3: ones", "some_module.py:4: as_tensor"]


@pytest.mark.parametrize("supervision", ["clip", "clip_argmax", "clip_lines", "sdf"])
def test_an_inversion_step_through_the_real_renderer_names_its_device_everywhere(tiny_generator, supervision):
    settings = tiny_settings(augment=1, sdf_points=16)
    settings["reconstruction"]["inversion"]["iterations"] = {supervision: 1}
    sketch = np.full((224, 224), 255, np.uint8)
    sketch[60:160, 100:104] = 0
    target = I.Target("00", sdf=np.random.default_rng(0).standard_normal((6, 6, 6)).astype(np.float32),
                      sketches={0.0: sketch})
    audit = DeviceAudit()
    with audit:
        result = I.invert(tiny_generator, target, supervision, settings, None, device="cpu", clip=FakeClip())
    assert result is not None and len(result.losses) == 1
    assert audit.offences == [], "tensors made without the model's device:\n" + "\n".join(sorted(set(audit.offences)))


def test_reconstruct_names_its_device_everywhere(tiny_generator, tmp_path):
    from sketch3d.reconstruction.reconstruct import ReconstructError, reconstruct

    settings = tiny_settings()
    settings["features"] = {"backbone": "RN50", "weights": "random"}
    audit = DeviceAudit()
    with audit:
        try:
            reconstruct(CHAIR, tmp_path / "chair.obj", settings, tiny_generator, iterations=1, device="cpu",
                        clip=FakeClip(), echo=lambda line: None)
        except ReconstructError as exc:  # a tiny random generator's best shape may be empty: not this test's point
            assert "empty" in str(exc)
    assert audit.offences == [], "tensors made without the model's device:\n" + "\n".join(sorted(set(audit.offences)))
