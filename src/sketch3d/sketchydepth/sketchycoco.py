"""SketchyCOCO's scene-level pairs as the chapter's triplet sets (paper profile; thesis 3.3, 3.4.1, 3.4.2).

The thesis trains on the pairs SketchyCOCO uses for its background generation: the *partial image*
(foreground object pixels pasted onto the background sketch) and the scene image, 11265 training and
2816 test pairs. SketchyCOCO's own splits give those numbers: ``trainInTrain`` (11265) is the training
set, ``valInTrain`` + ``val`` (2816) the test set; the thesis validates on a seeded 15 % of the training
set (9576 / 1689) and trains its final models on all 11265 (``final_training``). Each image is cropped to
its largest central square and resized to ``sketchydepth.image_size`` (128) with bicubic resampling, as the
thesis's pix2pix pre-processing does.

Where the files lie (SketchyCOCO's README and MATLAB build scripts, github.com/sysu-imsl/SketchyCOCO at
08bbd5c9d6f8a61040e7375b935d55c45c3ce57b; the archives themselves could not be inspected here, see
``how_to_get`` in sketchydepth/sources.yaml): scene images ``Scene/GT/<split>/<id>.png``; the ground-truth
partial images ``Others/background_training/<version>/<split>/<id>.png`` ({foreground image & background
sketch}: constructDataset.m l. 52, deleteOtherStuff.m); the EdgeGAN partial images ``Others/intermediate
product/<version>/<split>/<id>.png`` ({generated image & background sketch}, README; constructDataset.m l. 46
and reconstructTrainOrVal.m: the background sketches, then the foreground objects EdgeGAN generated
(``Others/foreground/generated/<version>/<split>``) pasted into their boxes); all named by the 12-digit COCO
image id; segmentation ``Scene/Annotation/<version>/<split>/CLASS_GT/<id>.mat`` (constructDataset.m l. 32 and
the README; buildAllScript.m l. 13 writes ``Annotations``: both spellings are read).

Test inputs (``test_inputs``, a list): the thesis feeds its models, at inference, partial images made by
EdgeGAN from the sketch (3.3, Fig. 3.2's orange box): ``edgegan`` reads SketchyCOCO's ``intermediate
product``, the EdgeGAN outputs it ships; ``ground_truth`` reads ``background_training``, whose foreground
pixels are the test image's own. The first is ``out/test`` (every test-set rule reads it); each further one
is ``out/test_<name>``, the same scenes with those inputs (Table 3.1 adds a row per model for it). Training
and validation always use ``background_training`` (3.3: the training partial images are crops of the scene
image pasted on the sketch).

Kind (thesis 3.4.3's fb / bo FID split): *fb* when the scene's CLASS_GT holds a foreground (thing) class.
Values (buildAnnotation.m l. 99 and 156/162, generateStuffSketch.m l. 147): a thing's value is its 1-based
index in ``[thing_catIds, stuff_catIds]``, with buildAllScript.m's 15 paper_version thing ids (COCO 2, 3, 4, 5,
10, 11, 17-25: giraffe, COCO 25, is 15); a stuff's value is its index in the four stuff ids + 15 (16-19);
0 where no stroke is. A scene without its CLASS_GT file stops the preparation, naming the file, unless
``missing_annotation: pixels`` decides those scenes from the pixels (a partial image holds the scene's own
pixels where a foreground object is: fb when at least ``fb_min_fraction`` of its non-white pixels equal the
scene image's), which the manifest counts.
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
from sketch3d.sketchydepth.triplets import write_scene_sources, write_triplets

log = logging.getLogger(__name__)

SPLIT_FOLDERS = {"trainInTrain": "train", "valInTrain": "test", "val": "test"}  # SketchyCOCO folder -> ours
THESIS_SIZES = {  # thesis 3.4.1, by final_training: the final models' training set
    "all": {"train": 11265, "val": 1689, "test": 2816},  # val: the seeded 15 % of the 11265, inside them
    "split": {"train": 9576, "val": 1689, "test": 2816},
}
# CLASS_GT values (see the module doc; buildAllScript.m l. 1-2, buildAnnotation.m l. 99, generateStuffSketch.m
# l. 147): things 1-15 (giraffe 15), stuff 16-19, 0 = no stroke
FOREGROUND_CLASSES = tuple(range(1, 16))
BACKGROUND_CLASSES = tuple(range(16, 20))
ANNOTATION_FOLDERS = ("Annotation", "Annotations")  # constructDataset.m l. 32 / README; buildAllScript.m l. 13
TEST_INPUTS = {"edgegan": "intermediate product", "ground_truth": "background_training"}  # -> Others/<folder>
MISSING_ANNOTATION = ("error", "pixels")
FINAL_TRAINING = tuple(THESIS_SIZES)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


class SketchyCOCOError(ValueError):
    """SketchyCOCO cannot be prepared as given; the message says what is missing and how to fix it."""


@dataclass(frozen=True)
class Pair:
    """One {partial image, scene image} pair: its id (the COCO image id), SketchyCOCO folder and files
    (``truth``: the ground-truth partial image, = ``partial`` unless the test inputs are EdgeGAN's)."""

    triplet_id: str
    folder: str
    partial: Path
    image: Path
    annotation: Path | None
    truth: Path | None = None


def coco_settings(settings: dict) -> dict:
    """``sketchydepth.sketchycoco`` with ``image_size`` and ``seed``, checked."""
    try:
        sd = settings["sketchydepth"]
        cfg = dict(sd["sketchycoco"])
        cfg["image_size"], cfg["seed"] = sd["image_size"], settings["seed"]
    except (KeyError, TypeError) as e:
        raise SketchyCOCOError(f"params: sketchydepth.{e.args[0]} (or seed) missing; add it to params.yaml") from None
    need = ("data_dir", "root", "archives", "version", "val_fraction", "check_thesis_sizes", "missing_annotation",
            "fb_min_fraction", "test_inputs", "final_training")
    missing = [k for k in need if k not in cfg]
    if missing:
        raise SketchyCOCOError(f"params: sketchydepth.sketchycoco lacks {missing}; add them to params.yaml")
    inputs = cfg["test_inputs"]
    cfg["test_inputs"] = [inputs] if isinstance(inputs, str) else list(inputs or [])
    if not cfg["test_inputs"] or len(set(cfg["test_inputs"])) != len(cfg["test_inputs"]) or \
            set(cfg["test_inputs"]) - set(TEST_INPUTS):
        raise SketchyCOCOError(f"params: sketchydepth.sketchycoco.test_inputs must list distinct names of "
                               f"{list(TEST_INPUTS)} (the first is the test set), got {inputs!r}")
    for key, allowed in (("missing_annotation", MISSING_ANNOTATION), ("final_training", FINAL_TRAINING)):
        if cfg[key] not in allowed:
            raise SketchyCOCOError(f"params: sketchydepth.sketchycoco.{key} must be one of {list(allowed)}, "
                                   f"got {cfg[key]!r}")
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
    check_archives(archives, str(cfg["version"]), "edgegan" if "edgegan" in cfg["test_inputs"] else "ground_truth")
    return [extract_zip(path, data_dir / "sketchycoco" / name) for name, path in archives]


# what each split needs, the registry archive that holds it (README's Google Drive "Scene-level data" / "Others"),
# and what it is
_REQUIRED = (
    ("Scene/GT/{split}", "sketchycoco_scene", "the scene images of SketchyCOCO's {split} split, <12-digit COCO id>.png"),
    ("Others/background_training/{version}/{split}", "sketchycoco_others",
     "the {{foreground image & background sketch}} partial images of the {split} split, <12-digit COCO id>.png"),
)
_REQUIRED_EDGEGAN = (  # test splits only, with test_inputs: edgegan
    ("Others/intermediate product/{version}/{split}", "sketchycoco_others",
     "the {{generated image & background sketch}} (EdgeGAN) partial images of the {split} split, "
     "<12-digit COCO id>.png; or set sketchydepth.sketchycoco.test_inputs: [ground_truth]"),
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


def check_archives(archives: list[tuple[str, Path]], version: str, test_inputs: str = "ground_truth") -> None:
    """Before anything is extracted: every split's scene and partial-image folders (and, with ``test_inputs``
    ``edgegan``, the test splits' EdgeGAN partial images) are in one of the archives (at their top or up to two
    folders down; folder names compared without case). A missing one raises a SketchyCOCOError naming the archive
    that should hold it, the folder, and what that folder holds."""
    folders = {name: {f.lower() for f in _folders(path)} for name, path in archives}
    problems = []
    for split in SPLIT_FOLDERS:
        needed = _REQUIRED + (_REQUIRED_EDGEGAN if test_inputs == "edgegan" and SPLIT_FOLDERS[split] == "test" else ())
        for pattern, owner, what in needed:
            folder = pattern.format(split=split, version=version)
            low = folder.lower()
            if any(f == low or f.endswith("/" + low) and f.count("/") - low.count("/") <= 2
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


def _child(folder: Path, name: str) -> Path:
    """``folder/name``, or the one sub-folder whose name equals ``name`` without case (``Intermediate product``)."""
    if (folder / name).is_dir() or not folder.is_dir():
        return folder / name
    same = [p for p in folder.iterdir() if p.is_dir() and p.name.lower() == name.lower()]
    return same[0] if len(same) == 1 else folder / name


def _others(bases: list[Path], roots: list[Path], folder: str, version: str) -> Path:
    """``Others/<folder>/<version>`` under one of ``bases`` (exactly one)."""
    return _one([_child(b / "Others", folder) / version for b in bases if (_child(b / "Others", folder) / version).is_dir()],
                f"Others/{folder}/{version}", roots)


def find_pairs(roots: list[Path], version: str, test_inputs: str = "ground_truth") -> tuple[list[Pair], int]:
    """Every pair of SketchyCOCO's three split folders, and the number of scene images without a partial image.

    Training splits pair the scene with its ``background_training`` partial image; test splits with the one of
    ``test_inputs`` (``edgegan``: ``intermediate product``). A partial image without its scene image is an error
    (the archives are incomplete); so is a test scene that has a ground-truth partial image but no EdgeGAN one.
    """
    bases = _bases(roots)
    scene = _one([b / "Scene" for b in bases if (b / "Scene" / "GT").is_dir()], "Scene/GT", roots)
    partial_roots = {"train": _others(bases, roots, TEST_INPUTS["ground_truth"], version)}
    partial_roots["test"] = _others(bases, roots, TEST_INPUTS[test_inputs], version)
    pairs, unpaired, orphans, no_edgegan = [], 0, [], []
    for folder in SPLIT_FOLDERS:
        gt_dir, p_dir = scene / "GT" / folder, partial_roots[SPLIT_FOLDERS[folder]] / folder
        for d in (gt_dir, p_dir):
            if not d.is_dir():
                raise SketchyCOCOError(f"SketchyCOCO: {d} is missing; the archive is incomplete (every split "
                                       f"{list(SPLIT_FOLDERS)} needs its scene and partial images)")
        gts, partials = _images(gt_dir), _images(p_dir)
        gt_partials = partials
        if p_dir != partial_roots["train"] / folder:  # EdgeGAN inputs: the same scenes as the ground-truth ones
            gt_partials = _images(partial_roots["train"] / folder) if (partial_roots["train"] / folder).is_dir() else {}
            no_edgegan += [str(p_dir / f"{s}.png") for s in sorted((set(gt_partials) & set(gts)) - set(partials))]
        orphans += [str(partials[s]) for s in sorted(set(partials) - set(gts))]
        unpaired += len(set(gts) - set(partials))
        anns = [_child(scene, name) / version / folder / "CLASS_GT" for name in ANNOTATION_FOLDERS]
        for stem in sorted(set(partials) & set(gts)):
            mat = next((a / f"{stem}.mat" for a in anns if (a / f"{stem}.mat").is_file()), None)
            pairs.append(Pair(stem, folder, partials[stem], gts[stem], mat, gt_partials.get(stem)))
    if no_edgegan:
        raise SketchyCOCOError(f"SketchyCOCO: {len(no_edgegan)} test scene(s) have a ground-truth partial image but no "
                               f"EdgeGAN one (test_inputs: edgegan), e.g. {no_edgegan[:3]}; get the Others archive "
                               "again, or set sketchydepth.sketchycoco.test_inputs: [ground_truth]")
    if orphans:
        raise SketchyCOCOError(f"SketchyCOCO: {len(orphans)} partial image(s) have no scene image in Scene/GT, "
                               f"e.g. {orphans[:3]}; the Scene-level archive is incomplete: get it again")
    ids = [p.triplet_id for p in pairs]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})[:3]
        raise SketchyCOCOError(f"SketchyCOCO: image ids {dup} occur in more than one split folder; the splits overlap")
    return pairs, unpaired


# ----------------------------------------------------------------------------- images, kinds, splits


def square(im: Image.Image, size: int) -> Image.Image:
    """The thesis's pre-processing (3.4.2) of any image (RGB, or a depth map as one channel): its largest central
    square, resized (bicubic) to ``size``."""
    w, h = im.size
    s = min(w, h)
    left, top = (w - s) // 2, (h - s) // 2
    im = im.crop((left, top, left + s, top + s))
    return im.resize((size, size), Image.BICUBIC) if s != size else im


def load_square(path: Path, size: int) -> np.ndarray:
    """An image as RGB uint8 [size, size, 3]: its largest central square, resized (bicubic) to ``size``."""
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
    except OSError as e:
        raise SketchyCOCOError(f"{path} is not a readable image ({e}); get the archive again") from e
    return np.asarray(square(im, size), np.uint8)


def kind_from_annotation(path: Path) -> str:
    """fb if the scene's CLASS_GT (a MATLAB .mat) holds any foreground (thing) class 1-15, else bo; a value
    outside SketchyCOCO's 0-19 (see the module doc) is an error naming the file."""
    from scipy.io import loadmat

    try:
        classes = np.asarray(loadmat(path)["CLASS_GT"])
    except (KeyError, NotImplementedError, ValueError, OSError) as e:
        raise SketchyCOCOError(f"{path}: no readable CLASS_GT array ({type(e).__name__}: {e}); get the Scene-level "
                               "archive again (its Scene/Annotation folder)") from e
    values = np.unique(classes)
    known = (0, *FOREGROUND_CLASSES, *BACKGROUND_CLASSES)
    bad = [int(v) if float(v).is_integer() else v for v in values.tolist() if v not in known]
    if bad:
        raise SketchyCOCOError(f"{path}: CLASS_GT holds values {bad[:5]} outside SketchyCOCO's 0 (none), 1-15 (things) "
                               "and 16-19 (stuff) of its paper_version build scripts; is this another annotation "
                               "version? Set sketchydepth.sketchycoco.version to the one the archive holds")
    return "fb" if np.isin(values, FOREGROUND_CLASSES).any() else "bo"


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


def check_thesis_sizes(sizes: dict[str, int], final_training: str = "all") -> None:
    """Stop unless the splits are the thesis's triplets: 11265 (``final_training: all``) or 9576 (``split``)
    training, 1689 validation, 2816 test."""
    want = THESIS_SIZES[final_training]
    if sizes != want:
        raise SketchyCOCOError(
            f"SketchyCOCO gives train/val/test = {sizes['train']}/{sizes['val']}/{sizes['test']} pairs, the thesis "
            f"{want['train']}/{want['val']}/{want['test']} (3.4.1, final_training: {final_training}); are the archives complete "
            "(Baidu: trainInTrain_part of B and C merged into A)? Set sketchydepth.sketchycoco.check_thesis_sizes: "
            "false to run on other data on purpose"
        )


def prepare_sketchycoco(settings: dict, roots: list[Path], out: Path) -> dict:
    """Write ``out/{train,val,test}`` triplet sets from the SketchyCOCO files under ``roots``; return the manifest.

    Each split folder also gets ``scenes.csv`` naming the original scene images (absolute paths), which the depth
    labels are computed from. Missing annotations are counted and, with ``missing_annotation: error``, stop
    everything before an image is read.
    """
    cfg = coco_settings(settings)
    main_inputs, *other_inputs = cfg["test_inputs"]
    pairs, unpaired = find_pairs(roots, str(cfg["version"]), main_inputs)
    others = {}  # other test inputs: id -> partial image path, for the same test scenes
    for name in other_inputs:
        found = {p.triplet_id: p.partial for p in find_pairs(roots, str(cfg["version"]), name)[0]
                 if SPLIT_FOLDERS[p.folder] == "test"}
        lacking = sorted(p.triplet_id for p in pairs if SPLIT_FOLDERS[p.folder] == "test" and p.triplet_id not in found)
        if lacking:
            raise SketchyCOCOError(f"SketchyCOCO: {len(lacking)} test scene(s) have no {name} partial image "
                                   f"(Others/{TEST_INPUTS[name]}), e.g. {lacking[:3]}; drop '{name}' from "
                                   "sketchydepth.sketchycoco.test_inputs or get the Others archive again")
        others[name] = found
    by_id = {p.triplet_id: p for p in pairs}
    no_ann = [p for p in pairs if p.annotation is None]
    if no_ann and cfg["missing_annotation"] == "error":
        ann = [f"Scene/{n}/{cfg['version']}/{no_ann[0].folder}/CLASS_GT/{no_ann[0].triplet_id}.mat" for n in ANNOTATION_FOLDERS]
        raise SketchyCOCOError(
            f"SketchyCOCO: {len(no_ann)} of {len(pairs)} scenes have no CLASS_GT annotation, e.g. {no_ann[0].image}: "
            f"neither {ann[0]} nor {ann[1]} exists beside Scene/GT. The fb/bo split (thesis 3.4.3) reads it. Get the "
            "Scene-level archive again (it holds Scene/Annotation), or set sketchydepth.sketchycoco.missing_annotation: "
            "pixels to decide those scenes from the pixels (fb_min_fraction) on purpose")
    all_train = [p.triplet_id for p in pairs if SPLIT_FOLDERS[p.folder] == "train"]
    rest, val = split_validation(all_train, float(cfg["val_fraction"]), cfg["seed"])
    train = sorted(all_train) if cfg["final_training"] == "all" else rest
    splits = {"train": train, "val": val, "test": sorted(p.triplet_id for p in pairs if SPLIT_FOLDERS[p.folder] == "test")}
    sizes = {k: len(v) for k, v in splits.items()}
    if cfg["check_thesis_sizes"]:
        check_thesis_sizes(sizes, str(cfg["final_training"]))
    if unpaired:
        log.warning("SketchyCOCO: %d scene images have no partial image and are left out", unpaired)
    size, how = cfg["image_size"], {"annotation": 0, "pixels": 0}
    test_folder = f"Others/{TEST_INPUTS[main_inputs]}/{cfg['version']}"
    manifest = {"profile": "paper", "source": "SketchyCOCO scene-level pairs (Gao et al., CVPR 2020)",
                "image_size": size, "splits": {},
                "split_source": {"train": ("all of trainInTrain (final_training: all; the validation draw is inside it)"
                                           if cfg["final_training"] == "all"
                                           else "trainInTrain minus the seeded validation draw (final_training: split)"),
                                 "val": f"seeded {cfg['val_fraction']} of trainInTrain", "test": "valInTrain + val"},
                "partial_images": {"train": f"Others/background_training/{cfg['version']}",
                                   "val": f"Others/background_training/{cfg['version']}", "test": test_folder},
                "test_inputs": main_inputs, "final_training": cfg["final_training"],
                "other_test_inputs": {f"test_{n}": f"Others/{TEST_INPUTS[n]}/{cfg['version']}" for n in other_inputs},
                "depth_labels_from": "scene images as they are (scenes.csv), then the partial images' crop and resize",
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
            else:  # missing_annotation: pixels; the ground-truth partial image holds the scene's pixels
                if pair.truth is None:
                    raise SketchyCOCOError(f"SketchyCOCO: {pair.image} has neither a CLASS_GT annotation nor a "
                                           "ground-truth partial image (Others/background_training) to tell fb from bo")
                truth = partial[i] if pair.truth == pair.partial else load_square(pair.truth, size)
                kinds.append(kind_from_pixels(truth, image[i], float(cfg["fb_min_fraction"])))
                how["pixels"] += 1
            if (i + 1) % 1000 == 0:
                log.info("SketchyCOCO %s: %d / %d", split, i + 1, len(ids))
        write_triplets(out / split, ids, kinds, partial, image)
        write_scene_sources(out / split, ids, [str(by_id[t].image.resolve()) for t in ids])
        manifest["splits"][split] = {"n": len(ids), "fb": kinds.count("fb"), "bo": kinds.count("bo")}
        if split == "test":
            for name, found in others.items():  # the same scenes, kinds and scene images; other partial images
                write_triplets(out / f"test_{name}", ids, kinds,
                               np.stack([load_square(found[t], size) for t in ids]) if ids else partial, image)
                write_scene_sources(out / f"test_{name}", ids, [str(by_id[t].image.resolve()) for t in ids])
    manifest["kind_source"] = how
    return manifest
