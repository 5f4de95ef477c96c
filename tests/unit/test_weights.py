"""sketch3d.weights: one reading of a weights setting, offline lookup, one message, digests. Never downloads."""
from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from sketch3d import weights
from sketch3d.data.registry import Source
from sketch3d.preflight import check_paper_inputs

REPO = "timm/resnet101_clip.openai"


@pytest.fixture(autouse=True)
def offline(tmp_path, monkeypatch):
    """No test here may reach the network, or see the real caches of this machine."""

    def refuse(*args, **kwargs):
        raise AssertionError("sketch3d.weights touched the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-default"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))


def _sources(sha256: str | None = None) -> dict[str, Source]:
    return {
        "amateursketch_chair": Source("amateursketch_chair", "dataset", (), "AmateurSketch-3DChair.zip", None, None,
                                      "downloads", "l", "c", "x"),
        "clip_rn101_openai": Source("clip_rn101_openai", "weights", (), "RN101.pt", None, sha256, "weights", "l", "c",
                                    "place OpenAI's RN101.pt by hand"),
        "shapenetcore_v2": Source("shapenetcore_v2", "dataset", (), None, None, None, "ShapeNetCore.v2", "l", "c", "x"),
    }


def _hf_file(cache: Path, name: str, content: bytes = b"w", repo: str = REPO) -> Path:
    """A file in the Hugging Face cache layout: models--org--name/{refs/main, snapshots/<rev>/<name>}."""
    folder = cache / f"models--{repo.replace('/', '--')}"
    (folder / "refs").mkdir(parents=True, exist_ok=True)
    (folder / "refs" / "main").write_text("abc123")
    path = folder / "snapshots" / "abc123" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


# ----------------------------------------------------------------------------- what a setting means


@pytest.mark.parametrize("value", ["model.ckpt", "RN101.PT", "w/clip.safetensors", "~/clip.bin", "x.pth"])
def test_file_settings(value):
    assert weights.is_file_setting(value) and weights.kind(value, "RN101") == "file"


def test_tags_random_and_unknown(tmp_path):
    assert weights.kind("openai", "RN101") == "tag" and not weights.is_file_setting("openai")
    assert weights.kind("random", "RN101") == "random" and not weights.is_file_setting("random")
    assert weights.kind("laion2b", "RN101") == "unknown"
    assert weights.kind("openai", "no-such-net") == "unknown"
    (tmp_path / "mine").write_bytes(b"w")  # an existing file needs no suffix
    assert weights.kind("mine", "RN101", base=tmp_path) == "file"
    assert weights.setting_path("mine", tmp_path) == tmp_path / "mine"
    assert weights.setting_path("~/w.pt") == Path(os.environ["HOME"]) / "w.pt"


def _meta_checkpoint(path: Path, model: str) -> None:
    """A torch-saved state dict of open_clip ``model`` with meta tensors: its key layout and shapes, no values."""
    import torch

    from sketch3d.compat.torchvision_ops import ensure_torchvision

    ensure_torchvision()
    import open_clip

    torch.save(open_clip.create_model(model, device="meta").state_dict(), path)


def test_ckpt_is_a_file_for_preflight_and_loader(tmp_path):
    """The former disagreement: preflight called a bare 'model.ckpt' an unknown value, the loader a file."""
    from sketch3d.features.backbone import FeatureSpec, WeightsUnavailableError

    _fill(tmp_path)
    paper = _paper(tmp_path, "model.ckpt")
    missing = check_paper_inputs(paper, probe_network=False, sources=_sources(), base=tmp_path)
    assert len(missing) == 1
    assert "local file" in missing[0].what and missing[0].path == str(tmp_path / "model.ckpt")
    spec = FeatureSpec(weights=str(tmp_path / "model.ckpt"))
    assert spec.is_local_file and FeatureSpec(weights="model.ckpt").is_local_file
    with pytest.raises(WeightsUnavailableError, match="model.ckpt"):
        spec.key()
    _meta_checkpoint(tmp_path / "model.ckpt", "RN101")  # present, and of the configured architecture
    assert check_paper_inputs(paper, probe_network=False, sources=_sources(), base=tmp_path) == []
    assert len(spec.key()) == 16


def test_random_needs_no_file(tmp_path):
    _fill(tmp_path)
    assert check_paper_inputs(_paper(tmp_path, "random"), probe_network=False, sources=_sources()) == []
    assert weights.local_file("random", "RN101") is None


