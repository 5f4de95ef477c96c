"""The image sets the zoo's classifiers are trained and tested on (thesis C.4 "Images Datasets").

- ``digits`` (demo, offline): scikit-learn's bundled handwritten digits (1797 8x8 grey images, 10 classes),
  resized to ``image_size`` (32: the CIFAR-10 variants of the architectures apply unchanged) and replicated to
  3 channels; train / val / test drawn from them by a seeded permutation.
- ``cifar10`` (paper): the python tarball ``cifar-10-python.tar.gz`` read as it is (its pickles
  ``data_batch_1..5`` and ``test_batch``: 50K + 10K 32x32 images); the 50K training images are split into
  train / val (thesis: 40K / 10K) by a seeded permutation, the official test batch is the test set.
- ``tinyimagenet`` (paper): the zip ``tiny-imagenet-200.zip`` (``wnids.txt``, ``train/<wnid>/images/*.JPEG``,
  ``val/val_annotations.txt`` + ``val/images/*.JPEG``; 64x64, 200 classes); the 100K training images are split
  into train / val (thesis: 80K / 20K), the official 10K validation images are the test set. Labels are the
  positions of the wnids in ``wnids.txt``. The decoded images are kept once, beside the archive, in
  ``<data_dir>/netspace/tinyimagenet-<archive sha256 prefix>.npz`` (10^5 JPEGs take a minute to decode).

Images are uint8 tensors [N, 3, S, S]; :func:`normalise` turns them into the networks' float input with the
ImageNet mean and std (the public peer's ``data/images.py`` uses these for both datasets). :func:`batches`
yields shuffled, augmented, normalised batches: the thesis's "standard data augmentation regime" (C.4), i.e.
a random crop after zero padding (4 pixels at 32x32, 8 at 64x64: the peer's ``RandomCrop(32, padding=4)`` /
``RandomCrop(64, padding=8)``) and a random horizontal flip, all drawn from a caller's torch Generator.
"""
from __future__ import annotations

import fcntl
import io
import pickle
import re
import tarfile
import zipfile
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from sketch3d.atomic import atomic_path
from sketch3d.data.download import VerificationError, verify
from sketch3d.data.manifest import resolve
from sketch3d.data.registry import Source
from sketch3d.names import SPLITS
from sketch3d.netspace.datasets import (  # noqa: F401  (their home: the light datasets module)
    DATASETS, SHARED_DATA_KEYS, DatasetInfo, ImagesError, dataset_data)

MEAN = (0.485, 0.456, 0.406)
"""Per-channel mean of the input normalisation (ImageNet's; the peer's ``data/images.py``), on [0, 1] pixels."""
STD = (0.229, 0.224, 0.225)
"""Per-channel std of the input normalisation (ImageNet's; the peer's ``data/images.py``)."""


