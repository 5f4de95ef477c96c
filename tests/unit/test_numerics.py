"""The pinned kernels: which variables are set where, and a training step that gives the same bytes on an AVX2-only
CPU as on this one (an AVX2 CPU emulated on this machine: oneDNN and MKL capped at AVX2)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sketch3d import numerics

ROOT = Path(__file__).resolve().parents[2]
WORKLOAD = ROOT / "benchmarks" / "numerics_workload.py"
# what an AVX2-only Intel CPU runs: oneDNN's and MKL's kernels capped at AVX2 (PyTorch's own are pinned at AVX2)
AVX2_CPU = {"ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}


def test_pins_only_what_the_cpu_has():
    assert numerics.pinned_environment("aarch64", {"avx2", "fma"}) == {}
    old_x86 = numerics.pinned_environment("x86_64", {"sse4_2"})
    assert set(old_x86) == {"NPY_DISABLE_CPU_FEATURES"}
    avx2 = numerics.pinned_environment("x86_64", {"avx2", "fma", "sse4_2"})
    assert avx2["ATEN_CPU_CAPABILITY"] == "avx2" and avx2["MKL_CBWR"] == "AVX2"
    assert "AVX512F" in avx2["NPY_DISABLE_CPU_FEATURES"]


def test_keeps_the_users_settings_and_the_native_switch(monkeypatch):
    monkeypatch.setenv("MKL_CBWR", "COMPATIBLE")
    monkeypatch.delenv("ATEN_CPU_CAPABILITY", raising=False)
    monkeypatch.delenv(numerics.NATIVE_ENV, raising=False)
    monkeypatch.setattr(numerics, "pinned_environment", lambda: {"MKL_CBWR": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"})
    assert numerics.pin_environment() == {"ATEN_CPU_CAPABILITY": "avx2"}
    assert os.environ["MKL_CBWR"] == "COMPATIBLE"
    monkeypatch.delenv("ATEN_CPU_CAPABILITY")
    monkeypatch.setenv(numerics.NATIVE_ENV, "1")
    assert numerics.pin_environment() == {} and "ATEN_CPU_CAPABILITY" not in os.environ


def _run(what: str, extra: dict[str, str]) -> str:
    env = {k: v for k, v in os.environ.items()
           if k not in ("ATEN_CPU_CAPABILITY", "MKL_CBWR", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS",
                        numerics.NATIVE_ENV)}
    env.update(extra, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, str(WORKLOAD), what], env=env, capture_output=True, text=True,
                         check=True)
    return out.stdout.split()[0]


@pytest.mark.skipif(not {"avx2", "fma"} <= numerics._cpu_flags(), reason="needs an x86-64 CPU with AVX2 and FMA")
def test_training_step_same_bytes_on_an_avx2_cpu():
    assert _run("train", {}) == _run("train", AVX2_CPU)


@pytest.mark.skipif("avx512f" not in numerics._cpu_flags(), reason="shows a difference only on an AVX-512 CPU")
def test_the_emulated_avx2_cpu_differs_without_the_pins():
    # the test above could fail: with each machine's own kernels the same step differs between the two CPUs
    native = {numerics.NATIVE_ENV: "1"}
    assert _run("train_native_convs", native) != _run("train_native_convs", {**native, **AVX2_CPU,
                                                                              "ATEN_CPU_CAPABILITY": "avx2"})


def test_training_kernels_switch_off_onednn_and_nnpack_inside_only(monkeypatch):
    import torch

    monkeypatch.delenv(numerics.NATIVE_ENV, raising=False)
    before = (torch.backends.mkldnn.enabled, torch._C._get_nnpack_enabled())
    with numerics.training_kernels():
        assert (torch.backends.mkldnn.enabled, torch._C._get_nnpack_enabled()) == (False, False)
    assert (torch.backends.mkldnn.enabled, torch._C._get_nnpack_enabled()) == before
    monkeypatch.setenv(numerics.NATIVE_ENV, "1")
    with numerics.training_kernels():
        assert torch.backends.mkldnn.enabled == before[0]
