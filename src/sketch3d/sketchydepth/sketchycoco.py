"""SketchyCOCO's scene-level pairs as the chapter's triplet sets (paper profile; thesis 3.4.1, 3.4.2).

The thesis trains on the pairs SketchyCOCO uses for its background generation: the *partial image*
(foreground object pixels pasted onto the background sketch) and the scene image, 11265 training and
2816 test pairs. SketchyCOCO's own splits give those numbers: ``trainInTrain`` (11265) is the training
set, ``valInTrain`` + ``val`` (2816) the test set; the thesis validates on a seeded 15 % of the training
set (9576 / 1689). Each image is cropped to its largest central square and resized to
``sketchydepth.image_size`` (128) with bicubic resampling, as the thesis's pix2pix pre-processing does.

Where the files lie (from SketchyCOCO's README and MATLAB build scripts; the archives themselves could
not be inspected here, see ``how_to_get`` in sketchydepth/sources.yaml): scene images ``Scene/GT/<split>/<id>.png``,
partial images ``Others/background_training/<version>/<split>/<id>.png`` (``version`` = paper_version),
both named by the 12-digit COCO image id; segmentation ``Scene/Annotation/<version>/<split>/CLASS_GT/<id>.mat``.

Kind (thesis 3.4.3's fb / bo FID split): *fb* when the scene has a foreground object. Read from the
scene's CLASS_GT annotation when it exists (classes 1-14 are SketchyCOCO's 14 foreground classes, 15-18
its background classes, by the order of its build script), else from the pixels: a partial image holds
the scene's own pixels where a foreground object is, so an fb pair has at least ``fb_min_fraction`` of
its non-white pixels identical in both images; a bo pair only the sketch's strokes.
"""
from __future__ import annotations

import logging
import math
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from sketch3d.data.download import DownloadError, VerificationError, extract_zip, fetch, verify
from sketch3d.data.manifest import resolve
from sketch3d.data.registry import Source
from sketch3d.sketchydepth.sources import chapter_sources
from sketch3d.sketchydepth.triplets import write_triplets

log = logging.getLogger(__name__)

SPLIT_FOLDERS = {"trainInTrain": "train", "valInTrain": "test", "val": "test"}  # SketchyCOCO folder -> ours
THESIS_SIZES = {"train": 9576, "val": 1689, "test": 2816}  # thesis 3.4.1
FOREGROUND_CLASSES = tuple(range(1, 15))  # CLASS_GT values of SketchyCOCO's 14 foreground classes
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


class SketchyCOCOError(ValueError):
    """SketchyCOCO cannot be prepared as given; the message says what is missing and how to fix it."""


@dataclass(frozen=True)
class Pair:
    """One {partial image, scene image} pair: its id (the COCO image id), SketchyCOCO folder and files."""

    triplet_id: str
    folder: str
    partial: Path
    image: Path
    annotation: Path | None


def coco_settings(settings: dict) -> dict:
    """``sketchydepth.sketchycoco`` with ``image_size`` and ``seed``, checked."""
    try:
        sd = settings["sketchydepth"]
        cfg = dict(sd["sketchycoco"])
        cfg["image_size"], cfg["seed"] = sd["image_size"], settings["seed"]
    except (KeyError, TypeError) as e:
        raise SketchyCOCOError(f"params: sketchydepth.{e.args[0]} (or seed) missing; add it to params.yaml") from None
    need = ("data_dir", "root", "archives", "version", "val_fraction", "check_thesis_sizes", "fb_min_fraction")
    missing = [k for k in need if k not in cfg]
    if missing:
        raise SketchyCOCOError(f"params: sketchydepth.sketchycoco lacks {missing}; add them to params.yaml")
    if not 0.0 <= float(cfg["val_fraction"]) < 1.0:
        raise SketchyCOCOError(f"params: sketchydepth.sketchycoco.val_fraction must lie in [0, 1), got {cfg['val_fraction']!r}")
    if not isinstance(cfg["image_size"], int) or cfg["image_size"] < 8:
        raise SketchyCOCOError(f"params: sketchydepth.image_size must be an integer >= 8, got {cfg['image_size']!r}")
    return cfg


# ----------------------------------------------------------------------------- the archives


