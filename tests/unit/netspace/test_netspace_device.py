"""Every NetSpace GPU rule's computation, one step of it, with the model and its inputs on PyTorch's ``meta`` device.

A ``meta`` tensor beside a CPU tensor raises as a CUDA one does ("Tensor on device meta is not on the expected
device cpu!"), so a tensor that a step creates on the CPU instead of the model's device fails here as it would on
the first step of a GPU job. Meta tensors have shapes but no values: the few places where a step reads a value
back to the host (the ClassId argmax that picks the architecture a PRep is loaded into, a loss or an accuracy
logged) go through ``netspace.host`` (``ids``, ``value``), which these tests replace with stand-ins that
check they are handed tensors of the model's device and return fixed values; the real ones are checked on the CPU
(``test_host_reads_on_the_cpu``).

Rules covered: ``train_member`` (one epoch, the accuracy, batch-norm folding), ``fit_sdf_mlp`` (one fitting step),
``train_netspace`` (one step and one validation of each setting: single, multi, unseen, sdf), ``teacher_logits``,
``optimise_latent`` (one step of the embedding and its validation). ``evaluate_netspace`` runs on the CPU (its rule claims no device).
"""
import pytest
import torch

from helpers_netspace import SMALL_MODEL, images, nets
from sketch3d.netspace import host
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

    monkeypatch.setattr(host, "ids", ids)
    monkeypatch.setattr(host, "value", value)
    return seen


def _setup(setting, width):
    """The nets, templates, targets and NetSpace of a tiny run of ``setting``, placed as train_netspace places them;
    the inputs stay on the CPU (train_netspace draws each batch there and moves it)."""
    if setting == "sdf":
        train = nets("siren", 2, 0)
        data, teacher = None, None
    else:
        train = nets("lenetlike", 2, 0) if setting == "single" else nets("lenetlike", 1, 0) + nets("resnet32", 1, 3)
        data = images(4)
        teacher = nets("lenetlike", 1, 50)[0][0] if setting != "single" else None
    templates = T.templates_for([n for n, _ in train], setting)
    height = T.common_height(templates, width)
    targets = T.make_targets(train, width, height)
    classes = len(T.CLASSIFIERS) if setting in ("multi", "unseen") else None
    model = NetSpace((height, width), SMALL_MODEL["embedding"], classes, SMALL_MODEL["channels"])
    model, templates, teacher = T.place(META, model, targets, templates, teacher)
    return model, targets, templates, teacher, data


@pytest.mark.parametrize("setting,mode", [("single", None), ("sdf", None), ("multi", "predicted"),
                                          ("multi", "target"), ("unseen", "predicted")])
def test_train_netspace_step_on_a_device(setting, mode, host_reads):
    width = 64 if setting == "sdf" else 16384  # multi: LeNetLike + ResNet32, so that the pair is a boundary pair
    model, targets, templates, teacher, data = _setup(setting, width)
    s = T.effective(setting, {"steps": 1, "eval_every": 1, "points": 64, "images_per_net": 4,
                              **({"architecture_from": mode} if mode else {})})
    gen = torch.Generator().manual_seed(0)
    if setting == "sdf":
        x, y = T.step_points(s, gen, META, targets), None  # [2 nets, 64, 3]: each net's own points
    else:
        x, y, _ = T.step_images(*data, lambda b, g: b.flip(3), s, gen, META)
    assert x.device == META and (y is None or y.device == META)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    terms = T.train_step(model, opt, setting, targets, templates, x, y, teacher, s)
    assert all(v.device == META for v in terms.values())
    if setting in ("multi", "unseen"):
        assert set(terms) == {"total", "kd", "class", "interpolation"}
    assert all(p.grad is not None and p.grad.device == META for p in model.parameters())
    assert all(st["exp_avg"].device == META for st in opt.state.values())
    T.validate(model, setting, targets, templates, x, y, s)
    assert host_reads and all(d == META for d in host_reads)



@pytest.mark.parametrize("setting", ["single", "multi"])
def test_looked_up_logits_on_a_device(setting, host_reads):
    """Fixed training images: the fixed nets' logits computed once on the device and looked up by host indices."""
    model, targets, templates, teacher, (tx, ty) = _setup(setting, 16384)
    s = T.effective(setting, {"steps": 1, "eval_every": 1, "images_per_net": 3})
    fixed = T.FixedLogits.build({k: t.net for k, t in enumerate(targets)} if setting == "single" else
                                {"teacher": teacher}, tx, META)
    x, y, idx = T.step_images(tx, ty, None, s, torch.Generator().manual_seed(0), META)
    known = [fixed.rows(k, idx) for k in range(len(targets))] if setting == "single" else fixed.rows("teacher", idx)
    assert all(t.device == META and t.shape == (3, 10) for t in (known if setting == "single" else [known]))
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    terms = T.train_step(model, opt, setting, targets, templates, x, y, teacher, s, known)
    assert all(v.device == META for v in terms.values())

