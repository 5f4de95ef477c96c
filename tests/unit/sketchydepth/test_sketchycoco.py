import dataclasses
import zipfile

import numpy as np
import pytest
from PIL import Image
from scipy.io import savemat

from sketch3d.sketchydepth.sources import chapter_sources
from sketch3d.sketchydepth.scenes import prepare_scenes
from sketch3d.sketchydepth.sketchycoco import (
    SketchyCOCOError,
    check_thesis_sizes,
    kind_from_annotation,
    load_square,
    missing_archives,
    obtain_roots,
    prepare_sketchycoco,
    split_validation,
)
from sketch3d.sketchydepth.triplets import read_triplets

BLUE = (0, 0, 255)
RED = (255, 0, 0)  # the EdgeGAN partial images' generated object (test inputs: edgegan)
FOLDERS = {"trainInTrain": (20, 1), "valInTrain": (2, 1000), "val": (3, 2000)}  # (count, first COCO id)


def _colour(i):
    return (10 + 7 * i % 200, 200 - 3 * i % 150, 60)


def _fake(root, annotate=True, orphan=False, annotation="Annotation", edgegan=True):
    """SketchyCOCO's layout, tiny: scene images whose largest central square is one colour (blue outside it),
    partial images (a sketch line; fb ones hold a block of the scene's own pixels), EdgeGAN partial images
    (``Others/intermediate product``: the same line, fb ones a red block), CLASS_GT annotations under
    ``Scene/<annotation>``. Returns {id: kind}."""
    kinds = {}
    for folder, (n, first) in FOLDERS.items():
        for k in range(n):
            stem = f"{first + k:012d}"
            w, h = (40, 30) if k % 2 else (30, 44)
            scene = np.zeros((h, w, 3), np.uint8)
            scene[:] = BLUE
            if w > h:  # 40 x 30: the square is columns 5..34
                scene[:, 5:35] = _colour(first + k)
            else:  # 30 x 44: rows 7..36
                scene[7:37, :] = _colour(first + k)
            partial = np.full_like(scene, 255)
            partial[h // 2, :] = 40  # a background stroke
            kind = "bo" if k % 3 == 0 else "fb"
            if kind == "fb":
                partial[h // 2 - 6: h // 2 + 6, w // 2 - 6: w // 2 + 6] = scene[h // 2 - 6: h // 2 + 6, w // 2 - 6: w // 2 + 6]
            kinds[stem] = kind
            generated = partial.copy()
            if kind == "fb":
                generated[h // 2 - 6: h // 2 + 6, w // 2 - 6: w // 2 + 6] = RED
            files = [(f"Scene/GT/{folder}", scene), (f"Others/background_training/paper_version/{folder}", partial)]
            if edgegan:
                files.append((f"Others/intermediate product/paper_version/{folder}", generated))
            for sub, img in files:
                (root / sub).mkdir(parents=True, exist_ok=True)
                Image.fromarray(img).save(root / sub / f"{stem}.png")
            if annotate:
                ann = root / "Scene" / annotation / "paper_version" / folder / "CLASS_GT"
                ann.mkdir(parents=True, exist_ok=True)
                classes = np.full((h, w), 16.0)
                if kind == "fb":
                    classes[3:6, 3:6] = 4.0  # a foreground class
                savemat(ann / f"{stem}.mat", {"CLASS_GT": classes})
    if orphan:
        Image.fromarray(np.full((8, 8, 3), 255, np.uint8)).save(
            root / "Others/background_training/paper_version/val/000000009999.png")
    return kinds


def _zip(folder, top, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        for p in sorted((folder / top).rglob("*")):
            if p.is_file():
                zf.write(p, p.relative_to(folder).as_posix())


def _sources():  # the registry's entries, with no URL to try: tests never touch the network
    return {k: dataclasses.replace(v, urls=()) for k, v in chapter_sources().items()}


def _settings(data_dir, root=None, check=False, size=8, missing="error", inputs="edgegan", final="all"):
    return {"profile": "paper", "seed": 0, "sketchydepth": {"image_size": size, "sketchycoco": {
        "data_dir": str(data_dir), "root": str(root) if root else None,
        "archives": ["sketchycoco_scene", "sketchycoco_others"], "version": "paper_version",
        "val_fraction": 0.15, "check_thesis_sizes": check, "missing_annotation": missing, "fb_min_fraction": 0.02,
        "test_inputs": inputs, "final_training": final}}}


def _archives(tmp_path, **fake):
    kinds = _fake(tmp_path / "raw", **fake)
    data = tmp_path / "data"
    _zip(tmp_path / "raw", "Scene", data / "downloads" / "SketchyCOCO-Scene.zip")
    _zip(tmp_path / "raw", "Others", data / "downloads" / "SketchyCOCO-Others.zip")
    return data, kinds


def test_largest_central_square_is_cropped_then_resized(tmp_path):
    kinds = _fake(tmp_path)
    assert kinds
    for stem, colour in (("000000000001", _colour(1)), ("000000000002", _colour(2))):  # 30x44, then 40x30
        img = load_square(tmp_path / "Scene/GT/trainInTrain" / f"{stem}.png", 8)
        assert img.shape == (8, 8, 3) and (img == np.array(colour, np.uint8)).all()  # no blue band left
    assert load_square(tmp_path / "Scene/GT/trainInTrain/000000000002.png", 30).shape == (30, 30, 3)


def test_archives_become_the_thesis_splits(tmp_path):
    data, kinds = _archives(tmp_path)
    assert missing_archives(_settings(data), sources=_sources()) == []
    roots = obtain_roots(_settings(data), sources=_sources())
    assert (data / "checksums" / "sketchycoco_scene.sha256").is_file()  # pinned on first use
    manifest = prepare_sketchycoco(_settings(data, final="split"), roots, tmp_path / "out")
    sets = {s: read_triplets(tmp_path / "out" / s) for s in ("train", "val", "test")}
    assert (len(sets["train"]), len(sets["val"]), len(sets["test"])) == (17, 3, 5)  # floor(0.15 * 20) = 3
    train_ids = {f"{1 + k:012d}" for k in range(20)}
    assert set(sets["train"].ids) | set(sets["val"].ids) == train_ids and not set(sets["train"].ids) & set(sets["val"].ids)
    assert set(sets["test"].ids) == {f"{1000 + k:012d}" for k in range(2)} | {f"{2000 + k:012d}" for k in range(3)}
    for t in sets.values():
        assert t.image.shape[1:] == (8, 8, 3) and not (t.image == np.array(BLUE, np.uint8)).all(axis=-1).any()
        assert t.kinds == [kinds[i] for i in t.ids]
    assert manifest["kind_source"] == {"annotation": 25, "pixels": 0}
    assert manifest["splits"]["test"] == {"n": 5, "fb": 3, "bo": 2}


def test_kinds_from_pixels_only_when_asked_and_through_prepare_scenes(tmp_path):
    data, kinds = _archives(tmp_path, annotate=False)
    with pytest.raises(SketchyCOCOError) as err:  # the default: a missing annotation stops everything, named
        prepare_scenes(_settings(data, size=16), tmp_path / "out", sources=_sources())
    msg = str(err.value)
    assert "25 of 25 scenes have no CLASS_GT" in msg and "missing_annotation: pixels" in msg
    assert "Scene/GT/trainInTrain/000000000001.png" in msg
    assert "Scene/Annotation/paper_version/trainInTrain/CLASS_GT/000000000001.mat" in msg
    assert not (tmp_path / "out").exists()
    # with test_inputs edgegan, the test kinds come from the ground-truth partial images' pixels
    manifest = prepare_scenes(_settings(data, size=16, missing="pixels"), tmp_path / "out", sources=_sources())
    assert manifest["kind_source"] == {"annotation": 0, "pixels": 28}  # 20 + 3 + 5: val is inside train (all)
    for split in ("train", "val", "test"):
        t = read_triplets(tmp_path / "out" / split)
        assert t.kinds == [kinds[i] for i in t.ids]
    assert (tmp_path / "out" / "manifest.json").is_file()


def test_validation_split_has_the_thesis_sizes_and_follows_the_seed():
    ids = [f"{i:012d}" for i in range(11265)]
    train, val = split_validation(ids, 0.15, 0)
    assert (len(train), len(val)) == (9576, 1689) and not set(train) & set(val)
    assert split_validation(list(reversed(ids)), 0.15, 0) == (train, val)
    assert split_validation(ids, 0.15, 1)[1] != val
    check_thesis_sizes({"train": 9576, "val": 1689, "test": 2816}, "split")
    check_thesis_sizes({"train": 11265, "val": 1689, "test": 2816}, "all")
    with pytest.raises(SketchyCOCOError, match="11265/1689/2816.*check_thesis_sizes"):
        check_thesis_sizes({"train": 9576, "val": 1689, "test": 2816}, "all")
    with pytest.raises(SketchyCOCOError, match="check_thesis_sizes"):
        check_thesis_sizes({"train": 17, "val": 3, "test": 5}, "split")


def test_thesis_sizes_are_checked_before_images_are_read(tmp_path):
    data, _ = _archives(tmp_path)
    roots = obtain_roots(_settings(data), sources=_sources())
    with pytest.raises(SketchyCOCOError, match="17/3/5"):
        prepare_sketchycoco(_settings(data, check=True, final="split"), roots, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_offline_without_archives_one_message_names_each_file(tmp_path):
    data = tmp_path / "data"
    missing = missing_archives(_settings(data), sources=_sources())
    assert [m[1] for m in missing] == [data / "downloads" / "SketchyCOCO-Scene.zip",
                                       data / "downloads" / "SketchyCOCO-Others.zip"]
    with pytest.raises(SketchyCOCOError) as err:
        prepare_scenes(_settings(data), tmp_path / "out", sources=_sources())
    msg = str(err.value)
    assert "2 archive(s) missing" in msg and "Nothing was run" in msg
    for name in ("SketchyCOCO-Scene.zip", "SketchyCOCO-Others.zip"):
        assert str(data / "downloads" / name) in msg
    assert "drive.google.com" in msg and "sketchydepth.sketchycoco.root" in msg
    assert not (tmp_path / "out").exists() and not (data / "sketchycoco").exists()


def test_root_folder_and_layout_errors(tmp_path):
    with pytest.raises(SketchyCOCOError, match="is not a folder"):
        obtain_roots(_settings(tmp_path / "d", root=tmp_path / "nowhere"))
    _fake(tmp_path / "raw" / "SketchyCOCO", orphan=True)  # one level down, as an archive's top folder
    roots = obtain_roots(_settings(tmp_path / "d", root=tmp_path / "raw"))
    with pytest.raises(SketchyCOCOError, match="no scene image"):
        prepare_sketchycoco(_settings(tmp_path / "d", inputs="ground_truth"), roots, tmp_path / "out")
    with pytest.raises(SketchyCOCOError, match="no folder Scene/GT"):
        prepare_sketchycoco(_settings(tmp_path / "d"), [tmp_path / "d2"], tmp_path / "out")


def test_chapter_registry_is_apart_from_the_shared_one():
    """SketchyCOCO's entries live in the chapter's own registry: changing them reruns no retrieval job."""
    from sketch3d.data.registry import load_sources as shared

    assert {"sketchycoco_scene", "sketchycoco_others"} <= set(chapter_sources())
    assert not set(chapter_sources()) & set(shared())


def _rehearsal_archives(data, drop=None):
    """The rehearsal's SketchyCOCO archives (tests/rehearsal/fixtures/sketchycoco.py: the layout of SketchyCOCO's
    README and MATLAB build scripts, not of this reader), without the members under ``drop``."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from rehearsal.fixtures import sketchycoco as fixture

    fixture.build(data, 0)
    if drop:
        path = data / "downloads" / (fixture.SCENE_ZIP if drop.startswith("Scene") else fixture.OTHERS_ZIP)
        with zipfile.ZipFile(path) as zf:
            kept = {n: zf.read(n) for n in zf.namelist() if not n.startswith(drop)}
        with zipfile.ZipFile(path, "w") as zf:
            for name, content in kept.items():
                zf.writestr(name, content)
    return fixture


def test_archives_as_sketchycocos_build_scripts_write_them(tmp_path):
    data = tmp_path / "data"
    fixture = _rehearsal_archives(data)
    roots = obtain_roots(_settings(data, size=16), sources=_sources())
    manifest = prepare_sketchycoco(_settings(data, size=16), roots, tmp_path / "out")
    n = {k: len(v) for k, v in fixture.SCENES.items()}
    assert {k: v["n"] for k, v in manifest["splits"].items()} == {
        "train": n["trainInTrain"], "val": 1, "test": n["valInTrain"] + n["val"]}  # final_training: all
    # every CLASS_GT .mat read (the validation scene twice: it is inside the training set, final_training: all)
    assert manifest["kind_source"] == {"annotation": sum(n.values()) + 1, "pixels": 0}
    test = read_triplets(tmp_path / "out" / "test")
    assert all(len(i) == 12 and i.isdigit() for i in test.ids) and sorted(test.kinds) == ["bo", "bo", "fb", "fb"]
    train = read_triplets(tmp_path / "out" / "train")
    assert sorted(train.kinds) == ["bo"] * 2 + ["fb"] * 5  # the giraffe-only scene (class 15) is fb
    assert manifest["test_inputs"] == "edgegan" and "intermediate product" in manifest["partial_images"]["test"]


@pytest.mark.parametrize("drop,archive,folder,what", [
    ("Others/background_training/paper_version/val/", "SketchyCOCO-Others.zip",
     "Others/background_training/paper_version/val/", "partial images of the val split"),
    ("Scene/GT/trainInTrain/", "SketchyCOCO-Scene.zip", "Scene/GT/trainInTrain/",
     "scene images of SketchyCOCO's trainInTrain split")])
def test_an_archive_without_a_folder_names_archive_folder_and_expectation(tmp_path, drop, archive, folder, what):
    data = tmp_path / "data"
    _rehearsal_archives(data, drop=drop)
    with pytest.raises(SketchyCOCOError) as err:
        prepare_scenes(_settings(data, size=16), tmp_path / "out", sources=_sources())
    msg = str(err.value)
    assert f"archive {data / 'downloads' / archive}" in msg and f"no folder {folder} " in msg and what in msg
    assert msg.count("no folder") == 1 and "sketchydepth.sketchycoco.root" in msg
    assert not (data / "sketchycoco").exists() and not (tmp_path / "out").exists()  # nothing extracted or written


def _class_gt(path, values):
    """A CLASS_GT file as SketchyCOCO's buildAnnotation.m saves it (``save(class_out, 'CLASS_GT')``: a MAT-file
    holding the double matrix CLASS_GT, the image's rows x columns, 0 where no stroke is), holding ``values``."""
    classes = np.zeros((12, 16))
    for k, v in enumerate(values):
        classes[2 + k, 3:9] = v
    savemat(path, {"CLASS_GT": classes}, format="5", do_compression=True)
    return path


@pytest.mark.parametrize("values,kind", [
    ((14,), "fb"), ((15,), "fb"),  # things are 1-15 (buildAllScript.m: 15 thing ids; giraffe, COCO 25, is 15)
    ((16,), "bo"), ((16, 17, 18, 19), "bo"),  # stuff is 16-19 (generateStuffSketch.m: index + 15)
    ((16, 15), "fb"), ((1, 19), "fb"), ((), "bo")])
def test_class_ids_as_sketchycocos_build_scripts_number_them(tmp_path, values, kind):
    assert kind_from_annotation(_class_gt(tmp_path / "000000000001.mat", values)) == kind


def test_a_class_id_outside_the_build_scripts_is_an_error_naming_the_file(tmp_path):
    path = _class_gt(tmp_path / "000000000007.mat", (16, 20))
    with pytest.raises(SketchyCOCOError, match=r"000000000007\.mat: CLASS_GT holds values \[20\]"):
        kind_from_annotation(path)


def test_test_inputs_are_edgegans_by_default_and_the_ground_truth_on_request(tmp_path):
    _fake(tmp_path / "raw", annotation="Annotations")  # buildAllScript.m's spelling
    out = {}
    for inputs in ("edgegan", "ground_truth"):
        settings = _settings(tmp_path / "d", root=tmp_path / "raw", inputs=inputs, size=16)
        manifest = prepare_sketchycoco(settings, obtain_roots(settings), tmp_path / inputs)
        assert manifest["kind_source"] == {"annotation": 28, "pixels": 0} and manifest["test_inputs"] == inputs
        out[inputs] = {s: read_triplets(tmp_path / inputs / s) for s in ("train", "val", "test")}
    for split in ("train", "val"):  # training and validation: always the ground-truth partial images
        assert (out["edgegan"][split].partial == out["ground_truth"][split].partial).all()
    assert not (tmp_path / "edgegan" / "test_ground_truth").exists()
    # both: the first is the test set, the other test_<name> (Table 3.1's extra rows), the same scenes and kinds
    settings = _settings(tmp_path / "d", root=tmp_path / "raw", inputs=["edgegan", "ground_truth"], size=16)
    manifest = prepare_sketchycoco(settings, obtain_roots(settings), tmp_path / "both")
    assert manifest["test_inputs"] == "edgegan" and list(manifest["other_test_inputs"]) == ["test_ground_truth"]
    for name, want in (("test", out["edgegan"]["test"]), ("test_ground_truth", out["ground_truth"]["test"])):
        got = read_triplets(tmp_path / "both" / name)
        assert got.ids == want.ids and got.kinds == want.kinds and (got.partial == want.partial).all()
        assert (tmp_path / "both" / name / "scenes.csv").is_file()
    edgegan, truth = out["edgegan"]["test"], out["ground_truth"]["test"]
    assert edgegan.ids == truth.ids and (edgegan.image == truth.image).all() and edgegan.kinds == truth.kinds
    for i, kind in enumerate(edgegan.kinds):  # the centre pixel: EdgeGAN's red object, or the scene's own pixel
        red = np.abs(edgegan.partial[i, 8, 8].astype(int) - RED).max() < 8
        own = np.abs(truth.partial[i, 8, 8].astype(int) - truth.image[i, 8, 8]).max() < 8
        assert red == own == (kind == "fb")


def test_a_test_scene_without_its_edgegan_image_is_named(tmp_path):
    _fake(tmp_path / "raw")
    (tmp_path / "raw/Others/intermediate product/paper_version/val/000000002001.png").unlink()
    settings = _settings(tmp_path / "d", root=tmp_path / "raw")
    with pytest.raises(SketchyCOCOError, match=r"1 test scene\(s\) have a ground-truth partial image but no EdgeGAN.*"
                                               r"000000002001\.png.*test_inputs: \[ground_truth\]"):
        prepare_sketchycoco(settings, obtain_roots(settings), tmp_path / "out")


def test_scene_sources_name_the_original_scene_images(tmp_path):
    import pandas as pd

    _fake(tmp_path / "raw")
    settings = _settings(tmp_path / "d", root=tmp_path / "raw")
    prepare_sketchycoco(settings, obtain_roots(settings), tmp_path / "out")
    for split, folders in (("train", ("trainInTrain",)), ("test", ("valInTrain", "val"))):
        df = pd.read_csv(tmp_path / "out" / split / "scenes.csv", dtype=str)
        assert list(df["triplet_id"]) == read_triplets(tmp_path / "out" / split).ids
        for tid, scene in zip(df["triplet_id"], df["scene"]):
            assert any(scene == str((tmp_path / "raw/Scene/GT" / f / f"{tid}.png").resolve()) for f in folders)


@pytest.mark.parametrize("key,value,match", [
    ("test_inputs", ["edgegan", "edgegan"], "test_inputs must list distinct names"),
    ("test_inputs", [], "test_inputs must list distinct names"),
    ("test_inputs", ["sketch"], "test_inputs must list distinct names"),
    ("missing_annotation", "guess", "missing_annotation must be one of"),
    ("final_training", "9576", "final_training must be one of")])
def test_bad_data_settings_are_named(tmp_path, key, value, match):
    settings = _settings(tmp_path / "d")
    settings["sketchydepth"]["sketchycoco"][key] = value
    with pytest.raises(SketchyCOCOError, match=match):
        prepare_scenes(settings, tmp_path / "out", sources=_sources())
