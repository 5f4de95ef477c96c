"""MKL's branch in a training process: asked for before the first GEMM, honoured (MKL's own report, MKL_VERBOSE),
refused loudly where a GEMM came first, and the user's own setting kept."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from sketch3d import numerics, training_blas

ROOT = Path(__file__).resolve().parents[2]
needs_mkl = pytest.mark.skipif(not torch.backends.mkl.is_available(), reason="PyTorch built without MKL")


def _python(code: str, **extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("MKL_CBWR", numerics.NATIVE_ENV, "MKL_VERBOSE")}
    env.update(extra, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)


def _verbose_branches(out: subprocess.CompletedProcess) -> set[str]:
    """The CNR branch MKL reports for each GEMM it ran (MKL_VERBOSE=1 prints one line per call)."""
    return set(re.findall(r"CNR:(\w+)", out.stdout + out.stderr))


GEMM = "import torch; a = torch.randn(33, 17); (a @ a.T).sum()"


@needs_mkl
def test_a_training_process_computes_on_the_compatible_branch():
    out = _python("import sketch3d.training_loop\n" + GEMM + "\nfrom sketch3d import training_blas\n"
                  "print('BRANCH', training_blas.branch()); training_blas.check()", MKL_VERBOSE="1")
    assert out.returncode == 0, out.stderr
    assert _verbose_branches(out) == {"COMPATIBLE"}  # MKL's own account of every call, not ours
    assert "BRANCH COMPATIBLE" in out.stdout


@needs_mkl
def test_other_processes_keep_the_pins_branch():
    # inference (CLIP features, FID) stays on the faster branch: only training imports the loop
    out = _python("import sketch3d\n" + GEMM + "\nimport os; print('ENV', os.environ.get('MKL_CBWR'))", MKL_VERBOSE="1")
    assert out.returncode == 0, out.stderr
    assert f"ENV {numerics.pinned_environment().get('MKL_CBWR')}" in out.stdout
    assert "COMPATIBLE" not in _verbose_branches(out)


@needs_mkl
def test_a_gemm_before_the_loop_is_refused_with_the_fix():
    code = ("import sketch3d\n" + GEMM + "\nimport sketch3d.training_loop\n"
            "from sketch3d import training_blas\ntraining_blas.check()")
    out = _python(code)
    assert out.returncode != 0
    assert "a matrix product ran in this process before sketch3d.training_loop was imported" in out.stderr
    assert "MKL_CBWR" in out.stderr


@needs_mkl
def test_the_users_setting_and_the_native_switch_are_kept():
    code = "import sketch3d.training_loop, os\n" + GEMM + "\nprint('ENV', os.environ.get('MKL_CBWR'))\n" \
           "from sketch3d import training_blas; training_blas.check()"
    mine = _python(code, MKL_CBWR="AUTO")
    assert mine.returncode == 0 and "ENV AUTO" in mine.stdout
    native = _python(code, **{numerics.NATIVE_ENV: "1"})
    assert native.returncode == 0 and "ENV None" in native.stdout


def _vendor() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("vendor_id"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return ""


@needs_mkl
@pytest.mark.skipif(_vendor() != "AuthenticAMD" or "avx2" not in numerics._cpu_flags(),
                    reason="shows MKL ignoring its AVX2 branch on an AMD CPU only")
def test_mkl_ignores_the_avx2_branch_on_amd():
    # why the loop asks for COMPATIBLE: the pins' AVX2 branch is Intel's, MKL silently keeps AUTO on AMD
    out = _python(GEMM, MKL_CBWR="AVX2", MKL_VERBOSE="1")
    assert _verbose_branches(out) == {"AUTO"}
    out = _python(GEMM, MKL_CBWR=training_blas.BRANCH, MKL_VERBOSE="1")
    assert _verbose_branches(out) == {"COMPATIBLE"}
