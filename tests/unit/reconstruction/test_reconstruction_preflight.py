"""The chapter's paper inputs: a missing checkpoint, chairs or CLIP weights are each named with where and how; a
present checkpoint that cannot be read, or of another architecture than the params', is named before any job,
with both architectures."""
from __future__ import annotations

from pathlib import Path

import pytest

from sketch3d.config import load_params
from sketch3d.reconstruction.preflight import missing_inputs

from _official import write_checkpoint

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def params():
    return load_params(REPO / "params.yaml", overrides={"profile": "paper"})


def _text(missing):
    return "\n".join(f"{m.what} | {m.path} | {m.how_to_get}" for m in missing)


def test_missing_paper_inputs_are_named(tmp_path, params):
    text = _text(missing_inputs(params, base=tmp_path, probe_network=False))
    assert "epoch=199.ckpt" in text and "github.com/Zhengxinyang/SDF-StyleGAN" in text
    assert str(tmp_path / "data/paper/weights") in text
    assert "amateursketch_chair" in text and "ShapeNet" in text
    assert "amateursketch_lamp" not in text  # the chapter inverts chairs only


def test_a_checkpoint_of_the_other_architecture_or_no_checkpoint_is_named_first(tmp_path, params):
    weights = tmp_path / params["reconstruction"]["generator"]["weights"]
    weights.parent.mkdir(parents=True)
    weights.write_bytes(b"x")
    text = _text(missing_inputs(params, base=tmp_path, probe_network=False))
    assert "not a readable torch checkpoint" in text and str(weights) in text
    # network/model.py's defaults, not the released chair model's (train_chair.sh's)
    write_checkpoint("model_py", weights)
    problems = [m for m in missing_inputs(params, base=tmp_path, probe_network=False) if "epoch=199" in m.what]
    assert len(problems) == 1 and problems[0].path == str(weights)
    text = problems[0].how_to_get
    assert "z_dim: params 512 vs weights 128" in text and "channels: params 16 vs weights 32" in text
    assert "z_dim=512" in text and "z_dim=128" in text and "hyper_parameters" in text
    write_checkpoint("train_chair", weights)
    assert not any("epoch=199" in m.what for m in missing_inputs(params, base=tmp_path, probe_network=False))
