"""`sketch3d query`: rank shapes for sketches a user brings, with the method the thesis finds best.

The method is Table 4.8's / B.3's "Our": both sides fitted to the OBB box, each image's CLIP feature averaged
over the image and its translated, rotated, and translated-and-rotated copies (Augm. (4 imgs)), the features
masked by the learned binary mask whose checkpoint is the best on the chair validation sketches
(``Binary (best chairs)``). Without a mask file (the train_mask rule has not run) it ranks with Augm. (4 imgs)
alone and says so. The box and the transforms are those of the pipeline's main rows (the first of
``retrieval.choices``, resolved by ``retrieval.choice`` as the pipeline does: this run's Table 4.1 and 4.2
searches, or the thesis's values; the thesis's where the searches have not run, said), applied by the same
``Method.transforms``; the mask is the one trained under that choice.

A sketch is our JSON, a QuickDraw ``.ndjson`` drawing, an SVG, or an image (PNG/JPEG): an image is read as the
pipeline reads one (``features.box.to_grey``: transparency composited onto white) at its own size, so the box
fitting keeps its aspect ratio. Sketches, gallery images and their transformed copies are embedded once and kept
in the feature cache (content-keyed), so a second query re-embeds nothing it has seen.
"""
from __future__ import annotations

import csv
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sketch3d.data.sketch_files import SUFFIXES as SKETCH_SUFFIXES
from sketch3d.retrieval.methods import METHODS, Method

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
QUERY_SUFFIXES = (*IMAGE_SUFFIXES, *SKETCH_SUFFIXES)
BEST = "binary_chair"   # Table 4.8 / B.3 "Our": OBB, Augm. (4 imgs), binary mask (best chairs)
FALLBACK = "obb_augm4"  # the same without the mask
CSV_COLUMNS = ("sketch", "rank", "shape_id", "distance")


class RandomWeightsRefused(ValueError):
    """Random (or rehearsal) weights outside the demo profile, not explicitly allowed."""


def sketch_image(path: Path, index: int = 0, size: int = 224):
    """Any supported sketch file -> a mode-"L" PIL image, black lines on white. An image file keeps its size
    (the box fitting scales it, aspect kept); a transparent one is composited onto white (``to_grey``)."""
    from sketch3d.data.sketch import rasterize
    from sketch3d.data.sketch_files import load_any_sketch
    from sketch3d.features.box import ink_bbox, read_grey

    path = Path(path)
    if path.suffix.lower() in IMAGE_SUFFIXES:
        grey = read_grey(path)
        if ink_bbox(np.asarray(grey)) is None:
            raise ValueError(f"sketch {path} has no ink (no pixel darker than 200 after compositing onto white): "
                             "expected dark lines on a light or transparent background")
        return grey
    return rasterize(load_any_sketch(path, index), size=size)


