"""Table 3.1's metrics of one model: FID, KID and SSIM of its generated test images against the real ones, and
(for the models with a depth generator G_d) the quality of its generated depth maps.

FID (:mod:`sketch3d.sketchydepth.fid`) compares the set of generated images with the set of real test images:
over all test pairs, and separately over the foreground-and-background (``fb``) and background-only (``bo``)
examples (thesis 3.4.3: 96.70 / 184.73 for the baseline, 92.91 / 162.24 for SketchyDepth). The real images'
activations are cached (keyed by their content and the network), so the four models share one embedding.
Beside each FID, not in the thesis (``sketchydepth.metrics``):

- KID (Binkowski et al. 2018), from the same Inception activations: the unbiased MMD^2 with the cubic polynomial
  kernel k(x, y) = (x.y / d + 1)^3, averaged over random subsets as torch-fidelity and clean-fid do
  (:func:`fid.kernel_inception_distance`). Unlike FID it is unbiased, so it can be compared across the groups'
  different sizes (the small ``bo`` group above all).
- a bootstrap interval of the FID over the test pairs (:func:`fid.bootstrap_fid`): how much the FID moves with
  the choice of test images (the resampled FIDs' percentile interval, moved to centre on the FID: resampling
  duplicates pairs, which raises FID; the plain percentile interval and that shift are in ``fid_bootstrap``).

SSIM is scikit-image's ``structural_similarity`` of each generated image with its real image, averaged over the
pairs, on the RGB images (``channel_axis=-1``: SSIM per channel, then their mean) with ``data_range=255`` on the
uint8 values. ``sketchydepth.metrics.ssim`` picks the window (:data:`SSIM_VARIANTS`): ``wang2004`` (default), the
thesis's citation, Wang et al. 2004: an 11x11 Gaussian window of sigma 1.5, K1 = 0.01, K2 = 0.03, population
(not sample) covariances (scikit-image's ``gaussian_weights=True, sigma=1.5, use_sample_covariance=False``);
``uniform7``, scikit-image's defaults (7x7 uniform window, sample covariances), what this project used before
issue 19. RGB rather than grey because colour is part of what the generator gets wrong. The variant and its
scikit-image arguments are written into the JSON (``ssim_variant``, ``ssim_settings``).

Depth quality (the thesis left it to its human study, 3.4.4), for a model with G_d (:func:`depth_quality`):
its generated depth maps against (a) ``labels``, MiDaS's depth of the real test images (the training labels'
kind), and (b) ``agreement``, MiDaS's depth of the model's own generated images (Fig. 3.4 as a number). Both MiDaS
sets come from ``label_depth`` (the chapter's labeller: the official v2.1 MidasNet in the paper profile, the
demo's small one in the demo). The maps are 8-bit relative inverse depth (255 = nearest), so values v / 255; per
map the generated one is aligned to the MiDaS one by least-squares scale and shift (MiDaS's own evaluation
protocol, Ranftl et al. 2019: scale and shift fitted by least squares in inverse-depth space), clipped below at 1/255, then over
the pixels where the MiDaS map is > 0: AbsRel = mean |p - g| / g, delta < 1.25 = share of pixels with
max(p / g, g / p) < 1.25, RMSE = sqrt(mean (p - g)^2) (in units of the full 0..1 range); each averaged over the
maps. The values are inverse depths (there is no metric depth to convert to), so AbsRel and delta weigh the far
pixels (small values) most.
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
from sketch3d.sketchydepth.triplets import KINDS, Triplets, read_depths, read_triplets

log = logging.getLogger("sketch3d")

# sketchydepth.metrics.ssim -> scikit-image's structural_similarity arguments (besides the images)
SSIM_VARIANTS = {
    # Wang et al. 2004 (the thesis cites it for SSIM): 11x11 Gaussian window (sigma 1.5; scikit-image's truncate
    # 3.5 gives radius 5), K1 0.01, K2 0.03, population covariances
    "wang2004": {"channel_axis": -1, "data_range": 255, "gaussian_weights": True, "sigma": 1.5,
                 "use_sample_covariance": False, "K1": 0.01, "K2": 0.03},
    # scikit-image's defaults: 7x7 uniform window, sample covariances (this project's SSIM before issue 19)
    "uniform7": {"channel_axis": -1, "data_range": 255, "win_size": 7, "gaussian_weights": False,
                 "K1": 0.01, "K2": 0.03, "use_sample_covariance": True},
}
DEFAULT_SSIM = "wang2004"
SSIM_SETTINGS = SSIM_VARIANTS[DEFAULT_SSIM]
DEPTH_METRICS = ("AbsRel", "delta1", "RMSE")  # depth_quality's keys (delta1: delta < 1.25)
DELTA = 1.25


class MetricsInputError(ValueError):
    """A generated set that cannot be compared with the real test set."""


def _fid_settings(settings: dict) -> tuple[str, int, int, int]:
    try:
        f = settings["sketchydepth"]["fid"]
        return str(f["weights"]), int(f["dims"]), int(f["batch_size"]), int(settings["seed"])
    except KeyError as exc:
        raise MetricsInputError(f"image_metrics: settings lack {exc} (needs seed and sketchydepth.fid: weights, "
                                "dims, batch_size)") from None


def _metrics_settings(settings: dict) -> dict:
    """``sketchydepth.metrics``, checked: ssim variant, kid (subsets, subset_size, degree), bootstrap
    (resamples, level)."""
    try:
        m = settings["sketchydepth"]["metrics"]
        out = {"ssim": str(m["ssim"]),
               "kid": {k: int(m["kid"][k]) for k in ("subsets", "subset_size", "degree")},
               "bootstrap": {"resamples": int(m["bootstrap"]["resamples"]), "level": float(m["bootstrap"]["level"])}}
    except (KeyError, TypeError) as exc:
        raise MetricsInputError(f"image_metrics: settings lack {exc} (needs sketchydepth.metrics: ssim, kid: subsets, "
                                "subset_size, degree; bootstrap: resamples, level; see params.yaml)") from None
    if out["ssim"] not in SSIM_VARIANTS:
        raise MetricsInputError(f"sketchydepth.metrics.ssim = {out['ssim']!r}: expected one of {sorted(SSIM_VARIANTS)}")
    if out["kid"]["subsets"] < 1 or out["kid"]["subset_size"] < 2 or out["kid"]["degree"] < 1:
        raise MetricsInputError(f"sketchydepth.metrics.kid = {out['kid']}: subsets >= 1, subset_size >= 2, degree >= 1")
    if out["bootstrap"]["resamples"] < 1 or not 0 < out["bootstrap"]["level"] < 1:
        raise MetricsInputError(f"sketchydepth.metrics.bootstrap = {out['bootstrap']}: resamples >= 1, level in (0, 1)")
    return out


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


def ssim_scores(real: np.ndarray, generated: np.ndarray, variant: str = DEFAULT_SSIM) -> np.ndarray:
    """SSIM of each pair of uint8 RGB images [N, S, S, 3], with the window of ``variant`` (:data:`SSIM_VARIANTS`)."""
    from skimage.metrics import structural_similarity

    if variant not in SSIM_VARIANTS:
        raise MetricsInputError(f"SSIM variant {variant!r}: expected one of {sorted(SSIM_VARIANTS)}")
    if real.shape != generated.shape:
        raise MetricsInputError(f"SSIM: image arrays differ in shape ({list(real.shape)} vs {list(generated.shape)})")
    win = 11 if SSIM_VARIANTS[variant]["gaussian_weights"] else SSIM_VARIANTS[variant]["win_size"]
    if real.ndim == 4 and min(real.shape[1:3]) < win:
        raise MetricsInputError(f"SSIM ({variant}): images of {list(real.shape[1:3])} px are smaller than its "
                                f"{win}x{win} window; use larger images or sketchydepth.metrics.ssim: uniform7 (7x7)")
    return np.array([structural_similarity(r, g, **SSIM_VARIANTS[variant]) for r, g in zip(real, generated)],
                    dtype=np.float64)


def align_scale_shift(pred: np.ndarray, target: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``s * pred + t`` with (s, t) minimising sum over ``mask`` of (s * pred + t - target)^2 (least squares)."""
    p, g = pred[mask].astype(np.float64), target[mask].astype(np.float64)
    a = np.stack([p, np.ones_like(p)], axis=1)
    (scale, shift), *_ = np.linalg.lstsq(a, g, rcond=None)
    return scale * pred.astype(np.float64) + shift


