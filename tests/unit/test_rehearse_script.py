"""scripts/rehearse.sh hands snakemake the targets it was given as targets (not as config files)."""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

from snakemake.cli import get_argument_parser

REPO = Path(__file__).resolve().parents[2]


def _stub(path: Path, body: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def test_targets_reach_snakemake_as_targets(tmp_path):
    (tmp_path / "scripts").mkdir()
    shutil.copy(REPO / "scripts" / "rehearse.sh", tmp_path / "scripts" / "rehearse.sh")
    _stub(tmp_path / "scripts" / "setup.sh", "exit 0\n")
    record = tmp_path / "argv.json"
    _stub(tmp_path / ".venv" / "bin" / "python", "#!/bin/sh\nexit 0\n")  # the fixture builder: nothing to build
    _stub(tmp_path / ".venv" / "bin" / "snakemake",
          f"#!{sys.executable}\nimport json, sys\nopen({str(record)!r}, 'w').write(json.dumps(sys.argv[1:]))\n")
    env = {**os.environ, "REHEARSAL_CORES": "2"}
    subprocess.run(["bash", "scripts/rehearse.sh", "sketchydepth", "netspace"], cwd=tmp_path,
                   env=env, check=True, capture_output=True)
    args = get_argument_parser().parse_args(json.loads(record.read_text()))
    assert sorted(args.targets) == ["netspace", "sketchydepth"]
    assert [str(p) for p in args.configfile] == ["workflow/rehearsal.yaml"]
    assert args.cores == 2
