"""The networks of Tables 4.5 and 4.6: CLIP ViT, torchvision's ImageNet ResNet and ViT, beside CLIP RN101.

Shapes and feature lengths, the cut of each network against the library's own computation,
seeded random weights, each family's normalisation, keys, named networks in params, and the
CLIP RN101 path kept exactly as it was before families existed.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image, ImageDraw

from sketch3d.compat.torchvision_ops import ensure_torchvision
from sketch3d.features.backbone import (
    CLIP_MEAN,
    CLIP_STD,
    IMAGENET_MEAN,
    IMAGENET_STD,
    FeatureSpec,
    WeightsUnavailableError,
    feature_dim,
    images_to_tensor,
    load_backbone,
)
from sketch3d.features.extract import embed_images, prepare_batch

ensure_torchvision()
import torchvision  # noqa: E402  (after the compat shim)

IMAGENET_RN101 = FeatureSpec(family="imagenet", backbone="resnet101", layer="layer3")
IMAGENET_VIT = FeatureSpec(family="imagenet", backbone="vit_b_32", layer="cls")
CLIP_VIT = FeatureSpec(family="clip", backbone="ViT-B-32", layer="embedding")
CLIP_RN101 = FeatureSpec()


def _run(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return model(x)


def _x(size: int = 224, n: int = 1, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def _draw(path: Path, k: int) -> Path:
    img = Image.new("L", (224, 224), 255)
    d = ImageDraw.Draw(img)
    d.rectangle([20 + 9 * k, 30, 150, 120 + 11 * k], outline=0, width=3)
    d.line([(10, 200), (120 + 10 * k, 15)], fill=0, width=2)
    img.save(path)
    return path


@pytest.fixture
def pngs(tmp_path) -> list[Path]:
    return [_draw(tmp_path / f"im{k}.png", k) for k in range(2)]


# ----------------------------------------------------------------------------- shapes and cuts


def test_feature_dims_of_the_four_networks():
    assert feature_dim(CLIP_RN101) == 1024 * 14 * 14
    assert feature_dim(IMAGENET_RN101) == 1024 * 14 * 14  # the same cut as CLIP's
    assert feature_dim(CLIP_VIT) == 512
    assert feature_dim(IMAGENET_VIT) == 768
    assert feature_dim(FeatureSpec(family="imagenet", backbone="vit_b_16", layer="cls")) == 768
    assert feature_dim(IMAGENET_RN101, size=64) == 1024 * 4 * 4


def test_imagenet_resnet_layer3_is_torchvisions_layer3():
    """The trunk's output is what torchvision's own feature extractor reads at 'layer3' (tiny input)."""
    from torchvision.models.feature_extraction import create_feature_extractor

    spec = FeatureSpec(family="imagenet", backbone="resnet101", layer="layer3", seed=3)
    x = _x(64, 2)
    out = _run(load_backbone(spec), x)
    assert out.shape == (2, 1024, 4, 4) and out[0].numel() == feature_dim(spec, 64)
    torch.manual_seed(3)
    ref_model = torchvision.models.resnet101(weights=None).eval()
    ref = _run(create_feature_extractor(ref_model, {"layer3": "f"}), x)["f"]
    torch.testing.assert_close(out, ref, rtol=0, atol=0)


def test_imagenet_vit_cls_is_what_the_head_classifies():
    """``cls`` is the class token the classification head reads: head(cls) = torchvision's logits."""
    spec = FeatureSpec(family="imagenet", backbone="vit_b_32", layer="cls", seed=5)
    x = _x(224, 2)
    cls = _run(load_backbone(spec), x)
    assert cls.shape == (2, 768)
    torch.manual_seed(5)
    full = torchvision.models.vit_b_32(weights=None).eval()
    torch.testing.assert_close(_run(full.heads, cls), _run(full, x), rtol=1e-5, atol=1e-5)


def test_clip_vit_embedding_shape():
    out = _run(load_backbone(CLIP_VIT), _x(224, 2))
    assert out.shape == (2, 512) and feature_dim(CLIP_VIT) == 512


def test_seeded_random_init_is_reproducible():
    spec = FeatureSpec(family="imagenet", backbone="resnet18", layer="layer3", seed=0)
    x = _x(64, 1)
    a = _run(load_backbone(spec), x)
    b = _run(load_backbone(spec), x)
    c = _run(load_backbone(FeatureSpec(family="imagenet", backbone="resnet18", layer="layer3", seed=1)), x)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert (a - c).abs().max() > 1e-3