# ----------------------------------------------------------------------------- where a file lies


def test_hf_cache_lookup(tmp_path):
    hf = tmp_path / "hf"
    entry = weights.find("RN101", "openai")
    assert weights.find_local(entry, hf_cache_dir=hf) is None
    bin_ = _hf_file(hf, "open_clip_pytorch_model.bin")
    assert weights.find_local(entry, hf_cache_dir=hf) == bin_
    st = _hf_file(hf, "open_clip_model.safetensors")
    assert weights.find_local(entry, hf_cache_dir=hf) == st  # safetensors first
    assert weights.local_file("openai", "RN101", hf_cache_dir=str(hf)) == st
    _hf_file(hf, "open_clip_model.safetensors", repo="timm/other")
    assert weights.find_local(entry, hf_cache_dir=tmp_path / "empty") is None


def test_hf_cache_from_environment_at_call_time(tmp_path, monkeypatch):
    hit = _hf_file(tmp_path / "late", "open_clip_model.safetensors")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "late"))
    assert weights.hf_cache() == tmp_path / "late"
    assert weights.local_file("openai", "RN101") == hit
    monkeypatch.delenv("HF_HUB_CACHE")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hfhome"))
    assert weights.hf_cache() == tmp_path / "hfhome" / "hub"


def test_lookup_order_data_dir_and_user_cache(tmp_path):
    entry = weights.find("RN101", "openai")
    data = tmp_path / "data"
    home_pt = Path(os.environ["HOME"]) / ".cache" / "clip" / "RN101.pt"
    home_pt.parent.mkdir(parents=True)
    home_pt.write_bytes(b"url cache")
    kw = dict(hf_cache_dir=tmp_path / "hf", sources=_sources())
    assert weights.find_local(entry, data_dir=data, **kw) == home_pt
    pt = data / "weights" / "RN101.pt"
    pt.parent.mkdir(parents=True)
    pt.write_bytes(b"jit")
    assert weights.find_local(entry, data_dir=data, **kw) == pt
    assert weights.find_local(entry, **kw) == home_pt  # no data_dir: not looked at
    hf = _hf_file(tmp_path / "hf", "open_clip_model.safetensors")
    assert weights.find_local(entry, data_dir=data, **kw) == hf


def test_data_dir_file_is_verified(tmp_path):
    pt = tmp_path / "data" / "weights" / "RN101.pt"
    pt.parent.mkdir(parents=True)
    pt.write_bytes(b"not OpenAI's file")
    kw = dict(data_dir=tmp_path / "data", hf_cache_dir=tmp_path / "hf", sources=_sources("0" * 64))
    assert weights.local_file("openai", "RN101", **kw) is None
    u = weights.unavailable("openai", "RN101", **kw)
    assert "rejected" in u.how_to_get and "0" * 64 in u.how_to_get
    good = _sources(hashlib.sha256(pt.read_bytes()).hexdigest())
    assert weights.local_file("openai", "RN101", **{**kw, "sources": good}) == pt


# ----------------------------------------------------------------------------- how to get it


def test_message_names_file_place_and_fix(tmp_path):
    data = tmp_path / "data"
    u = weights.unavailable("openai", "RN101", data_dir=data, hf_cache_dir=tmp_path / "hf", sources=_sources())
    assert u.path == str(data / "weights" / "RN101.pt")
    msg = u.message()
    for needle in ("CLIP RN101 weights", "open_clip tag 'openai'", str(data / "weights" / "RN101.pt"),
                   "place OpenAI's RN101.pt by hand", REPO, "open_clip_model.safetensors", str(tmp_path / "hf"),
                   "~/.cache/clip/RN101.pt", "create_model_and_transforms('RN101', pretrained='openai')",
                   weights.CLIP_SETTING):
        assert needle in msg, needle
    f = weights.unavailable("w/none.ckpt", "RN101", base=tmp_path, sources=_sources())
    assert f.path == str(tmp_path / "w" / "none.ckpt") and "does not exist" in f.how_to_get and REPO in f.how_to_get
    bad = weights.unavailable("laion2b", "RN101", sources=_sources())
    assert "unknown value 'laion2b'" in bad.what and "'openai'" in bad.how_to_get and ".ckpt" in bad.how_to_get


