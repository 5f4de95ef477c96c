"""FeatureCache and embed_images: shapes, caching by content, settings in the key."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

import sketch3d.features.extract as extract_mod
import sketch3d.features.cache as cache_mod
from sketch3d.features.backbone import FeatureSpec, load_backbone
from sketch3d.features.cache import FeatureCache, hash_file
from sketch3d.features.extract import embed_images, prepare_batch

SPEC = FeatureSpec(backbone="RN50", layer="layer3", weights="random", seed=0)
DIM = 1024 * 14 * 14


def _draw(path, k: int) -> None:
    img = Image.new("L", (224, 224), 255)
    d = ImageDraw.Draw(img)
    d.rectangle([20 + 5 * k, 30, 120 + 7 * k, 90 + 9 * k], outline=0, width=2)
    d.line([(10, 200), (100 + 10 * k, 20)], fill=0, width=3)
    img.save(path)


@pytest.fixture
def images(tmp_path):
    paths = []
    for k in range(3):
        p = tmp_path / "img" / f"v{k}.png"
        p.parent.mkdir(exist_ok=True)
        _draw(p, k)
        paths.append(p)
    dup = tmp_path / "img" / "copy_of_v1.png"
    dup.write_bytes(paths[1].read_bytes())
    return paths + [dup]


@pytest.fixture
def spy(monkeypatch):
    """Count backbone builds and the images that go through the network."""
    seen = {"builds": 0, "images": 0}

    def counting_load(spec, device="cpu"):
        seen["builds"] += 1
        model = load_backbone(spec, device)
        model.register_forward_hook(lambda m, i, o: seen.__setitem__("images", seen["images"] + o.shape[0]))
        return model

    monkeypatch.setattr(extract_mod, "load_backbone", counting_load)
    return seen


def test_cache_roundtrip_and_keys(tmp_path):
    h = hash_file(__file__)
    c = FeatureCache(tmp_path, "abc", "box129")
    assert c.get(h) is None and h not in c
    arr = np.arange(10, dtype=np.float16)
    c.put(h, arr)
    got = c.get(h)
    assert got.dtype == np.float16 and np.array_equal(got, arr) and h in c
    assert FeatureCache(tmp_path, "abc", "box170").get(h) is None
    assert FeatureCache(tmp_path, "abd", "box129").get(h) is None
    assert not list(tmp_path.rglob("*.tmp*"))  # atomic writes leave no temporaries
    with pytest.raises(ValueError, match="SHA-256"):
        c.get("not-a-hash")


def test_extract_caches_by_content(tmp_path, images, spy):
    cache = tmp_path / "cache"
    feats = embed_images(images, SPEC, 129, cache, batch_size=2)
    assert feats.shape == (4, DIM) and feats.dtype == np.float16
    assert spy == {"builds": 1, "images": 3}  # the duplicate file is embedded once
    np.testing.assert_array_equal(feats[1], feats[3])
    assert not np.array_equal(feats[0], feats[1])

    again = embed_images(list(reversed(images)), SPEC, 129, cache, batch_size=2)
    assert spy == {"builds": 1, "images": 3}  # nothing embedded, no backbone built
    np.testing.assert_array_equal(again, feats[::-1])

    other_box = embed_images(images[:1], SPEC, 170, cache)
    assert spy["images"] == 4 and not np.array_equal(other_box[0], feats[0])


def test_matches_direct_forward(tmp_path, images, spy):
    feats = embed_images(images[:2], SPEC, None, tmp_path / "c", dtype="float32", out_path=tmp_path / "f.npy")
    assert isinstance(feats, np.memmap) and np.load(tmp_path / "f.npy").shape == (2, DIM)
    model = load_backbone(SPEC)
    with torch.inference_mode():
        ref = model(prepare_batch(images[:2], None).contiguous()).reshape(2, -1).numpy()
    np.testing.assert_allclose(feats, ref, rtol=1e-4, atol=1e-4)


def test_bad_inputs(tmp_path, images):
    with pytest.raises(FileNotFoundError, match="missing.png"):
        embed_images([tmp_path / "missing.png"], SPEC, 129, tmp_path)
    blank = tmp_path / "blank.png"
    Image.new("L", (224, 224), 255).save(blank)
    with pytest.raises(ValueError, match="blank.png.*blank image"):
        embed_images([blank], SPEC, 129, tmp_path)
    with pytest.raises(ValueError, match="dtype"):
        embed_images(images, SPEC, 129, tmp_path, dtype="int8")


def test_a_change_of_the_feature_code_invalidates_the_cache(images, spy, tmp_path, monkeypatch):
    """The cache key carries the code version of image preparation + embedding, not a hand-bumped string."""
    from sketch3d.codeversion import module_closure

    assert {"sketch3d.features.box", "sketch3d.features.backbone"} <= set(module_closure("features.extract"))
    embed_images(images[:1], SPEC, 129, tmp_path / "cache")
    embed_images(images[:1], SPEC, 129, tmp_path / "cache")
    assert spy["images"] == 1  # second call: from the cache
    monkeypatch.setattr(cache_mod, "computation_version", lambda: "changed-code")
    embed_images(images[:1], SPEC, 129, tmp_path / "cache")
    assert spy["images"] == 2


def test_a_set_wholly_in_the_cache_is_read_without_the_network(images, tmp_path):
    """A feature job whose every (image, transform) is cached gives the bytes the network path gives, in a process
    that never imports torch (the start a job spends most of its time in on a CPU); one missing transform: none."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    import sketch3d
    from sketch3d.features.stage import cached_mean, mean_features
    from sketch3d.features.transforms import parse_transforms

    params = {"seed": 0, "features": {"backbone": "RN50", "layer": "layer3", "weights": "random", "batch_size": 2,
                                      "dtype": "float16", "precision": "fp32"}}
    names = ["box129", "box129_rot-10"]
    cache = tmp_path / "cache"
    assert cached_mean(images, parse_transforms(names), params, cache) is None  # nothing cached yet
    full = mean_features(images, parse_transforms(names), params, cache, "cpu")
    hit = cached_mean(images, parse_transforms(names), params, cache)
    assert hit.dtype == full.dtype == np.float16 and hit.tobytes() == full.tobytes()
    assert cached_mean(images, parse_transforms(["box129", "box140"]), params, cache) is None
    out = tmp_path / "sub.npy"
    script = (
        "import json, sys\nfrom pathlib import Path\nimport numpy as np\n"
        "from sketch3d.features.stage import cached_mean\nfrom sketch3d.features.transforms import parse_transforms\n"
        f"feats = cached_mean([Path(p) for p in {[str(p) for p in images]!r}], parse_transforms({names!r}), "
        f"json.loads({json.dumps(params)!r}), Path({str(cache)!r}))\n"
        f"np.save({str(out)!r}, feats)\n"
        "print(json.dumps(sorted(m for m in ('torch', 'torchvision', 'open_clip') if m in sys.modules)))\n")
    src = str(Path(sketch3d.__file__).resolve().parents[1])
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                         env={"PATH": "/usr/bin:/bin", "PYTHONPATH": src})
    assert json.loads(run.stdout.strip().splitlines()[-1]) == []
    assert np.load(out).tobytes() == full.tobytes()