def test_layer_and_backbone_mismatches_are_named():
    with pytest.raises(ValueError, match="layer='embedding'.*imagenet"):
        FeatureSpec(family="imagenet", backbone="resnet101", layer="embedding")
    with pytest.raises(ValueError, match="family='timm'"):
        FeatureSpec(family="timm")
    with pytest.raises(ValueError, match="resnet101 has no layer 'cls'"):
        feature_dim(FeatureSpec(family="imagenet", backbone="resnet101", layer="cls"))
    with pytest.raises(ValueError, match="vit_b_32 has no layer 'layer3'"):
        load_backbone(FeatureSpec(family="imagenet", backbone="vit_b_32", layer="layer3"))
    with pytest.raises(ValueError, match="'RN101' is not a torchvision"):
        feature_dim(FeatureSpec(family="imagenet", backbone="RN101", layer="layer3"))
    with pytest.raises(ValueError, match="neither a ResNet"):
        feature_dim(FeatureSpec(family="imagenet", backbone="alexnet", layer="layer3"))


# ----------------------------------------------------------------------------- normalisation and keys


def test_each_family_has_its_own_normalisation(pngs):
    white = np.full((224, 224), 255, np.uint8)
    Image.fromarray(white, "L").save(pngs[0])
    for spec, (m, s) in ((IMAGENET_RN101, (IMAGENET_MEAN, IMAGENET_STD)), (IMAGENET_VIT, (IMAGENET_MEAN, IMAGENET_STD)),
                         (CLIP_VIT, (CLIP_MEAN, CLIP_STD)), (CLIP_RN101, (CLIP_MEAN, CLIP_STD))):
        assert spec.normalisation == (m, s)
        batch = prepare_batch(pngs[:1], None, spec=spec)
        want = (1 - torch.tensor(m)) / torch.tensor(s)
        torch.testing.assert_close(batch[0, :, 7, 7], want)
        torch.testing.assert_close(images_to_tensor([Image.fromarray(white, "L")], spec)[0, :, 7, 7], want)
    assert IMAGENET_MEAN == tuple(torchvision.models.ResNet101_Weights.IMAGENET1K_V1.transforms().mean)
    assert IMAGENET_STD == tuple(torchvision.models.ViT_B_32_Weights.IMAGENET1K_V1.transforms().std)


def test_keys_differ_between_networks():
    specs = [CLIP_RN101, CLIP_VIT, IMAGENET_RN101, IMAGENET_VIT,
             FeatureSpec(family="imagenet", backbone="resnet101", layer="layer3", weights="IMAGENET1K_V1"),
             FeatureSpec(family="imagenet", backbone="vit_b_16", layer="cls")]
    assert len({s.key() for s in specs}) == len(specs)
    # the family alone changes the key (same backbone name, layer, weights, seed)
    assert FeatureSpec(backbone="resnet101").key() != FeatureSpec(family="imagenet", backbone="resnet101").key()


# ----------------------------------------------------------------------------- CLIP RN101 as before


def test_clip_rn101_keys_unchanged():
    """Recorded before FeatureSpec had a family: the CLIP keys (and so every cache path and
    provenance column) are the same."""
    assert FeatureSpec().key() == "f23227a6af12b8e7"
    assert FeatureSpec(weights="openai").key() == "b9aedb484eabc98d"
    assert FeatureSpec(layer="embedding").key() == "b861a5d434627574"


def test_clip_batches_and_features_unchanged(pngs):
    """prepare_batch for a CLIP spec is bit for bit the former CLIP-only computation, and so is the
    feature: the former model (open_clip's, seeded, cut after layer3) on the former batch."""
    import open_clip

    from sketch3d.features.extract import as_transform, load_transformed

    grey = np.stack([load_transformed(p, as_transform(170)) for p in pngs])
    mean, std = torch.tensor(CLIP_MEAN).view(1, 1, 1, 3), torch.tensor(CLIP_STD).view(1, 1, 1, 3)
    former = ((torch.from_numpy(grey).unsqueeze(-1).float() / 255.0 - mean) / std).permute(0, 3, 1, 2)
    spec = FeatureSpec(backbone="RN50", seed=2)  # RN101's layer3 geometry, faster to build
    batch = prepare_batch(pngs, 170, spec=spec)
    assert torch.equal(batch, former) and torch.equal(prepare_batch(pngs, 170), former)
    assert batch.stride() == former.stride()  # still channels_last
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(2)
        model, _, _ = open_clip.create_model_and_transforms("RN50", pretrained=None)
    v = model.visual.eval()
    with torch.inference_mode():
        ref = v.layer3(v.layer2(v.layer1(v.stem(former))))
    torch.testing.assert_close(_run(load_backbone(spec), batch), ref, rtol=0, atol=0)