def test_one_message_for_preflight_and_loader(tmp_path):
    """The preflight's MissingInput and the loader's error carry the same what / where / how."""
    from sketch3d.features.backbone import FeatureSpec, WeightsUnavailableError

    _fill(tmp_path)
    missing_file = str(tmp_path / "none.ckpt")
    (m,) = check_paper_inputs(_paper(tmp_path, missing_file), probe_network=False)
    u = weights.unavailable(missing_file, "RN101", data_dir=tmp_path / "data")
    assert (m.what, m.path, m.how_to_get) == (u.what, u.path, u.how_to_get)
    with pytest.raises(WeightsUnavailableError) as err:
        FeatureSpec(weights=missing_file).key()
    assert weights.unavailable(missing_file, "RN101").message() in str(err.value)  # the loader knows no data_dir
    (t,) = check_paper_inputs(_paper(tmp_path, "openai"), probe_network=False, hf_cache_dir=str(tmp_path / "hf"))
    u = weights.unavailable("openai", "RN101", data_dir=tmp_path / "data", hf_cache_dir=tmp_path / "hf")
    assert (t.what, t.path, t.how_to_get) == (u.what, u.path, u.how_to_get)


def test_hub_offline_and_url(monkeypatch):
    for value, offline in (("1", True), ("true", True), ("ON", True), ("0", False), ("", False)):
        monkeypatch.setenv("HF_HUB_OFFLINE", value)
        assert weights.hub_offline() is offline
    entry = weights.find("RN101", "openai")
    assert entry.hub_url("http://hub.test/") == f"http://hub.test/{REPO}/resolve/main/open_clip_model.safetensors"


def test_registry_matches_open_clip():
    """The registry's RN101 entry says where open_clip itself puts the file (checked against open_clip's table)."""
    from sketch3d.compat.torchvision_ops import ensure_torchvision

    ensure_torchvision()
    import open_clip

    cfg = open_clip.get_pretrained_cfg("RN101", "openai")
    derived = weights.from_open_clip("RN101", "openai", cfg)
    entry = weights.find("RN101", "openai")
    assert (derived.hf_repo, derived.hf_files, derived.user_files) == (entry.hf_repo, entry.hf_files, entry.user_files)


# ----------------------------------------------------------------------------- what a file is


def test_digest_follows_content(tmp_path):
    f = tmp_path / "w.pt"
    f.write_bytes(b"one")
    d1 = weights.sha256(f)
    assert d1 == hashlib.sha256(b"one").hexdigest() and weights.sha256(str(f)) == d1
    st = f.stat()
    f.write_bytes(b"two")  # same size: the memo is keyed on the mtime too
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert weights.sha256(f) == hashlib.sha256(b"two").hexdigest() != d1


def test_digest_memo_across_processes_is_keyed_on_the_file(tmp_path, monkeypatch):
    """A large file's digest is kept on disk for the next process (the lru cache stands for a process), and a
    new mtime or an edit in place is hashed again."""
    monkeypatch.setenv("SKETCH3D_HASH_MEMO", str(tmp_path / "memo"))
    monkeypatch.setattr(weights, "HASH_MEMO_MIN_BYTES", 4)
    f = tmp_path / "w.pt"
    f.write_bytes(b"weights one")
    real = hashlib.sha256(b"weights one").hexdigest()
    weights._sha256.cache_clear()
    assert weights.sha256(f) == real
    [memo] = (tmp_path / "memo").iterdir()
    assert memo.read_text() == real
    # a "new process" reads the memo, not the file: a planted digest is what it returns
    memo.write_text("0" * 64)
    weights._sha256.cache_clear()
    assert weights.sha256(f) == "0" * 64
    # the same size and a new mtime: hashed again
    st = f.stat()
    f.write_bytes(b"weights two")
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    weights._sha256.cache_clear()
    assert weights.sha256(f) == hashlib.sha256(b"weights two").hexdigest()
    # a garbled memo is ignored; an unwritable memo folder costs nothing but the hash
    for m in (tmp_path / "memo").iterdir():
        m.write_text("not a digest")
    weights._sha256.cache_clear()
    assert weights.sha256(f) == hashlib.sha256(b"weights two").hexdigest()
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("SKETCH3D_HASH_MEMO", str(tmp_path / "file" / "memo"))
    weights._sha256.cache_clear()
    assert weights.sha256(f) == hashlib.sha256(b"weights two").hexdigest()
    monkeypatch.setenv("SKETCH3D_HASH_MEMO", "off")
    weights._sha256.cache_clear()
    assert weights._memo_file(str(f), 100, 1, 1) is None


