"""The SLURM profile on a real (single-node) SLURM: scripts/slurm_local.sh's cluster, Snakemake's SLURM executor.

A tiny workflow of each chapter, on the rehearsal's fixtures and sizes (workflow/rehearsal.yaml, plus
tests/cluster/cluster.yaml's longer zoo training), runs through ``workflow/profiles/slurm`` in a copy of the
repository; the same targets run locally in a second copy. Checked: every job ran as a SLURM job; the GPU rules
(train_member) asked for ``--gpus=1`` and the CPU rules for no GPU; the two GPU jobs, running at the same time, held
different GPUs; a training job cancelled (scancel) after its first checkpoint was retried and resumed from that
checkpoint; every output equals the local run's byte for byte.

Needs root and either a running cluster or apt-get (scripts/slurm_local.sh installs slurmctld, slurmd,
slurm-client and munge, and starts them; the test stops what it started). .ci/run starts the cluster first.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "slurm_local.sh"
INPUTS = "results/rehearsal/inputs"
OUT = "results/rehearsal"
CONFIGS = ["workflow/rehearsal.yaml", "tests/cluster/cluster.yaml"]
# two trainings of the NetSpace zoo (GPU rules), one cheap rule of each other chapter; all five jobs start at once
# (the node has at least 8 job slots)
KILLED = "multi-lenetlike-train-000"  # cancelled after its first checkpoint
OTHER = "multi-vanillacnn-train-000"
DATASET = "tinyimagenet"  # the first of the paper profile's netspace.datasets
GPU_TARGETS = [f"{OUT}/netspace/zoo/{DATASET}/{KILLED}.pt", f"{OUT}/netspace/zoo/{DATASET}/{OTHER}.pt"]
CPU_TARGETS = [
    f"{OUT}/data/shapes.csv",  # retrieval's data stage (prepare_dataset)
    f"{OUT}/sketchydepth/data",  # SketchyDepth's scenes (prepare_scenes)
    f"{OUT}/reconstruction/generator/mean_style.npz",  # the reconstruction's mean style (mean_style)
]
GPU_RULES = {"train_member"}
CPU_RULES = {"prepare_dataset", "prepare_scenes", "mean_style"}
TARGETS = GPU_TARGETS + CPU_TARGETS
CHECKPOINT = f"{OUT}/cache/netspace/checkpoints/{DATASET}/zoo/{KILLED}/{KILLED}.pt"
SUBMITTED = re.compile(r"Job \d+ has been submitted with SLURM jobid (\d+) \(log: (\S+)\)")
TIMEOUT_S = 900


def _skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root: scripts/slurm_local.sh installs Debian packages and starts munge/slurmctld/slurmd"
    if shutil.which("sbatch") is None and shutil.which("apt-get") is None:
        return "no SLURM and no apt-get to install it (scripts/slurm_local.sh needs Debian/Ubuntu)"
    return None


pytestmark = pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or "")


def _slurm(*args: str) -> str:
    return subprocess.run(list(args), check=True, capture_output=True, text=True, timeout=60).stdout


@pytest.fixture(scope="module")
def cluster():
    was_up = subprocess.run(["bash", str(SCRIPT), "status"], capture_output=True).returncode == 0
    subprocess.run(["bash", str(SCRIPT), "start"], check=True, timeout=600)
    yield
    if not was_up:
        subprocess.run(["bash", str(SCRIPT), "stop"], check=True, timeout=120)


def _copy_repo(dest: Path) -> Path:
    """The repository's files (tracked and untracked, not ignored; no results) under ``dest``, with the rehearsal's
    fixtures linked in: each run has its own results/ and .snakemake/."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, check=True,
                           capture_output=True, text=True).stdout.splitlines()
    for rel in files:
        if rel.startswith("results/") or not (ROOT / rel).is_file():
            continue
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, dest / rel)
    (dest / OUT).mkdir(parents=True)
    (dest / INPUTS).symlink_to(ROOT / INPUTS)
    return dest