def data_settings(settings: dict) -> dict:
    """``netspace.data`` of a rule's settings, with ``seed``, checked (every key documented in load_split)."""
    try:
        cfg = dict(settings["netspace"]["data"])
        cfg["seed"] = int(settings["seed"])
    except (KeyError, TypeError) as e:
        raise ImagesError(f"params: netspace.data (or seed) missing ({e}); add it to params.yaml") from None
    need = ("dataset", "image_size", "splits", "augment", "batch")
    missing = [k for k in need if k not in cfg]
    if missing:
        raise ImagesError(f"params: netspace.data lacks {missing}; add them to params.yaml")
    if cfg["dataset"] not in DATASETS:
        raise ImagesError(f"params: netspace.data.dataset must be one of {sorted(DATASETS)}, got {cfg['dataset']!r}")
    info = DATASETS[cfg["dataset"]]
    size = cfg["image_size"]
    if not isinstance(size, int) or size < 8:
        raise ImagesError(f"params: netspace.data.image_size must be an integer >= 8, got {size!r}")
    if info.native_size is not None and size != info.native_size:
        raise ImagesError(f"params: netspace.data.image_size is {size} but {info.name} images are "
                          f"{info.native_size}x{info.native_size}; set image_size: {info.native_size}")
    if not isinstance(cfg["batch"], int) or cfg["batch"] < 1:
        raise ImagesError(f"params: netspace.data.batch must be a positive integer, got {cfg['batch']!r}")
    splits = cfg["splits"]
    if not isinstance(splits, dict) or any(k not in SPLITS for k in splits):
        raise ImagesError(f"params: netspace.data.splits must map {list(SPLITS)} to counts, got {splits!r}")
    for k in ("train", "val"):
        if not isinstance(splits.get(k), int) or splits[k] < (1 if k == "train" else 0):
            raise ImagesError(f"params: netspace.data.splits.{k} must be a count (train >= 1, val >= 0), "
                              f"got {splits.get(k)!r}")
    test = splits.get("test")
    if info.name == "digits":
        if not isinstance(test, int) or test < 1:
            raise ImagesError(f"params: netspace.data.splits.test must be a positive count for digits, got {test!r}")
        used = splits["train"] + splits["val"] + test
    else:
        if test is not None:
            raise ImagesError(f"params: netspace.data.splits.test must be null for {info.name}: its official test "
                              "set is used (C.4); remove the count")
        used = splits["train"] + splits["val"]
    if used > info.pool:
        raise ImagesError(f"params: netspace.data.splits ask for {used} images but {info.name} has {info.pool} to "
                          "split; lower the counts")
    if not cfg.get("data_dir"):  # the paper profile's one data folder (data.data_dir), unless this block names one
        cfg["data_dir"] = (settings.get("data") or {}).get("data_dir")
    if info.source is not None and not cfg.get("data_dir"):
        raise ImagesError(f"params: data.data_dir (or netspace.data.data_dir) is needed for {info.name} (the folder holding "
                          "downloads/); add it to params.yaml")
    return cfg


def num_classes(settings: dict) -> int:
    """Classes of the configured image set (10 digits / CIFAR-10, 200 Tiny-ImageNet)."""
    return DATASETS[data_settings(settings)["dataset"]].num_classes


# ----------------------------------------------------------------------------- readers


def _digits_table() -> np.ndarray:
    """scikit-learn's digits as its ``load_digits`` reads them: the rows of the ``digits.csv.gz`` it ships (64 pixel
    values 0..16, then the label), float64 [1797, 65]. Read here from the installed package's data folder without
    importing scikit-learn, whose import alone (about 1 s) was a fifth of a demo zoo job's start; where the file is
    not where scikit-learn 1.x keeps it, ``load_digits`` itself (a test checks that the two agree)."""
    import gzip
    import importlib.util

    spec = importlib.util.find_spec("sklearn")  # finds the package without running it
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "digits.csv.gz" if spec else None
    if path is not None and path.is_file():
        with gzip.open(path, "rt") as fh:
            return np.loadtxt(fh, delimiter=",")
    from sklearn.datasets import load_digits

    d = load_digits()
    return np.concatenate([d.data, d.target[:, None]], axis=1)


def read_digits(image_size: int) -> tuple[np.ndarray, np.ndarray]:
    """All 1797 of scikit-learn's digits as uint8 [N, 3, S, S] (0..16 scaled to 0..255, bilinear resize, grey
    replicated to RGB) and int64 labels [N]."""
    table = _digits_table()
    pixels, labels = table[:, :-1].reshape(-1, 8, 8), table[:, -1].astype(np.int64)
    x = torch.from_numpy(pixels.astype(np.float32) * (255.0 / 16.0))[:, None]
    if image_size != 8:
        x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", align_corners=False)
    x = x.round().clamp(0, 255).to(torch.uint8).repeat(1, 3, 1, 1)
    return x.numpy(), labels


CIFAR_ROW = 3 * 32 * 32  # one image: the red, green and blue 32x32 planes, each row-major (the dataset's page)


