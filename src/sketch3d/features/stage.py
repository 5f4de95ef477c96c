"""Stage 'extract_features': features of one image set (CLIP RN101 layer 3, or a named network of
``features.networks``: Tables 4.5 and 4.6), on the device this job claims."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from sketch3d.atomic import atomic_path
from sketch3d.imageset import read_index

log = logging.getLogger(__name__)


NETWORK_KEYS = ("family", "backbone", "layer", "weights")


def network_settings(params: dict, network: str | None = None) -> dict:
    """{family, backbone, layer, weights, setting} of a network of the effective ``params``.

    ``network=None``: the main network (``features.backbone``/``layer``/``weights``, CLIP);
    a name: the entry ``features.networks.<name>``. ``setting`` is the params key of its weights.
    """
    from sketch3d import weights

    f = params["features"]
    if network is None:
        return {"family": "clip", "backbone": f["backbone"], "layer": f["layer"], "weights": f["weights"],
                "setting": weights.CLIP_SETTING}
    nets = f.get("networks") or {}
    if network not in nets:
        raise ValueError(f"features.networks has no network {network!r} (known: {sorted(nets)}); add it to "
                         "params.yaml with its family, backbone, layer and weights")
    entry = nets[network]
    missing = [k for k in NETWORK_KEYS if k not in entry]
    if missing:
        raise ValueError(f"features.networks.{network} lacks {missing} in params.yaml (it needs {list(NETWORK_KEYS)}; "
                         "weights usually come from profiles.<profile>.features.networks)")
    return {**{k: entry[k] for k in NETWORK_KEYS}, "setting": weights.network_setting(network)}


def feature_spec(params: dict, network: str | None = None):
    """The FeatureSpec of a network of the effective ``params``, its weights read by :mod:`sketch3d.weights`.

    ``network=None``: the main network (``features.backbone``, ``features.layer``, ``features.weights``,
    a CLIP network); a name: the entry ``features.networks.<name>`` (``family``: clip or imagenet,
    ``backbone``, ``layer``, ``weights``). A registered tag already on disk (Hugging Face cache,
    ``<data.data_dir>/weights/<file>``, torch hub's checkpoints, ``~/.cache/clip``) becomes that file,
    so loading it touches no network; a tag not on disk is left to the loader (open_clip downloads it
    when the hub can be reached; torchvision's are never downloaded: the loader names what is missing).
    """
    from sketch3d import weights
    from sketch3d.features.spec import FeatureSpec

    n = network_settings(params, network)
    setting = n["weights"]
    if weights.kind(setting, n["backbone"]) == "tag":
        local = weights.local_file(setting, n["backbone"], data_dir=params.get("data", {}).get("data_dir"))
        setting = str(local) if local is not None else setting
    return FeatureSpec(backbone=n["backbone"], layer=n["layer"], weights=setting, seed=params["seed"],
                       family=n["family"])


def average_features(features: Iterable[np.ndarray]) -> np.ndarray:
    """The mean of an image set's features under several transforms (thesis 4.2.3.2 "robust features": an
    image's embedding averaged with its transformed copies'), added in float32 in the order given: the one
    place where copies are averaged (feature files, mask training, grids)."""
    total, n = None, 0
    for f in features:
        total = np.array(f, dtype=np.float32) if total is None else total + f
        n += 1
    if total is None:
        raise ValueError("average_features: no features given")
    return total / np.float32(n)


def mean_features(images: list[Path], transforms: list, params: dict, cache_dir: Path, device: str,
                  network: str | None = None) -> np.ndarray:
    """[N, D] features of ``images``, averaged over ``transforms`` (:func:`average_features`). Each (image,
    transform) is embedded once and cached, so every table that needs it shares it; a mean is stored as
    ``features.dtype``. ``network``: a name of ``features.networks`` (None: the main network)."""
    from sketch3d.features.extract import embed_images

    spec = feature_spec(params, network)
    f = params["features"]
    per_transform = (embed_images(images, spec, t, cache_dir, device=device, batch_size=f["batch_size"],
                                  dtype=f["dtype"], precision=f.get("precision", "fp32")) for t in transforms)
    if len(transforms) == 1:
        return next(per_transform)
    return average_features(per_transform).astype(np.dtype(f["dtype"]), copy=False)


def cached_mean(images: list[Path], transforms: list, params: dict, cache_dir: Path,
                network: str | None = None) -> np.ndarray | None:
    """:func:`mean_features`'s result read from the cache alone, the same bytes, or None unless every (image,
    transform) is cached. It imports neither torch nor the network's library: a job whose images another job (a
    search, a sibling table's set) already embedded costs a file read, not a network's start."""
    from sketch3d.features.cache import FeatureCache, cached_rows, hash_file, settings_key

    f = params["features"]
    try:
        dt = np.dtype(f["dtype"])
    except TypeError:
        return None  # embed_images names the setting
    if not images or not all(p.is_file() for p in images):
        return None
    key = settings_key(feature_spec(params, network), dt, f.get("precision", "fp32"))
    hashes = [hash_file(p) for p in images]
    per_transform = []
    for t in transforms:
        rows = cached_rows(FeatureCache(Path(cache_dir), key, t.name), hashes)
        if rows is None or rows.dtype != dt:
            return None
        per_transform.append(rows)
    if len(per_transform) == 1:
        return per_transform[0]
    return average_features(per_transform).astype(dt, copy=False)


def load_mean(npys: list[Path], ids_csvs: list[Path], expected_ids: list[str] | None = None,
              what: str = "features") -> np.ndarray:
    """The mean of the feature files ``npys`` (one per transform of an image set: each image's feature averaged
    over its transformed copies, thesis 4.2.3.2), checking that every file lists the same images (and
    ``expected_ids``, the image set's, if given). One file is returned as it is (memory-mapped); several are
    averaged in float32, adding them in the order given."""
    import pandas as pd

    if not npys or len(npys) != len(ids_csvs):
        raise ValueError(f"{what}: give one ids .csv per feature .npy, got {len(npys)} and {len(ids_csvs)}")
    files = []
    for npy, ids_csv in zip(npys, ids_csvs):
        feats = np.load(npy, mmap_mode="r")
        ids = pd.read_csv(ids_csv, dtype={"image_id": str})["image_id"].tolist()
        expected_ids = ids if expected_ids is None else expected_ids
        if ids != list(expected_ids) or feats.shape[0] != len(ids):
            raise ValueError(f"{what} features {npy} do not match their image set (stale file?): re-run the "
                             "features rule")
        files.append(feats)
    return files[0] if len(files) == 1 else average_features(files)


def extract_features(images_dir: Path, params: dict, transforms, cache_dir: Path, out_npy: Path,
                     out_ids: Path, network: str | None = None) -> np.ndarray:
    """Embed every image of ``images_dir`` under each of ``transforms`` (names or ``Transform``s, see
    :mod:`sketch3d.features.transforms`; a box size or None also works) and write the [N, D] mean with the ids.
    ``network``: a name of ``features.networks`` (None: the main network)."""
    return extract_feature_sets([(images_dir, out_npy, out_ids)], params, transforms, cache_dir, network)[0]


def extract_feature_sets(sets: Sequence[tuple[Path, Path, Path]], params: dict, transforms, cache_dir: Path,
                         network: str | None = None) -> list[np.ndarray]:
    """:func:`extract_features` of several image sets, ``(images_dir, out_npy, out_ids)`` each, in one process:
    the network starts once (a features job serves every category of an image kind). Every set's file holds the
    bytes a job of its own would write: each set is embedded in its own batches, in the order given."""
    from sketch3d.devices import claim_device
    from sketch3d.features.transforms import Transform, parse_transforms

    items = transforms if isinstance(transforms, (list, tuple)) else [transforms]
    transforms = parse_transforms([t.name if isinstance(t, Transform) else t if isinstance(t, str)
                                   else Transform(t).name for t in items])
    spec = feature_spec(params, network)
    indexes = [read_index(Path(images_dir)) for images_dir, _, _ in sets]  # every set checked before any work
    images = [[Path(p) for p in index["path"]] for index in indexes]
    feats: list[np.ndarray | None] = [cached_mean(paths, transforms, params, cache_dir, network) for paths in images]
    names = [t.name for t in transforms]
    for (images_dir, _, _), index, f in zip(sets, indexes, feats):
        if f is not None:
            log.info("features: %s, %d images, %s, transforms %s: all in the cache", images_dir, len(index), spec,
                     names)
    if any(f is None for f in feats):
        with claim_device() as device:
            for i, ((images_dir, _, _), paths) in enumerate(zip(sets, images)):
                if feats[i] is not None:
                    continue
                log.info("features: %s, %d images, %s, transforms %s, device %s", images_dir, len(paths), spec,
                         names, device)
                feats[i] = mean_features(paths, transforms, params, cache_dir, device, network)
                # the network is up: embed the set's other parts of its transforms too (an Augm. row's copies are
                # each their own file, read by their own job), so that those jobs find them in the cache
                parts = list(dict.fromkeys(p for t in transforms for p in t.parts() if p not in transforms))
                if parts:
                    log.info("features: also cached for the sibling files: %s", [p.name for p in parts])
                    for part in parts:
                        mean_features(paths, [part], params, cache_dir, device, network)
    from sketch3d.weights import describe

    setting = network_settings(params, network)["weights"]
    weights = describe(setting, spec.backbone, local=None if spec.weights == setting else spec.weights,
                       seed=spec.seed, family=spec.family_title)
    for (_, out_npy, out_ids), index, f in zip(sets, indexes, feats):
        with atomic_path(Path(out_npy)) as tmp:
            np.save(tmp, f)
        rows = index[["image_id", "shape_id", "azimuth"]].copy()
        # provenance beside every feature file: random weights are never mistaken for CLIP's; no absolute path
        rows["weights"] = weights
        rows["settings_key"] = spec.key()
        rows["transforms"] = "+".join(names)
        with atomic_path(Path(out_ids)) as tmp:
            rows.to_csv(tmp, index=False)
    return feats