def test_embed_images_normalises_as_the_spec_says(tmp_path, pngs):
    spec = FeatureSpec(family="imagenet", backbone="resnet18", layer="layer3")
    feats = embed_images(pngs, spec, None, tmp_path / "cache", dtype="float32")
    with torch.inference_mode():
        ref = load_backbone(spec)(prepare_batch(pngs, None, spec=spec).contiguous()).reshape(len(pngs), -1)
    np.testing.assert_allclose(feats, ref.numpy(), rtol=1e-4, atol=1e-4)


# ----------------------------------------------------------------------------- weights files


def _hub(monkeypatch, tmp_path) -> Path:
    """An empty torch hub of our own (TORCH_HOME), and no Hugging Face cache or home to find anything in."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert Path(torch.hub.get_dir()) == tmp_path / "torch" / "hub"
    return tmp_path / "torch" / "hub" / "checkpoints"


def test_missing_imagenet_weights_name_the_place_and_url(monkeypatch, tmp_path):
    ckpt = _hub(monkeypatch, tmp_path)
    with pytest.raises(WeightsUnavailableError) as err:
        load_backbone(FeatureSpec(family="imagenet", backbone="resnet101", layer="layer3", weights="IMAGENET1K_V1"))
    msg = str(err.value)
    for needle in (str(ckpt / "resnet101-63fe2227.pth"), "https://download.pytorch.org/models/resnet101-63fe2227.pth",
                   "never downloads"):
        assert needle in msg, needle
    with pytest.raises(WeightsUnavailableError, match="known: .*IMAGENET1K_V1"):
        load_backbone(FeatureSpec(family="imagenet", backbone="resnet18", layer="layer3", weights="NO_SUCH_TAG"))
    with pytest.raises(WeightsUnavailableError, match="does not exist"):
        load_backbone(FeatureSpec(family="imagenet", backbone="resnet18", layer="layer3",
                                  weights=str(tmp_path / "none.pth")))


def test_torch_hub_checkpoint_is_found_and_loaded(monkeypatch, tmp_path):
    """A tag of torchvision's enum (here not registered: resnet18) is read from torch hub's checkpoints."""
    from sketch3d import weights

    ckpt = _hub(monkeypatch, tmp_path)
    torch.manual_seed(11)
    net = torchvision.models.resnet18(weights=None).eval()
    name = Path(torchvision.models.ResNet18_Weights.IMAGENET1K_V1.url).name  # resnet18-<sha256 prefix>.pth
    ckpt.mkdir(parents=True)
    torch.save(net.state_dict(), ckpt / name)
    spec = FeatureSpec(family="imagenet", backbone="resnet18", layer="layer3", weights="IMAGENET1K_V1", seed=0)
    with pytest.raises(WeightsUnavailableError, match="does not start with"):  # our file is not torchvision's
        load_backbone(spec)
    prefix = name.split("-")[1].split(".")[0]
    real = weights.sha256
    monkeypatch.setattr(weights, "sha256", lambda p: prefix + real(p)[len(prefix):])  # pretend it is
    x = _x(64, 1)
    ref = _run(torch.nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool, net.layer1, net.layer2, net.layer3), x)
    torch.testing.assert_close(_run(load_backbone(spec), x), ref, rtol=0, atol=0)


def test_local_state_dict_round_trip(tmp_path):
    torch.manual_seed(4)
    net = torchvision.models.resnet18(weights=None).eval()
    path = tmp_path / "mine.pth"
    torch.save(net.state_dict(), path)
    spec = FeatureSpec(family="imagenet", backbone="resnet18", layer="layer3", weights=str(path))
    assert spec.is_local_file
    x = _x(64, 1)
    ref = _run(torch.nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool, net.layer1, net.layer2, net.layer3), x)
    torch.testing.assert_close(_run(load_backbone(spec), x), ref, rtol=0, atol=0)
    wrong = tmp_path / "wrong.pth"
    torch.save({"fc.weight": torch.zeros(2, 2)}, wrong)
    with pytest.raises(WeightsUnavailableError, match="Loading ImageNet weights .*wrong.pth"):
        load_backbone(FeatureSpec(family="imagenet", backbone="resnet18", layer="layer3", weights=str(wrong)))


# ----------------------------------------------------------------------------- named networks in params

NETWORKS = {
    "clip_rn101": {"family": "clip", "backbone": "RN101", "layer": "layer3", "weights": "random"},
    "clip_vit": {"family": "clip", "backbone": "ViT-B-32", "layer": "embedding", "weights": "random"},
    "imagenet_rn101": {"family": "imagenet", "backbone": "resnet101", "layer": "layer3", "weights": "IMAGENET1K_V1"},
    "imagenet_vit": {"family": "imagenet", "backbone": "vit_b_32", "layer": "cls", "weights": "random"},
}


def _params(tmp_path) -> dict:
    return {"seed": 3, "data": {"data_dir": str(tmp_path / "data")},
            "features": {"backbone": "RN101", "layer": "layer3", "weights": "random", "batch_size": 2,
                         "dtype": "float32", "networks": NETWORKS}}


def test_feature_spec_of_named_networks(monkeypatch, tmp_path):
    from sketch3d import weights
    from sketch3d.features.stage import feature_spec

    ckpt = _hub(monkeypatch, tmp_path)
    params = _params(tmp_path)
    assert feature_spec(params) == FeatureSpec(seed=3)  # the main network, as before
    assert feature_spec(params, "clip_rn101") == FeatureSpec(seed=3)  # same spec, so the same cache entries
    assert feature_spec(params, "clip_vit") == FeatureSpec("ViT-B-32", "embedding", "random", 3, "clip")
    assert feature_spec(params, "imagenet_vit") == FeatureSpec("vit_b_32", "cls", "random", 3, "imagenet")
    assert feature_spec(params, "imagenet_rn101").weights == "IMAGENET1K_V1"  # not on disk: the loader will say
    ckpt.mkdir(parents=True)
    (ckpt / "resnet101-63fe2227.pth").write_bytes(b"w")
    monkeypatch.setattr(weights, "sha256", lambda p: "63fe2227" + "0" * 56)
    spec = feature_spec(params, "imagenet_rn101")
    assert spec.weights == str(ckpt / "resnet101-63fe2227.pth") and spec.family == "imagenet"
    with pytest.raises(ValueError, match=r"features.networks has no network 'vit'.*clip_rn101"):
        feature_spec(params, "vit")
    params["features"]["networks"] = {"bad": {"family": "imagenet", "backbone": "resnet101"}}
    with pytest.raises(ValueError, match=r"features.networks.bad lacks \['layer', 'weights'\]"):
        feature_spec(params, "bad")


def test_provenance_says_imagenet_or_clip(monkeypatch, tmp_path, pngs):
    from sketch3d.features import stage
    from sketch3d.imageset import write_index

    folder = tmp_path / "set"
    folder.mkdir()
    paths = [folder / p.name for p in pngs]
    for src, dst in zip(pngs, paths):
        dst.write_bytes(src.read_bytes())
    write_index(folder, pd.DataFrame({"image_id": ["a", "b"], "shape_id": ["s", "s"], "azimuth": [0, 30],
                                      "path": [str(p) for p in paths]}))
    monkeypatch.setattr(stage, "mean_features", lambda images, *a, **k: np.zeros((len(images), 2), np.float32))
    params = _params(tmp_path)
    for network, family in ((None, "CLIP"), ("imagenet_vit", "ImageNet"), ("clip_vit", "CLIP")):
        ids = tmp_path / f"{network}.csv"
        stage.extract_features(folder, params, [None], tmp_path / "cache", tmp_path / f"{network}.npy", ids,
                               network=network)
        rows = pd.read_csv(ids)
        assert set(rows["weights"]) == {f"random init (seed 3), NOT pretrained {family}"}
        assert set(rows["settings_key"]) == {stage.feature_spec(params, network).key()}
    digest = hashlib.sha256(b"w").hexdigest()
    local = tmp_path / "vit.pth"
    local.write_bytes(b"w")
    params["features"]["networks"] = {**NETWORKS, "imagenet_vit": {**NETWORKS["imagenet_vit"], "weights": str(local)}}
    stage.extract_features(folder, params, [None], tmp_path / "cache", tmp_path / "v.npy", tmp_path / "v.csv",
                           network="imagenet_vit")
    assert set(pd.read_csv(tmp_path / "v.csv")["weights"]) == {f"file vit.pth (sha256:{digest})"}
