"""The paper rehearsal's CIFAR-10 and Tiny-ImageNet fixtures (laid out from the datasets' documentation, not from the
reader) through the real readers and the registry's checks; and the clear errors of batches of another shape."""
import io
import pickle
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests/: rehearsal.fixtures

from rehearsal.fixtures import _padding  # noqa: E402
from rehearsal.fixtures import cifar10 as cifar_fixture  # noqa: E402
from rehearsal.fixtures import tinyimagenet as tin_fixture  # noqa: E402

from sketch3d.netspace import images  # noqa: E402
from sketch3d.netspace.images import ImagesError, load_splits  # noqa: E402
from sketch3d.netspace.sources import chapter_sources  # noqa: E402


def _settings(dataset, data_dir, train, val):
    return {"seed": 3, "netspace": {"data": {"dataset": dataset, "image_size": 32 if dataset == "cifar10" else 64,
                                             "augment": True, "batch": 8, "splits": {"train": train, "val": val,
                                                                                     "test": None},
                                             "data_dir": str(data_dir)}}}


def test_cifar10_fixture_reads_through_the_registry_checks(tmp_path):
    (path,) = cifar_fixture.build(tmp_path, 0)
    src = chapter_sources()["cifar10_python"]
    assert path == src.path(tmp_path) and path.stat().st_size == src.size_bytes  # padded: the size check runs
    parts = images.read_cifar10(path)
    n = cifar_fixture.PER_BATCH
    assert parts["train"][0].shape == (5 * n, 3, 32, 32) and parts["test"][0].shape == (n, 3, 32, 32)
    # pixel (row 3, column 7) of the green plane of image 2 of data_batch_4, read independently of the reader
    blob = cifar_fixture.members(0)["data_batch_4"]
    batch = pickle.loads(blob, encoding="bytes")
    assert parts["train"][0][3 * n + 2, 1, 3, 7] == batch[b"data"][2][1024 + 3 * 32 + 7]
    assert parts["train"][1][3 * n + 2] == batch[b"labels"][2]
    d = load_splits(_settings("cifar10", tmp_path, 40, 10))  # the package's registry entry, size included
    assert d["train"][0].shape == (40, 3, 32, 32) and d["val"][0].shape == (10, 3, 32, 32)
    assert d["test"][0].shape == (n, 3, 32, 32)


@pytest.mark.parametrize("data,where", [
    (np.zeros((4, 3, 32, 32), np.uint8), "shape (4, 3, 32, 32)"),   # images already as arrays, not rows
    (np.zeros((4, 3000), np.uint8), "shape (4, 3000)"),              # rows of another length
    (np.zeros((4, 3072), np.float32), "dtype float32"),              # not uint8
])
def test_cifar10_batch_of_the_wrong_shape_names_file_key_and_shape(tmp_path, data, where):
    files = cifar_fixture.members(0)
    bad = pickle.loads(files["data_batch_3"], encoding="bytes")
    bad[b"data"], bad[b"labels"] = data, [0] * len(data)
    files["data_batch_3"] = pickle.dumps(bad, protocol=2)
    path = cifar_fixture.write_tarball(tmp_path / "cifar-10-python.tar.gz", files, size=None)
    with pytest.raises(ImagesError) as err:
        images.read_cifar10(path)
    msg = str(err.value)
    assert "cifar-10-batches-py/data_batch_3" in msg and "b'data'" in msg and where in msg
    assert "[N, 3072]" in msg and "uint8" in msg and str(path) in msg


def test_cifar10_labels_that_do_not_fit_are_named(tmp_path):
    files = cifar_fixture.members(0)
    bad = pickle.loads(files["test_batch"], encoding="bytes")
    bad[b"labels"] = bad[b"labels"][:-1]
    files["test_batch"] = pickle.dumps(bad, protocol=2)
    path = cifar_fixture.write_tarball(tmp_path / "c.tar.gz", files, size=None)
    with pytest.raises(ImagesError, match=r"test_batch.*b'labels'"):
        images.read_cifar10(path)


def test_tinyimagenet_fixture_reads_through_the_registry_checks(tmp_path):
    (path,) = tin_fixture.build(tmp_path, 0)
    src = chapter_sources()["tiny_imagenet_200"]
    assert path == src.path(tmp_path) and path.stat().st_size == src.size_bytes
    with zipfile.ZipFile(path) as zf:
        assert zf.namelist()[-1] == _padding.ZIP_PADDING_NAME and zf.getinfo(_padding.ZIP_PADDING_NAME).compress_type == 0
    parts = images.read_tinyimagenet(path)
    x, y = parts["train"]
    assert x.shape == (tin_fixture.CLASSES * tin_fixture.PER_CLASS, 3, 64, 64)
    ids = tin_fixture.wnids(0)
    assert sorted(set(y.tolist())) == list(range(200))
    # the image of class k (wnids.txt order) lies in train/<wnids[k]>/: its mean colour is the class's
    k = 17
    members = dict(tin_fixture.members(0))
    from PIL import Image
    want = np.asarray(Image.open(io.BytesIO(members[f"tiny-imagenet-200/train/{ids[k]}/images/{ids[k]}_0.JPEG"])))
    assert np.array_equal(x[list(y).index(k)], want.transpose(2, 0, 1))
    assert parts["test"][0].shape == (tin_fixture.VAL, 3, 64, 64)
    d = load_splits(_settings("tinyimagenet", tmp_path, 24, 8))
    assert d["train"][0].shape == (24, 3, 64, 64) and d["test"][1].shape == (tin_fixture.VAL,)


def test_padding_is_refused_when_the_fixture_outgrows_the_registered_size(tmp_path):
    with pytest.raises(ValueError, match="registered"):
        _padding.write_zip(tmp_path / "a.zip", [("a.txt", b"x" * 5000)], 100)
