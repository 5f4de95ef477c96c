"""netspace.images: the digits' seeded splits, the CIFAR-10 and Tiny-ImageNet readers on small archives made
here in the real formats, the missing-archive message, augmentation."""
import io
import pickle
import tarfile
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from sketch3d.data.registry import Source
from sketch3d.netspace import images
from sketch3d.netspace.images import ImagesError, augment, load_splits, normalise, split_indices


def digits_settings(seed=0, train=100, val=30, test=40, **data):
    return {"seed": seed, "netspace": {"data": {"dataset": "digits", "image_size": 32, "augment": True, "batch": 16,
                                                "splits": {"train": train, "val": val, "test": test}, **data}}}


def test_split_indices_disjoint_seeded_and_stable_when_train_grows():
    a = split_indices(50, {"test": 10, "val": 5, "train": 20}, seed=3)
    assert [len(a[k]) for k in ("test", "val", "train")] == [10, 5, 20]
    together = np.concatenate(list(a.values()))
    assert len(set(together.tolist())) == 35 and together.max() < 50
    b = split_indices(50, {"test": 10, "val": 5, "train": 20}, seed=3)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    c = split_indices(50, {"test": 10, "val": 5, "train": 20}, seed=4)
    assert not np.array_equal(a["test"], c["test"])
    grown = split_indices(50, {"test": 10, "val": 5, "train": 30}, seed=3)
    assert np.array_equal(grown["test"], a["test"]) and np.array_equal(grown["val"], a["val"])
    assert set(a["train"].tolist()) <= set(grown["train"].tolist())


def test_digits_shapes_labels_and_splits():
    d = load_splits(digits_settings())
    for split, n in (("train", 100), ("val", 30), ("test", 40)):
        x, y = d[split]
        assert x.shape == (n, 3, 32, 32) and x.dtype == torch.uint8
        assert y.shape == (n,) and y.dtype == torch.int64 and 0 <= int(y.min()) and int(y.max()) <= 9
        assert torch.equal(x[:, 0], x[:, 1]) and torch.equal(x[:, 0], x[:, 2])  # grey replicated to RGB
    # the splits are the seeded index sets of all 1797 digits, in their order
    from sklearn.datasets import load_digits

    target = load_digits().target
    idx = split_indices(1797, {"test": 40, "val": 30, "train": 100}, 0)
    for split in ("train", "val", "test"):
        assert np.array_equal(d[split][1].numpy(), target[idx[split]])
    again = load_splits(digits_settings())
    assert torch.equal(again["train"][0], d["train"][0])
    other = load_splits(digits_settings(seed=1))
    assert not torch.equal(other["test"][1], d["test"][1])


def test_digits_resize_keeps_the_strokes():
    x, _ = images.read_digits(32)
    from sklearn.datasets import load_digits

    small = torch.nn.functional.avg_pool2d(torch.from_numpy(x[:5, :1]).float(), 4)[:, 0] / 255 * 16
    assert np.abs(small.numpy() - load_digits().images[:5]).mean() < 1.5  # 0..16 grey levels


def test_bad_settings_are_named():
    with pytest.raises(ImagesError, match="splits ask for"):
        load_splits(digits_settings(train=1700, val=100, test=100))
    bad = digits_settings()
    bad["netspace"]["data"]["dataset"] = "mnist"
    with pytest.raises(ImagesError, match="netspace.data.dataset"):
        load_splits(bad)
    cifar = {"seed": 0, "netspace": {"data": {"dataset": "cifar10", "image_size": 64, "augment": True, "batch": 8,
                                              "splits": {"train": 4, "val": 2, "test": None}, "data_dir": "x"}}}
    with pytest.raises(ImagesError, match="image_size: 32"):
        load_splits(cifar)


# ----------------------------------------------------------------------------- CIFAR-10


def _source(name, filename):
    return Source(name, "dataset", ("https://example.invalid/" + filename,), filename, None, None, "downloads",
                  "test", "test", "get it from the test's example place")


def _cifar_batch(rng, n):
    return {b"batch_label": b"x", b"labels": rng.integers(0, 10, n).tolist(),
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"filenames": [b"f"] * n}


