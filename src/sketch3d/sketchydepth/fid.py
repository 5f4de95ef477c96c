"""Fréchet Inception Distance (thesis 3.4.3) with pytorch-fid 0.3.0's InceptionV3, never downloading.

pytorch-fid builds its network through ``pytorch_fid.inception.fid_inception_v3``, which always fetches
``pt_inception-2015-12-05-6726825d.pth`` from GitHub. :func:`build_inception` builds the same
``InceptionV3`` while pytorch-fid's loader is pointed at a state dict we already hold, so the library never
reaches the network:

- ``weights`` = ``"pt_inception-2015-12-05"`` (the paper): the real file, from torch hub's checkpoints
  folder (``$TORCH_HOME/hub/checkpoints/``) or ``<data_dir>/weights/``; or a path to a local copy. A missing
  file raises :class:`FidWeightsError` naming the file, where to put it and its URL, before any work.
- ``weights`` = ``"random"`` (the demo): the same architecture with every convolution re-initialised
  (Kaiming normal, fan-in, ReLU gain) from a ``torch.Generator`` seeded by the caller. With PyTorch's default
  initialisation the features collapse (FID ~1e-16 for any pair of sets); re-initialised, two different image
  sets give a clearly larger distance than two halves of one set. Such an FID is a smoke signal only.

Activations follow pytorch-fid's ``get_activations``: uint8 images become [0, 1] floats (as ``ToTensor``),
the network resizes them bilinearly to 299x299 and scales them to [-1, 1] itself (``resize_input``,
``normalize_input``); feature maps larger than 1x1 (dims 64, 192, 768) are average-pooled. The distance is
the formula of ``pytorch_fid.fid_score.calculate_frechet_distance`` on the activations' means and covariances,
its matrix square root's trace computed exactly from a nuclear norm (:func:`frechet_distance`).

:func:`cached_activations` keeps the activations of an image array on disk, keyed by the images' bytes and
the network's identity (weights digest or seed, dims), so the test set's real images are embedded once for
every model compared against them.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sketch3d import weights
from sketch3d.sketchydepth.sources import chapter_sources
from sketch3d.atomic import atomic_path

NETWORK = "pt_inception"  # the sketch3d.weights registry name of pytorch-fid's Inception
TAG = "pt_inception-2015-12-05"  # the paper's weights setting
SETTING = "profiles.paper.sketchydepth.fid.weights"
DIMS = (64, 192, 768, 2048)  # pytorch-fid's InceptionV3.BLOCK_INDEX_BY_DIM


class FidWeightsError(FileNotFoundError):
    """The Inception weights a setting names are not on this machine."""


@dataclass(frozen=True)
class FidNetwork:
    """A built network and what it is: ``key`` identifies it in cache keys, ``provenance`` in outputs."""

    model: object  # pytorch_fid.inception.InceptionV3, in eval mode on ``device``
    dims: int
    device: str
    key: str
    provenance: str
    random: bool


def _check_dims(dims: int) -> int:
    if dims not in DIMS:
        raise ValueError(f"sketchydepth.fid.dims = {dims!r}: pytorch-fid's Inception gives {list(DIMS)} "
                         "(2048 = the final pooling layer, as in the thesis)")
    return int(dims)


def weights_file(value: str, data_dir: str | os.PathLike | None = None, base: str | os.PathLike = ".") -> Path | None:
    """The local file of the weights setting ``value`` (None for ``random``), or :class:`FidWeightsError`.

    Looked up offline only: a path (``~`` allowed, relative to ``base``), or for the tag
    ``pt_inception-2015-12-05`` torch hub's ``checkpoints`` folder and ``<data_dir>/weights/``.
    """
    value = str(value)
    if value == weights.RANDOM:
        return None
    k = weights.kind(value, NETWORK, base)
    found = (weights.local_file(value, NETWORK, data_dir=data_dir, base=base, sources=chapter_sources())
             if k in ("tag", "file") else None)
    if found is None:
        raise FidWeightsError(weights.unavailable(value, NETWORK, data_dir=data_dir, base=base,
                                                  sources=chapter_sources()).message())
    return found


@contextlib.contextmanager
def _loader_returning(state: dict):
    """Within: pytorch-fid's ``load_state_dict_from_url`` hands out ``state`` for its own URL and refuses any
    other, so building ``InceptionV3`` never touches the network."""
    import pytorch_fid.inception as pi

    original = pi.load_state_dict_from_url

    def load(url, *args, **kwargs):
        if url != pi.FID_WEIGHTS_URL:
            raise RuntimeError(f"pytorch-fid asked for {url}; sketch3d only provides {pi.FID_WEIGHTS_URL}")
        return state

    pi.load_state_dict_from_url = load
    try:
        yield
    finally:
        pi.load_state_dict_from_url = original


def _random_state() -> dict:
    """A state dict with the FID Inception's parameter names and shapes (values are overwritten later).

    pytorch-fid's FID blocks subclass torchvision's Inception blocks and change only ``forward``, so
    torchvision's ``inception_v3(num_classes=1008, aux_logits=False)`` has exactly its parameters.
    """
    import torch
    import torchvision

    with torch.random.fork_rng():  # torchvision's default init draws from the global generator: leave it as it was
        net = torchvision.models.inception_v3(weights=None, aux_logits=False, num_classes=1008, init_weights=False)
    return net.state_dict()


def _reinit(model, seed: int) -> None:
    """Kaiming-normal convolutions from a seeded generator; batch norms as an identity (the features then
    keep their spread through the network instead of collapsing)."""
    import torch

    gen = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        for name, m in sorted(model.named_modules(), key=lambda nm: nm[0]):
            if isinstance(m, torch.nn.Conv2d):
                fan_in = m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1]
                std = (2.0 / fan_in) ** 0.5
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * std)
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, torch.nn.BatchNorm2d):
                m.weight.fill_(1.0)
                m.bias.zero_()
                m.running_mean.zero_()
                m.running_var.fill_(1.0)


def build_inception(value: str, dims: int, seed: int, device: str = "cpu",
                    data_dir: str | os.PathLike | None = None, base: str | os.PathLike = ".") -> FidNetwork:
    """pytorch-fid's InceptionV3 returning the ``dims`` features, with the weights ``value`` names."""
    dims = _check_dims(dims)
    path = weights_file(value, data_dir, base)  # fails here, before torch is even imported, if missing
    from sketch3d.compat.torchvision_ops import ensure_torchvision

    ensure_torchvision()
    import torch
    from pytorch_fid.inception import InceptionV3

    if path is None:
        state = _random_state()
        provenance = weights.describe(weights.RANDOM, seed=seed, family=f"FID Inception (pytorch-fid), dims {dims}")
        key = f"random-seed{int(seed)}"
    else:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise FidWeightsError(f"{path} cannot be read as pytorch-fid's Inception state dict ({exc}); "
                                  f"{weights.how_to_get(weights.find(NETWORK, TAG), data_dir=data_dir, sources=chapter_sources())}") from exc
        digest = weights.sha256(path)
        provenance = f"pytorch-fid Inception {Path(path).name} (sha256:{digest}), dims {dims}"
        key = f"sha256-{digest}"
    block = InceptionV3.BLOCK_INDEX_BY_DIM[dims]
    with _loader_returning(state):
        model = InceptionV3([block], resize_input=True, normalize_input=True)
    if path is None:
        _reinit(model, seed)
    model = model.eval().to(device)
    return FidNetwork(model, dims, str(device), f"{key}-dims{dims}", provenance, path is None)