def _env(copy: Path) -> dict:
    env = dict(os.environ)
    env.pop("SLURM_CONF", None)  # the cluster's config is at /etc/slurm/slurm.conf (scripts/slurm_local.sh)
    env.update(PATH=f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}", PYTHONPATH=str(copy / "src"),
               HF_HUB_OFFLINE="1", HF_HOME=str(copy / INPUTS / "huggingface"), TORCH_HOME=str(copy / INPUTS / "torch"))
    return env


def _snakemake(copy: Path, targets: list[str], *options: str) -> list[str]:
    exe = str(Path(sys.executable).parent / "snakemake")
    return [exe, *targets, *options, "--configfile", *CONFIGS]


SLURM_OPTIONS = (
    "--workflow-profile", "workflow/profiles/slurm",
    # no accounting on this cluster: no sacct (the plugin's default status command where the binary exists)
    "--slurm-status-command", "squeue",
    "--slurm-init-seconds-before-status-checks", "2",
    "--slurm-keep-successful-logs",
    # the profile's defaults (16 GB, 2 CPUs a job) are a real cluster's; two jobs must fit this one node
    "--default-resources", "mem_mb=1000", "cpus_per_task=1", "runtime=30",
    "--retries", "1",
)


def _job_info(job_id: str) -> str:
    return _slurm("scontrol", "show", "job", "-d", job_id)


def _submissions(stdout: str, copy: Path) -> list[tuple[str, str]]:
    """(SLURM job id, rule) of every job Snakemake submitted, the rule read from the job's SLURM log path."""
    rows = []
    for job_id, log in SUBMITTED.findall(stdout):
        rel = Path(log).relative_to(copy / ".snakemake" / "slurm_logs")
        rows.append((job_id, rel.parts[0].removeprefix("rule_")))
    return rows


def _gpu_index(info: str) -> str | None:
    m = re.search(r"GRES=gpu(?::\w+)?:1\(IDX:(\d+)\)", info)
    return m.group(1) if m else None


def _running_trainings() -> dict[str, str]:
    """KILLED's and OTHER's SLURM job ids, those of them running now."""
    running = {}
    for line in _slurm("squeue", "-h", "-t", "RUNNING", "-o", "%i|%k").splitlines():
        job_id, comment = line.split("|", 1)
        # the plugin's comment: rule_<rule>_wildcards_<the wildcards' values joined by _> (dataset, member)
        member = next((m for m in (KILLED, OTHER) if comment.endswith(f"_{m}")), None)
        if comment.startswith("rule_train_member_") and member is not None:
            running[member] = job_id
    return running


