"""The README's commands run as written under the default profile (readme_commands.HOW says how each is run).

Commands that read the outputs of a demo run are run in the tiny demo projects of the chapters' integration
tests (their modules are named in HOW); the rest here: the tools on generated inputs, the workflow commands as
dry runs in a tiny project with the real params.yaml.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from readme_commands import HOW, commands_of, dry, how, readme_commands
from workflow_helpers import BIN, REPO, make_project, run

pytestmark = pytest.mark.slow


def test_every_readme_command_is_run():
    commands = readme_commands()
    assert len(commands) >= 15, commands  # the blocks were read
    unknown = [c for c in commands if how(c) is None]
    assert not unknown, f"README commands no test runs (add them to readme_commands.HOW): {unknown}"
    for h in HOW:  # and no entry outlives its command
        assert any(how(c) is h for c in commands), f"readme_commands.HOW entry {h.pattern!r} matches no README command"


def _exe(argv: list[str]) -> list[str]:
    return [str(BIN / argv[0]), *argv[1:]] if (BIN / argv[0]).exists() else argv


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    """A user's folder: a photo and its depth map (PNG and .npy), the names the README uses."""
    folder = tmp_path_factory.mktemp("user")
    rng = np.random.default_rng(0)
    img = (rng.random((48, 64, 3)) * 255).astype(np.uint8)
    Image.fromarray(img).save(folder / "photo.png")
    depth = np.tile(np.linspace(0, 255, 64, dtype=np.float32), (48, 1))
    Image.fromarray(depth.astype(np.uint8)).save(folder / "depth.png")
    np.save(folder / "depth.npy", depth / 255.0)
    return folder


def test_readme_depth_effects(photo):
    every_effects = commands_of("run", "sketch3d effects ")
    [photo3d] = commands_of("run", "sketch3d photo3d ")
    assert len(every_effects) >= 2  # a depth effect, and fog with the user's own fog image
    for effects in every_effects:
        if "--overlay" in effects:  # the user's fog image, of another size than the photo
            fog = (np.random.default_rng(1).random((30, 40, 3)) * 255).astype(np.uint8)
            Image.fromarray(fog).save(photo / effects[effects.index("--overlay") + 1])
        run(_exe(effects), cwd=photo)
        out = Image.open(photo / effects[effects.index("--out") + 1])
        assert out.size == (64, 48), effects
    run(_exe(photo3d), cwd=photo)
    clip = Image.open(photo / photo3d[photo3d.index("--out") + 1])
    assert clip.n_frames == int(photo3d[photo3d.index("--frames") + 1])


@pytest.mark.blender
def test_readme_query_on_a_folder_of_meshes(tmp_path):
    import trimesh

    [query] = commands_of("run", "sketch3d query ")
    shutil.copy2(REPO / "params.yaml", tmp_path / "params.yaml")  # the default profile, as a user has it
    sketch = tmp_path / query[2]  # the bundled drawing, at the README's repository-relative path
    sketch.parent.mkdir(parents=True)
    shutil.copy2(REPO / query[2], sketch)
    meshes = tmp_path / query[query.index("--meshes") + 1]
    meshes.mkdir()
    for i, extents in enumerate([(0.5, 1.0, 0.5), (0.6, 0.4, 0.6), (0.3, 1.2, 0.3), (1.0, 0.3, 0.5), (0.7, 0.7, 0.7)]):
        trimesh.creation.box(extents=extents).export(meshes / f"shape_{i}.obj")
    out = run(_exe(query), cwd=tmp_path).stdout
    ranked = [line for line in out.splitlines() if line and not line.startswith("#")]
    assert len(ranked) == int(query[query.index("--top") + 1]), out
    assert (tmp_path / query[query.index("--figure") + 1]).is_file()


def test_readme_metrics_show():
    [show] = commands_of("run", "dvc metrics show")
    assert "acc@1" in run(_exe(show), cwd=REPO).stdout


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A throw-away copy of the project, default profile, with the tiny test params (the same rules and DAG code as
    the README's params.yaml, one chapter: the paper DAG of all four has thousands of jobs, CI's time)."""
    project = make_project(tmp_path_factory.mktemp("readme"))
    run(["git", "init", "-q"], cwd=project)  # DVC's commands need a repository, as a user's clone is
    run([str(BIN / "dvc"), "init", "-q"], cwd=project)
    return project


@pytest.mark.parametrize("argv", commands_of("dry"), ids=" ".join)
def test_readme_workflow_commands_dry(project, argv):
    proc = run(_exe(dry(argv)), cwd=project)
    assert "Error" not in proc.stderr.replace("WorkflowError", "Error"), proc.stderr[-2000:]


def test_readme_gpu_check_stops_at_once_without_a_gpu():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is visible: scripts/gpu_check.sh would run the whole rehearsal")
    [check] = commands_of("nogpu")
    proc = run(check, cwd=REPO, check=False, timeout=300)
    assert proc.returncode != 0 and "no CUDA device" in proc.stderr, proc.stderr[-2000:]
