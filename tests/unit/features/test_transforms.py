"""Image transforms before embedding: names round-trip, the affine conventions, the averaged copies."""
import numpy as np
import pytest
from PIL import Image, ImageDraw

from sketch3d.features.transforms import Transform, TransformError, parse_transforms
from sketch3d.retrieval.methods import METHODS


def _blob(size=224, box=(100, 20, 124, 40)) -> Image.Image:
    a = np.full((size, size), 255, np.uint8)
    a[box[1]:box[3], box[0]:box[2]] = 0
    return Image.fromarray(a)


def _centre(img: Image.Image) -> tuple[float, float]:
    ys, xs = np.nonzero(np.asarray(img) < 128)
    return float(xs.mean()), float(ys.mean())


@pytest.mark.parametrize("t", [Transform(129), Transform(None), Transform(129, 19, -4), Transform(170, rot=-23.5),
                               Transform("centred"), Transform("centred", 2, 3, 4),
                               Transform(129, -3.25, 0.5, 12.5), Transform(129, 0, 7)])
def test_names_round_trip(t):
    assert Transform.parse(t.name) == t
    assert "/" not in t.name and " " not in t.name


def test_names_are_the_old_box_folders():
    """A plain box keeps the feature folder name it had before transforms existed (no re-embedding)."""
    assert Transform(129).name == "box129" and Transform(None).name == "boxnone"
    assert Transform(129, 19, -4, -23.5).name == "box129_tx19_ty-4_rot-23.5"


@pytest.mark.parametrize("bad", ["box", "box12x", "box129_rot", "129", "box129_tx1"])
def test_bad_names_are_refused_with_the_expected_form(bad):
    with pytest.raises(TransformError, match="expected box"):
        Transform.parse(bad)


def test_bad_values_and_duplicates():
    with pytest.raises(TransformError, match="box"):
        Transform(0)
    with pytest.raises(TransformError, match="box"):
        Transform("centre")
    with pytest.raises(TransformError, match="rot"):
        Transform(129, rot=200)
    with pytest.raises(TransformError, match="twice"):
        parse_transforms(["box129", "box129"])


def test_translation_moves_right_and_down():
    img = _blob()
    x0, y0 = _centre(img)
    x1, y1 = _centre(Transform(None, 10, 5).apply(img))
    assert (x1 - x0, y1 - y0) == pytest.approx((10, 5), abs=0.6)


def test_positive_rotation_turns_clockwise():
    """A blob above the centre moves to the right under +90 degrees (clockwise on screen)."""
    x, y = _centre(Transform(None, rot=90).apply(_blob()))
    assert x > 180 and abs(y - 112) < 3


def test_box_then_affine_keeps_a_white_background():
    out = Transform(129, 19, -4, -23.5).apply(_blob(256, (30, 30, 200, 220)))
    a = np.asarray(out)
    assert out.size == (224, 224) and a[0, 0] == 255 and a[-1, -1] == 255 and (a < 128).any()


def test_augmentation_copies():
    r = {"baseline_box": 170, "obb_box": 129, "augment": {"translate": [19, -4], "rotate": -23.5}}
    names = [t.name for t in METHODS["obb_augm4"].transforms("sketch", r)]
    assert names == ["box129", "box129_tx19_ty-4", "box129_rot-23.5", "box129_tx19_ty-4_rot-23.5"]
    assert [t.name for t in METHODS["obb_augm2"].transforms("gallery", r)] == ["box129", "box129_tx19_ty-4_rot-23.5"]
    assert METHODS["obb"].features_name("gallery", r) == "box129"
    assert METHODS["baseline"].features_name("gallery", r) == "boxnone"
    # B.4: each three-image variant drops exactly one of the four
    four = set(names)
    for m in ("obb_augm4_no_orig", "obb_augm4_no_t", "obb_augm4_no_r", "obb_augm4_no_tr"):
        three = {t.name for t in METHODS[m].transforms("sketch", r)}
        assert len(three) == 3 and three < four
    assert "box129" not in {t.name for t in METHODS["obb_augm4_no_orig"].transforms("sketch", r)}


