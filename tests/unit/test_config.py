from pathlib import Path

import pytest
import yaml

from sketch3d.config import ParamsError, load_params, profile_settings, validate

REPO = Path(__file__).resolve().parents[2]


def base() -> dict:
    return yaml.safe_load((REPO / "params.yaml").read_text())


def test_shipped_params_are_valid_and_default_to_demo():
    p = load_params(REPO / "params.yaml")
    assert p["profile"] == "demo"
    assert profile_settings(p) is p["demo"]


def test_thesis_settings_in_params():
    p = base()
    assert p["render"]["stroke_width"] == 2.2 and p["render"]["camera_distance"] == 2.5
    assert p["render"]["elevation"] == 20 and p["render"]["resolution"] == 224
    assert p["render"]["sketch_azimuths"] == {"chair": [0, 30, 75], "lamp": [0, 45, 90]}
    assert p["retrieval"]["baseline_box"] == 170 and p["retrieval"]["obb_box"] == 129


@pytest.mark.parametrize(
    "key, value, fragment",
    [
        ("retrieval.obb_box", 300, "'retrieval.obb_box'"),
        ("retrieval.obb_box", "big", "'retrieval.obb_box'"),
        ("profile", "thesis", "'profile'"),
        ("features.layer", "layer9", "'features.layer'"),
        ("render.sketch_azimuths.chair", [], "'render.sketch_azimuths.chair'"),
        ("render.typo", 1, "'render.typo'"),
        ("demo.splits.test", 1, "'demo.splits.test'"),
        ("demo.sketch.width", [3, 1], "'demo.sketch.width'"),
    ],
)
def test_bad_value_names_the_key(key, value, fragment):
    with pytest.raises(ParamsError, match=fragment.replace(".", r"\.")):
        load_params(REPO / "params.yaml", {key: value})


def test_missing_key_is_named():
    p = base()
    del p["retrieval"]["chunk_size"]
    with pytest.raises(ParamsError, match=r"'retrieval\.chunk_size': missing"):
        validate(p)


def test_splits_must_add_up():
    with pytest.raises(ParamsError, match="demo.shapes_per_category"):
        load_params(REPO / "params.yaml", {"demo.shapes_per_category": 99})


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ParamsError, match="not found"):
        load_params(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("profile: [demo\n")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params(bad)


def test_workflow_schema_is_the_package_schema():
    assert (REPO / "workflow/schemas/params.schema.yaml").resolve() == (
        REPO / "src/sketch3d/params.schema.yaml"
    ).resolve()
