"""One set of pins for the CPU (pip) and GPU (conda) installs, and the installed stack matches it."""
import re
from importlib import metadata
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def pins() -> dict[str, str]:
    out = {}
    for line in (REPO / "requirements/pins.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            m = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([\w.+\-]+)", line)
            assert m, f"requirements/pins.txt: {line!r} is not an exact pin"
            out[m.group(1).lower()] = m.group(2)
    return out


def test_gpu_environment_installs_the_same_pins():
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    assert sorted(d.split("=")[0] for d in conda) == ["pip", "python"], "no torch (or anything else) from conda"
    pip = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)]
    assert pip == [["-r requirements/pins.txt"]]
    assert "requirements/pins.txt" in (REPO / "scripts/setup.sh").read_text()
    p = pins()
    assert p["torch"] == "2.13.0" and p["torchvision"] == "0.28.0"


def test_installed_packages_match_the_pins():
    wrong = {}
    for name, version in pins().items():
        try:
            got = metadata.version(name)
        except metadata.PackageNotFoundError:
            got = None
        if got is None or got.split("+")[0] != version:
            wrong[name] = (version, got)
    assert not wrong, f"installed versions differ from requirements/pins.txt (pin, installed): {wrong}"