def test_teacher_logits_on_a_device(host_reads):
    """The teacher_logits rule: the teacher on the device, the fixed training images on the host, the logits on
    the device; a training given them keeps them there."""
    from sketch3d.netspace import teacher_logits

    model, targets, templates, teacher, (tx, ty) = _setup("multi", 16384)
    logits = teacher_logits.compute(teacher, tx, META)
    assert logits.device == META and logits.shape == (len(tx), 10)
    fixed = T.FixedLogits.given("teacher", logits, tx, META)
    assert fixed.rows("teacher", torch.tensor([0, 2])).device == META


def test_host_reads_on_the_cpu():
    logits = torch.tensor([[0.1, 2.0, -1.0, 0.0], [3.0, 0.0, 0.0, 0.0]])
    assert host.ids(logits) == [1, 0]
    assert host.value(torch.tensor(2.5)) == 2.5 and isinstance(host.value(torch.tensor(2.5)), float)


@pytest.mark.parametrize("arch,regime", [("resnet8", "sgd"), ("lenetlike", "adam")])
def test_train_member_epoch_accuracy_and_fold_on_a_device(arch, regime, host_reads):
    from sketch3d.netspace import zoo

    member = zoo.Member("m", "multi", arch, "train", 0, 1, regime, 2, 0.05, 0.9, 5e-4, (1,))
    model = zoo._default_builder(member, 10, 32).to(META)
    opt, sched = zoo._optimizer(member, model)
    x = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    y = torch.randint(0, 10, (4,))
    sums = zoo.train_epoch(model, opt, x, y, 2, torch.Generator().manual_seed(0), True, META)
    if sched is not None:
        sched.step()
    assert sums["loss"].device == META and sums["correct"].device == META and sums["total"] == 4
    assert all(p.device == META for p in model.parameters())
    zoo.accuracy(model, x, y, batch=2, device=META)
    if zoo.has_batchnorm(model):
        folded = zoo._default_fold(model)
        assert not zoo.has_batchnorm(folded)
        assert all(t.device == META for t in folded.state_dict().values())
        zoo.accuracy(folded, x, y, batch=2, device=META)
    assert host_reads and all(d == META for d in host_reads)


def test_fit_sdf_mlp_step_on_a_device():
    from sketch3d.netspace import sdf_mlps
    from sketch3d.netspace.architectures import build_siren

    g = torch.Generator().manual_seed(0)
    points = torch.rand(50, 3, generator=g) * 2 - 1
    sampler = sdf_mlps.array_sampler(points.numpy(), (points.norm(dim=1) - 0.5).numpy())
    model = build_siren(8, seed=0).to(META).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.9)
    loss = sdf_mlps.sdf_step(model, opt, sched, sampler, 16, g)
    assert loss.device == META and loss.shape == ()
    assert all(p.grad.device == META for p in model.parameters())


@pytest.mark.parametrize("augmented", [True, False])  # False: fixed images, the teacher's logits looked up
@pytest.mark.parametrize("setting", ["single", "multi"])
def test_optimise_latent_on_a_device(setting, augmented, host_reads):
    from sketch3d.netspace.latent import optimise_latent

    width = 2048 if setting == "single" else 16384
    start_net = nets("lenetlike", 1, 0)
    templates = T.templates_for([start_net[0][0]], setting)
    height = T.common_height(templates, width)
    start = T.make_targets(start_net, width, height)[0]
    classes = len(T.CLASSIFIERS) if setting == "multi" else None
    model = NetSpace((height, width), SMALL_MODEL["embedding"], classes, SMALL_MODEL["channels"]).to(META)
    x, y = images(6)
    data = {"train": (x, y), "val": (x[:4], y[:4]), "test": (x[:2], y[:2])}
    if augmented:
        data["train_transform"] = lambda b, g: b
    out = optimise_latent(model, start, nets("lenetlike", 1, 50)[0][0], data,
                          {"steps": 1, "eval_every": 1, "images_per_step": 3, "eval_images": 2}, META)
    assert out["best_step"] in (0, 1) and len(out["curve"]) == 2
    assert host_reads and all(d == META for d in host_reads)
