"""Tests for sketch3d.preflight: every missing input reported at once, quickly, with no internet."""
import functools
import http.server
import io
import socket
import threading
import time
import zipfile
from pathlib import Path

import pytest

from sketch3d import weights
from sketch3d.data.registry import Source
from sketch3d.preflight import MissingInput, PreflightError, check_paper_inputs, probe_all, require_paper_inputs
from _helpers import _closed_port, sparse_clip_safetensors


def _sources(urls: dict[str, list[str]]) -> dict[str, Source]:
    out = {}
    for cat in ("chair", "lamp"):
        name = f"amateursketch_{cat}"
        out[name] = Source(name, "dataset", tuple(urls.get(cat, [])), f"{cat}.zip", None, None, "downloads", "l", "c",
                           f"get the {cat} zip from the authors")
    out["shapenetcore_v2"] = Source("shapenetcore_v2", "dataset", (), None, None, None, "ShapeNetCore.v2", "l", "c",
                                    "request ShapeNet access")
    out["clip_rn101_openai"] = Source("clip_rn101_openai", "weights", (), "RN101.pt", None, None, "weights", "l", "c",
                                      "let open_clip download it")
    return out


def _paper(tmp_path: Path, clip: str = "openai") -> dict:
    return {"categories": ["chair", "lamp"], "data_dir": str(tmp_path / "data"),
            "shapenet_root": str(tmp_path / "shapenet"), "amateursketch_splits": {"val_shapes": 200},
            "clip_weights": clip}


def _hub_closed() -> str:
    return f"http://127.0.0.1:{_closed_port()}"


