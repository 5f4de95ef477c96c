"""The workflow's preflight (paper profile, before any job) checks the inputs of the chapters being built only:
`snakemake sketchydepth` must not stop on CLIP weights or AmateurSketch, which only other chapters read."""
from __future__ import annotations

import pytest

from workflow_helpers import make_project, snakemake


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return make_project(tmp_path_factory.mktemp("preflight"))


def _stop(project, *args, config=()) -> str:
    # one --config: a second one replaces the first (snakemake's argument parser), profile=paper included
    proc = snakemake("--cores", "1", *args, "--config", "profile=paper", *config, cwd=project, check=False)
    assert proc.returncode != 0, proc.stdout[-2000:]
    return proc.stdout + proc.stderr


def test_a_chapter_target_is_checked_for_its_own_inputs_only(project):
    out = _stop(project, "sketchydepth")
    assert "Missing" in out or "missing" in out, out[-3000:]  # the preflight stopped it, before any job
    assert "SketchyCOCO" in out and "MiDaS" in out, out[-3000:]
    assert "AmateurSketch" not in out and "CLIP" not in out, out[-3000:]


def test_the_listed_chapters_are_checked_when_the_target_is_not_a_chapter(project):
    out = _stop(project, config=["chapters=[retrieval,sketchydepth]"])  # rule all: the listed chapters
    assert "SketchyCOCO" in out and "AmateurSketch" in out, out[-3000:]