def test_is_torchscript(tmp_path):
    import torch

    ts = tmp_path / "ts.pt"
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(ts))
    sd = tmp_path / "sd.pt"
    torch.save(torch.nn.Linear(2, 2).state_dict(), sd)
    raw = tmp_path / "raw.safetensors"
    raw.write_bytes(b"not a zip")
    assert weights.is_torchscript(ts) and not weights.is_torchscript(sd) and not weights.is_torchscript(raw)


def test_describe_is_portable(tmp_path):
    f = tmp_path / "deep" / "RN101.pt"
    f.parent.mkdir()
    f.write_bytes(b"w")
    digest = hashlib.sha256(b"w").hexdigest()
    assert weights.describe("random", "RN101", seed=3, family="CLIP") == "random init (seed 3), NOT pretrained CLIP"
    assert weights.describe(str(f), "RN101") == f"file RN101.pt (sha256:{digest})"
    assert weights.describe("openai", "RN101", local=f) == f"openai (sha256:{digest})"
    assert weights.describe("openai", "RN101") == "openai (no local file)"
    hit = _hf_file(Path(os.environ["HF_HUB_CACHE"]), "open_clip_model.safetensors", b"hf")
    assert weights.describe("openai", "RN101") == f"openai (sha256:{hashlib.sha256(b'hf').hexdigest()})"
    for text in (weights.describe(str(f), "RN101"), weights.describe("openai", "RN101")):
        assert str(tmp_path) not in text and str(hit.parent) not in text


def test_feature_spec_uses_the_cached_file(tmp_path):
    from sketch3d.features.stage import feature_spec

    params = {"profile": "paper", "seed": 0, "data": {"data_dir": str(tmp_path / "data")},
              "features": {"backbone": "RN101", "layer": "layer3", "weights": "openai"}}
    assert feature_spec(params).weights == "openai"  # not on disk: left to the loader
    hit = _hf_file(Path(os.environ["HF_HUB_CACHE"]), "open_clip_model.safetensors")
    spec = feature_spec(params)
    assert spec.weights == str(hit) and spec.is_local_file
    demo = {**params, "features": {**params["features"], "weights": "random"}}
    assert feature_spec(demo).is_random


def test_no_torch_in_preflight_or_weights():
    code = ("import sys, sketch3d.preflight, sketch3d.weights\n"
            "sys.exit('torch' in sys.modules or 'open_clip' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0


# ----------------------------------------------------------------------------- helpers


def _paper(tmp_path: Path, clip: str) -> dict:
    return {"categories": ["chair"], "data_dir": str(tmp_path / "data"), "shapenet_root": str(tmp_path / "shapenet"),
            "clip_weights": clip}


def _fill(tmp_path: Path) -> None:
    """Every paper input but the weights in place: the chair archive and one ShapeNet chair."""
    import zipfile

    z = tmp_path / "data" / "downloads" / "AmateurSketch-3DChair.zip"
    z.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("x.svg", "<svg/>")
    obj = tmp_path / "shapenet" / "03001627" / "m1" / "models" / "model_normalized.obj"
    obj.parent.mkdir(parents=True, exist_ok=True)
    obj.write_text("v 0 0 0\n")


# ----------------------------------------------------------------------------- the networks of Tables 4.5 / 4.6

TV = (("resnet101", "IMAGENET1K_V1"), ("resnet101", "IMAGENET1K_V2"), ("vit_b_32", "IMAGENET1K_V1"),
      ("vit_b_16", "IMAGENET1K_V1"))


def test_torchvision_entries_match_torchvision_and_sources():
    """File name, URL and sha256 prefix as torchvision's own weights enums publish them; sources.yaml agrees."""
    from sketch3d.compat.torchvision_ops import ensure_torchvision
    from sketch3d.data.registry import load_sources

    ensure_torchvision()
    import torchvision

    sources = load_sources()
    for net, tag in TV:
        entry = weights.find(net, tag)
        url = torchvision.models.get_model_weights(net)[tag].url
        assert (entry.url, entry.hub_checkpoint) == (url, url.rsplit("/", 1)[1])
        assert entry.sha256_prefix and entry.hub_checkpoint == f"{net}-{entry.sha256_prefix}.pth"
        assert weights.kind(tag, net) == "tag" and entry.tag_of == "torchvision"
        src = sources[entry.source]
        assert src.kind == "weights" and src.urls == (url,) and src.filename == entry.hub_checkpoint
        assert url in src.how_to_get
        derived = weights.from_torchvision(net, tag, url)
        assert (derived.hub_checkpoint, derived.url, derived.sha256_prefix) == (
            entry.hub_checkpoint, entry.url, entry.sha256_prefix)


@pytest.mark.parametrize("net", ["ViT-B-32", "ViT-B-16"])
def test_clip_vit_entries_match_open_clip(net):
    from sketch3d.compat.torchvision_ops import ensure_torchvision
    from sketch3d.data.registry import load_sources

    ensure_torchvision()
    import open_clip

    cfg = open_clip.get_pretrained_cfg(net, "openai")
    derived = weights.from_open_clip(net, "openai", cfg)
    entry = weights.find(net, "openai")
    assert (derived.hf_repo, derived.hf_files, derived.user_files) == (entry.hf_repo, entry.hf_files, entry.user_files)
    src = load_sources()[entry.source]
    assert src.urls == (cfg["url"],) and src.sha256 == cfg["url"].split("/")[-2]


def test_torch_hub_dir_follows_torch(monkeypatch, tmp_path):
    import torch

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    assert weights.torch_hub_dir() == Path(torch.hub.get_dir()) == tmp_path / "th" / "hub"
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "set_dir"))  # torch.hub.set_dir's effect
    assert weights.torch_hub_dir() == tmp_path / "set_dir"


