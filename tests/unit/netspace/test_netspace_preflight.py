"""The chapter's paper inputs: the image set's archive and the chairs of the SDF MLPs are named when missing."""
from __future__ import annotations

from pathlib import Path

from sketch3d.config import load_params
from sketch3d.netspace.preflight import missing_inputs

REPO = Path(__file__).resolve().parents[3]


def test_missing_paper_inputs_are_named(tmp_path):
    params = load_params(REPO / "params.yaml", overrides={"profile": "paper"})
    missing = missing_inputs(params, base=tmp_path, probe_network=False)
    text = "\n".join(f"{m.what} | {m.path} | {m.how_to_get}" for m in missing)
    assert "tiny-imagenet-200.zip" in text and "cs231n" in text
    assert "cifar-10-python.tar.gz" in text  # both image sets of netspace.datasets
    assert "amateursketch_chair" in text and "ShapeNet" in text
    cifar = load_params(REPO / "params.yaml", overrides={"profile": "paper"})
    cifar["netspace"]["datasets"] = ["cifar10"]
    text = "\n".join(m.path for m in missing_inputs(cifar, base=tmp_path, probe_network=False))
    assert "cifar-10-python.tar.gz" in text and "tiny-imagenet" not in text


def test_the_demo_needs_no_archive():
    params = load_params(REPO / "params.yaml")
    from sketch3d.netspace.images import DATASETS

    assert params["netspace"]["datasets"] == ["digits"]
    assert all(DATASETS[d].source is None for d in params["netspace"]["datasets"])
