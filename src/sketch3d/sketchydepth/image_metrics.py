"""Table 3.1's metrics of one model: FID and SSIM of its generated test images against the real ones.

FID (:mod:`sketch3d.sketchydepth.fid`) compares the set of generated images with the set of real test images:
over all test pairs, and separately over the foreground-and-background (``fb``) and background-only (``bo``)
examples (thesis 3.4.3: 96.70 / 184.73 for the baseline, 92.91 / 162.24 for SketchyDepth). The real images'
activations are cached (keyed by their content and the network), so the four models share one embedding.

SSIM is scikit-image's ``structural_similarity`` of each generated image with its real image, averaged over
the pairs. The thesis does not say how SketchyCOCO computed it and its evaluation code is not public, so we
use the RGB images (``channel_axis=-1``: SSIM per channel, then their mean), ``data_range=255`` on the uint8
values and scikit-image's defaults otherwise (7x7 uniform window, K1 = 0.01, K2 = 0.03, sample covariance).
RGB rather than grey because colour is part of what the generator gets wrong; the settings are written into
the JSON (``ssim_settings``).
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np

from sketch3d import DEMO_NOTICE
from sketch3d.atomic import atomic_path
from sketch3d.sketchydepth import fid
from sketch3d.sketchydepth.triplets import KINDS, Triplets, read_triplets

log = logging.getLogger("sketch3d")

SSIM_SETTINGS = {"channel_axis": -1, "data_range": 255, "win_size": 7, "gaussian_weights": False,
                 "K1": 0.01, "K2": 0.03, "use_sample_covariance": True}


class MetricsInputError(ValueError):
    """A generated set that cannot be compared with the real test set."""


def _fid_settings(settings: dict) -> tuple[str, int, int, int]:
    try:
        f = settings["sketchydepth"]["fid"]
        return str(f["weights"]), int(f["dims"]), int(f["batch_size"]), int(settings["seed"])
    except KeyError as exc:
        raise MetricsInputError(f"image_metrics: settings lack {exc} (needs seed and sketchydepth.fid: weights, "
                                "dims, batch_size)") from None


def paired(real: Triplets, generated: Triplets, real_dir: Path, gen_dir: Path) -> np.ndarray:
    """Indices into ``generated`` that put its images in ``real``'s order; checks ids, kinds and sizes."""
    where = {t: i for i, t in enumerate(generated.ids)}
    missing = [t for t in real.ids if t not in where]
    extra = sorted(set(generated.ids) - set(real.ids))
    if missing or extra:
        raise MetricsInputError(f"{gen_dir} does not hold the triplets of {real_dir}: {len(missing)} missing "
                                f"(e.g. {missing[:3]}), {len(extra)} extra (e.g. {extra[:3]}); generate the same split")
    order = np.array([where[t] for t in real.ids], dtype=np.int64)
    kinds = [generated.kinds[i] for i in order]
    if kinds != real.kinds:
        bad = next(t for t, a, b in zip(real.ids, real.kinds, kinds) if a != b)
        raise MetricsInputError(f"{gen_dir}: triplet {bad} has another kind than in {real_dir}")
    if generated.image.shape[1:] != real.image.shape[1:]:
        raise MetricsInputError(f"generated images ({gen_dir}) are {list(generated.image.shape[1:3])}, the real "
                                f"test images ({real_dir}) {list(real.image.shape[1:3])}; generate at the test size")
    return order


def ssim_scores(real: np.ndarray, generated: np.ndarray) -> np.ndarray:
    """SSIM of each pair of uint8 RGB images [N, S, S, 3] (the settings of :data:`SSIM_SETTINGS`)."""
    from skimage.metrics import structural_similarity

    if real.shape != generated.shape:
        raise MetricsInputError(f"SSIM: image arrays differ in shape ({list(real.shape)} vs {list(generated.shape)})")
    return np.array([structural_similarity(r, g, **SSIM_SETTINGS) for r, g in zip(real, generated)], dtype=np.float64)


def image_metrics(settings: dict, real: str | os.PathLike, generated: str | os.PathLike, out: str | os.PathLike,
                  device: str = "cpu", cache: str | os.PathLike | None = None) -> dict:
    """FID (all, fb, bo) and mean SSIM of the generated set ``generated`` against the real test set ``real``
    (both triplet sets), written as JSON to ``out``; ``cache`` keeps the real images' activations."""
    real, generated = Path(real), Path(generated)
    value, dims, batch, seed = _fid_settings(settings)
    demo = settings.get("profile") == "demo"
    data_dir = settings.get("data", {}).get("data_dir")
    fid.weights_file(value, data_dir)  # a missing weights file stops here, before anything is read or built
    r, g = read_triplets(real), read_triplets(generated)
    if len(r) < 2:
        raise MetricsInputError(f"{real}: {len(r)} test triplet(s); FID needs at least 2")
    order = paired(r, g, real, generated)
    gen_images = g.image[order]

    net = fid.build_inception(value, dims, seed, device, data_dir)
    real_acts = fid.cached_activations(r.image, net, cache, batch)
    gen_acts = fid.activations(gen_images, net, batch)
    kinds = np.array(r.kinds)
    groups = {"all": np.ones(len(r), bool), **{k: kinds == k for k in KINDS}}
    fids, counts = {}, {}
    for name, mask in groups.items():
        counts[name] = int(mask.sum())
        fids[name] = fid.frechet_distance(gen_acts[mask], real_acts[mask]) if mask.sum() >= 2 else None
    ssim = ssim_scores(r.image, gen_images)
    result = {
        "demo": demo,
        **({"notice": DEMO_NOTICE} if demo else {}),
        "real": real.name,
        "generated": generated.name,
        "n": counts,
        "fid": fids,
        "ssim": float(ssim.mean()),
        "ssim_by_kind": {k: (float(ssim[m].mean()) if m.any() else None) for k, m in groups.items() if k != "all"},
        "fid_network": net.provenance,
        "fid_dims": dims,
        "image_size": list(r.image.shape[1:3]),
        "ssim_settings": SSIM_SETTINGS,
    }
    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps(result, indent=2) + "\n")
    log.info("image_metrics %s: FID %s, SSIM %.4f", generated.name, fids, result["ssim"])
    return result