def activations(images: np.ndarray, net: FidNetwork, batch_size: int = 50) -> np.ndarray:
    """float64 [N, dims] activations of uint8 RGB images [N, H, W, 3], as pytorch-fid's get_activations."""
    import torch
    from torch.nn.functional import adaptive_avg_pool2d

    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"FID activations: expected uint8 RGB images [N, H, W, 3], got {images.dtype} "
                         f"{list(images.shape)}")
    if batch_size < 1:
        raise ValueError(f"sketchydepth.fid.batch_size must be >= 1, got {batch_size}")
    out = np.empty((len(images), net.dims), dtype=np.float64)
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            batch = torch.from_numpy(np.ascontiguousarray(images[start:start + batch_size]))
            x = batch.permute(0, 3, 1, 2).to(torch.float32).div(255.0).to(net.device)
            pred = net.model(x)[0]
            if pred.shape[2] != 1 or pred.shape[3] != 1:
                pred = adaptive_avg_pool2d(pred, output_size=(1, 1))
            out[start:start + len(batch)] = to_host(pred.squeeze(3).squeeze(2))
    return out


def to_host(t) -> np.ndarray:
    """A device tensor's values in numpy (the one place FID activations leave the device)."""
    return t.detach().cpu().numpy()


def images_digest(images: np.ndarray) -> str:
    """SHA-256 of an image array's shape, dtype and bytes (its content, whatever its files were called)."""
    h = hashlib.sha256(json.dumps([list(images.shape), str(images.dtype)]).encode())
    h.update(np.ascontiguousarray(images).tobytes())
    return h.hexdigest()


