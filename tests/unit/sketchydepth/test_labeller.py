import csv
import hashlib
import json

import numpy as np
import pytest
import torch

from sketch3d import DEMO_NOTICE
from sketch3d.cli import main
from sketch3d.sketchydepth import midas
from sketch3d.sketchydepth.labeller import (
    LabellerError,
    label_depth,
    normalise_disparity,
    outputs_of,
    ssi_loss,
    train_labeller,
    train_step,
)
from sketch3d.sketchydepth.triplets import TripletError, read_depths, read_triplets, write_depths, write_triplets


def _settings(**train):
    t = {"epochs": 1, "batch_size": 4, "lr": 1e-3, "trim": 0.2, "grad_alpha": 0.5, "grad_scales": 3, "flip": True}
    t.update(train)
    return {"profile": "demo", "seed": 5, "sketchydepth": {"labeller": {
        "encoder": "resnet18", "features": 8, "net_size": 32, "batch_size": 3, "train": t}}}


def _scenes(n, size, seed=0):
    """Smooth random scenes whose inverse depth is a function of the image: red = nearness, green = farness."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    f = gaussian_filter(rng.random((n, size, size)), sigma=(0, size / 8, size / 8))
    f = (f - f.min(axis=(1, 2), keepdims=True)) / np.ptp(f, axis=(1, 2), keepdims=True)
    image = (np.stack([f, 1 - f, np.full_like(f, 0.5)], -1) * 255).astype(np.uint8)
    return [f"s{i:03d}" for i in range(n)], image, (f * 255).astype(np.uint8)


def _prepared(folder, n=8, size=32):
    ids, image, depth = _scenes(n, size)
    write_triplets(folder / "labeller", ids, ["fb"] * n, image, image)
    write_depths(folder / "labeller_depth", ids, depth)
    return folder


def _files(folder):
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _numpy_ssi(pred, target, trim, alpha, scales):
    """MiDaS's loss written apart from the module: median / mean-absolute-deviation alignment, trimmed MAE,
    multi-scale gradient matching (odd-sized maps, so that numpy's and torch's medians agree)."""
    def norm(d):
        t = np.median(d)
        return (d - t) / np.abs(d - t).mean()

    data, grad = 0.0, 0.0
    for p, t in zip(pred, target):
        r = norm(p) - norm(t)
        a = np.sort(np.abs(r).ravel())
        data += a[:a.size - int(trim * a.size)].sum() / (2 * a.size)
        for k in range(scales):
            q = r[::2 ** k, ::2 ** k]
            grad += (np.abs(np.diff(q, axis=1)).sum() + np.abs(np.diff(q, axis=0)).sum()) / q.size
    b = len(pred)
    return data / b + alpha * grad / b, data / b, grad / b


def test_ssi_loss_matches_an_independent_computation():
    rng = np.random.default_rng(0)
    pred, target = rng.random((3, 9, 9)), rng.random((3, 9, 9))
    got = ssi_loss(torch.from_numpy(pred), torch.from_numpy(target), trim=0.2, grad_alpha=0.5, grad_scales=3)
    np.testing.assert_allclose([float(v) for v in got], _numpy_ssi(pred, target, 0.2, 0.5, 3), rtol=1e-10)
    n = normalise_disparity(torch.from_numpy(pred)).numpy()
    np.testing.assert_allclose(np.median(n, axis=(1, 2)), 0, atol=1e-12)
    np.testing.assert_allclose(np.abs(n).mean(axis=(1, 2)), 1, rtol=1e-12)


def test_ssi_loss_ignores_scale_and_shift_but_not_inverted_depth():
    g = torch.Generator().manual_seed(1)
    pred, target = torch.rand(3, 16, 16, generator=g, dtype=torch.float64), torch.rand(3, 16, 16, generator=g,
                                                                                        dtype=torch.float64)
    loss = ssi_loss(pred, target)[0]
    assert loss > 0
    assert torch.allclose(ssi_loss(3.0 * pred + 7.0, target)[0], loss)
    zero, data, grad = ssi_loss(0.5 * target - 2.0, target)
    assert float(zero) < 1e-12 and float(data) < 1e-12 and float(grad) < 1e-12
    assert float(ssi_loss(-target, target)[0]) > 1.0  # near and far swapped: no positive scale fits it
    with pytest.raises(ValueError, match="trim"):
        ssi_loss(pred, target, trim=1.0)


def test_one_training_step_lowers_the_loss():
    ids, image, depth = _scenes(4, 32, seed=2)
    x = (torch.from_numpy(image).permute(0, 3, 1, 2).float() / 255 - torch.tensor(midas.IMAGENET_MEAN).view(1, 3, 1, 1)) \
        / torch.tensor(midas.IMAGENET_STD).view(1, 3, 1, 1)
    y = torch.from_numpy(depth).float() / 255
    model = midas.build_midas("resnet18", 8, seed=0).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    before, _, _ = train_step(model, opt, x, y, 0.2, 0.5, 3)
    with torch.no_grad():
        after = float(ssi_loss(model(x), y, trim=0.2, grad_alpha=0.5, grad_scales=3)[0])
    assert after < before


def test_train_labeller_writes_weights_curve_and_summary_byte_identically(tmp_path):
    data = _prepared(tmp_path / "data", n=6)
    info = train_labeller(_settings(epochs=2), data, tmp_path / "a" / "labeller.pt")
    train_labeller(_settings(epochs=2), data, tmp_path / "b" / "labeller.pt")
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    curve_csv, info_json = outputs_of(tmp_path / "a" / "labeller.pt")
    rows = list(csv.DictReader(curve_csv.open()))
    assert [r["epoch"] for r in rows] == ["1", "2"] and all(float(r["loss"]) > 0 for r in rows)
    written = json.loads(info_json.read_text())
    assert written == info and written["notice"] == DEMO_NOTICE and written["scenes"] == 6
    model = midas.load_midas(tmp_path / "a" / "labeller.pt", "resnet18", 8)  # the official file's form
    assert model(torch.zeros(1, 3, 32, 32)).shape == (1, 32, 32)


def test_train_labeller_names_bad_settings_before_reading_data(tmp_path):
    with pytest.raises(LabellerError, match="sketchydepth.labeller.train.lr"):
        s = _settings()
        del s["sketchydepth"]["labeller"]["train"]["lr"]
        train_labeller(s, tmp_path / "nothing", tmp_path / "w.pt")
    with pytest.raises(LabellerError, match="net_size"):
        s = _settings()
        s["sketchydepth"]["labeller"]["net_size"] = 48
        train_labeller(s, tmp_path / "nothing", tmp_path / "w.pt")
    with pytest.raises(TripletError, match="index.csv missing"):
        train_labeller(_settings(), tmp_path / "nothing", tmp_path / "w.pt")
    assert not (tmp_path / "w.pt").exists()


def _weights(tmp_path, seed=0):
    path = tmp_path / f"w{seed}.pt"
    torch.save(midas.build_midas("resnet18", 8, seed=seed).state_dict(), path)
    return path


def test_label_depth_round_trip_and_cache_hit(tmp_path):
    ids, image, _ = _scenes(5, 32, seed=3)
    write_triplets(tmp_path / "set", ids, ["fb", "bo", "fb", "fb", "bo"], image[::-1].copy(), image)
    weights = _weights(tmp_path)
    counts = label_depth(_settings(), tmp_path / "set", weights, tmp_path / "depth", cache=tmp_path / "cache")
    assert counts == {"images": 5, "computed": 5, "cached": 0, "source": "image column"}
    got_ids, maps = read_depths(tmp_path / "depth")
    expected = midas.to_uint8(midas.predict_depth(midas.load_midas(weights, "resnet18", 8), image, 32))
    assert got_ids == ids and maps.dtype == np.uint8 and maps.shape == (5, 32, 32)
    np.testing.assert_array_equal(maps, expected)
    assert (maps.max(axis=(1, 2)) == 255).all()
    assert read_triplets(tmp_path / "set", depth=tmp_path / "depth").depth.shape == (5, 32, 32)

    # again: every map from the cache, the same files
    again = label_depth(_settings(), tmp_path / "set", weights, tmp_path / "depth2", cache=tmp_path / "cache")
    assert again == {"images": 5, "computed": 0, "cached": 5, "source": "image column"}
    assert _files(tmp_path / "depth") == _files(tmp_path / "depth2")
    # a cached entry really is what is read: overwrite one, it shows up in the output
    entries = sorted((tmp_path / "cache").rglob("*.npy"))
    assert len(entries) == 5
    np.save(entries[0], np.full((32, 32), 7, np.uint8))
    label_depth(_settings(), tmp_path / "set", weights, tmp_path / "depth3", cache=tmp_path / "cache")
    assert (read_depths(tmp_path / "depth3")[1] == 7).all(axis=(1, 2)).sum() == 1
    # other weights: another key, everything computed again
    other = label_depth(_settings(), tmp_path / "set", _weights(tmp_path, 1), tmp_path / "depth4",
                        cache=tmp_path / "cache")
    assert other["computed"] == 5


def test_label_depth_labels_the_scene_images_as_they_are_then_crops_and_resizes(tmp_path):
    """Thesis 3.4.2: MiDaS on the scene image (here 48 x 32 and 30 x 40), then the partial images' pre-processing
    (largest central square, bicubic resize to the set's 16 px); not MiDaS on the 16 px crop."""
    from PIL import Image

    ids, image, _ = _scenes(2, 48, seed=4)
    originals = [image[0, 8:40, :], image[1, 4:44, 9:39]]  # h x w: 32 x 48, 40 x 30
    (tmp_path / "scenes").mkdir()
    paths = []
    for tid, o in zip(ids, originals):
        paths.append(tmp_path / "scenes" / f"{tid}.png")
        Image.fromarray(o).save(paths[-1])
    crops = [o[:, 8:40] for o in originals[:1]] + [originals[1][5:35, :]]  # the largest central squares
    small = np.stack([np.asarray(Image.fromarray(c).resize((16, 16), Image.BICUBIC)) for c in crops])
    write_triplets(tmp_path / "set", ids, ["fb", "bo"], small, small)
    (tmp_path / "set" / "scenes.csv").write_text("triplet_id,scene\n" + "".join(
        f"{t},{p}\n" for t, p in zip(ids, [paths[0], "../scenes/" + paths[1].name])))  # absolute, relative
    weights = _weights(tmp_path)
    counts = label_depth(_settings(), tmp_path / "set", weights, tmp_path / "depth", cache=tmp_path / "cache")
    assert counts["computed"] == 2 and counts["source"].startswith("scene images")
    got = read_depths(tmp_path / "depth")[1]
    model = midas.load_midas(weights, "resnet18", 8)
    for i, (o, box) in enumerate(zip(originals, [(slice(None), slice(8, 40)), (slice(5, 35), slice(None))])):
        full = midas.to_uint8(midas.predict_depth(model, o[None], 32))[0]  # 8 bits over the whole map
        assert full.shape == o.shape[:2]
        want = np.asarray(Image.fromarray(np.ascontiguousarray(full[box])).resize((16, 16), Image.BICUBIC))
        np.testing.assert_array_equal(got[i], want)
    old = midas.to_uint8(midas.predict_depth(model, small, 32))  # the former path: MiDaS on the small crops
    assert np.abs(got.astype(int) - old).mean() > 1
    again = label_depth(_settings(), tmp_path / "set", weights, tmp_path / "depth2", cache=tmp_path / "cache")
    assert again["cached"] == 2 and (read_depths(tmp_path / "depth2")[1] == got).all()
    paths[1].unlink()
    with pytest.raises(TripletError, match=r"scenes.csv: 1 scene image\(s\) it names are missing.*re-run prepare_scenes"):
        label_depth(_settings(), tmp_path / "set", weights, tmp_path / "depth3")


def test_label_depth_names_missing_weights_and_sets_before_any_work(tmp_path):
    ids, image, _ = _scenes(2, 32)
    write_triplets(tmp_path / "set", ids, ["fb", "fb"], image, image)
    with pytest.raises(midas.MidasWeightsError, match="does not exist"):
        label_depth(_settings(), tmp_path / "set", tmp_path / "none.pt", tmp_path / "out")
    with pytest.raises(TripletError, match="index.csv missing"):
        label_depth(_settings(), tmp_path / "nope", _weights(tmp_path), tmp_path / "out")
    (tmp_path / "set" / "image" / f"{ids[1]}.png").unlink()
    with pytest.raises(TripletError, match="missing"):
        label_depth(_settings(), tmp_path / "set", _weights(tmp_path), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_commands(tmp_path):
    data = _prepared(tmp_path / "data", n=4)
    s = json.dumps(_settings())
    assert main(["train_labeller", "--settings", s, "--data", str(data), "--out", str(tmp_path / "w.pt")]) == 0
    assert main(["label_depth", "--settings", s, "--images", str(data / "labeller"), "--weights", str(tmp_path / "w.pt"),
                 "--out", str(tmp_path / "depth"), "--cache", str(tmp_path / "cache")]) == 0
    assert read_depths(tmp_path / "depth")[1].shape == (4, 32, 32)
