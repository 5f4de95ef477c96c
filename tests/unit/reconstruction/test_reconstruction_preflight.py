"""The chapter's paper inputs: a missing checkpoint, chairs or CLIP weights are each named with where and how."""
from __future__ import annotations

from pathlib import Path

from sketch3d.config import load_params
from sketch3d.reconstruction.preflight import missing_inputs

REPO = Path(__file__).resolve().parents[3]


def test_missing_paper_inputs_are_named(tmp_path):
    params = load_params(REPO / "params.yaml", overrides={"profile": "paper"})
    missing = missing_inputs(params, base=tmp_path, probe_network=False)
    text = "\n".join(f"{m.what} | {m.path} | {m.how_to_get}" for m in missing)
    assert "epoch=199.ckpt" in text and "github.com/Zhengxinyang/SDF-StyleGAN" in text
    assert str(tmp_path / "data/paper/weights") in text
    assert "amateursketch_chair" in text and "ShapeNet" in text
    assert "amateursketch_lamp" not in text  # the chapter inverts chairs only
    (tmp_path / params["reconstruction"]["generator"]["weights"]).parent.mkdir(parents=True)
    (tmp_path / params["reconstruction"]["generator"]["weights"]).write_bytes(b"x")
    again = missing_inputs(params, base=tmp_path, probe_network=False)
    assert not any("epoch=199" in m.what for m in again)