def test_torch_hub_dir_without_torch(tmp_path):
    """weights imports no torch: it reads torch hub's folder from the environment as torch.hub does."""
    code = "import sys, sketch3d.weights as w; print(w.torch_hub_dir()); sys.exit('torch' in sys.modules)"
    env = {**os.environ, "TORCH_HOME": str(tmp_path / "th")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == str(tmp_path / "th" / "hub")
    env.pop("TORCH_HOME")
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == str(tmp_path / "xdg" / "torch" / "hub")


def test_hub_checkpoint_found_and_checked_by_its_sha256_prefix(tmp_path):
    content = b"toy weights"
    prefix = hashlib.sha256(content).hexdigest()[:8]
    toy = weights.Pretrained(network="toy", tag="T1", title="toy weights", setting="x", hub_checkpoint=f"toy-{prefix}.pth",
                             url=f"https://example.test/toy-{prefix}.pth")
    assert toy.sha256_prefix == prefix
    ckpt = weights.torch_hub_dir() / "checkpoints" / f"toy-{prefix}.pth"
    assert ckpt.is_relative_to(tmp_path / "torch-home")
    assert weights.find_local(toy) is None
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(content)
    assert weights.find_local(toy) == ckpt
    ckpt.write_bytes(b"truncated")
    assert weights.find_local(toy) is None
    how = weights.how_to_get(toy, sources={})
    assert "rejected" in how and f"does not start with {prefix}" in how and toy.url in how


def test_missing_torchvision_weights_message(tmp_path):
    data = tmp_path / "data"
    setting = weights.network_setting("imagenet_rn101")
    u = weights.unavailable("IMAGENET1K_V1", "resnet101", setting=setting, data_dir=data)
    ckpt = tmp_path / "torch-home" / "hub" / "checkpoints" / "resnet101-63fe2227.pth"
    assert u.path == str(ckpt)
    msg = u.message()
    for needle in ("torchvision ResNet-101 ImageNet weights", "torchvision tag 'IMAGENET1K_V1'",
                   "https://download.pytorch.org/models/resnet101-63fe2227.pth", str(data / "weights" / ckpt.name),
                   "get_model('resnet101', weights='IMAGENET1K_V1')",
                   "profiles.paper.features.networks.imagenet_rn101.weights"):
        assert needle in msg, needle
    assert weights.local_file("IMAGENET1K_V1", "resnet101", data_dir=data) is None
    # the file placed by hand under data_dir (named as published) is found once its prefix matches
    placed = data / "weights" / ckpt.name
    placed.parent.mkdir(parents=True)
    placed.write_bytes(b"not torchvision's")
    assert weights.local_file("IMAGENET1K_V1", "resnet101", data_dir=data) is None
    assert "does not start with 63fe2227" in weights.unavailable("IMAGENET1K_V1", "resnet101", data_dir=data).how_to_get
    assert weights.describe("random", "resnet101", seed=1, family="ImageNet") == \
        "random init (seed 1), NOT pretrained ImageNet"
