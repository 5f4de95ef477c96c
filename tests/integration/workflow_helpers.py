"""Helpers of the integration tests: a throw-away copy of the project (tiny demo params) and running
the workflow in it. (Not named conftest: test modules import it, and tests/unit has a conftest too.)"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def workflow_env(cwd: Path | None = None) -> dict:
    """The environment of a workflow run in project ``cwd``: the venv's tools, offline, and that
    project's own copy of the package first on the path (so a test may edit it)."""
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    if cwd is not None and (Path(cwd) / "src" / "sketch3d").is_dir():
        env["PYTHONPATH"] = str(Path(cwd) / "src")
    env["HF_HUB_OFFLINE"] = "1"
    env["OMP_NUM_THREADS"] = "2"
    env.setdefault("SKETCH3D_GPU_LOCK_DIR", str(Path(os.environ.get("TMPDIR", "/tmp")) / "sketch3d-test-gpu-locks"))
    return env


def run(cmd: list[str], cwd: Path, check: bool = True, timeout: int = 900) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env=workflow_env(cwd), capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return proc


def snakemake(*args: str, cwd: Path, check: bool = True, timeout: int = 900) -> subprocess.CompletedProcess:
    return run([str(BIN / "snakemake"), *args], cwd=cwd, check=check, timeout=timeout)


def make_project(dest: Path, params: Path | None = None) -> Path:
    """Copy what the workflow needs; params.yaml replaced by the tiny test settings."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in ("Snakefile", "dvc.yaml", ".dvcignore", ".gitignore", "environment.yml", "profiles"):
        shutil.copy2(REPO / name, dest / name, follow_symlinks=False)
    shutil.copytree(REPO / "workflow", dest / "workflow", ignore=ignore, symlinks=True)
    shutil.copytree(REPO / "src", dest / "src", ignore=ignore, symlinks=True)
    shutil.copy2(params or REPO / "tests" / "data" / "params_tiny.yaml", dest / "params.yaml")
    return dest