def depth_errors(pred: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """AbsRel, delta < 1.25 and RMSE of one 8-bit inverse-depth map ``pred`` [H, W] against ``target`` (see the
    module doc): values / 255, ``pred`` aligned to ``target`` by least-squares scale and shift over the pixels
    where ``target`` > 0, clipped below at 1/255, the errors over those pixels."""
    if pred.shape != target.shape or pred.ndim != 2:
        raise MetricsInputError(f"depth maps differ in shape ({list(pred.shape)} vs {list(target.shape)})")
    p, g = pred.astype(np.float64) / 255.0, target.astype(np.float64) / 255.0
    mask = g > 0
    if mask.sum() < 2:
        return {k: float("nan") for k in DEPTH_METRICS}
    p = np.clip(align_scale_shift(p, g, mask), 1.0 / 255.0, None)[mask]
    g = g[mask]
    return {"AbsRel": float(np.mean(np.abs(p - g) / g)),
            "delta1": float(np.mean(np.maximum(p / g, g / p) < DELTA)),
            "RMSE": float(np.sqrt(np.mean((p - g) ** 2)))}


def depth_quality(pred: np.ndarray, target: np.ndarray, kinds: list[str]) -> dict:
    """:func:`depth_errors` of each pair of maps [N, H, W], averaged over all maps and per kind (maps whose
    reference is constant, all 0, are left out and counted)."""
    if pred.shape != target.shape:
        raise MetricsInputError(f"depth sets differ in shape ({list(pred.shape)} vs {list(target.shape)})")
    per = [depth_errors(p, g) for p, g in zip(pred, target)]
    values = {k: np.array([e[k] for e in per]) for k in DEPTH_METRICS}
    ok = ~np.isnan(values["AbsRel"]) if per else np.zeros(0, bool)
    kinds_arr = np.array(kinds)
    out = {}
    for group, sel in (("all", np.ones(len(per), bool)), *((k, kinds_arr == k) for k in KINDS)):
        use = sel & ok
        out[group] = ({k: float(values[k][use].mean()) for k in DEPTH_METRICS} if use.any()
                      else {k: None for k in DEPTH_METRICS})
        out[group]["n"] = int(use.sum())
    out["skipped"] = int((~ok).sum())
    return out


def _depth_sets(real: Triplets, generated_depth: Path | None, labels: Path | None, midas: Path | None
                ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{name: (generated maps, MiDaS maps)} in the real test set's order, for ``labels`` and ``agreement``."""
    given = {"labels": labels, "agreement": midas}
    if generated_depth is None:
        if any(v is not None for v in given.values()):
            raise MetricsInputError("image_metrics: MiDaS depth given but no generated depth (--generated-depth); "
                                    "only the models with G_d generate depth maps")
        return {}
    if any(v is None for v in given.values()):
        raise MetricsInputError(f"image_metrics: generated depth {generated_depth} needs both MiDaS sets: the real "
                                "test images' labels (--depth-labels) and MiDaS on the generated images (--midas-depth)")
    _, ours = read_depths(generated_depth, real.ids)
    sets = {}
    for name, folder in given.items():
        _, ref = read_depths(folder, real.ids)
        if ref.shape != ours.shape:
            raise MetricsInputError(f"{folder}: depth maps {list(ref.shape[1:])}, the generated ones "
                                    f"({generated_depth}) {list(ours.shape[1:])}; label them at the test size")
        sets[name] = (ours, ref)
    return sets


def image_metrics(settings: dict, real: str | os.PathLike, generated: str | os.PathLike, out: str | os.PathLike,
                  device: str = "cpu", cache: str | os.PathLike | None = None,
                  generated_depth: str | os.PathLike | None = None, labels: str | os.PathLike | None = None,
                  midas: str | os.PathLike | None = None) -> dict:
    """FID, KID and a bootstrap interval of the FID (all, fb, bo), and mean SSIM, of the generated set ``generated``
    against the real test set ``real`` (both triplet sets), written as JSON to ``out``; ``cache`` keeps the real
    images' activations. With ``generated_depth`` (the model's depth set), ``labels`` (MiDaS on the real test
    images) and ``midas`` (MiDaS on the generated images): the depth quality too (module doc)."""
    real, generated = Path(real), Path(generated)
    value, dims, batch, seed = _fid_settings(settings)
    cfg = _metrics_settings(settings)
    demo = settings.get("profile") == "demo"
    data_dir = settings.get("data", {}).get("data_dir")
    fid.weights_file(value, data_dir)  # a missing weights file stops here, before anything is read or built
    r, g = read_triplets(real), read_triplets(generated)
    if len(r) < 2:
        raise MetricsInputError(f"{real}: {len(r)} test triplet(s); FID needs at least 2")
    order = paired(r, g, real, generated)
    gen_images = g.image[order]
    depth_sets = _depth_sets(r, *(Path(x) if x is not None else None for x in (generated_depth, labels, midas)))
    ssim = ssim_scores(r.image, gen_images, cfg["ssim"])

    net = fid.build_inception(value, dims, seed, device, data_dir)
    real_acts = fid.cached_activations(r.image, net, cache, batch)
    gen_acts = fid.activations(gen_images, net, batch)
    kinds = np.array(r.kinds)
    groups = {"all": np.ones(len(r), bool), **{k: kinds == k for k in KINDS}}
    fids, kids, kid_std, intervals, boots, counts = {}, {}, {}, {}, {}, {}
    kid_cfg, boot = cfg["kid"], cfg["bootstrap"]
    for name, mask in groups.items():
        counts[name] = int(mask.sum())
        if mask.sum() < 2:
            fids[name] = kids[name] = kid_std[name] = intervals[name] = boots[name] = None
            continue
        fids[name] = fid.frechet_distance(gen_acts[mask], real_acts[mask])
        kids[name], kid_std[name], _ = fid.kernel_inception_distance(
            gen_acts[mask], real_acts[mask], kid_cfg["subsets"], kid_cfg["subset_size"], seed, kid_cfg["degree"])
        boots[name] = fid.bootstrap_fid(gen_acts[mask], real_acts[mask], boot["resamples"], boot["level"],
                                        fid.bootstrap_rng(seed, name), device, fids[name])
        intervals[name] = boots[name]["interval"]
    result = {
        "demo": demo,
        **({"notice": DEMO_NOTICE} if demo else {}),
        "real": real.name,
        "generated": generated.name,
        "n": counts,
        "fid": fids,
        "fid_interval": intervals,
        "fid_bootstrap": {k: (None if v is None else {"percentile": v["percentile"], "shift": v["shift"]})
                          for k, v in boots.items()},
        "kid": kids,
        "kid_std": kid_std,
        "ssim": float(ssim.mean()),
        "ssim_by_kind": {k: (float(ssim[m].mean()) if m.any() else None) for k, m in groups.items() if k != "all"},
        "depth": {name: depth_quality(ours, ref, r.kinds) for name, (ours, ref) in depth_sets.items()} or None,
        "fid_network": net.provenance,
        "fid_dims": dims,
        "image_size": list(r.image.shape[1:3]),
        "ssim_variant": cfg["ssim"],
        "ssim_settings": SSIM_VARIANTS[cfg["ssim"]],
        "kid_settings": {**kid_cfg, "kernel": f"(x.y / {dims} + 1)^{kid_cfg['degree']}", "seed": seed,
                         "subset_size_used": {k: (min(v, kid_cfg["subset_size"]) if v >= 2 else None)
                                              for k, v in counts.items()}},
        "bootstrap_settings": {**boot, "seed": seed, "stream": fid.BOOTSTRAP_STREAM},
        "depth_settings": {"alignment": "least-squares scale and shift per map", "values": "8-bit inverse depth / 255",
                           "valid": "MiDaS map > 0", "clip_below": 1 / 255, "delta": DELTA},
    }
    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps(result, indent=2) + "\n")
    log.info("image_metrics %s: FID %s, KID %s, SSIM %.4f", generated.name, fids, kids, result["ssim"])
    return result