def test_everything_missing_is_reported_at_once_and_fast(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    port = _closed_port()
    sources = _sources({"chair": [f"http://127.0.0.1:{port}/chair.zip"], "lamp": [f"http://127.0.0.1:{port}/lamp.zip"]})
    paper = _paper(tmp_path)
    t0 = time.monotonic()
    missing = check_paper_inputs(paper, timeout=2, sources=sources, hf_cache_dir=str(tmp_path / "hf"),
                                 hf_endpoint=_hub_closed())
    assert time.monotonic() - t0 < 5
    assert all(isinstance(m, MissingInput) for m in missing)
    whats = [m.what for m in missing]
    assert len(missing) == 4, whats
    assert any("amateursketch_chair" in w for w in whats) and any("amateursketch_lamp" in w for w in whats)
    assert any("ShapeNetCore" in w for w in whats) and any("CLIP" in w for w in whats)
    chair = next(m for m in missing if "amateursketch_chair" in m.what)
    assert chair.path == str(tmp_path / "data" / "downloads" / "chair.zip")
    assert f"127.0.0.1:{port}/chair.zip" in chair.how_to_get and "from the authors" in chair.how_to_get

    with pytest.raises(PreflightError) as info:
        require_paper_inputs(paper, probe_network=False, sources=sources, hf_cache_dir=str(tmp_path / "hf"))
    msg = str(info.value)
    assert "4 input(s) missing" in msg and len(info.value.missing) == 4
    for needle in ("chair.zip", "lamp.zip", str(tmp_path / "shapenet"), "RN101.pt",
                   "request ShapeNet access", "let open_clip download it", "not probed"):
        assert needle in msg, needle


def test_missing_synset_folder_is_named(tmp_path):
    paper = _paper(tmp_path)
    (tmp_path / "shapenet" / "03001627" / "m1" / "models").mkdir(parents=True)
    (tmp_path / "shapenet" / "03001627" / "m1" / "models" / "model_normalized.obj").write_text("v 0 0 0\n")
    missing = check_paper_inputs(paper, probe_network=False, sources=_sources({}), hf_cache_dir=str(tmp_path / "hf"))
    shapenet = [m for m in missing if "ShapeNet" in m.what]
    assert len(shapenet) == 1 and "lamp" in shapenet[0].what and "03636649" in shapenet[0].path


def _zip(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("x.svg", "<svg/>")
    path.write_bytes(buf.getvalue())


def _fill(tmp_path: Path) -> None:
    for cat in ("chair", "lamp"):
        _zip(tmp_path / "data" / "downloads" / f"{cat}.zip")
    for syn in ("03001627", "03636649"):
        obj = tmp_path / "shapenet" / syn / "m1" / "models" / "model_normalized.obj"
        obj.parent.mkdir(parents=True)
        obj.write_text("v 0 0 0\n")


def test_nothing_reported_when_files_are_in_place(tmp_path):
    _fill(tmp_path)
    weights = sparse_clip_safetensors(tmp_path / "w" / "clip_rn101.safetensors", "RN101")
    sources = _sources({})
    assert check_paper_inputs(_paper(tmp_path, str(weights)), probe_network=False, sources=sources) == []
    require_paper_inputs(_paper(tmp_path, str(weights)), probe_network=False, sources=sources)  # no raise
    # features_weights overrides paper.clip_weights
    bad = check_paper_inputs(_paper(tmp_path, str(weights)), features_weights=str(tmp_path / "none.pt"),
                             probe_network=False, sources=sources)
    assert len(bad) == 1 and bad[0].path == str(tmp_path / "none.pt")


def test_openai_tag_found_in_data_dir_and_hf_cache(tmp_path):
    _fill(tmp_path)
    sources = _sources({})
    paper = _paper(tmp_path)
    hf = tmp_path / "hf"
    assert len(check_paper_inputs(paper, probe_network=False, sources=sources, hf_cache_dir=str(hf))) == 1
    # a file in the Hugging Face cache layout (models--org--name/snapshots/<rev>/file, refs/main)
    repo = hf / "models--timm--resnet101_clip.openai"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc123")
    snap = repo / "snapshots" / "abc123" / "open_clip_model.safetensors"
    snap.parent.mkdir(parents=True)
    snap.write_bytes(b"w")  # a file that holds no weights is named before any job
    bad = check_paper_inputs(paper, probe_network=False, sources=sources, hf_cache_dir=str(hf))
    assert len(bad) == 1 and bad[0].path == str(snap) and "cannot be read as a weights file" in bad[0].how_to_get
    sparse_clip_safetensors(snap, "RN101")
    assert check_paper_inputs(paper, probe_network=False, sources=sources, hf_cache_dir=str(hf)) == []
    assert weights.local_file("openai", "RN101", data_dir=paper["data_dir"], hf_cache_dir=str(hf), sources=sources) == snap
    # or OpenAI's RN101.pt under data_dir/weights
    pt = tmp_path / "data" / "weights" / "RN101.pt"
    pt.parent.mkdir(parents=True)
    pt.write_bytes(b"jit")
    assert weights.local_file("openai", "RN101", data_dir=paper["data_dir"], hf_cache_dir=str(tmp_path / "empty"),
                              sources=sources) == pt


def test_unknown_clip_value(tmp_path):
    _fill(tmp_path)
    missing = check_paper_inputs(_paper(tmp_path, "laion2b"), probe_network=False, sources=_sources({}))
    assert len(missing) == 1 and "unknown value 'laion2b'" in missing[0].what


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_reachable_url_counts_as_downloadable(tmp_path):
    www = tmp_path / "www"
    _zip(www / "chair.zip")
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(www)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{httpd.server_address[1]}"
        sources = _sources({"chair": [f"{base}/chair.zip"], "lamp": [f"{base}/lamp.zip"]})
        missing = check_paper_inputs(_paper(tmp_path), timeout=2, sources=sources,
                                     hf_cache_dir=str(tmp_path / "hf"), hf_endpoint=base)
        whats = " | ".join(m.what for m in missing)
        assert "amateursketch_chair" not in whats  # served: fetch() will download it
        assert "amateursketch_lamp" in whats  # 404
        assert "CLIP" in whats  # the fake hub answers 404 for the weights file
        lamp = next(m for m in missing if "lamp" in m.what)
        assert "HTTP 404" in lamp.how_to_get
        answers = probe_all([f"{base}/chair.zip", (www / "chair.zip").as_uri(), (www / "no.zip").as_uri()], 2)
        assert answers[f"{base}/chair.zip"] is None and answers[(www / "chair.zip").as_uri()] is None
        assert answers[(www / "no.zip").as_uri()] == "file does not exist"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_probe_all_is_bounded_by_timeout():
    # a listening socket that never answers: each probe waits for its timeout, all in parallel
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    try:
        url = f"http://127.0.0.1:{srv.getsockname()[1]}"
        t0 = time.monotonic()
        answers = probe_all([f"{url}/a", f"{url}/b", f"{url}/c"], timeout=0.5)
        assert time.monotonic() - t0 < 2
        assert all(v is not None for v in answers.values())
    finally:
        srv.close()


# ----------------------------------------------------------------------------- the networks the targets need

NETS = {
    "clip_rn101": {"family": "clip", "backbone": "RN101", "layer": "layer3", "weights": "openai"},
    "clip_vit": {"family": "clip", "backbone": "ViT-B-32", "layer": "embedding", "weights": "openai"},
    "imagenet_rn101": {"family": "imagenet", "backbone": "resnet101", "layer": "layer3", "weights": "IMAGENET1K_V1"},
    "imagenet_vit": {"family": "imagenet", "backbone": "vit_b_32", "layer": "cls", "weights": "IMAGENET1K_V1"},
}


def _net_sources() -> dict[str, Source]:
    from sketch3d.data.registry import load_sources

    packaged = load_sources()
    return {**_sources({}), **{k: v for k, v in packaged.items() if k.startswith(("torchvision_", "clip_vit"))}}


def test_named_networks_are_checked(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _fill(tmp_path)
    sources = _net_sources()
    hf = str(tmp_path / "hf")
    features = {"backbone": "RN101", "weights": "openai", "networks": NETS}
    kw = dict(probe_network=False, sources=sources, hf_cache_dir=hf, features=features)
    # today's call: the main network only
    (main,) = check_paper_inputs(_paper(tmp_path), **kw)
    assert "CLIP RN101" in main.what
    # clip_rn101 is the main network's (backbone, weights): reported once; each other network once, with its key
    missing = check_paper_inputs(_paper(tmp_path), networks=list(NETS), **kw)
    whats = [m.what for m in missing]
    assert len(missing) == 4, whats
    assert any("CLIP ViT-B-32" in w for w in whats)
    rn = next(m for m in missing if "ResNet-101" in m.what)
    assert rn.path == str(tmp_path / "torch" / "hub" / "checkpoints" / "resnet101-63fe2227.pth")
    assert "https://download.pytorch.org/models/resnet101-63fe2227.pth" in rn.how_to_get
    assert "profiles.paper.features.networks.imagenet_rn101.weights" in rn.how_to_get
    vit = next(m for m in missing if "ViT-B/32" in m.what)
    assert "vit_b_32-d86f8d99.pth" in vit.path
    # only the ImageNet networks, the main one unset: nothing else is checked
    only = check_paper_inputs(_paper(tmp_path, ""), networks=["imagenet_rn101"], **kw)
    assert [m.path for m in only] == [rn.path]
    # placed in torch hub's cache (its sha256 prefix taken as right): found
    ckpt = Path(rn.path)
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(b"w")
    monkeypatch.setattr(weights, "sha256", lambda p: "63fe2227" + "0" * 56)
    assert check_paper_inputs(_paper(tmp_path, ""), networks=["imagenet_rn101"], **kw) == []
    # random initialisation needs no file
    demo = {**features, "networks": {k: {**v, "weights": "random"} for k, v in NETS.items()}}
    assert check_paper_inputs(_paper(tmp_path, "random"), networks=list(NETS), **{**kw, "features": demo}) == []
    with pytest.raises(ValueError, match=r"network 'vgg' is not configured.*features.networks"):
        check_paper_inputs(_paper(tmp_path), networks=["vgg"], **kw)


def test_torchvision_weights_are_never_probed(tmp_path, monkeypatch):
    """open_clip's tags may come from the hub; torchvision's must be on disk: no URL is probed for them."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    _fill(tmp_path)
    probed: list[str] = []
    real = probe_all

    def spy(urls, timeout):
        probed.extend(urls)
        return real(urls, timeout)

    monkeypatch.setattr("sketch3d.preflight.probe_all", spy)
    (m,) = check_paper_inputs(_paper(tmp_path, "random"), timeout=1, sources=_net_sources(),
                              hf_cache_dir=str(tmp_path / "hf"), hf_endpoint=_hub_closed(),
                              features={"networks": NETS}, networks=["imagenet_rn101"])
    assert "ResNet-101" in m.what and "Hugging Face hub" not in m.how_to_get
    assert probed == []


# ----------------------------------------------------------------------------- the chapters' checks, found by name


def test_each_chapter_preflight_is_found_like_its_commands():
    """Every chapter package with a preflight module is found by name, as the CLI finds each `commands` module:
    the workflow's onstart check names no chapter."""
    from sketch3d import preflight
    from sketch3d.discovery import subpackage_modules

    checks = preflight.chapter_checks()
    assert {"retrieval", "sketchydepth", "reconstruction", "netspace"} <= set(checks)
    assert set(checks) <= set(subpackage_modules("commands"))  # the preflight modules are the chapters'
    assert checks["retrieval"].__module__ == "sketch3d.retrieval.preflight"


def test_chapter_checks_are_joined_in_order_each_input_once(monkeypatch):
    from sketch3d import preflight

    a, b, c = (MissingInput(w, f"/x/{w}", "get it") for w in "abc")
    calls = []

    def check(found):
        def missing_inputs(params, base=".", probe_network=True, timeout=5):
            calls.append((found, probe_network))
            return list(found)
        return missing_inputs

    monkeypatch.setattr(preflight, "chapter_checks", lambda: {"one": check([a, b]), "two": check([b, c])})
    assert preflight.missing_chapter_inputs({}, ["two", "one"], probe_network=False) == [b, c, a]
    assert calls == [([b, c], False), ([a, b], False)]
    with pytest.raises(PreflightError) as err:
        preflight.require_chapter_inputs({}, ["one"])
    assert err.value.missing == [a, b]
    with pytest.raises(ValueError, match="no chapter package.*'nope'"):
        preflight.missing_chapter_inputs({}, ["nope"])


def test_preflight_command_checks_the_named_chapter(tmp_path, monkeypatch, caplog):
    """`sketch3d preflight --chapter sketchydepth` runs that chapter's check on the paper profile's params: nothing
    is in place under an empty folder, so it names SketchyCOCO and MiDaS, not the other chapters' inputs."""
    from sketch3d.cli import main

    params = Path(__file__).resolve().parents[2] / "params.yaml"
    monkeypatch.chdir(tmp_path)
    assert main(["preflight", "--params", str(params), "--chapter", "sketchydepth", "--no-probe"]) == 1
    assert "SketchyCOCO" in caplog.text and "MiDaS" in caplog.text, caplog.text
    assert "AmateurSketch" not in caplog.text and "SDF-StyleGAN" not in caplog.text, caplog.text
