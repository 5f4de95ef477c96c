"""Claim one GPU per job with file locks, since Snakemake does not assign GPUs.

``with claim_device() as device:`` yields ``"cpu"`` on machines without CUDA,
``"cuda:0"`` inside a SLURM allocation (the scheduler already pinned
``CUDA_VISIBLE_DEVICES``), and otherwise ``"cuda:<i>"`` for the first GPU whose
lock file ``<lock_dir>/gpu<id>.lock`` it could ``flock`` exclusively. The lock
is released on exit, and by the kernel if the process dies.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

__all__ = ["claim_device", "default_lock_dir", "report_line", "REPORT_PREFIX"]

LOCK_DIR_ENV = "SKETCH3D_GPU_LOCK_DIR"


def default_lock_dir() -> Path:
    """``$SKETCH3D_GPU_LOCK_DIR`` or ``<tempdir>/sketch3d-gpu-locks``."""
    env = os.environ.get(LOCK_DIR_ENV)
    return Path(env) if env else Path(tempfile.gettempdir()) / "sketch3d-gpu-locks"


def _physical_ids(n_gpus: int) -> list[str]:
    """Names for the lock files: the ids listed in CUDA_VISIBLE_DEVICES when set, else 0..n-1.

    Two jobs that see different subsets of the GPUs then still lock the same physical device.
    """
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").strip()
    ids = [v.strip() for v in visible.split(",") if v.strip()] if visible else []
    if len(ids) >= n_gpus:
        return [i.replace("/", "_") for i in ids[:n_gpus]]
    return [str(i) for i in range(n_gpus)]


def _try_lock(path: Path) -> int | None:
    """Open ``path`` and take a non-blocking exclusive flock; the fd, or None if busy."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.write(fd, f"pid {os.getpid()}\n".encode())
    return fd


# The line every GPU rule's job leaves in its log (stderr) when it gives its device back: what ran where, for how
# long, at what peak memory. scripts/gpu_check.sh collects these lines from the rehearsal's logs.
REPORT_PREFIX = "sketch3d device:"


def _cuda_measurable(device: str) -> bool:
    """A CUDA device torch can measure (the tests simulate GPUs on machines without one)."""
    if not device.startswith("cuda"):
        return False
    import torch

    return torch.cuda.is_available()


def _peak_memory_mib(device: str) -> tuple[str, float]:
    """(what was measured, MiB): torch's peak allocation on a CUDA device, else the process's peak resident set."""
    if _cuda_measurable(device):
        import torch

        return "peak CUDA allocation", torch.cuda.max_memory_allocated(device) / 2**20
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # Linux: KiB
    return "peak process RSS", kib / 1024


def _slurm_allocation() -> str:
    """Inside a SLURM job: ", SLURM job <id> CUDA_VISIBLE_DEVICES=<ids>", the GPUs SLURM gave the job (the
    physical ids, unless the cluster renumbers them through cgroups); else "". tests/cluster reads it to check
    that two concurrent GPU jobs ran on different devices."""
    job = os.environ.get("SLURM_JOB_ID")
    if not job:
        return ""
    return f", SLURM job {job} CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', '') or 'unset'}"


def report_line(device: str, seconds: float) -> str:
    what, mib = _peak_memory_mib(device)
    return f"{REPORT_PREFIX} {device}, {seconds:.1f} s, {what} {mib:.0f} MiB{_slurm_allocation()}"


@contextlib.contextmanager
def _reported(device: str) -> Iterator[str]:
    """Yield ``device``; on a normal exit print :func:`report_line` to stderr."""
    if _cuda_measurable(device):
        import torch

        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    yield device
    print(report_line(device, time.perf_counter() - start), file=sys.stderr, flush=True)


@contextlib.contextmanager
def claim_device(
    lock_dir: str | os.PathLike | None = None,
    n_gpus: int | None = None,
    poll_s: float = 2.0,
    timeout_s: float = 24 * 3600,
) -> Iterator[str]:
    """Yield a torch device string for this job, holding a GPU lock while inside.

    ``n_gpus`` defaults to ``torch.cuda.device_count()`` (pass it to simulate
    devices). Waits, polling every ``poll_s`` seconds, while all GPUs are taken,
    and raises ``TimeoutError`` after ``timeout_s`` seconds.
    """
    if n_gpus is None:
        import torch

        n_gpus = torch.cuda.device_count()
    if n_gpus < 0:
        raise ValueError(f"claim_device: n_gpus must be >= 0, got {n_gpus}")
    if poll_s <= 0:
        raise ValueError(f"claim_device: poll_s must be > 0, got {poll_s}")
    if n_gpus == 0:
        with _reported("cpu") as device:
            yield device
        return
    if os.environ.get("SLURM_JOB_ID") and os.environ.get("CUDA_VISIBLE_DEVICES"):
        with _reported("cuda:0") as device:
            yield device
        return
    root = Path(lock_dir) if lock_dir is not None else default_lock_dir()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OSError(f"claim_device: cannot create lock directory {root} ({exc}); set {LOCK_DIR_ENV}") from exc
    ids = _physical_ids(n_gpus)
    deadline = time.monotonic() + timeout_s
    while True:
        for index, ident in enumerate(ids):
            fd = _try_lock(root / f"gpu{ident}.lock")
            if fd is None:
                continue
            try:
                with _reported(f"cuda:{index}") as device:
                    yield device
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
            return
        if time.monotonic() >= deadline:
            raise TimeoutError(
                f"claim_device: all {n_gpus} GPU lock(s) in {root} stayed busy for {timeout_s:.0f} s; "
                "another job holds them (the lock files name its pid) or raise timeout_s"
            )
        time.sleep(poll_s)