def test_mean_features_average_the_copies(tmp_path, monkeypatch):
    """The feature of an image under several transforms is the mean of its per-transform features."""
    from sketch3d.features import stage

    calls = []

    def fake_embed(images, spec, t, cache_dir, **kw):
        calls.append(t.name)
        base = {"box129": 1.0, "box129_tx19_ty-4": 2.0, "box129_rot-23.5": 6.0}[t.name]
        return np.full((len(images), 3), base, np.float32)

    monkeypatch.setattr("sketch3d.features.extract.embed_images", fake_embed)
    monkeypatch.setattr(stage, "feature_spec", lambda params, network=None: None)
    params = {"features": {"batch_size": 2, "dtype": "float32"}}
    ts = parse_transforms(["box129", "box129_tx19_ty-4", "box129_rot-23.5"])
    out = stage.mean_features([tmp_path / "a.png", tmp_path / "b.png"], ts, params, tmp_path, "cpu")
    assert calls == ["box129", "box129_tx19_ty-4", "box129_rot-23.5"]
    np.testing.assert_allclose(out, np.full((2, 3), 3.0))


def test_load_mean_averages_per_transform_files_and_checks_their_rows(tmp_path):
    import pandas as pd

    from sketch3d.features.stage import load_mean

    ids = pd.DataFrame({"image_id": ["a", "b"]})
    files = []
    for k, value in enumerate((1.0, 2.0, 6.0)):
        np.save(tmp_path / f"f{k}.npy", np.full((2, 3), value, np.float32))
        ids.to_csv(tmp_path / f"f{k}.csv", index=False)
        files.append((tmp_path / f"f{k}.npy", tmp_path / f"f{k}.csv"))
    mean = load_mean([f for f, _ in files], [i for _, i in files], ["a", "b"])
    np.testing.assert_allclose(mean, np.full((2, 3), 3.0))
    one = load_mean([files[0][0]], [files[0][1]])
    assert isinstance(one, np.memmap)   # a single file is read as it is
    pd.DataFrame({"image_id": ["b", "a"]}).to_csv(tmp_path / "f2.csv", index=False)
    with pytest.raises(ValueError, match="f2.npy do not match"):
        load_mean([f for f, _ in files], [i for _, i in files], ["a", "b"])


