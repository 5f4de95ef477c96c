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


def _open_clip_visual(path, backbone: str, **kw) -> torch.nn.Module:
    """The image tower of open_clip's whole model loading ``path``: what the feature step must equal."""
    import open_clip

    return open_clip.create_model(backbone, pretrained=str(path), **kw).visual.eval()


def _assert_same_tower(ours: torch.nn.Module, ref: torch.nn.Module, x: torch.Tensor) -> None:
    a, b = ours.state_dict(), ref.state_dict()
    assert list(a) == list(b)
    assert all(a[k].dtype == b[k].dtype == (torch.float32 if b[k].is_floating_point() else b[k].dtype)
               and torch.equal(a[k], b[k]) for k in b)
    assert [type(m) for m in ours.modules()] == [type(m) for m in ref.modules()]  # QuickGELU where open_clip has it
    with torch.inference_mode():
        assert torch.equal(ours.eval()(x), ref(x))  # bit for bit


def test_image_tower_alone_equals_open_clips_full_model_on_both_fixture_forms(openai_rn101, tmp_path, monkeypatch):
    """The feature step builds only the image tower (on the meta device) and takes the file's visual.* tensors: the
    same weights, modules and embeddings as open_clip.create_model(..., pretrained=<file>).visual, for OpenAI's
    TorchScript file (a path; QuickGELU, fp16 convolutions) and open_clip's Hugging Face safetensors (the tag)."""
    import open_clip

    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    ref = _open_clip_visual(openai_rn101, "RN101", force_quick_gelu=True, weights_only=False)
    built = []
    real_create = open_clip.create_model_and_transforms
    monkeypatch.setattr(open_clip, "create_model_and_transforms",
                        lambda *a, **k: built.append(a) or real_create(*a, **k))
    trunk = bb.load_backbone(bb.FeatureSpec(backbone="RN101", layer="embedding", weights=str(openai_rn101)))
    _assert_same_tower(trunk.visual, ref, x)
    # (b) the tag 'openai' found in the Hugging Face cache: open_clip's own layout, float32
    hub = tmp_path / "hub"
    snap = clip_fixture.write_hf_cache(hub, clip_fixture.HF_REPOS["RN101"], clip_fixture.HF_FILE,
                                       {f"visual.{k}": v for k, v in ref.state_dict().items()}
                                       | {k: v for k, v in _text_state("RN101").items()}, 0)
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    pretrained, _ = bb._resolve_weights(bb.FeatureSpec(backbone="RN101", weights="openai"))
    assert Path(pretrained).resolve() == snap.resolve()
    trunk = bb.load_backbone(bb.FeatureSpec(backbone="RN101", layer="embedding", weights="openai"))
    # the file holds ref's tensors bit for bit, and open_clip's tag 'openai' is QuickGELU: open_clip's model of
    # this file is ref again (not built a second time: a whole RN101 CLIP costs seconds)
    assert open_clip.get_pretrained_cfg("RN101", "openai").get("quick_gelu")
    _assert_same_tower(trunk.visual, ref, x)
    assert built == []  # neither load built open_clip's whole model


def _text_state(backbone: str) -> dict:
    """The rest of a CLIP state dict (text tower, logit scale): zeros of open_clip's shapes (the loader skips them)."""
    import open_clip

    with torch.device("meta"):
        state = open_clip.create_model(backbone, device="meta").state_dict()
    return {k: torch.zeros(v.shape, dtype=v.dtype) for k, v in state.items() if not k.startswith("visual.")}


def test_vit_image_tower_alone_equals_open_clips_full_model(tmp_path):
    """ViT-B-32 (Tables 4.5/4.6's CLIP ViT): a safetensors file of open_clip's layout, loaded tower-only."""
    from safetensors.torch import save_file

    torch.manual_seed(1)
    visual = bb.random_clip_visual("ViT-B-32")
    path = tmp_path / "open_clip_model.safetensors"
    save_file({f"visual.{k}": v.contiguous() for k, v in visual.state_dict().items()} | _text_state("ViT-B-32"),
              str(path))
    trunk = bb.load_backbone(bb.FeatureSpec(backbone="ViT-B-32", layer="embedding", weights=str(path)))
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    _assert_same_tower(trunk.visual, _open_clip_visual(path, "ViT-B-32"), x)


def test_file_missing_image_tower_tensors_is_named(tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(1)
    state = {f"visual.{k}": v.contiguous() for k, v in bb.random_clip_visual("RN50").state_dict().items()}
    state.pop("visual.layer2.0.bn1.running_var")
    path = tmp_path / "rn50.safetensors"
    save_file(state | _text_state("RN50"), str(path))
    with pytest.raises(bb.WeightsUnavailableError) as info:
        bb.load_backbone(bb.FeatureSpec(backbone="RN50", layer="embedding", weights=str(path)))
    assert str(path) in str(info.value) and "layer2.0.bn1.running_var" in str(info.value)