def missing_archives(settings: dict, *, base: str | Path = ".", sources: dict[str, Source] | None = None
                     ) -> list[tuple[str, Path, str]]:
    """(what, where it must lie, how to get it) for each input not on disk, without any download (for a
    preflight check); empty when ``sketchycoco.root`` is an existing folder or every archive verifies."""
    cfg = coco_settings(settings)
    if cfg["root"]:
        root = resolve(str(cfg["root"]), base)
        return [] if root.is_dir() else [("SketchyCOCO, extracted (sketchydepth.sketchycoco.root)", root,
                                          "extract SketchyCOCO there, or set root: null to use the registered archives")]
    sources = chapter_sources() if sources is None else sources
    data_dir = resolve(str(cfg["data_dir"]), base)
    out = []
    for name in cfg["archives"]:
        src = sources[name]
        try:
            verify(src.path(data_dir), src, data_dir)
        except VerificationError as e:
            out.append((f"SketchyCOCO archive '{name}'", src.path(data_dir), f"{src.how_to_get} ({e})"))
    return out


def obtain_roots(settings: dict, *, base: str | Path = ".", sources: dict[str, Source] | None = None,
                 timeout: float = 30) -> list[Path]:
    """The folders holding SketchyCOCO's files: ``sketchycoco.root`` when set, else the registered archives,
    fetched (or found under ``data_dir``), verified and extracted to ``<data_dir>/sketchycoco/<name>/``.

    Every archive is checked before any is extracted: a missing one raises one SketchyCOCOError naming
    each missing file, where to put it and how to get it.
    """
    cfg = coco_settings(settings)
    if cfg["root"]:
        root = resolve(str(cfg["root"]), base)
        if not root.is_dir():
            raise SketchyCOCOError(f"sketchydepth.sketchycoco.root = {cfg['root']!r}: {root} is not a folder; "
                                   "extract SketchyCOCO there or set root: null to use the registered archives")
        return [root]
    sources = chapter_sources() if sources is None else sources
    data_dir = resolve(str(cfg["data_dir"]), base)
    unknown = [n for n in cfg["archives"] if n not in sources]
    if unknown or not cfg["archives"]:
        raise SketchyCOCOError(f"params: sketchydepth.sketchycoco.archives names {unknown or 'nothing'}; "
                               f"give registry names from sketchydepth/sources.yaml, e.g. ['sketchycoco_scene', 'sketchycoco_others']")
    archives, problems = [], []
    for name in cfg["archives"]:
        try:
            archives.append((name, fetch(sources[name], data_dir, timeout=timeout)))
        except DownloadError as e:
            problems.append(str(e))
    if problems:
        raise SketchyCOCOError(
            f"SketchyCOCO (paper profile) cannot be prepared: {len(problems)} archive(s) missing. Nothing was run.\n"
            + "\n".join(f"{i}. {p}" for i, p in enumerate(problems, 1))
            + "\nOr extract SketchyCOCO into one folder and set sketchydepth.sketchycoco.root in params.yaml to it."
        )
    check_archives(archives, str(cfg["version"]))
    return [extract_zip(path, data_dir / "sketchycoco" / name) for name, path in archives]


# what each split needs, the registry archive that holds it (README's Google Drive "Scene-level data" / "Others"),
# and what it is
_REQUIRED = (
    ("Scene/GT/{split}", "sketchycoco_scene", "the scene images of SketchyCOCO's {split} split, <12-digit COCO id>.png"),
    ("Others/background_training/{version}/{split}", "sketchycoco_others",
     "the {{foreground image & background sketch}} partial images of the {split} split, <12-digit COCO id>.png"),
)


def _folders(archive: Path) -> set[str]:
    """Every folder of a zip archive (from its members' paths), as 'a/b/c'."""
    import zipfile

    try:
        with zipfile.ZipFile(archive) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError) as e:
        raise SketchyCOCOError(f"{archive} is not a readable zip archive ({e}); delete it and get it again") from e
    out = set()
    for name in names:
        parts = name.rstrip("/").split("/")
        stop = len(parts) if name.endswith("/") else len(parts) - 1
        out.update("/".join(parts[:i]) for i in range(1, stop + 1))
    return out


