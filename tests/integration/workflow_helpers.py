"""Helpers of the integration tests: a throw-away copy of the project (tiny demo params) and running
the workflow in it. (Not named conftest: test modules import it, and tests/unit has a conftest too.)"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

import yaml
from sketch3d.numerics import NATIVE_ENV, pinned_environment

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
    # each machine's own fastest kernels: these runs check the workflow's behaviour (resume, reruns, the same bytes
    # twice on one machine), not the cross-CPU pins, which cost CI minutes (oneDNN off in training: ~1.6x) and
    # have their own tests (tests/unit/test_numerics.py); the pins this test process set are not passed on
    env[NATIVE_ENV] = "1"
    for key, value in pinned_environment().items():
        if env.get(key) == value:
            del env[key]
    env.setdefault("SKETCH3D_GPU_LOCK_DIR", str(Path(os.environ.get("TMPDIR", "/tmp")) / "sketch3d-test-gpu-locks"))
    return env


def run(cmd: list[str], cwd: Path, check: bool = True, timeout: int = 900) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env=workflow_env(cwd), capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return proc


def snakemake(*args: str, cwd: Path, check: bool = True, timeout: int = 900) -> subprocess.CompletedProcess:
    return run([str(BIN / "snakemake"), *args], cwd=cwd, check=check, timeout=timeout)


def init_dvc_repo(project: Path) -> None:
    """A git repository with DVC in ``project``, as a user's clone is (a committer named: `dvc commit` needs none,
    a git commit does)."""
    for cmd in (["git", "init", "-q"], ["git", "config", "user.email", "t@example.org"],
                ["git", "config", "user.name", "t"]):
        run(cmd, cwd=project)
    run([str(BIN / "dvc"), "init", "-q"], cwd=project)


def ran_stages(log: str) -> list[str]:
    """The DVC stages a `dvc repro` log says it ran, in order."""
    return re.findall(r"Running stage '([^']+)'", log)


def make_project(dest: Path, params: Path | None = None) -> Path:
    """Copy what the workflow needs; params.yaml replaced by the tiny test settings."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in ("Snakefile", "dvc.yaml", ".dvcignore", ".gitignore", "environment.yml", "profiles"):
        shutil.copy2(REPO / name, dest / name, follow_symlinks=False)
    shutil.copytree(REPO / "workflow", dest / "workflow", ignore=ignore, symlinks=True)
    shutil.copytree(REPO / "src", dest / "src", ignore=ignore, symlinks=True)
    shutil.copy2(params or REPO / "tests" / "data" / "params_tiny.yaml", dest / "params.yaml")
    return dest


def planned_jobs(out: str, target: str) -> dict[str, int]:
    """rule -> jobs in a dry run's job stats, the target rule ``target`` and the total left out; a dry run that
    lists no job must say it has nothing to do."""
    table = out.split("Job stats:", 1)[1].split("\n\n", 1)[0] if "Job stats:" in out else ""
    jobs = {k: int(v) for k, v in re.findall(r"^(\w+)\s+(\d+)$", table, re.M) if k not in ("total", target)}
    assert jobs or "Nothing to be done" in out, out[-2000:]
    return jobs


def jobs_after(project: Path, chapter: str, change: Callable[[dict], None]) -> dict[str, int]:
    """The jobs a dry run of ``chapter`` lists after ``change`` edits the project's demo block of that chapter's
    params (what the tiny demo runs with); params.yaml is restored afterwards."""
    path = project / "params.yaml"
    original = path.read_text()
    params = yaml.safe_load(original)
    change(params["profiles"]["demo"][chapter])
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        proc = snakemake("-n", "--cores", "1", chapter, cwd=project)
        return planned_jobs(proc.stdout + proc.stderr, chapter)
    finally:
        path.write_text(original)
