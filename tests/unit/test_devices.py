"""claim_device: file-lock GPU claims with simulated devices."""
from __future__ import annotations

import re
import subprocess
import sys
import threading
import time

import pytest

from sketch3d.devices import claim_device


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for var in ("SLURM_JOB_ID", "CUDA_VISIBLE_DEVICES", "SKETCH3D_GPU_LOCK_DIR"):
        monkeypatch.delenv(var, raising=False)


def _hold(lock_dir, got: list, release: threading.Event, **kw) -> threading.Thread:
    def run():
        with claim_device(lock_dir, n_gpus=2, poll_s=0.02, **kw) as dev:
            got.append(dev)
            release.wait(10)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def _wait_for(cond, timeout=5.0):
    end = time.monotonic() + timeout
    while not cond() and time.monotonic() < end:
        time.sleep(0.01)
    return cond()


def test_no_gpu_gives_cpu(tmp_path):
    with claim_device(tmp_path, n_gpus=0) as dev:
        assert dev == "cpu"
    assert not list(tmp_path.iterdir())  # no lock taken


def test_slurm_pinned_devices_skip_locking(tmp_path, monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ID", "123")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    with claim_device(tmp_path, n_gpus=1) as dev:
        assert dev == "cuda:0"
    assert not list(tmp_path.iterdir())


def test_two_claims_differ_and_third_waits(tmp_path):
    got: list[str] = []
    r1, r2, r3 = threading.Event(), threading.Event(), threading.Event()
    t1 = _hold(tmp_path, got, r1)
    assert _wait_for(lambda: len(got) == 1)
    t2 = _hold(tmp_path, got, r2)
    assert _wait_for(lambda: len(got) == 2)
    assert sorted(got) == ["cuda:0", "cuda:1"]
    t3 = _hold(tmp_path, got, r3)
    time.sleep(0.3)
    assert len(got) == 2  # both busy: the third waits
    freed = got[1]
    r2.set()
    t2.join(5)
    assert _wait_for(lambda: len(got) == 3)
    assert got[2] == freed
    r1.set(), r3.set()
    t1.join(5), t3.join(5)


def test_timeout_when_all_busy(tmp_path):
    got: list[str] = []
    r = threading.Event()
    holders = [_hold(tmp_path, got, r) for _ in range(2)]
    assert _wait_for(lambda: len(got) == 2)
    with pytest.raises(TimeoutError, match="busy"):
        with claim_device(tmp_path, n_gpus=2, poll_s=0.02, timeout_s=0.1):
            pass
    r.set()
    for t in holders:
        t.join(5)


def test_lock_released_on_exit_and_when_process_dies(tmp_path):
    with claim_device(tmp_path, n_gpus=1) as dev:
        assert dev == "cuda:0"
    with claim_device(tmp_path, n_gpus=1, timeout_s=0) as dev:  # free again
        assert dev == "cuda:0"
    code = (
        "import os, sys\n"
        "from sketch3d.devices import claim_device\n"
        f"with claim_device({str(tmp_path)!r}, n_gpus=1) as d:\n"
        "    print(d, flush=True)\n"
        "    os._exit(0)\n"  # dies holding the lock, no clean-up code runs
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "cuda:0", out.stderr
    with claim_device(tmp_path, n_gpus=1, timeout_s=0) as dev:
        assert dev == "cuda:0"


def test_visible_devices_name_the_lock_files(tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,5")
    with claim_device(tmp_path, n_gpus=2) as dev:
        assert dev == "cuda:0"
        assert (tmp_path / "gpu2.lock").exists()


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="n_gpus"):
        with claim_device(tmp_path, n_gpus=-1):
            pass


def test_a_job_reports_its_device_time_and_peak_memory(tmp_path, capsys):
    """The line scripts/gpu_check.sh collects from each GPU job's log: device, seconds, peak memory."""
    from sketch3d.devices import REPORT_PREFIX

    with claim_device(tmp_path, n_gpus=0) as dev:
        block = bytearray(64 * 2**20)  # 64 MiB touched: the peak RSS is at least that
        block[::4096] = b"\x01" * len(block[::4096])
    line = capsys.readouterr().err.strip().splitlines()[-1]
    m = re.fullmatch(rf"{REPORT_PREFIX} cpu, ([\d.]+) s, peak process RSS (\d+) MiB", line)
    assert m and dev == "cpu", line
    assert int(m.group(2)) >= 64
    with pytest.raises(RuntimeError), claim_device(tmp_path, n_gpus=0):
        raise RuntimeError("a failed job reports nothing")
    assert REPORT_PREFIX not in capsys.readouterr().err


def test_the_report_names_the_slurm_job_and_its_gpus(tmp_path, monkeypatch, capsys):
    """Inside a SLURM job the report line says which GPUs SLURM gave the job (tests/cluster compares them)."""
    from sketch3d.devices import REPORT_PREFIX

    monkeypatch.setenv("SLURM_JOB_ID", "42")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    with claim_device(tmp_path, n_gpus=0):
        pass
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert re.fullmatch(rf"{REPORT_PREFIX} cpu, [\d.]+ s, peak process RSS \d+ MiB, SLURM job 42 "
                        r"CUDA_VISIBLE_DEVICES=1", line), line