def cached_activations(images: np.ndarray, net: FidNetwork, cache: str | os.PathLike | None,
                       batch_size: int = 50) -> np.ndarray:
    """:func:`activations`, kept in ``<cache>/<network key>/<images digest>.npy`` (None: not cached).

    The key holds the weights (file digest, or ``random`` and its seed) and the dims; the digest the images'
    content, so the same test images are embedded once for every model compared against them.
    """
    if cache is None:
        return activations(images, net, batch_size)
    path = Path(cache) / net.key / f"{images_digest(images)}.npy"
    if path.is_file():
        try:
            acts = np.load(path, allow_pickle=False)
            if acts.shape == (len(images), net.dims):
                return acts
        except (ValueError, OSError, EOFError):
            pass  # truncated elsewhere: recompute
    acts = activations(images, net, batch_size)
    with atomic_path(path) as tmp:
        np.save(tmp, acts, allow_pickle=False)
    return acts


def statistics(acts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (rows are samples), as pytorch-fid's calculate_activation_statistics."""
    if acts.ndim != 2 or len(acts) < 2:
        raise ValueError(f"FID needs at least 2 images per set to estimate a covariance, got {len(acts)}")
    return np.mean(acts, axis=0), np.cov(acts, rowvar=False)


def _trace_sqrt_product(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """(Tr S_a, Tr S_b, Tr (S_a S_b)^(1/2)) of two centred activation sets [N, D], [M, D].

    When either set has no more samples than dims, a factor of its covariance is its centred samples
    / sqrt(n - 1): S = F F^T with F [D, n], so Tr S = ||F||^2 and the eigenvalues of S_a S_b are the squared
    singular values of F_a^T F_b (an n x m matrix; no D x D covariance is formed). Otherwise the covariances
    are formed and Tr (S_a S_b)^(1/2) is the sum of the square roots of the eigenvalues of L^T S_b L, with
    S_a = L L^T (Cholesky; the symmetric square root by eigh where S_a is singular).
    """
    n, m = len(a), len(b)
    fa, fb = a.T / np.sqrt(n - 1), b.T / np.sqrt(m - 1)
    if min(n, m) <= a.shape[1]:
        cross = fa.T @ fb
        return float((fa * fa).sum()), float((fb * fb).sum()), float(np.linalg.svd(cross, compute_uv=False).sum())
    sa, sb = fa @ fa.T, fb @ fb.T
    try:
        root = np.linalg.cholesky(sa)
    except np.linalg.LinAlgError:
        w, v = np.linalg.eigh(sa)
        root = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    eig = np.linalg.eigvalsh(root.T @ sb @ root)
    return float(np.trace(sa)), float(np.trace(sb)), float(np.sqrt(np.clip(eig, 0, None)).sum())


def frechet_distance(acts_a: np.ndarray, acts_b: np.ndarray) -> float:
    """FID between two activation sets [N, D], [M, D]: ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)), the
    formula of pytorch-fid's calculate_frechet_distance, with the same means and covariances (``statistics``).

    Tr((S_a S_b)^(1/2)) is computed exactly (:func:`_trace_sqrt_product`): for a set smaller than D from the
    singular values of F_a^T F_b, where S = F F^T and F holds the centred samples (the eigenvalues of S_a S_b are
    those of (F_a^T F_b)(F_a^T F_b)^T), otherwise from the eigenvalues of L^T S_b L with S_a = L L^T.
    pytorch-fid takes scipy's ``sqrtm`` of the D x D product instead: at 2048 dims 15-20 s of CPU per distance,
    and for sets smaller than D (a singular product) it adds 1e-6 to the covariances' diagonals and so returns a
    slightly different number. Here: the same value on full-rank sets (tested against pytorch-fid to 1e-9), the
    exact value on smaller sets, in milliseconds when a set is smaller than D (the bootstrap's resamples need
    that speed, :func:`bootstrap_fid`).
    """
    if acts_a.ndim != 2 or acts_b.ndim != 2 or acts_a.shape[1:] != acts_b.shape[1:]:
        raise ValueError(f"FID: activation sets differ in width ({acts_a.shape[1:]} vs {acts_b.shape[1:]})")
    for acts in (acts_a, acts_b):
        if len(acts) < 2:
            raise ValueError(f"FID needs at least 2 images per set to estimate a covariance, got {len(acts)}")
    acts_a, acts_b = np.asarray(acts_a, np.float64), np.asarray(acts_b, np.float64)
    mu_a, mu_b = acts_a.mean(axis=0), acts_b.mean(axis=0)
    tr_a, tr_b, tr_covmean = _trace_sqrt_product(acts_a - mu_a, acts_b - mu_b)
    diff = mu_a - mu_b
    return float(diff @ diff + tr_a + tr_b - 2.0 * tr_covmean)


# ----------------------------------------------------------------------------- KID and the bootstrap


def polynomial_kernel(x: np.ndarray, y: np.ndarray, degree: int = 3) -> np.ndarray:
    """k(x, y) = (x . y / d + 1) ** degree for the rows of x [N, d] and y [M, d] (Binkowski et al. 2018, Sec. 4:
    the cubic kernel of KID; torch-fidelity's ``kernel_poly`` with gamma = 1/d and coef0 = 1, clean-fid's)."""
    return (x @ y.T / x.shape[1] + 1.0) ** degree


def mmd2_unbiased(x: np.ndarray, y: np.ndarray, degree: int = 3) -> float:
    """The unbiased estimate of MMD^2 between samples x [m, d] and y [m, d]: the within-set kernel sums without
    their diagonals over m (m - 1), minus twice the cross sum over m^2 (torch-fidelity's ``mmd2``, ``unbiased``)."""
    m = len(x)
    k_xx, k_yy, k_xy = (polynomial_kernel(x, x, degree), polynomial_kernel(y, y, degree),
                        polynomial_kernel(x, y, degree))
    within = k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)
    return float(within / (m * (m - 1)) - 2.0 * k_xy.sum() / (m * m))


def kernel_inception_distance(acts_gen: np.ndarray, acts_real: np.ndarray, subsets: int, subset_size: int,
                              seed: int, degree: int = 3) -> tuple[float, float, int]:
    """KID (Binkowski et al. 2018) of the generated activations against the real ones: (mean, std, m) of the
    unbiased MMD^2 over ``subsets`` random subsets of m = min(n_gen, n_real, ``subset_size``) rows of each.

    As torch-fidelity's ``kid_features_to_metric``: a ``numpy.random.RandomState(seed)`` draws, for each subset in
    turn, m generated rows and then m real rows, each without replacement; the mean and the (population) std of
    the subsets' values. Where a set is smaller than ``subset_size``, m is the smaller set's size, as clean-fid's
    ``kernel_distance`` does (torch-fidelity stops instead). Needs m >= 2.
    """
    acts_gen, acts_real = np.asarray(acts_gen, np.float64), np.asarray(acts_real, np.float64)
    if acts_gen.ndim != 2 or acts_real.ndim != 2 or acts_gen.shape[1] != acts_real.shape[1]:
        raise ValueError(f"KID: activation sets differ in width ({acts_gen.shape} vs {acts_real.shape})")
    if subsets < 1 or subset_size < 2:
        raise ValueError(f"KID: subsets ({subsets}) must be >= 1 and subset_size ({subset_size}) >= 2 "
                         "(sketchydepth.metrics.kid)")
    m = min(len(acts_gen), len(acts_real), int(subset_size))
    if m < 2:
        raise ValueError(f"KID needs at least 2 images per set, got {len(acts_gen)} and {len(acts_real)}")
    rng = np.random.RandomState(int(seed))
    values = np.empty(int(subsets))
    for i in range(int(subsets)):
        x = acts_gen[rng.choice(len(acts_gen), m, replace=False)]
        y = acts_real[rng.choice(len(acts_real), m, replace=False)]
        values[i] = mmd2_unbiased(x, y, degree)
    return float(values.mean()), float(values.std()), m


BOOTSTRAP_STREAM = "sketchydepth.fid_bootstrap"


def bootstrap_rng(seed: int, group: str) -> np.random.Generator:
    """The resamples' generator of one group of test images (all, fb, bo): params.yaml's ``seed`` and a stream
    named by the group, so every model's interval of a group comes from the same resampled indices (paired)."""
    key = zlib.crc32(f"{BOOTSTRAP_STREAM}.{group}".encode())
    return np.random.default_rng(np.random.SeedSequence([int(seed), key]))


def frechet_distance_tensor(a, b):
    """:func:`frechet_distance` of two activation tensors [N, D], [M, D] (float64, on any device), as a 0-d tensor on
    that device: the same formula in torch, so that the bootstrap's resamples run where the network ran. For a
    set smaller than D the singular values of F_a^T F_b; otherwise Tr (S_a S_b)^(1/2) as the sum of the square
    roots of the eigenvalues of R S_b R, R = S_a^(1/2) from eigh (no Cholesky: no branch that needs a value on
    the host)."""
    import torch

    n, m, d = a.shape[0], b.shape[0], a.shape[1]
    fa = (a - a.mean(dim=0)).T / (n - 1) ** 0.5
    fb = (b - b.mean(dim=0)).T / (m - 1) ** 0.5
    diff = a.mean(dim=0) - b.mean(dim=0)
    tr_a, tr_b = (fa * fa).sum(), (fb * fb).sum()
    if min(n, m) <= d:
        tr_cov = torch.linalg.svdvals(fa.T @ fb).sum()
    else:
        w, v = torch.linalg.eigh(fa @ fa.T)
        root = (v * w.clamp_min(0).sqrt()) @ v.T
        tr_cov = torch.linalg.eigvalsh(root @ (fb @ fb.T) @ root).clamp_min(0).sqrt().sum()
    return diff @ diff + tr_a + tr_b - 2.0 * tr_cov


def bootstrap_fid(acts_gen: np.ndarray, acts_real: np.ndarray, resamples: int, level: float,
                  rng: np.random.Generator, device: str = "cpu", point: float | None = None) -> dict:
    """A bootstrap interval (Efron & Tibshirani 1993) of the FID of paired sets: each of ``resamples`` resamples
    draws n indices with replacement (from ``rng``, :func:`bootstrap_rng`) and takes the generated and the real
    rows of the same indices (the i-th generated image was made from the i-th test sketch).

    FID is biased upwards in the number of images (Chong & Forsyth 2020), and a resample holds only ~63% distinct
    pairs, so the resampled FIDs sit above the full set's, often wholly (by ~70% of the FID at 128 images in 64
    dims): their plain percentile interval need not contain the FID it is reported beside. The interval given
    (``interval``) is therefore the percentile interval of the resampled FIDs moved so that their mean is the
    full set's FID: the (1 - level)/2 and (1 + level)/2 quantiles (numpy's linear interpolation) of
    FID* - mean(FID*) + FID, i.e. how much the FID moves with the choice of test images, at this size. Also
    returned: ``percentile`` (the plain percentile interval), ``shift`` (mean(FID*) - FID) and ``fid`` (``point``
    where the caller has it, else computed).

    Needs n >= 2; a resample with fewer than 2 distinct indices is drawn again. The indices are drawn on the host
    (the same resamples on any device); the FIDs are computed on ``device`` (:func:`frechet_distance_tensor`),
    where each costs two D x D eigendecompositions once a group has more images than D (the paper's 2816 test
    images at 2048 dims: ~6.5 s of one CPU core each, a fraction of a second on a GPU), and come back to the host
    once, all together."""
    import torch

    n = len(acts_gen)
    if len(acts_real) != n:
        raise ValueError(f"bootstrap FID: the sets are paired, but hold {n} and {len(acts_real)} rows")
    if n < 2:
        raise ValueError(f"bootstrap FID needs at least 2 pairs, got {n}")
    if resamples < 1 or not 0.0 < level < 1.0:
        raise ValueError(f"bootstrap FID: resamples ({resamples}) must be >= 1 and level ({level}) in (0, 1) "
                         "(sketchydepth.metrics.bootstrap)")
    gen = torch.as_tensor(np.asarray(acts_gen, np.float64)).to(device)
    real = torch.as_tensor(np.asarray(acts_real, np.float64)).to(device)
    values = []
    with torch.no_grad():
        for _ in range(int(resamples)):
            idx = rng.integers(0, n, n)
            while len(np.unique(idx)) < 2:
                idx = rng.integers(0, n, n)
            pick = torch.from_numpy(idx).to(gen.device)
            values.append(frechet_distance_tensor(gen[pick], real[pick]))
        values = to_host(torch.stack(values))
    if point is None:
        point = frechet_distance(np.asarray(acts_gen, np.float64), np.asarray(acts_real, np.float64))
    q = [(1.0 - level) / 2.0, (1.0 + level) / 2.0]
    shift = float(values.mean()) - point
    return {"fid": point, "interval": [float(x) for x in np.quantile(values - shift, q)],
            "percentile": [float(x) for x in np.quantile(values, q)], "shift": shift}
