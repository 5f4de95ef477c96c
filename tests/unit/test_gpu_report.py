"""scripts/gpu_report.py: the table of GPU jobs that scripts/gpu_check.sh prints from a run's logs."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sketch3d.devices import report_line

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "gpu_report.py"


def _report(logs: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), str(logs), *args], capture_output=True, text=True)


def test_lists_each_gpu_job_and_fails_on_one_that_ran_on_the_cpu(tmp_path):
    (tmp_path / "invert").mkdir()
    (tmp_path / "invert" / "chair_0_sdf.log").write_text("step 1\n" + report_line("cpu", 2.5) + "\n")
    (tmp_path / "prepare_dataset").mkdir()
    (tmp_path / "prepare_dataset" / "prepare_dataset.log").write_text("no device here\n")
    proc = _report(tmp_path)
    assert proc.returncode == 1 and "invert/chair_0_sdf" in proc.stderr
    assert "invert  chair_0_sdf: cpu, 2.5 s, peak process RSS" in proc.stdout
    assert "1 GPU jobs in 1 rules; 1 on the CPU" in proc.stdout
    assert _report(tmp_path, "--allow-cpu").returncode == 0


def test_no_gpu_job_is_an_error(tmp_path):
    proc = _report(tmp_path)
    assert proc.returncode == 1 and "no GPU job logged" in proc.stderr