def _make_cifar(path, rng, n=6):
    batches = {f"data_batch_{i}": _cifar_batch(rng, n) for i in range(1, 6)}
    batches["test_batch"] = _cifar_batch(rng, 4)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, content in batches.items():
            blob = pickle.dumps(content, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return batches


def cifar_settings(tmp_path, train=20, val=6):
    return {"seed": 5, "netspace": {"data": {"dataset": "cifar10", "image_size": 32, "augment": True, "batch": 8,
                                             "splits": {"train": train, "val": val, "test": None},
                                             "data_dir": str(tmp_path / "data")}}}


def test_cifar10_reader_on_a_small_tarball(tmp_path):
    rng = np.random.default_rng(0)
    archive = tmp_path / "data" / "downloads" / "cifar-10-python.tar.gz"
    batches = _make_cifar(archive, rng)
    parts = images.read_cifar10(archive)
    x, y = parts["train"]
    assert x.shape == (30, 3, 32, 32) and y.shape == (30,)
    row = batches["data_batch_2"][b"data"][1]  # 1024 red, 1024 green, 1024 blue values, row-major
    assert x[7, 1, 2, 5] == row[1024 + 2 * 32 + 5]
    assert y[7] == batches["data_batch_2"][b"labels"][1]
    assert np.array_equal(parts["test"][1], batches["test_batch"][b"labels"])

    sources = {"cifar10_python": _source("cifar10_python", "cifar-10-python.tar.gz")}
    d = load_splits(cifar_settings(tmp_path), sources=sources)
    assert d["train"][0].shape == (20, 3, 32, 32) and d["val"][0].shape == (6, 3, 32, 32)
    assert d["test"][0].shape == (4, 3, 32, 32)
    idx = split_indices(30, {"val": 6, "train": 20}, 5)
    assert np.array_equal(d["val"][0].numpy(), x[idx["val"]])
    assert np.array_equal(d["test"][0].numpy(), parts["test"][0])


def test_missing_archive_names_it_where_it_goes_and_how_to_get_it(tmp_path):
    settings = cifar_settings(tmp_path)
    with pytest.raises(ImagesError) as err:
        load_splits(settings)  # the package's registry entry
    msg = str(err.value)
    where = tmp_path / "data" / "downloads" / "cifar-10-python.tar.gz"
    assert "cifar-10-python.tar.gz" in msg and str(where) in msg
    assert "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz" in msg and "fetch_netspace" in msg


def test_corrupt_archive_is_rejected(tmp_path):
    archive = tmp_path / "data" / "downloads" / "cifar-10-python.tar.gz"
    archive.parent.mkdir(parents=True)
    archive.write_bytes(b"not a tarball")
    with pytest.raises(ImagesError, match="cifar-10-python.tar.gz"):
        load_splits(cifar_settings(tmp_path), sources={"cifar10_python": _source("cifar10_python", archive.name)})
    with pytest.raises(ImagesError, match="size"):  # the package entry's size does not match
        load_splits(cifar_settings(tmp_path))


# ----------------------------------------------------------------------------- Tiny-ImageNet


def _jpeg(colour, mode="RGB"):
    buf = io.BytesIO()
    Image.new(mode, (64, 64), colour).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def test_tinyimagenet_reader_on_a_small_zip(tmp_path):
    wnids = ["n0300", "n0100", "n0200"]  # labels follow wnids.txt, not sorted order
    colours = {"n0300": (250, 10, 10), "n0100": (10, 250, 10), "n0200": (10, 10, 250)}
    archive = tmp_path / "data" / "downloads" / "tiny-imagenet-200.zip"
    archive.parent.mkdir(parents=True)
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("tiny-imagenet-200/wnids.txt", "\n".join(wnids) + "\n")
        for w in wnids:
            for k in range(3):
                zf.writestr(f"tiny-imagenet-200/train/{w}/images/{w}_{k}.JPEG", _jpeg(colours[w]))
            zf.writestr(f"tiny-imagenet-200/train/{w}/{w}_boxes.txt", "")
        zf.writestr("tiny-imagenet-200/train/n0100/images/n0100_9.JPEG", _jpeg(128, "L"))  # a grey image
        ann = [("val_0.JPEG", "n0200"), ("val_1.JPEG", "n0300")]
        zf.writestr("tiny-imagenet-200/val/val_annotations.txt",
                    "".join(f"{f}\t{w}\t0\t0\t63\t63\n" for f, w in ann))
        for f, w in ann:
            zf.writestr(f"tiny-imagenet-200/val/images/{f}", _jpeg(colours[w]))
        zf.writestr("tiny-imagenet-200/test/images/test_0.JPEG", _jpeg((0, 0, 0)))
    parts = images.read_tinyimagenet(archive)
    x, y = parts["train"]
    assert x.shape == (10, 3, 64, 64) and x.dtype == np.uint8
    assert sorted(np.bincount(y).tolist()) == [3, 3, 4] and np.bincount(y)[1] == 4  # n0100 is label 1
    for img, label in zip(x, y):
        expect = np.array(colours[wnids[label]] if not (img[0] == img[1]).all() else (128, 128, 128))
        assert np.abs(img.reshape(3, -1).mean(1) - expect).max() < 6
    assert parts["test"][1].tolist() == [2, 0]
    assert np.abs(parts["test"][0][0].reshape(3, -1).mean(1) - colours["n0200"]).max() < 6

    settings = {"seed": 1, "netspace": {"data": {"dataset": "tinyimagenet", "image_size": 64, "augment": True,
                                                 "batch": 8, "splits": {"train": 7, "val": 3, "test": None},
                                                 "data_dir": str(tmp_path / "data")}}}
    sources = {"tiny_imagenet_200": _source("tiny_imagenet_200", archive.name)}
    d = load_splits(settings, sources=sources)
    assert d["train"][0].shape == (7, 3, 64, 64) and d["val"][0].shape == (3, 3, 64, 64)
    assert len(list((tmp_path / "data" / "netspace").glob("tinyimagenet-*.npz"))) == 1  # decoded once
    again = load_splits(settings, sources=sources)  # from the cache
    assert all(torch.equal(again[s][0], d[s][0]) and torch.equal(again[s][1], d[s][1]) for s in d)
    with pytest.raises(ImagesError, match="tiny-imagenet-200.zip"):
        load_splits({**settings, "netspace": {"data": {**settings["netspace"]["data"],
                                                       "data_dir": str(tmp_path / "none")}}})


# ----------------------------------------------------------------------------- batches


def test_augment_is_a_crop_of_the_padded_image_maybe_flipped():
    x = torch.randint(0, 256, (6, 3, 16, 16), dtype=torch.uint8)
    g = torch.Generator().manual_seed(0)
    out = augment(x, g, pad=2)
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    flips = 0
    for o, p in zip(out, padded):
        hits = [(dy, dx, f) for dy in range(5) for dx in range(5) for f in (False, True)
                if torch.equal(o, (lambda c: c.flip(-1) if f else c)(p[:, dy:dy + 16, dx:dx + 16]))]
        assert hits, "an augmented image is no crop of its padded image"
        flips += all(h[2] for h in hits)
    assert torch.equal(augment(x, torch.Generator().manual_seed(0), pad=2), out)  # seeded


def test_batches_cover_the_set_once_normalised():
    x = torch.randint(0, 256, (10, 3, 8, 8), dtype=torch.uint8)
    y = torch.arange(10)
    got = list(images.batches(x, y, 4, torch.Generator().manual_seed(1)))
    assert [len(b[1]) for b in got] == [4, 4, 2]
    labels = torch.cat([b[1] for b in got])
    assert sorted(labels.tolist()) == list(range(10))
    first = got[0][0][0]
    assert torch.allclose(first, normalise(x[labels[0]][None])[0])
    mean, std = torch.tensor(images.MEAN).view(3, 1, 1), torch.tensor(images.STD).view(3, 1, 1)
    assert torch.allclose(first * std + mean, x[labels[0]].float() / 255, atol=1e-6)


@pytest.mark.parametrize("augmented", [True, False])
def test_training_images_handed_to_the_trainings(augmented):
    """Augmented: the raw images and a transform (augment, then normalise) per batch. Not augmented: the images
    normalised once and no transform, which lets the trainings look the fixed nets' logits up (FixedLogits)."""
    from sketch3d.netspace.commands import _netspace_images

    settings = digits_settings(augment=augmented)
    out = _netspace_images(settings, ("train", "val"))
    raw = load_splits(settings, ("train", "val"))
    assert torch.equal(out["val"][0], normalise(raw["val"][0]))
    if augmented:
        assert torch.equal(out["train"][0], raw["train"][0]) and out["train"][0].dtype == torch.uint8
        g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
        assert torch.equal(out["train_transform"](raw["train"][0], g1), normalise(augment(raw["train"][0], g2)))
    else:
        assert "train_transform" not in out
        assert torch.equal(out["train"][0], normalise(raw["train"][0])) and out["train"][0].dtype == torch.float32
    assert torch.equal(out["train"][1], raw["train"][1])


def test_digits_read_without_importing_scikit_learn_are_its_load_digits(monkeypatch):
    """The digits read from scikit-learn's data file equal ``load_digits`` (images and labels), and so does the
    fallback through ``load_digits`` where the file is not found."""
    import importlib.util

    from sklearn.datasets import load_digits

    d = load_digits()
    table = images._digits_table()
    assert table.shape == (1797, 65)
    assert np.array_equal(table[:, :-1].reshape(-1, 8, 8), d.images) and np.array_equal(table[:, -1], d.target)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert np.array_equal(images._digits_table(), table)
