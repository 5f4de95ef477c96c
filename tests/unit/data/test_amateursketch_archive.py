"""The paper rehearsal's AmateurSketch and ShapeNet fixtures through the real reader, and the clear errors an
archive of another layout gets (a missing folder: named with the archive and what was expected)."""
import sys
import zipfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests/: rehearsal.fixtures

from rehearsal.fixtures import amateursketch as as_fixture  # noqa: E402
from rehearsal.fixtures import shapenet as sn_fixture  # noqa: E402

from sketch3d.data.amateursketch import AmateurSketchError  # noqa: E402
from sketch3d.data.paper_dataset import SplitError, prepare_paper_data  # noqa: E402
from sketch3d.data.registry import load_sources  # noqa: E402


def _paper(root: Path, categories=("chair", "lamp")) -> dict:
    return {"categories": list(categories), "data_dir": str(root), "shapenet_root": str(root / "ShapeNetCore.v2"),
            "amateursketch_splits": {"val_shapes": 2, "test_shapes": 3}}


def test_rehearsal_fixtures_read_by_the_paper_reader(tmp_path):
    as_fixture.build(tmp_path, 0)
    sn_fixture.build(tmp_path, 0)
    # the registry's own entries (file names, folder): the archives are found where a user puts them
    shapes, sketches = prepare_paper_data(_paper(tmp_path), 0, tmp_path / "out", sources=load_sources())
    n = as_fixture.SHAPES_PER_CATEGORY
    assert len(shapes) == 2 * n and len(sketches) == 6 * n
    counts = shapes.groupby(["category", "split"]).size().to_dict()
    assert counts == {(c, s): k for c in ("chair", "lamp") for s, k in (("test", 3), ("val", 2), ("train", n - 5))}
    assert sorted(set(sketches.loc[sketches.category == "lamp", "azimuth"])) == [0, 45, 90]
    assert set(shapes["shape_id"]) == set(as_fixture.shape_ids("chair", 0)) | set(as_fixture.shape_ids("lamp", 0))


def test_archive_without_the_category_folder_names_archive_folder_and_expectation(tmp_path):
    archive = tmp_path / "downloads" / "AmateurSketch-3DChair.zip"
    sid = as_fixture.shape_ids("chair", 0)[0]
    as_fixture.write_archive(archive, {f"sketches_png/{sid}_0.png": "not an svg", "readme.txt": "x"})
    with pytest.raises(AmateurSketchError) as info:
        prepare_paper_data(_paper(tmp_path, ["chair"]), 0, tmp_path / "out", sources=load_sources())
    msg = str(info.value)
    assert str(archive) in msg  # the archive
    assert "chair_svg/" in msg and "sketches_png/" in msg  # the folder expected, and what is there instead
    assert "<32-hex ShapeNet model id>" in msg  # the file names expected


def test_split_folders_without_a_test_folder_fail_naming_it(tmp_path):
    archive = tmp_path / "downloads" / "AmateurSketch-3DChair.zip"
    svgs = as_fixture.members("chair", 0)
    moved = {}
    for i, (name, text) in enumerate(sorted(svgs.items())):
        folder, file = name.split("/")
        moved[f"{folder}/{'train' if i < 15 else 'val'}/{file}"] = text
    as_fixture.write_archive(archive, moved)
    with pytest.raises(SplitError, match=r"split folders \['train/', 'val/'\] but none in a test/ folder"):
        prepare_paper_data(_paper(tmp_path, ["chair"]), 0, tmp_path / "out", sources=load_sources())
