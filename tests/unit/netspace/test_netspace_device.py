"""Every NetSpace GPU rule's computation, one step of it, with the model and its inputs on PyTorch's ``meta`` device.

A ``meta`` tensor beside a CPU tensor raises as a CUDA one does ("Tensor on device meta is not on the expected
device cpu!"), so a tensor that a step creates on the CPU instead of the model's device fails here as it would on
the first step of a GPU job. Meta tensors have shapes but no values: the few places where a step reads a value
back to the host (the ClassId argmax that picks the architecture a PRep is loaded into, a loss or an accuracy
logged) go through ``training.host_ids`` / ``training.host_value``, which these tests replace with stand-ins that
check they are handed tensors of the model's device and return fixed values; the real ones are checked on the CPU
(``test_host_reads_on_the_cpu``).

Rules covered: ``train_member`` (one epoch, the accuracy, batch-norm folding), ``fit_sdf_mlp`` (one fitting step),
``train_netspace`` (one step and one validation of each setting: single, multi, unseen, sdf), ``optimise_latent``
(one step of the embedding and its validation). ``evaluate_netspace`` runs on the CPU (its rule claims no device).
"""
import pytest
import torch

from helpers_netspace import SMALL_MODEL, images, nets
from sketch3d.netspace import training as T
from sketch3d.netspace.model import NetSpace

META = torch.device("meta")


@pytest.fixture
def host_reads(monkeypatch):
    """Replace the host reads with stand-ins (meta tensors hold no values); record what they were given."""
    seen = []

    def ids(t):
        seen.append(t.device)
        return [k % len(T.CLASSIFIERS) for k in range(t.shape[0])]

    def value(t):
        seen.append(t.device)
        return 0.0

    monkeypatch.setattr(T, "host_ids", ids, raising=False)
    monkeypatch.setattr(T, "host_value", value, raising=False)
    return seen


def _setup(setting, width):
    """The nets, templates, targets and NetSpace of a tiny run of ``setting``, placed as train_netspace places them."""
    if setting == "sdf":
        train = nets("siren", 2, 0)
        x, y, teacher = torch.rand(64, 3) * 2 - 1, None, None
    else:
        train = nets("lenetlike", 2, 0) if setting == "single" else nets("lenetlike", 1, 0) + nets("resnet32", 1, 3)
        x, y = images(4)
        teacher = nets("lenetlike", 1, 50)[0][0] if setting != "single" else None
    templates = T.templates_for([n for n, _ in train], setting)
    height = T.common_height(templates, width)
    targets = T.make_targets(train, width, height)
    classes = len(T.CLASSIFIERS) if setting in ("multi", "unseen") else None
    model = NetSpace((height, width), SMALL_MODEL["embedding"], classes, SMALL_MODEL["channels"])
    for t in targets:
        t.net.to(META)
        t.prep = t.prep.to(META)
    templates = {k: v.to(META) for k, v in templates.items()}
    teacher = teacher.to(META) if teacher is not None else None
    return model.to(META), targets, templates, teacher, x.to(META), None if y is None else y.to(META)


@pytest.mark.parametrize("setting,mode", [("single", None), ("sdf", None), ("multi", "predicted"),
                                          ("multi", "target"), ("unseen", "predicted")])
def test_train_netspace_step_on_a_device(setting, mode, host_reads):
    width = 64 if setting == "sdf" else 16384  # multi: LeNetLike + ResNet32, so that the pair is a boundary pair
    model, targets, templates, teacher, x, y = _setup(setting, width)
    s = T.effective(setting, {"steps": 1, "eval_every": 1, **({"architecture_from": mode} if mode else {})})
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    terms = T.step_losses(model, setting, targets, templates, x, y, teacher, s)
    assert all(v.device == META for v in terms.values())
    if setting in ("multi", "unseen"):
        assert set(terms) == {"total", "kd", "class", "interpolation"}
    opt.zero_grad()
    terms["total"].backward()
    opt.step()
    assert all(p.grad is not None and p.grad.device == META for p in model.parameters())
    T.validate(model, setting, targets, templates, x, y, s)
    assert host_reads and all(d == META for d in host_reads)


def test_host_reads_on_the_cpu():
    logits = torch.tensor([[0.1, 2.0, -1.0, 0.0], [3.0, 0.0, 0.0, 0.0]])
    assert T.host_ids(logits) == [1, 0]
    assert T.host_value(torch.tensor(2.5)) == 2.5 and isinstance(T.host_value(torch.tensor(2.5)), float)