def _unpickle(tar: tarfile.TarFile, member: str, archive: Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch of the python version: a pickled dict whose ``b'data'`` is a uint8 array [N, 3072] and whose
    ``b'labels'`` are N integers in 0..9 (https://www.cs.toronto.edu/~kriz/cifar.html); anything else is named."""
    fix = "the archive is damaged or not cifar-10-python.tar.gz (the python version): delete it and download it again"
    try:
        fh = tar.extractfile(member)
        if fh is None:
            raise KeyError(member)
        batch = pickle.load(fh, encoding="bytes")
    except KeyError:
        raise ImagesError(f"{archive}: no {member} in the archive; {fix}") from None
    except (AttributeError, pickle.UnpicklingError, ValueError, EOFError, ImportError) as e:
        raise ImagesError(f"{archive}: {member} is not a pickled CIFAR-10 batch ({type(e).__name__}: {e}); "
                          f"{fix}") from None
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        keys = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
        raise ImagesError(f"{archive}: {member} should be a dict with keys b'data' and b'labels', holds {keys}; "
                          f"{fix}")
    data = batch[b"data"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != CIFAR_ROW:
        got = (f"shape {tuple(data.shape)}, dtype {data.dtype}" if isinstance(data, np.ndarray)
               else type(data).__name__)
        raise ImagesError(f"{archive}: {member}: b'data' must be a uint8 array [N, {CIFAR_ROW}] (one row per image: "
                          f"the R, G and B 32x32 planes), got {got}; {fix}")
    labels = np.asarray(batch[b"labels"])
    if labels.shape != (len(data),) or not np.issubdtype(labels.dtype, np.integer) or (
            len(labels) and (labels.min() < 0 or labels.max() > 9)):
        raise ImagesError(f"{archive}: {member}: b'labels' must be {len(data)} integers in 0..9 (one per row of "
                          f"b'data'), got shape {labels.shape}, dtype {labels.dtype}; {fix}")
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def read_cifar10(archive: str | Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{"train": (uint8 [50000, 3, 32, 32], int64 [50000]), "test": (... [10000])}`` from the python tarball."""
    archive = Path(archive)
    try:
        with tarfile.open(archive, "r:*") as tar:
            parts = [_unpickle(tar, f"cifar-10-batches-py/data_batch_{i}", archive) for i in range(1, 6)]
            test = _unpickle(tar, "cifar-10-batches-py/test_batch", archive)
    except (tarfile.TarError, OSError) as e:
        raise ImagesError(f"{archive}: not a readable tar archive ({e}); delete it and download "
                          "cifar-10-python.tar.gz again") from None
    train = (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
    return {"train": train, "test": test}


def _decode(zf: zipfile.ZipFile, name: str, archive: Path) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(zf.read(name))) as im:
            arr = np.asarray(im.convert("RGB"), dtype=np.uint8)  # a few Tiny-ImageNet images are grey
    except (KeyError, OSError) as e:
        raise ImagesError(f"{archive}: {name} is not a readable image ({e}); get the archive again") from None
    if arr.shape != (64, 64, 3):
        raise ImagesError(f"{archive}: {name} is {arr.shape[1]}x{arr.shape[0]}, Tiny-ImageNet images are 64x64")
    return arr.transpose(2, 0, 1)


def read_tinyimagenet(archive: str | Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{"train": (uint8 [100000, 3, 64, 64], int64), "test": (the official val images, [10000])}`` from
    ``tiny-imagenet-200.zip``; labels index ``wnids.txt``; images in sorted file order."""
    archive = Path(archive)
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as e:
        raise ImagesError(f"{archive}: not a readable zip archive ({e}); delete it and download "
                          "tiny-imagenet-200.zip again") from None
    with zf:
        names = zf.namelist()
        root = next((n[: -len("wnids.txt")] for n in names if n.endswith("wnids.txt")
                     and n.count("/") <= 1), None)
        if root is None:
            raise ImagesError(f"{archive}: no wnids.txt; not tiny-imagenet-200.zip, get the archive again")
        wnids = zf.read(root + "wnids.txt").decode().split()
        label = {w: i for i, w in enumerate(wnids)}
        pattern = re.compile(re.escape(root) + r"train/([^/]+)/images/[^/]+\.jpe?g$", re.IGNORECASE)
        train = sorted((n, m.group(1)) for n in names if (m := pattern.match(n)))
        unknown = sorted({w for _, w in train} - set(label))
        if not train or unknown:
            raise ImagesError(f"{archive}: {'no train/<wnid>/images/*.JPEG' if not train else f'train folders {unknown[:3]} not in wnids.txt'}; "
                              "get the archive again")
        try:
            rows = [line.split("\t") for line in zf.read(root + "val/val_annotations.txt").decode().splitlines() if line]
        except KeyError:
            raise ImagesError(f"{archive}: no val/val_annotations.txt; get the archive again") from None
        bad = [r for r in rows if len(r) < 2 or r[1] not in label]
        if bad:
            raise ImagesError(f"{archive}: val/val_annotations.txt line {bad[0]!r} names no wnid of wnids.txt")
        test = sorted((root + "val/images/" + r[0], r[1]) for r in rows)
        out = {}
        for split, items in (("train", train), ("test", test)):
            x = np.stack([_decode(zf, n, archive) for n, _ in items])
            y = np.array([label[w] for _, w in items], dtype=np.int64)
            out[split] = (x, y)
    return out


# ----------------------------------------------------------------------------- archives


def chapter_source(dataset: str, sources: dict[str, Source] | None = None) -> Source:
    """The registry entry (netspace/sources.yaml, or ``sources``) of ``dataset``'s archive."""
    if sources is None:
        from sketch3d.netspace.sources import chapter_sources

        sources = chapter_sources()
    return sources[DATASETS[dataset].source]


def missing_archive_message(src: Source, data_dir: Path, problem: str) -> str:
    """What is missing, where it must lie and how to get it (the registry's instructions)."""
    return (f"{src.filename} ({src.name}, thesis C.4) is not usable: {problem}. Place it at {src.path(data_dir)} "
            f"(sketch3d fetch_netspace --data-dir {data_dir} --out {src.path(data_dir)} downloads it). "
            f"How to get it: {src.how_to_get}")


def archive_path(cfg: dict, base: str | Path = ".", sources: dict[str, Source] | None = None) -> tuple[Path, str]:
    """The verified archive of a paper image set and its sha256; ImagesError naming it, where it goes and how
    to get it when it is missing or does not match its registry entry. Nothing is downloaded here."""
    src = chapter_source(cfg["dataset"], sources)
    data_dir = resolve(str(cfg["data_dir"]), base)
    path = src.path(data_dir)
    if not path.is_file():
        raise ImagesError(missing_archive_message(src, data_dir, f"{path} does not exist"))
    try:
        return path, verify(path, src, data_dir)
    except VerificationError as e:
        raise ImagesError(missing_archive_message(src, data_dir, str(e))) from None


def _cached_tinyimagenet(path: Path, digest: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    cache = path.parent.parent / "netspace" / f"tinyimagenet-{digest[:16]}.npz"
    cache.parent.mkdir(parents=True, exist_ok=True)
    with open(cache.with_suffix(".lock"), "w") as lock:  # one job decodes, the others wait and read
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not cache.is_file():
            parts = read_tinyimagenet(path)
            with atomic_path(cache) as tmp:
                np.savez(tmp, **{f"{s}_{k}": v for s, (x, y) in parts.items() for k, v in (("x", x), ("y", y))})
            return parts
    with np.load(cache) as z:
        return {s: (z[f"{s}_x"], z[f"{s}_y"]) for s in ("train", "test")}


# ----------------------------------------------------------------------------- splits


def split_indices(n: int, counts: dict[str, int], seed: int) -> dict[str, np.ndarray]:
    """Disjoint, sorted index sets of ``range(n)`` of the given sizes, taken one after the other (in the order of
    ``counts``) from one permutation seeded by ``seed``: a split's indices do not depend on the sizes of the
    splits after it."""
    perm = np.random.default_rng(np.random.SeedSequence([int(seed), 0x1A6E5])).permutation(n)
    out, start = {}, 0
    for name, count in counts.items():
        if count is not None:
            out[name] = np.sort(perm[start: start + int(count)])
            start += int(count)
    if start > n:
        raise ImagesError(f"splits {counts} ask for {start} of {n} images; lower the counts")
    return out


def load_split(settings: dict, split: str, *, base: str | Path = ".", sources: dict[str, Source] | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """Images uint8 [N, 3, S, S] and labels int64 [N] of ``split`` (train, val or test).

    ``settings``: a rule's settings, ``{"seed": int, "netspace": {"data": {...}}}``; keys of ``netspace.data``:

    - ``dataset``: ``digits`` (demo) | ``cifar10`` | ``tinyimagenet`` (paper; thesis C.4).
    - ``image_size``: input side; 32 for digits (resized; the CIFAR variants) and CIFAR-10, 64 Tiny-ImageNet.
    - ``splits``: ``{train, val, test}`` counts. CIFAR-10 / Tiny-ImageNet: train + val drawn from the official
      training images (thesis: 40000 / 10000 and 80000 / 20000), ``test: null`` (the official test / val
      images). Digits: all three drawn from the 1797 images (demo: 400 / 100 / 200).
    - ``augment``: pad + random crop + flip for training batches (thesis "standard augmentation": true; demo
      false); ``batch``: batch size (thesis 128; demo 32). Read by ``zoo.train_member``. Measured on the digits
      (500 training images, a few epochs): batch 128 with augmentation left ResNet8 at 10-15 % test accuracy
      after 4 SGD epochs, batch 32 without it reached 60-90 %.
    - ``data_dir`` (paper): the folder holding ``downloads/<archive>`` and ``checksums/`` (as the other
      chapters'); the archive is verified against netspace/sources.yaml (or its pin), never downloaded here.

    ``base``: the folder relative paths start from; ``sources``: registry entries instead of the package's.

    The splits come from a permutation seeded by ``seed`` (test, then val, then train): same settings, same
    images; a larger train count adds images without changing val or test.
    """
    return load_splits(settings, (split,), base=base, sources=sources)[split]


def load_splits(settings: dict, splits: tuple[str, ...] = SPLITS, *, base: str | Path = ".",
                sources: dict[str, Source] | None = None) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """{split: (images, labels)} for several splits, reading the archive once (see :func:`load_split`)."""
    cfg = data_settings(settings)
    bad = [s for s in splits if s not in SPLITS]
    if bad:
        raise ImagesError(f"split must be one of {list(SPLITS)}, got {bad}")
    info = DATASETS[cfg["dataset"]]
    if info.name == "digits":
        x, y = read_digits(cfg["image_size"])
        counts = {"test": cfg["splits"]["test"], "val": cfg["splits"]["val"], "train": cfg["splits"]["train"]}
        parts = {}
    else:
        path, digest = archive_path(cfg, base, sources)
        parts = read_cifar10(path) if info.name == "cifar10" else _cached_tinyimagenet(path, digest)
        x, y = parts["train"]
        counts = {"val": cfg["splits"]["val"], "train": cfg["splits"]["train"]}
    index = split_indices(len(x), counts, cfg["seed"])
    out = {}
    for s in splits:
        xs, ys = (x[index[s]], y[index[s]]) if s in index else parts[s]
        out[s] = (torch.from_numpy(np.ascontiguousarray(xs)), torch.from_numpy(np.ascontiguousarray(ys)))
    return out


# ----------------------------------------------------------------------------- batches


def normalise(images: torch.Tensor) -> torch.Tensor:
    """uint8 [N, 3, S, S] -> float32 normalised with MEAN / STD."""
    x = images.to(torch.float32) / 255.0
    mean = torch.tensor(MEAN, dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(STD, dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


def augment(images: torch.Tensor, generator: torch.Generator, pad: int | None = None) -> torch.Tensor:
    """Random crop of the zero-padded images (``pad``: 4 at 32x32, 8 at 64x64 unless given) and a random
    horizontal flip (probability 1/2), per image, drawn from ``generator``; same dtype and shape."""
    n, _, h, w = images.shape
    pad = max(1, h // 8) if pad is None else int(pad)
    padded = F.pad(images, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    flip = torch.rand(n, generator=generator) < 0.5
    rows = (dy[:, None] + torch.arange(h)[None])  # [N, H]
    cols = (dx[:, None] + torch.arange(w)[None])  # [N, W]
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    idx_n = torch.arange(n)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[idx_n, rows[:, :, None], cols[:, None, :]]  # [N, H, W, C]
    return out.permute(0, 3, 1, 2).contiguous()


def batches(images: torch.Tensor, labels: torch.Tensor, batch: int, generator: torch.Generator | None = None,
            augmented: bool = False, device: torch.device | str = "cpu") -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Normalised float batches on ``device``: shuffled and (if ``augmented``) augmented with ``generator``
    (training), else in order (evaluation). The order and the augmentation are drawn on the host (the same draws
    whatever the device); the uint8 batch is moved, then normalised on ``device`` (a quarter of float32's bytes)."""
    n = len(images)
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    for start in range(0, n, batch):
        idx = order[start: start + batch]
        x = images[idx]
        if augmented:
            x = augment(x, generator)
        yield normalise(x.to(device)), labels[idx].to(device)
