"""Which CPU kernels a sketch3d process computes with, so that x86-64 CPUs of different kinds give the same numbers.

numpy, PyTorch and the libraries under PyTorch pick their kernels by the CPU they find: AVX-512 or AVX2 code,
oneDNN convolutions blocked for the CPU's caches, MKL GEMMs by CPU branch. Each choice is exact on its own machine
but rounds differently, and training turns last-bit differences into different models (Table 5.1 moved by 10.5
points between an AVX-512 and an AVX2 machine). Two settings hold the numbers still:

- ``pin_environment`` (run by ``sketch3d/__init__.py`` before numpy or torch is imported; every ``sketch3d``
  command imports the package first): numpy without its AVX-512 (SVML) kernels; PyTorch's own kernels at the
  AVX2 level (``ATEN_CPU_CAPABILITY``, read when the first operator runs); MKL's AVX2 branch of conditional
  numerical reproducibility (``MKL_CBWR``), which MKL's documentation promises gives the same results on every
  Intel CPU with AVX2 for a fixed number of threads (the rules fix ``threads``). On an AVX-512 CPU, measured with
  ``benchmarks/bench_numerics.py``: CLIP RN50 inference 1.06x the native CPU time, ViT-B-32 1.7x (its GEMMs);
  on an AVX2 CPU they change nothing.
- ``training_kernels`` (the training loop runs every step inside it): convolutions without oneDNN and NNPACK,
  through PyTorch's own im2col and MKL's pinned GEMM. oneDNN promises the same bits only on the same platform; its
  kernels follow the CPU's ISA and cache sizes. A small CNN's training step costs 1.6x with both settings, so
  inference outside
  training (CLIP features, FID's Inception, MiDaS labels) keeps oneDNN: features differ across CPU kinds in their
  last bits, which the retrieval's distances absorb (``retrieval.distances``: near ties recomputed in a fixed order).

Left: MKL's AVX2 branch is Intel's; on other vendors' CPUs MKL takes its automatic branch. Set
``MKL_CBWR=COMPATIBLE`` on every machine to compare across vendors (about 3x slower GEMMs). A user's own setting of
any of these variables is kept; ``SKETCH3D_NATIVE_KERNELS=1`` turns all of this off (each machine's fastest
kernels, numbers tied to the machine).
"""
from __future__ import annotations

import contextlib
import os
import platform
from pathlib import Path
from typing import Iterator

__all__ = ["NATIVE_ENV", "pinned_environment", "pin_environment", "training_kernels", "native"]

NATIVE_ENV = "SKETCH3D_NATIVE_KERNELS"

# numpy 1.26 on AVX-512 CPUs computes float64 sin, cos, tan, arccos, arctan2, power, ... with SVML (up to 4 ulp off
# the glibc results that AVX2 CPUs get): the procedural meshes and simulated sketches then differed in discrete
# ways (triangulations, strokes). numpy reads this variable when it is first imported.
_NUMPY_AVX512 = "AVX512F AVX512CD AVX512_KNL AVX512_KNM AVX512_SKX AVX512_CLX AVX512_CNL AVX512_ICL"


def native() -> bool:
    """True where the user asked for each machine's own fastest kernels."""
    return os.environ.get(NATIVE_ENV, "").strip() not in ("", "0")


def _cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str]:
    """The CPU's feature flags as Linux lists them; empty where there is no such file (then nothing is pinned
    that the CPU might lack)."""
    try:
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("flags"):
                return set(line.partition(":")[2].split())
    except OSError:
        pass
    return set()


def pinned_environment(machine: str | None = None, flags: set[str] | None = None) -> dict[str, str]:
    """The variables that pin the kernels on this machine (``machine``: ``platform.machine()``; ``flags``: the CPU's
    feature flags). Nothing off x86-64; the AVX2 level only where the CPU has AVX2 and FMA."""
    machine = (machine if machine is not None else platform.machine()).lower()
    if machine not in ("x86_64", "amd64"):
        return {}
    env = {"NPY_DISABLE_CPU_FEATURES": _NUMPY_AVX512}
    flags = _cpu_flags() if flags is None else flags
    if {"avx2", "fma"} <= flags:
        env["ATEN_CPU_CAPABILITY"] = "avx2"
        env["MKL_CBWR"] = "AVX2"
    return env


def pin_environment() -> dict[str, str]:
    """Set the pinned variables the user has not set (before numpy and torch are imported); what was set."""
    if native():
        return {}
    done = {}
    for key, value in pinned_environment().items():
        if key not in os.environ:
            os.environ[key] = value
            done[key] = value
    return done


@contextlib.contextmanager
def training_kernels() -> Iterator[None]:
    """Inside: PyTorch's convolutions without oneDNN and NNPACK (see the module's docstring). No effect on a GPU."""
    if native():
        yield
        return
    import torch

    # the two switches set by hand: torch.backends.mkldnn.flags() also sets oneDNN's TF32 flag, which warns on
    # builds without Intel GPU support; both restored on the way out
    onednn = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False
    (nnpack,) = torch.backends.nnpack.set_flags(False)
    try:
        yield
    finally:
        torch.backends.mkldnn.enabled = onednn
        torch.backends.nnpack.set_flags(nnpack)
