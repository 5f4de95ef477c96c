"""MKL's branch for a process that trains: the one that gives the same GEMM results on every x86-64 CPU, of any vendor.

``sketch3d.numerics`` pins MKL's AVX2 branch of conditional numerical reproducibility (``MKL_CBWR=AVX2``) for
every process. MKL honours that branch on Intel CPUs only: on an AMD CPU it silently keeps its automatic branch
(``MKL_VERBOSE=1`` prints ``CNR:AUTO``; measured on an AMD EPYC, where ``mkl_cbwr_get`` then answers AUTO), so a
training on AMD rounds its GEMMs differently from one on Intel, and training turns the last bits into different
models (chapter 5's demo tables moved by up to 12.5 points between the two). MKL's ``COMPATIBLE`` branch is the one
it honours on every vendor's CPU (measured on the AMD EPYC: ``CNR:COMPATIBLE``).

It costs little in training, where this package turns the convolutions into GEMMs anyway (measured here: a small
CNN's step 1.0-1.2x, the demo generator's step 1.27x) but much in inference (CLIP RN50 1.8x, ViT-B-32 2.4x), so it
is set for the processes that train only: :mod:`sketch3d.training_loop` calls :func:`pin` when it is imported,
which a training command does at the start of its handler, before any matrix product. MKL reads ``MKL_CBWR`` once,
at its first call, and cannot change it afterwards (``mkl_cbwr_set`` then fails), so :func:`check` (run by the loop
before its first step) stops a training whose process had already computed a GEMM on another branch, rather than
let it produce numbers tied to the machine.

A user's own ``MKL_CBWR`` (other than the pins' value) is kept; ``SKETCH3D_NATIVE_KERNELS=1`` turns this off
with the other pins.
"""
from __future__ import annotations

import ctypes
import os
from pathlib import Path

from sketch3d import numerics

__all__ = ["BRANCH", "pin", "branch", "check"]

BRANCH = "COMPATIBLE"
# mkl_service.h: mkl_cbwr_get(MKL_CBWR_BRANCH) returns the branch in use; MKL_CBWR_COMPATIBLE is its code
_MKL_CBWR_BRANCH = 1
_CODES = {0: "OFF", 1: "OFF", 2: "AUTO", 3: "COMPATIBLE", 4: "SSE2", 6: "SSSE3", 7: "SSE4_1", 8: "SSE4_2", 9: "AVX",
          10: "AVX2", 11: "AVX512_MIC", 12: "AVX512", 13: "AVX512_MIC_E1", 14: "AVX512_E1"}
# the names MKL's query goes by: the public one (MKL linked dynamically, conda's torch) and the internal one that
# PyTorch's wheels export from libtorch_cpu.so, where MKL is linked statically
_GETTERS = ("mkl_cbwr_get", "MKL_CBWR_Get", "mkl_serv_cbwr_get")


def _asked() -> bool:
    """True where this process should train on :data:`BRANCH`: not native, and ``MKL_CBWR`` unset or the pins'."""
    if numerics.native():
        return False
    current = os.environ.get("MKL_CBWR")
    return current is None or current == numerics.pinned_environment().get("MKL_CBWR")


def pin() -> None:
    """Ask MKL for :data:`BRANCH` (takes effect if MKL has not computed yet in this process)."""
    if _asked():
        os.environ["MKL_CBWR"] = BRANCH


def _getter():
    import torch

    if not torch.backends.mkl.is_available():
        return None
    libraries = [ctypes.CDLL(None)]
    torch_cpu = Path(torch.__file__).resolve().parent / "lib" / "libtorch_cpu.so"
    if torch_cpu.is_file():
        libraries.append(ctypes.CDLL(str(torch_cpu)))
    for library in libraries:
        for name in _GETTERS:
            function = getattr(library, name, None)
            if function is not None:
                function.restype = ctypes.c_int
                function.argtypes = [ctypes.c_int]
                return function
    return None


def branch() -> str | None:
    """The branch MKL computes on in this process (asking initialises it), or None without MKL or its query."""
    getter = _getter()
    if getter is None:
        return None
    code = int(getter(_MKL_CBWR_BRANCH))
    return _CODES.get(code, str(code))


def check() -> None:
    """Raise unless MKL computes on :data:`BRANCH` where it was asked for (see the module's docstring)."""
    if os.environ.get("MKL_CBWR") != BRANCH or numerics.native():
        return
    actual = branch()
    if actual is not None and actual != BRANCH:
        raise RuntimeError(
            f"MKL computes on its {actual} branch, not {BRANCH}: a matrix product ran in this process before "
            "sketch3d.training_loop was imported, so this training's numbers would depend on the CPU. Import "
            "sketch3d.training_loop (or call sketch3d.training_blas.pin()) before any computation, or set "
            "MKL_CBWR yourself (or SKETCH3D_NATIVE_KERNELS=1) to train on the machine's own kernels")
