"""Table 5.1 beside the thesis's, from optimise_latent results."""
import json

import pandas as pd
import pytest

from sketch3d.netspace import tables


def _result(path, setting, arch, initial, optimized, demo=True):
    path.write_text(json.dumps({"setting": setting, "architecture": arch, "initial": initial, "optimized": optimized,
                                "net": f"{arch}_000", "demo": demo, "best_step": 5,
                                "optimized_architecture": arch}))
    return path


def test_table_5_1_puts_ours_beside_the_thesis(tmp_path):
    files = [_result(tmp_path / "m.json", "multi", "resnet32", 50.0, 51.5),
             _result(tmp_path / "s.json", "single", "resnet8", 20.0, 30.0)]
    df = tables.netspace_table(files, tmp_path / "t.csv", tmp_path / "t.md", tmp_path / "t.json")
    row = df[(df["method"] == "optimized") & (df["category"] == "Single-Architecture ResNet8")].iloc[0]
    assert row["thesis"] == pytest.approx(35.72) and row["ours"] == pytest.approx(30.0)
    assert row["difference"] == pytest.approx(30.0 - 35.72)
    row = df[(df["method"] == "initial") & (df["category"] == "Multi-Architecture ResNet32")].iloc[0]
    assert row["thesis"] == pytest.approx(52.17) and row["ours"] == pytest.approx(50.0)
    # the thesis's column order: single first
    assert list(dict.fromkeys(df["category"])) == ["Single-Architecture ResNet8", "Multi-Architecture ResNet32"]
    assert len(pd.read_csv(tmp_path / "t.csv")) == 4
    assert "Table 5.1" in (tmp_path / "t.md").read_text()
    assert json.loads((tmp_path / "t.json").read_text())["optimized"]["Multi-Architecture ResNet32"][
        "accuracy"] == 51.5
    assert "nan" not in (tmp_path / "t.md").read_text()


def test_a_column_the_thesis_lacks_is_kept_without_a_thesis_value(tmp_path):
    files = [_result(tmp_path / "s.json", "single", "lenetlike", 20.0, 30.0),
             _result(tmp_path / "m.json", "multi", "resnet8", 40.0, 41.0)]
    df = tables.netspace_table(files, tmp_path / "t.csv", tmp_path / "t.md")
    assert list(dict.fromkeys(df["category"])) == ["Multi-Architecture ResNet8", "Single-Architecture LeNetLike"]
    assert df[df["category"] == "Single-Architecture LeNetLike"]["thesis"].isna().all()


def test_table_5_1_refuses_bad_inputs(tmp_path):
    a = _result(tmp_path / "a.json", "single", "resnet8", 1.0, 2.0)
    with pytest.raises(tables.TableInputError, match="two results"):
        tables.netspace_table([a, a], tmp_path / "t.csv", tmp_path / "t.md")
    b = _result(tmp_path / "b.json", "multi", "lenetlike", 1.0, 2.0, demo=False)
    with pytest.raises(tables.TableInputError, match="mixed"):
        tables.netspace_table([a, b], tmp_path / "t.csv", tmp_path / "t.md")
    c = _result(tmp_path / "c.json", "unseen", "resnet8", 1.0, 2.0)
    with pytest.raises(tables.TableInputError, match="no column"):
        tables.netspace_table([c], tmp_path / "t.csv", tmp_path / "t.md")
    with pytest.raises(tables.TableInputError, match="run its optimise_latent"):
        tables.netspace_table([tmp_path / "missing.json"], tmp_path / "t.csv", tmp_path / "t.md")
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(tables.TableInputError, match="not an optimise_latent"):
        tables.netspace_table([tmp_path / "bad.json"], tmp_path / "t.csv", tmp_path / "t.md")
