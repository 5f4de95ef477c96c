"""The workflow's DAG for both profiles, the linter, and validation of bad parameters."""
from __future__ import annotations

import time

from conftest import snakemake


def test_demo_dry_run_lists_the_slice(project):
    out = snakemake("-n", "--cores", "1", cwd=project).stdout
    for rule in ("dataset", "render_gallery", "rasterize_sketches", "features", "retrieve", "retrieve_pixels",
                 "table_4_8", "figure_top5"):
        assert f"rule {rule}:" in out, rule
    assert "results/demo/tables/table_4_8.csv" in out


def test_paper_dry_run_needs_no_data(project):
    proc = snakemake("-n", "--cores", "1", "--config", "profile=paper", cwd=project)
    out = proc.stdout
    assert "results/paper/tables/table_4_8.csv" in out
    assert "rule fetch:" in out and "data/paper/downloads/AmateurSketch-3DChair.zip" in out
    assert "results/demo/" not in out  # profiles never share outputs


def test_paper_run_offline_stops_before_any_job(project):
    start = time.monotonic()
    proc = snakemake("--cores", "1", "--config", "profile=paper", cwd=project, check=False, timeout=120)
    assert proc.returncode != 0
    text = proc.stdout + proc.stderr
    for item in ("amateursketch_chair", "amateursketch_lamp", "ShapeNet", "RN101"):
        assert item.lower() in text.lower(), f"{item} not named in:\n{text[-3000:]}"
    assert not (project / "results" / "paper" / "data").exists(), "a job ran before the check"
    assert time.monotonic() - start < 90


def test_bad_parameter_is_named_before_any_job(project):
    proc = snakemake("-n", "--cores", "1", "--config", "seed=-3", cwd=project, check=False)
    assert proc.returncode != 0
    assert "invalid parameter 'seed'" in proc.stdout + proc.stderr


def test_unknown_profile_is_rejected(project):
    proc = snakemake("-n", "--cores", "1", "--config", "profile=thesis", cwd=project, check=False)
    assert "invalid parameter 'profile'" in proc.stdout + proc.stderr


def test_lint_is_clean(project):
    proc = snakemake("--lint", cwd=project, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