def test_centring_moves_the_object_without_scaling():
    """Table B.2's "w/ centering": the object's bounding box is moved to where fit_to_box puts a box of its size."""
    from sketch3d.features.box import fit_to_box

    img = _blob(box=(20, 30, 61, 50))   # 41 x 20 px, top left
    out = np.asarray(Transform("centred").apply(img))
    ys, xs = np.nonzero(out < 128)
    assert (xs.min(), xs.max() + 1, ys.min(), ys.max() + 1) == ((224 - 41) // 2, (224 - 41) // 2 + 41, 102, 122)
    assert (out < 128).sum() == 41 * 20   # the same pixels, moved: not scaled
    np.testing.assert_array_equal(out, np.asarray(fit_to_box(img, 41)))   # fitting to its own size is centring
    with pytest.raises(ValueError, match="needs a 224x224 image"):
        Transform("centred").apply(_blob(256))


_L = ((150, 60), (150, 61), (151, 60))   # (x, y): a corner, the pixel below it, the pixel right of it


def _l_shape() -> Image.Image:
    a = np.full((224, 224), 255, np.uint8)
    for x, y in _L:
        a[y, x] = 0
    return Image.fromarray(a)


def _dark(img: Image.Image) -> list[tuple[int, int]]:
    ys, xs = np.nonzero(np.asarray(img) < 128)
    return sorted(zip(xs.tolist(), ys.tolist()))


def test_sign_conventions_on_known_pixels():
    """+x right, +y down (image axes); +rot clockwise on screen about the centre (112, 112) in pixel-corner
    coordinates, so +90 takes pixel (x, y) to (223 - y, x); rotation first, then translation. An L of three
    pixels also catches a mirror image."""
    img = _l_shape()
    assert _dark(Transform(None, 19, -4).apply(img)) == sorted((x + 19, y - 4) for x, y in _L)   # 19 right, 4 up
    cw = sorted((223 - y, x) for x, y in _L)     # (150, 60) -> (163, 150): the top right goes to the bottom right
    assert _dark(Transform(None, rot=90).apply(img)) == cw
    assert _dark(Transform(None, rot=-90).apply(img)) == sorted((y, 223 - x) for x, y in _L)
    assert _dark(Transform(None, 19, -4, 90).apply(img)) == sorted((x + 19, y - 4) for x, y in cw)
    assert np.asarray(Transform(None, 19, -4, 90).apply(img)).min() == 0   # whole pixels: nothing blurred


def test_the_thesis_rotation_turns_counter_clockwise():
    """-23.5 degrees (Table 4.2): the ink's centre of mass is the original's, turned 23.5 degrees
    counter-clockwise on screen about (112, 112)."""
    a = 255.0 - np.asarray(Transform(None, rot=-23.5).apply(_l_shape()), dtype=np.float64)
    ys, xs = np.mgrid[0:224, 0:224]
    got = ((a * (xs + 0.5)).sum() / a.sum(), (a * (ys + 0.5)).sum() / a.sum())
    dx, dy = np.mean([x + 0.5 for x, _ in _L]) - 112, np.mean([y + 0.5 for _, y in _L]) - 112
    t = np.radians(-23.5)   # clockwise on screen (y down): (dx, dy) -> (dx cos - dy sin, dx sin + dy cos)
    want = (112 + dx * np.cos(t) - dy * np.sin(t), 112 + dx * np.sin(t) + dy * np.cos(t))
    assert got == pytest.approx(want, abs=0.25)
    assert want[0] < 112 + dx   # the top-right pixel moved left (and up): counter-clockwise


def test_parts_are_the_box_with_each_subset_of_the_moves():
    names = lambda t: sorted(p.name for p in Transform.parse(t).parts())  # noqa: E731
    assert names("box129_tx19_ty-4_rot-23.5") == sorted(
        ["box129", "box129_tx19_ty-4", "box129_rot-23.5", "box129_tx19_ty-4_rot-23.5"])
    assert names("box129_tx19_ty-4") == ["box129", "box129_tx19_ty-4"]
    assert names("box176_rot31.5") == ["box176", "box176_rot31.5"]
    assert names("box129") == ["box129"] and names("boxnone") == ["boxnone"] and names("boxcentred") == ["boxcentred"]


def test_a_job_that_starts_the_network_caches_its_transforms_parts_for_their_own_jobs(tmp_path, monkeypatch):
    """extract_features of box129_tx19_ty-4_rot-23.5 also caches box129, its translation and its rotation, so
    the jobs of those files read the cache (cached_mean) and never start the network; their bytes are the ones
    the network gives them."""
    import pandas as pd

    from sketch3d.features import stage
    from sketch3d.imageset import write_index

    folder = tmp_path / "set"
    folder.mkdir()
    paths = []
    for k in range(2):
        img = Image.new("L", (224, 224), 255)
        ImageDraw.Draw(img).rectangle([30 + 9 * k, 40, 150, 170 - 11 * k], outline=0, width=3)
        img.save(folder / f"{k}.png")
        paths.append(folder / f"{k}.png")
    write_index(folder, pd.DataFrame({"image_id": ["a", "b"], "shape_id": ["s", "s"], "azimuth": [0, 30],
                                      "path": [str(p) for p in paths]}))
    params = {"seed": 0, "features": {"backbone": "RN50", "layer": "layer3", "weights": "random", "batch_size": 2,
                                      "dtype": "float16", "precision": "fp32"}}
    cache = tmp_path / "cache"
    stage.extract_features(folder, params, ["box129_tx19_ty-4_rot-23.5"], cache, tmp_path / "all.npy",
                           tmp_path / "all.csv")
    parts = ["box129", "box129_tx19_ty-4", "box129_rot-23.5"]
    hits = {p: stage.cached_mean(paths, parse_transforms([p]), params, cache) for p in parts}
    assert all(h is not None for h in hits.values())
    monkeypatch.setattr(stage, "mean_features", lambda *a, **k: pytest.fail("a cached part started the network"))
    stage.extract_features(folder, params, ["box129_rot-23.5"], cache, tmp_path / "rot.npy", tmp_path / "rot.csv")
    monkeypatch.undo()
    fresh = stage.mean_features(paths, parse_transforms(["box129_rot-23.5"]), params, tmp_path / "fresh", "cpu")
    assert np.load(tmp_path / "rot.npy").tobytes() == fresh.tobytes()


def _image_set(folder, ids, shift):
    import pandas as pd

    from sketch3d.imageset import write_index

    folder.mkdir(parents=True)
    paths = []
    for k, image_id in enumerate(ids):
        img = Image.new("L", (224, 224), 255)
        ImageDraw.Draw(img).ellipse([20 + shift + 7 * k, 30, 160, 180 - 9 * k], outline=0, width=3)
        img.save(folder / f"{image_id}.png")
        paths.append(folder / f"{image_id}.png")
    write_index(folder, pd.DataFrame({"image_id": ids, "shape_id": ["s"] * len(ids), "azimuth": [0] * len(ids),
                                      "path": [str(p) for p in paths]}))


def test_one_job_of_several_image_sets_writes_each_sets_own_bytes_and_starts_the_network_once(tmp_path, monkeypatch):
    """A features job embeds every category's set of an image kind: each file holds the bytes a job of its own
    writes (ids and provenance included), and the network is built once for all of them."""
    import sketch3d.features.extract as extract_mod
    from sketch3d.features import stage

    _image_set(tmp_path / "chair", ["c0", "c1", "c2"], 0)
    _image_set(tmp_path / "lamp", ["l0", "l1"], 25)
    params = {"seed": 0, "features": {"backbone": "RN50", "layer": "layer3", "weights": "random", "batch_size": 2,
                                      "dtype": "float16", "precision": "fp32"}}
    builds = []
    real = extract_mod.load_backbone
    monkeypatch.setattr(extract_mod, "load_backbone", lambda spec, device="cpu": builds.append(1) or real(spec, device))
    sets = [(tmp_path / c, tmp_path / "joint" / f"{c}.npy", tmp_path / "joint" / f"{c}.csv") for c in ("chair", "lamp")]
    stage.extract_feature_sets(sets, params, ["box150_tx10_ty0"], tmp_path / "cache", network=None)
    assert len(builds) == 1
    for c in ("chair", "lamp"):
        extract_mod._BUILT.clear()
        stage.extract_features(tmp_path / c, params, ["box150_tx10_ty0"], tmp_path / f"own-cache-{c}",
                               tmp_path / f"{c}.npy", tmp_path / f"{c}.csv")
        assert (tmp_path / "joint" / f"{c}.npy").read_bytes() == (tmp_path / f"{c}.npy").read_bytes()
        assert (tmp_path / "joint" / f"{c}.csv").read_bytes() == (tmp_path / f"{c}.csv").read_bytes()
    assert np.load(tmp_path / "lamp.npy").shape[0] == 2


def test_the_command_wants_one_output_pair_per_image_set(tmp_path, caplog):
    from sketch3d.cli import main

    code = main(["extract_features", "--settings", "{}", "--images", str(tmp_path / "a"), str(tmp_path / "b"),
                 "--transforms", "box129", "--cache", str(tmp_path / "c"), "--out", str(tmp_path / "a.npy"),
                 "--ids", str(tmp_path / "a.csv"), str(tmp_path / "b.csv")])
    assert code != 0 and "one --out and one --ids per image set" in caplog.text and "2 image sets, 1 --out" in caplog.text
    assert not (tmp_path / "a.npy").exists()
