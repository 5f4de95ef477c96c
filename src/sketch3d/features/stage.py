"""Stage 'features': CLIP features of one image set, on the device this job claims."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from sketch3d.atomic import atomic_path
from sketch3d.imageset import read_index

log = logging.getLogger(__name__)


def feature_spec(params: dict):
    from sketch3d.config import clip_weights
    from sketch3d.features.backbone import FeatureSpec

    f = params["features"]
    weights = clip_weights(params)
    if params["profile"] == "paper" and f["backbone"] == "RN101":
        # the tag 'openai' may already sit on disk (HF cache, data_dir/weights/RN101.pt): load that file, no network
        from sketch3d.preflight import resolve_clip_weights

        local = resolve_clip_weights(weights, params["paper"]["data_dir"])
        weights = str(local) if local is not None else weights
    return FeatureSpec(backbone=f["backbone"], layer=f["layer"], weights=weights, seed=params["seed"])


def extract_split(images_dir: Path, params: dict, box: int, cache_dir: Path, out_npy: Path, out_ids: Path) -> np.ndarray:
    """Embed every image of ``images_dir`` fitted to ``box``; write [N, D] features and their ids."""
    from sketch3d.devices import claim_device
    from sketch3d.features.extract import extract_features

    index = read_index(images_dir)
    spec = feature_spec(params)
    with claim_device() as device:
        log.info("features: %d images, %s, box %d, device %s", len(index), spec, box, device)
        feats = extract_features(
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
    # provenance beside every feature file: random weights are never mistaken for CLIP's
    rows["weights"] = f"random init (seed {spec.seed}), NOT pretrained CLIP" if spec.is_random else spec.weights
    rows["settings_key"] = spec.key()
    with atomic_path(out_ids) as tmp:
        rows.to_csv(tmp, index=False)
    return feats