def check_archives(archives: list[tuple[str, Path]], version: str) -> None:
    """Before anything is extracted: every split's scene and partial-image folders are in one of the archives
    (at their top or up to two folders down). A missing one raises a SketchyCOCOError naming the archive that
    should hold it, the folder, and what that folder holds."""
    folders = {name: _folders(path) for name, path in archives}
    problems = []
    for split in SPLIT_FOLDERS:
        for pattern, owner, what in _REQUIRED:
            folder = pattern.format(split=split, version=version)
            if any(f == folder or f.endswith("/" + folder) and f.count("/") - folder.count("/") <= 2
                   for fs in folders.values() for f in fs):
                continue
            paths = dict(archives)
            where = (f"archive {paths[owner]} ('{owner}')" if owner in paths
                     else f"archives {', '.join(str(p) for p in paths.values())}")
            problems.append(f"{where}: no folder {folder}/ (expected: {what.format(split=split)})")
    if problems:
        raise SketchyCOCOError(
            "SketchyCOCO's archives are not laid out as the dataset's README and build scripts describe; nothing was "
            "extracted.\n" + "\n".join(f"{i}. {p}" for i, p in enumerate(problems, 1))
            + "\nGet the archive again (see how_to_get in src/sketch3d/sketchydepth/sources.yaml: the Baidu parts B and C "
            "must be merged into A's Scene/GT/trainInTrain), or extract SketchyCOCO into one folder holding Scene/ and "
            "Others/ and set sketchydepth.sketchycoco.root to it.")


def _bases(roots: list[Path]) -> list[Path]:
    """Each root and its sub-folders up to two levels down: where Scene/ and Others/ may sit."""
    out = []
    for root in (r for r in roots if r.is_dir()):
        out.append(root)
        for child in sorted(p for p in root.iterdir() if p.is_dir()):
            out.append(child)
            out.extend(sorted(p for p in child.iterdir() if p.is_dir()))
    return out


def _one(found: list[Path], what: str, roots: list[Path]) -> Path:
    found = list(dict.fromkeys(found))
    if len(found) != 1:
        where = ", ".join(str(r) for r in roots)
        raise SketchyCOCOError(f"SketchyCOCO: {'no' if not found else 'more than one'} folder {what} under {where}"
                               f"{': ' + ', '.join(map(str, found)) if found else ''}; the archive layout is not the "
                               "one expected (see sources.yaml's how_to_get); fix the extracted files or set "
                               "sketchydepth.sketchycoco.root to the folder that holds Scene/ and Others/")
    return found[0]


def _images(folder: Path) -> dict[str, Path]:
    return {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}


def find_pairs(roots: list[Path], version: str) -> tuple[list[Pair], int]:
    """Every pair of SketchyCOCO's three split folders, and the number of scene images without a partial image.

    A partial image without its scene image is an error (the archives are incomplete).
    """
    bases = _bases(roots)
    scene = _one([b / "Scene" for b in bases if (b / "Scene" / "GT").is_dir()], "Scene/GT", roots)
    partial_root = _one([b / "Others" / "background_training" / version for b in bases
                         if (b / "Others" / "background_training" / version).is_dir()],
                        f"Others/background_training/{version}", roots)
    pairs, unpaired, orphans = [], 0, []
    for folder in SPLIT_FOLDERS:
        gt_dir, p_dir = scene / "GT" / folder, partial_root / folder
        for d in (gt_dir, p_dir):
            if not d.is_dir():
                raise SketchyCOCOError(f"SketchyCOCO: {d} is missing; the archive is incomplete (every split "
                                       f"{list(SPLIT_FOLDERS)} needs its scene and partial images)")
        gts, partials = _images(gt_dir), _images(p_dir)
        orphans += [str(partials[s]) for s in sorted(set(partials) - set(gts))]
        unpaired += len(set(gts) - set(partials))
        ann = scene / "Annotation" / version / folder / "CLASS_GT"
        for stem in sorted(set(partials) & set(gts)):
            mat = ann / f"{stem}.mat"
            pairs.append(Pair(stem, folder, partials[stem], gts[stem], mat if mat.is_file() else None))
    if orphans:
        raise SketchyCOCOError(f"SketchyCOCO: {len(orphans)} partial image(s) have no scene image in Scene/GT, "
                               f"e.g. {orphans[:3]}; the Scene-level archive is incomplete: get it again")
    ids = [p.triplet_id for p in pairs]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})[:3]
        raise SketchyCOCOError(f"SketchyCOCO: image ids {dup} occur in more than one split folder; the splits overlap")
    return pairs, unpaired


# ----------------------------------------------------------------------------- images, kinds, splits


def load_square(path: Path, size: int) -> np.ndarray:
    """An image as RGB uint8 [size, size, 3]: its largest central square, resized (bicubic) to ``size``."""
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
    except OSError as e:
        raise SketchyCOCOError(f"{path} is not a readable image ({e}); get the archive again") from e
    w, h = im.size
    s = min(w, h)
    left, top = (w - s) // 2, (h - s) // 2
    im = im.crop((left, top, left + s, top + s))
    if s != size:
        im = im.resize((size, size), Image.BICUBIC)
    return np.asarray(im, np.uint8)