def _run_and_kill_one(copy: Path) -> tuple[str, dict]:
    """Run every target through SLURM; cancel KILLED's job once its first checkpoint exists. Meanwhile, note the
    GPU each training job holds at the first moment both run (on a loaded machine OTHER may end before KILLED's
    first checkpoint, so the moment of the cancel alone may miss it). Returns Snakemake's output and the notes."""
    proc = subprocess.Popen(_snakemake(copy, TARGETS, *SLURM_OPTIONS, "--jobs", str(len(TARGETS))), cwd=copy,
                            env=_env(copy), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    notes: dict = {}
    deadline = time.monotonic() + TIMEOUT_S
    try:
        while True:
            running = _running_trainings()
            if len(running) == 2 and "concurrent" not in notes:
                # a GPU's index is shown while its job runs only
                notes["concurrent"] = {member: _gpu_index(_job_info(i)) for member, i in running.items()}
            if (copy / CHECKPOINT).exists():
                break
            assert proc.poll() is None, f"snakemake ended before {KILLED}'s first checkpoint:\n{proc.stdout.read()}"
            assert time.monotonic() < deadline, f"no checkpoint {CHECKPOINT} after {TIMEOUT_S} s"
            time.sleep(0.2)
        notes.setdefault("concurrent", {member: _gpu_index(_job_info(i)) for member, i in running.items()})
        notes["killed"] = running[KILLED]
        _slurm("scancel", notes["killed"])
        out, _ = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out
    return out, notes


def _processes_of_job(job_id: str) -> list[str]:
    """Command lines of the live processes that SLURM started for ``job_id`` (their environment names it)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            env = (proc / "environ").read_bytes().split(b"\0")
            if f"SLURM_JOB_ID={job_id}".encode() in env:
                found.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:200])
        except OSError:  # gone meanwhile, or a kernel thread
            continue
    return found


def _outputs(copy: Path) -> dict[str, bytes]:
    """Every output file under results/rehearsal, but the logs (timings, pids, job ids) and the fixtures."""
    base = copy / OUT
    return {p.relative_to(base).as_posix(): p.read_bytes() for p in sorted(base.rglob("*"))
            if p.is_file() and p.relative_to(base).parts[0] not in ("logs", "inputs")}


def test_the_slurm_profile_runs_each_chapter_on_slurm(cluster, tmp_path):
    subprocess.run([sys.executable, "tests/rehearsal/build.py", "--out", INPUTS], cwd=ROOT, check=True,
                   env=_env(ROOT), timeout=600, capture_output=True)
    slurm_copy = _copy_repo(tmp_path / "slurm")
    local_copy = _copy_repo(tmp_path / "local")
    # the same targets on this machine, without SLURM, at the same time (the SLURM run mostly waits)
    local = subprocess.Popen(_snakemake(local_copy, TARGETS, "--cores", "2"), cwd=local_copy, env=_env(local_copy),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out, notes = _run_and_kill_one(slurm_copy)
        local_out, _ = local.communicate(timeout=TIMEOUT_S)
    finally:
        if local.poll() is None:
            local.kill()
            local.wait()
    assert local.returncode == 0, local_out
    jobs = _submissions(out, slurm_copy)
    info = {i: _job_info(i) for i, _ in jobs}

    # every job was a SLURM job: one per rule, the cancelled training twice, and nothing ran locally
    assert sorted(r for _, r in jobs) == sorted(["train_member"] * 3 + list(CPU_RULES)), out
    assert "localrule" not in out
    for job_id, rule in jobs:
        state = re.search(r"JobState=(\w+)", info[job_id]).group(1)
        assert state == ("CANCELLED" if job_id == notes["killed"] else "COMPLETED"), info[job_id]
        assert f"Comment=rule_{rule}" in info[job_id], info[job_id]
        # GPU rules asked SLURM for one GPU (the plugin's --gpus=1), the others for none
        assert ("TresPerJob=gres:gpu:1" in info[job_id]) == (rule in GPU_RULES), info[job_id]

    # the two training jobs ran at the same time on different GPUs
    assert sorted(notes["concurrent"]) == sorted([KILLED, OTHER]), notes
    assert sorted(notes["concurrent"].values()) == ["0", "1"], notes
    # ... and inside each finished job, the code saw the GPU SLURM gave it (sketch3d.devices' report line)
    reports = {}
    for member in (KILLED, OTHER):
        log = (slurm_copy / OUT / "logs" / "train_member" / f"{DATASET}_{member}.log").read_text()
        m = re.search(r"SLURM job (\d+) CUDA_VISIBLE_DEVICES=(\d+)", log)
        assert m, log
        reports[member] = m.groups()
    assert reports[OTHER][1] == notes["concurrent"][OTHER]
    # the cancelled job was retried as another SLURM job, which resumed after the checkpoint's epoch
    killed_log = (slurm_copy / OUT / "logs" / "train_member" / f"{DATASET}_{KILLED}.log").read_text()
    assert reports[KILLED][0] != notes["killed"]
    m = re.search(rf"train_member {KILLED}: resuming after epoch (\d+) of (\d+)", killed_log)
    assert m and 1 <= int(m.group(1)) < int(m.group(2)), killed_log
    assert not (slurm_copy / CHECKPOINT).exists()  # removed once the member was written
    # nothing of the cancelled job lives on (its Snakemake once outlived scancel under proctrack/linuxproc)
    assert _processes_of_job(notes["killed"]) == []

    # every output equals the local run's, byte for byte
    on_slurm, here = _outputs(slurm_copy), _outputs(local_copy)
    assert sorted(on_slurm) == sorted(here)
    assert [k for k in here if on_slurm[k] != here[k]] == []
    assert any(k.startswith("netspace/zoo/") for k in here) and any(k.startswith("sketchydepth/") for k in here)