def query_files(folder: Path) -> list[Path]:
    """The sketch files of ``folder`` (by suffix), sorted by name; none is an error naming the folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"--queries {folder} is not a folder; give a folder of sketch files")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in QUERY_SUFFIXES)
    if not files:
        raise ValueError(f"--queries {folder} holds no sketch file ({', '.join(QUERY_SUFFIXES)})")
    return files


def default_results(params: dict) -> Path:
    """The pipeline's results folder of the profile (``sketch3d.config.results_dir``, the workflow's RESULTS)."""
    from sketch3d.config import results_dir

    return results_dir(params)


def describe_weights(params: dict) -> tuple[str, bool]:
    """(what the main CLIP network's weights are: a file with its sha256, a named tag, or random; random?)."""
    from sketch3d import weights as wts
    from sketch3d.features.stage import feature_spec, network_settings

    spec = feature_spec(params)
    setting = network_settings(params)["weights"]
    head = f"CLIP {spec.backbone} {spec.layer}"
    if spec.is_random:
        return f"{head}: random init (seed {spec.seed}), NOT pretrained", True
    if spec.is_local_file:
        path = wts.setting_path(spec.weights)
        if not path.is_file():
            raise FileNotFoundError(f"CLIP weights file {path} (features.weights) does not exist: give the path of "
                                    f"a {spec.backbone} weights file or an open_clip tag")
        named = "" if setting == spec.weights else f"'{setting}' = "
        return f"{head}: {named}{path} (sha256 {wts.sha256(path)})", False
    return f"{head}: open_clip's named weights '{spec.weights}' (no local file yet: open_clip fetches them)", False


@dataclass(frozen=True)
class QuerySetup:
    """What a query ranks with, and where each setting came from (printed at the top of its output)."""

    profile: str
    method: Method
    retrieval: dict                  # params' retrieval section with the box and transforms in force
    sources: list[str]               # where the box and the transforms came from
    weights: str
    mask_path: Path | None = None
    mask: np.ndarray | None = field(default=None, compare=False)
    notes: list[str] = field(default_factory=list)

    def transforms(self, kind: str):
        return self.method.transforms(kind, self.retrieval)

    def header(self) -> list[str]:
        from sketch3d.weights import sha256

        mask = "none" if self.mask_path is None else f"{self.mask_path} (sha256 {sha256(self.mask_path)})"
        return [f"profile: {self.profile}",
                f"method: {self.method.label} ({self.method.name}); views reduced by "
                f"{self.method.view_reduction(self.retrieval)}",
                f"transforms: {', '.join(t.name for t in self.transforms('sketch'))} (averaged)",
                *self.sources, f"mask: {mask}", f"weights: {self.weights}", *self.notes]


def chosen_settings(retrieval: dict, results_dir: Path, choice: str | None = None) -> tuple[dict, str, list[str]]:
    """The retrieval section under the pipeline's main choice (``retrieval.choices[0]``, or ``choice``), as the
    pipeline resolves it (``retrieval.choice``): ``search`` reads this run's searches under ``results_dir``
    (Tables 4.1 and 4.2); without them, the thesis's choice (``retrieval.thesis_choice``), said. Returns (section,
    the choice used, where the box and the transforms came from)."""
    from sketch3d.retrieval.choice import GRID_FILES, main_choice, read_search, resolve

    choice = choice or main_choice(retrieval)
    if choice == "search":
        files = [Path(results_dir) / "retrieval" / "grids" / f"{g}.json" for g in GRID_FILES]
        missing = [str(f) for f in files if not f.is_file()]
        if not missing:
            r = resolve(retrieval, "search", read_search(*files))
            where = f"this run's searches (Tables 4.1 and 4.2: {files[0]}, {files[1]}; choice 'search')"
        else:
            r = resolve(retrieval, "thesis")
            where = (f"the thesis's choice (retrieval.thesis_choice): the searches' results {', '.join(missing)} are "
                     "missing (run the retrieval_grid rule, or give --results)")
            choice = "thesis"
    else:
        r = resolve(retrieval, choice)
        where = f"the thesis's choice (retrieval.thesis_choice; choice {choice!r})"
    a = r["augment"]
    return r, choice, [f"box {r['obb_box']} px, transforms translate ({a['translate'][0]:g}, {a['translate'][1]:g}) "
                       f"px and rotate {a['rotate']:g} deg: {where}"]


def query_setup(params: dict, results_dir: Path | None = None, mask: Path | None = None,
                allow_random_weights: bool = False, choice: str | None = None) -> QuerySetup:
    """The method, settings, mask and weights of a query; refuses random weights outside the demo profile unless
    ``allow_random_weights``, before anything is embedded. ``choice``: ``search`` or ``thesis`` instead of the
    pipeline's main choice."""
    from sketch3d.retrieval.choice import main_choice
    from sketch3d.retrieval.masks import load_mask

    results_dir = default_results(params) if results_dir is None else Path(results_dir)
    weights, random = describe_weights(params)
    notes = []
    if params.get("rehearsal"):
        weights += " [rehearsal: seeded random values at the real architecture]"
        random = True
    if random and params["profile"] != "demo":
        if not allow_random_weights:
            raise RandomWeightsRefused(
                f"profile {params['profile']!r} would rank with untrained weights ({weights}): its distances mean "
                "nothing. Set features.weights (profiles.paper.features.weights) to CLIP's weights (an open_clip "
                "tag such as 'openai' or a weights file), or pass --allow-random-weights to rank anyway")
        notes.append("WARNING: untrained weights (--allow-random-weights): the ranking means nothing")
    retrieval, used, sources = chosen_settings(params["retrieval"], results_dir, choice)
    # the pipeline's masks of a choice: retrieval/masks/<mode> (the main one), retrieval/masks/<mode>@<choice>
    mode, cls = METHODS[BEST].mask
    folder = mode if used == main_choice(params["retrieval"]) else f"{mode}@{used}"
    default_mask = results_dir / "retrieval" / "masks" / folder / f"best_{cls}.npy"
    if mask is not None and not Path(mask).is_file():
        raise FileNotFoundError(f"--mask {mask} does not exist; give a mask written by the train_mask rule "
                                f"(e.g. {default_mask}) or leave --mask out")
    mask_path = Path(mask) if mask is not None else default_mask if default_mask.is_file() else None
    if mask_path is None:
        notes.append(f"NOTE: no learned mask at {default_mask} (run the train_mask rule, or give --mask): ranking "
                     f"with {METHODS[FALLBACK].label} without a mask")
        return QuerySetup(params["profile"], METHODS[FALLBACK], retrieval, sources, weights, notes=notes)
    values = load_mask(mask_path)
    info = mask_path.with_suffix(".json")
    if info.is_file():
        import json

        step = json.loads(info.read_text()).get("step")
        if step == 0:
            notes.append(f"NOTE: {info} selected step 0: the untrained mask, which ranks as no mask does")
    return QuerySetup(params["profile"], METHODS[BEST], retrieval, sources, weights, mask_path, values, notes)


def embed_sides(sides: dict[str, list], setup: QuerySetup, params: dict, cache_dir: Path) -> dict[str, np.ndarray]:
    """Features of each side's grey images (``kind`` "sketch"/"gallery" -> images) as ``retrieve`` reads them:
    each image under each of the side's transforms (``Method.transforms``: the pipeline's ``Transform.apply``, so
    the same pixels as the pipeline's ``load_transformed``), the copies averaged in float32 (``average_features``),
    then masked (``apply_mask``). All copies go through one ``embed_images`` call (one network build; nothing
    when all are cached: the cache keys the transformed pixels' content)."""
    from sketch3d.devices import claim_device
    from sketch3d.features.extract import IMAGE_SIZE, embed_images
    from sketch3d.features.stage import average_features, feature_spec

    spec, f = feature_spec(params), params["features"]
    with tempfile.TemporaryDirectory(prefix="sketch3d-query-") as tmp:
        paths, layout = [], {}
        for kind, images in sides.items():
            transforms = setup.transforms(kind)
            layout[kind] = (len(paths), len(images), len(transforms))
            for i, (name, grey) in enumerate(images):
                for j, t in enumerate(transforms):
                    try:
                        out = t.apply(grey, IMAGE_SIZE)
                    except ValueError as exc:
                        raise ValueError(f"{kind} image {name}: {exc}") from None
                    paths.append(Path(tmp) / f"{kind}{i}_{j}.png")
                    out.save(paths[-1])
        with claim_device() as device:
            feats = embed_images(paths, spec, None, Path(cache_dir), device=device, batch_size=f["batch_size"],
                                 dtype=f["dtype"], precision=f.get("precision", "fp32"))
    out = {}
    for kind, (start, n, t) in layout.items():
        per_copy = feats[start:start + n * t].reshape(n, t, -1)
        side = average_features(per_copy[:, j] for j in range(t))
        if setup.mask is not None:
            from sketch3d.retrieval.masks import apply_mask

            side = apply_mask(side, setup.mask)
        out[kind] = side
    return out


def rank_sketches(sketches: dict[str, object], setup: QuerySetup, params: dict, gallery_paths: list[Path],
                  gallery_shapes: list[str], cache_dir: Path, top: int) -> dict[str, list[tuple[str, float]]]:
    """Each named sketch image's top-``top`` (shape, distance) against the gallery images, in the one order of
    ``retrieval.metrics``."""
    from sketch3d.features.box import read_grey
    from sketch3d.retrieval.metrics import ranking
    from sketch3d.retrieval.ranking import shape_distances

    if top < 1:
        raise ValueError(f"--top must be >= 1, got {top}")
    gallery = [(str(p), read_grey(p)) for p in gallery_paths]
    f = embed_sides({"sketch": list(sketches.items()), "gallery": gallery}, setup, params, cache_dir)
    r = setup.retrieval
    dist, shape_ids = shape_distances(f["sketch"], f["gallery"], gallery_shapes, r["chunk_size"],
                                      setup.method.view_reduction(r))
    order = ranking(dist)[:, :top]
    return {name: [(shape_ids[j], float(dist[i, j])) for j in order[i]] for i, name in enumerate(sketches)}


def read_sketches(paths: list[Path], index: int = 0) -> dict[str, object]:
    """File name -> sketch image; two files of one name (from different folders) are refused."""
    out = {}
    for p in paths:
        if p.name in out:
            raise ValueError(f"two sketches are named {p.name}: rename one")
        out[p.name] = sketch_image(p, index)
    return out


def query_gallery(sketches: dict[str, object], setup: QuerySetup, params: dict, gallery_dir: Path, cache_dir: Path,
                  top: int = 5) -> dict[str, list[tuple[str, float]]]:
    """Rank the shapes of a rendered gallery (an image set: index.csv with shape ids and paths)."""
    from sketch3d.imageset import read_index

    gallery = read_index(Path(gallery_dir))
    return rank_sketches(sketches, setup, params, [Path(p) for p in gallery["path"]], gallery["shape_id"].tolist(),
                         Path(cache_dir) / "features", top)


def query_meshes(sketches: dict[str, object], setup: QuerySetup, params: dict, meshes_dir: Path, cache_dir: Path,
                 top: int = 5, figure: Path | None = None) -> tuple[dict[str, list[tuple[str, float]]], list]:
    """Rank the meshes of a user's folder: returns the rankings (file name, distance) and the files left out
    (``Skipped``); with ``figure``, draws the first sketch beside its top shapes. Renders and features are cached
    in ``cache_dir``."""
    from sketch3d.retrieval.mesh_gallery import prepare_meshes, render_meshes

    if top < 1:
        raise ValueError(f"--top must be >= 1, got {top}")
    cache_dir = Path(cache_dir)
    shapes, skipped = prepare_meshes(Path(meshes_dir), cache_dir)
    gallery = render_meshes(shapes, params["render"], cache_dir)
    results = rank_sketches(sketches, setup, params, [Path(p) for p in gallery["path"]],
                            gallery["shape_id"].tolist(), cache_dir / "features", top)
    if figure is not None:
        from sketch3d.retrieval.figures import query_figure

        first = next(iter(sketches))
        query_figure(sketches[first], results[first], gallery, Path(figure), demo=params["profile"] == "demo")
    return results, skipped


def write_rankings(results: dict[str, list[tuple[str, float]]], out_csv: Path) -> Path:
    """The rankings as CSV: sketch, rank (1 = nearest), shape_id, distance."""
    from sketch3d.atomic import atomic_path

    with atomic_path(Path(out_csv)) as tmp, open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(CSV_COLUMNS)
        for name, ranked in results.items():
            for rank, (shape_id, dist) in enumerate(ranked, start=1):
                w.writerow([name, rank, shape_id, repr(dist)])
    return Path(out_csv)