def kind_from_annotation(path: Path) -> str:
    """fb if the scene's CLASS_GT (a MATLAB .mat) holds any foreground class, else bo."""
    from scipy.io import loadmat

    try:
        classes = loadmat(path)["CLASS_GT"]
    except (KeyError, NotImplementedError, ValueError, OSError) as e:
        raise SketchyCOCOError(f"{path}: no readable CLASS_GT array ({type(e).__name__}: {e}); delete the "
                               "Annotation folder to decide fb/bo from the pixels instead") from e
    return "fb" if np.isin(np.asarray(classes), FOREGROUND_CLASSES).any() else "bo"


def kind_from_pixels(partial: np.ndarray, image: np.ndarray, min_fraction: float) -> str:
    """fb if at least ``min_fraction`` of the partial image's non-white pixels equal the scene image's."""
    ink = partial.min(axis=-1) < 250
    same = np.all(partial == image, axis=-1) & ink
    return "fb" if ink.any() and same.sum() >= min_fraction * ink.sum() else "bo"


def split_validation(ids: list[str], fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """(train, val): floor(fraction * n) of the sorted ``ids`` drawn at random for validation."""
    ids = sorted(ids)
    n_val = math.floor(len(ids) * fraction + 1e-9)
    rng = np.random.default_rng([int(seed), zlib.crc32(b"sketchycoco-validation")])
    val = set(ids[i] for i in rng.permutation(len(ids))[:n_val])
    return [i for i in ids if i not in val], [i for i in ids if i in val]


def check_thesis_sizes(sizes: dict[str, int]) -> None:
    """Stop unless the splits are the thesis's 9576 / 1689 / 2816 triplets."""
    if sizes != THESIS_SIZES:
        raise SketchyCOCOError(
            f"SketchyCOCO gives train/val/test = {sizes['train']}/{sizes['val']}/{sizes['test']} pairs, the thesis "
            f"{THESIS_SIZES['train']}/{THESIS_SIZES['val']}/{THESIS_SIZES['test']} (3.4.1); are the archives complete "
            "(Baidu: trainInTrain_part of B and C merged into A)? Set sketchydepth.sketchycoco.check_thesis_sizes: "
            "false to run on other data on purpose"
        )


def prepare_sketchycoco(settings: dict, roots: list[Path], out: Path) -> dict:
    """Write ``out/{train,val,test}`` triplet sets from the SketchyCOCO files under ``roots``; return the manifest."""
    cfg = coco_settings(settings)
    pairs, unpaired = find_pairs(roots, str(cfg["version"]))
    by_id = {p.triplet_id: p for p in pairs}
    train, val = split_validation([p.triplet_id for p in pairs if SPLIT_FOLDERS[p.folder] == "train"],
                                  float(cfg["val_fraction"]), cfg["seed"])
    splits = {"train": train, "val": val, "test": sorted(p.triplet_id for p in pairs if SPLIT_FOLDERS[p.folder] == "test")}
    sizes = {k: len(v) for k, v in splits.items()}
    if cfg["check_thesis_sizes"]:
        check_thesis_sizes(sizes)
    if unpaired:
        log.warning("SketchyCOCO: %d scene images have no partial image and are left out", unpaired)
    size, how = cfg["image_size"], {"annotation": 0, "pixels": 0}
    manifest = {"profile": "paper", "source": "SketchyCOCO scene-level pairs (Gao et al., CVPR 2020)",
                "image_size": size, "splits": {},
                "split_source": {"train": "trainInTrain minus the seeded validation draw",
                                 "val": f"seeded {cfg['val_fraction']} of trainInTrain", "test": "valInTrain + val"},
                "scene_images_without_partial": unpaired}
    for split, ids in splits.items():
        partial = np.zeros((len(ids), size, size, 3), np.uint8)
        image = np.zeros_like(partial)
        kinds = []
        for i, tid in enumerate(ids):
            pair = by_id[tid]
            partial[i], image[i] = load_square(pair.partial, size), load_square(pair.image, size)
            if pair.annotation is not None:
                kinds.append(kind_from_annotation(pair.annotation))
                how["annotation"] += 1
            else:
                kinds.append(kind_from_pixels(partial[i], image[i], float(cfg["fb_min_fraction"])))
                how["pixels"] += 1
            if (i + 1) % 1000 == 0:
                log.info("SketchyCOCO %s: %d / %d", split, i + 1, len(ids))
        write_triplets(out / split, ids, kinds, partial, image)
        manifest["splits"][split] = {"n": len(ids), "fb": kinds.count("fb"), "bo": kinds.count("bo")}
    manifest["kind_source"] = how
    return manifest
