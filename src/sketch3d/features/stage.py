"""Stage 'extract_features': CLIP features of one image set, on the device this job claims."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from sketch3d.atomic import atomic_path
from sketch3d.imageset import read_index

log = logging.getLogger(__name__)


def feature_spec(params: dict):
    """The FeatureSpec of the effective ``params``: ``features.weights`` read by :mod:`sketch3d.weights`.

    A registered tag already on disk (Hugging Face cache, ``<data.data_dir>/weights/RN101.pt``,
    ``~/.cache/clip``) becomes that file, so loading it touches no network; a tag not on disk
    is left to the loader (open_clip downloads it when the hub can be reached).
    """
    from sketch3d import weights
    from sketch3d.features.backbone import FeatureSpec

    f = params["features"]
    setting = f["weights"]
    if weights.kind(setting, f["backbone"]) == "tag":
        local = weights.local_file(setting, f["backbone"], data_dir=params.get("data", {}).get("data_dir"))
        setting = str(local) if local is not None else setting
    return FeatureSpec(backbone=f["backbone"], layer=f["layer"], weights=setting, seed=params["seed"])


def extract_features(images_dir: Path, params: dict, box: int | None, cache_dir: Path, out_npy: Path, out_ids: Path) -> np.ndarray:
    """Embed every image of ``images_dir`` fitted to ``box`` (None: as it is); write [N, D] features and their ids."""
    from sketch3d.devices import claim_device
    from sketch3d.features.extract import embed_images

    index = read_index(images_dir)
    spec = feature_spec(params)
    with claim_device() as device:
        log.info("features: %d images, %s, box %s, device %s", len(index), spec, box, device)
        feats = embed_images(
            [Path(p) for p in index["path"]],
            spec,
            box,
            cache_dir,
            device=device,
            batch_size=params["features"]["batch_size"],
            dtype=params["features"]["dtype"],
        )
    with atomic_path(out_npy) as tmp:
        np.save(tmp, feats)
    rows = index[["image_id", "shape_id", "azimuth"]].copy()
    # provenance beside every feature file: random weights are never mistaken for CLIP's; no absolute path
    from sketch3d.weights import describe

    setting = params["features"]["weights"]
    rows["weights"] = describe(setting, spec.backbone, local=None if spec.weights == setting else spec.weights,
                               seed=spec.seed, family="CLIP")
    rows["settings_key"] = spec.key()
    with atomic_path(out_ids) as tmp:
        rows.to_csv(tmp, index=False)
    return feats
