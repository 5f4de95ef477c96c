"""CLIP weight files as users hold them: OpenAI's TorchScript RN101.pt through the pipeline's loader, its pinned
sha256, and a file of another CLIP model (RN50 where RN101 is configured) stopped before any work."""
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests/: rehearsal.fixtures

from _helpers import sparse_clip_safetensors  # noqa: E402
from rehearsal.fixtures import clip as clip_fixture  # noqa: E402

from sketch3d.data.registry import load_sources  # noqa: E402
from sketch3d.features import backbone as bb  # noqa: E402
from sketch3d.features.clip_files import ClipArchitectureError, arch_from_config  # noqa: E402
from sketch3d.preflight import check_paper_inputs  # noqa: E402


@pytest.fixture(scope="module")
def openai_rn101(tmp_path_factory):
    """OpenAI's released-file form of RN101 (TorchScript, OpenAI's official key layout), seeded random values."""
    return clip_fixture.write_openai_torchscript(tmp_path_factory.mktemp("w") / "RN101.pt", "RN101", 0)


@pytest.fixture
def no_caches(tmp_path, monkeypatch):
    """Nothing in any weights cache: the Hugging Face hub's, torch hub's, ~/.cache/clip."""
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path


def test_openai_torchscript_loads_through_the_loader(openai_rn101):
    spec = bb.FeatureSpec(backbone="RN101", layer="layer3", weights=str(openai_rn101))
    trunk = bb.load_backbone(spec)
    # the weights are the file's (OpenAI keeps convolutions in fp16; the loader computes in fp32)
    jit_state = torch.jit.load(str(openai_rn101), map_location="cpu").state_dict()
    for key in ("visual.conv1.weight", "visual.layer3.22.conv3.weight", "visual.layer3.22.bn3.running_var"):
        torch.testing.assert_close(trunk.visual.state_dict()[key[len("visual."):]], jit_state[key].float())
    with torch.no_grad():
        out = trunk(torch.zeros(1, 3, 224, 224))
    assert out.shape == (1, 1024, 14, 14) and torch.isfinite(out).all()


def test_openai_torchscript_by_path_gets_openai_quick_gelu(openai_rn101):
    # open_clip's config of the bare model name uses nn.GELU; OpenAI's files need QuickGELU (its ViTs use it)
    pretrained, extra = bb._resolve_weights(bb.FeatureSpec(backbone="RN101", weights=str(openai_rn101)))
    assert pretrained == str(openai_rn101) and extra == {"weights_only": False, "force_quick_gelu": True}


def test_openai_file_in_data_dir_is_checked_against_the_pinned_sha256(openai_rn101, no_caches):
    data_dir = no_caches / "data"
    (data_dir / "weights").mkdir(parents=True)
    (data_dir / "weights" / "RN101.pt").write_bytes(openai_rn101.read_bytes())
    paper = {"categories": [], "data_dir": str(data_dir), "shapenet_root": str(no_caches / "none")}
    missing = check_paper_inputs(paper, features_weights="openai", probe_network=False, sources=load_sources())
    clip = [m for m in missing if "CLIP RN101" in m.what]
    assert len(clip) == 1
    assert "rejected" in clip[0].how_to_get and "sha256" in clip[0].how_to_get
    assert str(data_dir / "weights" / "RN101.pt") in clip[0].how_to_get
    assert "8fa8567bab74a42d41c5915025a8e4538c3bdbe8804a470a72f30b0d94fab599" in clip[0].how_to_get


def test_rn50_file_where_rn101_is_configured_stops_before_any_work(tmp_path, monkeypatch, no_caches):
    rn50 = sparse_clip_safetensors(tmp_path / "clip.safetensors", "RN50")
    assert arch_from_config("RN50") != arch_from_config("RN101")
    import open_clip

    def no_model(*a, **k):
        raise AssertionError("a model was built before the weights file was checked")

    monkeypatch.setattr(open_clip, "create_model_and_transforms", no_model)
    spec = bb.FeatureSpec(backbone="RN101", layer="layer3", weights=str(rn50))
    with pytest.raises(ClipArchitectureError) as info:
        bb.load_backbone(spec)
    msg = str(info.value)
    assert str(rn50) in msg and "RN50" in msg and "RN101" in msg
    assert "stages [3, 4, 6, 3]" in msg and "stages [3, 4, 23, 3]" in msg
    # the preflight names it before any job, for a path setting and for the tag's file in the Hugging Face cache
    paper = {"categories": [], "data_dir": str(tmp_path / "data"), "shapenet_root": str(tmp_path / "none")}
    missing = check_paper_inputs(paper, features_weights=str(rn50), probe_network=False, sources=load_sources())
    wrong = [m for m in missing if "another model" in m.what]
    assert len(wrong) == 1 and wrong[0].path == str(rn50) and "RN50" in wrong[0].how_to_get
    hub = no_caches / "hf"
    snap = hub / "models--timm--resnet101_clip.openai" / "snapshots" / ("0" * 40) / "open_clip_model.safetensors"
    sparse_clip_safetensors(snap, "RN50")
    (hub / "models--timm--resnet101_clip.openai" / "refs").mkdir()
    (hub / "models--timm--resnet101_clip.openai" / "refs" / "main").write_text("0" * 40)
    missing = check_paper_inputs(paper, features_weights="openai", probe_network=False, sources=load_sources())
    wrong = [m for m in missing if "another model" in m.what]
    assert len(wrong) == 1 and wrong[0].path == str(snap)
