"""The commands of the README's ``bash`` blocks, and how the tests run each of them as written.

Every command a user can copy from the README is listed here with the way a test runs it: as written
(``run``), as written plus a dry-run flag (``dry``: whole-workflow commands whose real run is the demo itself or
needs paper data), or in one of the tiny demo projects whose outputs it reads (``demo``: the test module named).
A README command that matches no entry fails ``test_every_readme_command_is_run``: a new command must say how
it is checked. (Not named conftest: test modules import it.)
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from workflow_helpers import REPO


@dataclass(frozen=True)
class How:
    pattern: str  # regex matched at the start of the command
    mode: str  # run, dry, demo, setup, nogpu
    why: str  # where or why, in the test's messages


HOW = (
    How(r"bash scripts/(demo|test)\.sh", "setup",
        "the README's two commands: CI runs test.sh (.ci/run), and demo.sh is the whole demo (about 40 minutes)"),
    How(r"bash scripts/rehearse\.sh", "setup", "the paper rehearsal: .ci/run runs it after the tests"),
    How(r"bash scripts/gpu_check\.sh", "nogpu", "needs CUDA: on this machine it must stop at once, saying so"),
    How(r"export PATH=", "run", "the venv's tools on the PATH: every test's environment has them"),
    How(r"snakemake (?!--report)", "dry", "a workflow run: dry-run (-n) in a tiny project, which builds the same DAG"),
    How(r"snakemake --report ", "demo", "test_demo_end_to_end.py: the report of the tiny demo's targets"),
    How(r"dvc repro ", "dry", "a DVC stage: --dry in a tiny project"),
    How(r"dvc metrics show", "run", "reads the committed metrics"),
    How(r"dvc (remote add|push|pull|status)\b", "setup",
        "sharing through a remote: test_demo_end_to_end.py's round trip adds a folder remote, pushes, pulls into a "
        "fresh clone and reads the status"),
    How(r"sketch3d effects ", "run", "on a generated photo and depth map"),
    How(r"sketch3d photo3d ", "run", "on a generated photo and depth map"),
    How(r"sketch3d query \S+ --index \d+ --meshes ", "run", "on a folder of generated meshes"),
    How(r"sketch3d query \S+ --index \d+ --gallery ", "demo", "test_demo_end_to_end.py: the tiny demo's gallery"),
    How(r"sketch3d depth_sketch ", "demo", "test_sketchydepth_demo.py: the tiny demo's G_i"),
    How(r"sketch3d reconstruct ", "demo", "test_reconstruction_demo.py: the tiny demo's generator"),
)


def readme_commands(text: str | None = None) -> list[str]:
    """The commands of the README's ```bash blocks: continuation lines joined, comments dropped."""
    text = (REPO / "README.md").read_text() if text is None else text
    out = []
    for block in re.findall(r"^```bash\n(.*?)^```", text, re.S | re.M):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = line.split(" #", 1)[0].strip() if not line.lstrip().startswith("#") else ""
            if line:
                out.append(re.sub(r"\s+", " ", line))
    return out


def how(command: str) -> How | None:
    found = [h for h in HOW if re.match(h.pattern, command)]
    assert len(found) <= 1, f"README command {command!r} matches several entries: {found}"
    return found[0] if found else None


def commands_of(mode: str, pattern: str = "") -> list[list[str]]:
    """The README's commands run in ``mode`` (and matching ``pattern``), split as a shell would."""
    return [shlex.split(c) for c in readme_commands() if (h := how(c)) and h.mode == mode and re.match(pattern, c)]


def dry(argv: list[str]) -> list[str]:
    """A workflow command made a dry run: snakemake -n, dvc repro --dry --force."""
    if argv[0] == "snakemake":
        return [*argv, "-n", "--quiet"]
    if argv[:2] == ["dvc", "repro"]:
        # --force: in a workspace without the chain's results DVC 3.67's dry run stops at the first stage whose deps
        # (an upstream stage's outs) are missing, looking up its run-cache key; forced, it lists every stage's command
        return [*argv[:2], "--dry", "--force", *argv[2:]]
    raise ValueError(f"no dry run known for {argv}")
