"""One workload run in a fresh process, for bench_numerics.py and tests/unit/test_numerics.py:

    python benchmarks/numerics_workload.py train|clip_rn|clip_vit

prints `<sha1 of the result's bytes> <CPU seconds of the computation, model building left out>`. `train`: 12 SGD
steps of a small convolutional network inside `numerics.training_kernels()`, in a process that imported the training
loop (MKL's COMPATIBLE branch); `train_native_convs`: the same steps outside it; `clip_rn` / `clip_vit`: a forward
pass of randomly initialised open_clip RN50 / ViT-B-32 image towers on 4 images (inference, as the feature stage).
The process's environment decides the kernels (set it before starting the process).
"""
from __future__ import annotations

import hashlib
import resource
import sys

import sketch3d  # noqa: F401  (pins the kernels before torch is imported)
from sketch3d import numerics
import torch


_START = [0.0]  # when the timed part began (after building the model)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _train(pinned: bool) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.BatchNorm2d(16), torch.nn.ReLU(),
        torch.nn.Conv2d(16, 32, 3, stride=2, padding=1), torch.nn.BatchNorm2d(32), torch.nn.GELU(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(32, 10))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.2)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    x, y = torch.randn(64, 3, 32, 32, generator=gen), torch.randint(0, 10, (64,), generator=gen)
    _START[0] = _cpu_seconds()
    with numerics.training_kernels() if pinned else torch.autograd.set_grad_enabled(True):
        for _ in range(12):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(x), y).backward()
            opt.step()
    return torch.cat([p.detach().flatten() for p in net.parameters()])


def _clip(name: str) -> torch.Tensor:
    from sketch3d.compat.torchvision_ops import ensure_torchvision

    ensure_torchvision()
    import open_clip

    torch.manual_seed(0)
    model = open_clip.create_model(name, pretrained=None).visual.eval()
    x = torch.randn(4, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        model(x[:1])  # first call allocates
        _START[0] = _cpu_seconds()
        return model(x)


def main(what: str) -> None:
    if what == "train":
        # a training process: MKL's vendor-independent branch, asked for before the first GEMM (sketch3d.training_blas)
        import sketch3d.training_loop  # noqa: F401
    torch.set_num_threads(1)
    out = {"train": lambda: _train(True), "train_native_convs": lambda: _train(False),
           "clip_rn": lambda: _clip("RN50"), "clip_vit": lambda: _clip("ViT-B-32")}[what]()
    seconds = _cpu_seconds() - _START[0]
    print(hashlib.sha1(out.numpy().tobytes()).hexdigest(), f"{seconds:.3f}")


if __name__ == "__main__":
    main(sys.argv[1])
