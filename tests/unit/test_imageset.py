import pandas as pd
import pytest
from PIL import Image

from sketch3d.atomic import atomic_dir
from sketch3d.imageset import ImageSetError, read_index, write_index


def test_index_survives_the_rename_of_its_folder(tmp_path):
    final = tmp_path / "gallery" / "chair" / "test"
    with atomic_dir(final) as tmp:
        (tmp / "s1").mkdir()
        Image.new("L", (4, 4), 255).save(tmp / "s1" / "az000.png")
        write_index(tmp, pd.DataFrame({"image_id": ["s1_az000"], "shape_id": ["s1"], "azimuth": [0],
                                       "path": [str(tmp / "s1" / "az000.png")]}))
    df = read_index(final)
    assert df["path"][0] == str((final / "s1" / "az000.png").resolve())
    assert pd.read_csv(final / "index.csv")["path"][0] == "s1/az000.png"


def test_errors_name_the_folder(tmp_path):
    with pytest.raises(ImageSetError, match="index.csv missing"):
        read_index(tmp_path)
    pd.DataFrame({"image_id": ["a"], "shape_id": ["a"], "azimuth": [0], "path": ["gone.png"]}).to_csv(
        tmp_path / "index.csv", index=False)
    with pytest.raises(ImageSetError, match="1 listed image"):
        read_index(tmp_path)
