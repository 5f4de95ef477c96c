from pathlib import Path

import pytest
import yaml

from sketch3d.config import ParamsError, effective, load_params, merge, validate

REPO = Path(__file__).resolve().parents[2]


def base() -> dict:
    return yaml.safe_load((REPO / "params.yaml").read_text())


def test_shipped_params_are_valid_and_default_to_demo():
    p = load_params(REPO / "params.yaml")
    assert p["profile"] == "demo" and p["chapters"] == ["retrieval", "sketchydepth", "reconstruction", "netspace"]
    assert "profiles" not in p
    assert p["features"]["weights"] == "random" and p["data"]["shapes_per_category"] == 55


def test_the_profile_block_is_merged_over_the_sections():
    raw = base()
    demo, paper = load_params(REPO / "params.yaml"), load_params(REPO / "params.yaml", {"profile": "paper"})
    assert paper["features"]["weights"] == "openai" and paper["data"]["data_dir"] == "data/paper"
    assert "shapes_per_category" not in paper["data"] and "data_dir" not in demo["data"]
    # everything outside the profile blocks is shared
    for section in ("render", "seed"):
        assert demo[section] == paper[section] == raw[section]
    # the demo shrinks the retrieval grids, the paper profile keeps the thesis's sizes
    assert paper["retrieval"] == raw["retrieval"]
    assert demo["retrieval"]["grids"]["box"]["random"]["n"] < paper["retrieval"]["grids"]["box"]["random"]["n"] == 50
    shrunk = ("grids", "masks", "domain_study", "choices")  # the demo: smaller sizes, its own searches only
    assert {k: v for k, v in demo["retrieval"].items() if k not in shrunk} == {
        k: v for k, v in raw["retrieval"].items() if k not in shrunk}
    assert demo["retrieval"]["masks"]["steps"] < paper["retrieval"]["masks"]["steps"]
    # the demo's CLIP ResNet is smaller (same layer-3 shape); the paper profile keeps the thesis's RN101
    assert paper["features"]["backbone"] == raw["features"]["backbone"] == "RN101"
    assert demo["features"]["backbone"] == "RN50" and demo["features"]["layer"] == paper["features"]["layer"]
    # an override inside a profile block wins over the section, and only for that profile
    raw["profiles"]["paper"]["data"]["categories"] = ["chair"]
    assert effective({**raw, "profile": "paper"})["data"]["categories"] == ["chair"]
    assert effective(raw)["data"]["categories"] == ["chair", "lamp"]


def test_merge_is_recursive_and_leaves_its_inputs_alone():
    a, b = {"x": {"y": 1, "z": [1]}, "k": 0}, {"x": {"y": 2}, "n": 3}
    assert merge(a, b) == {"x": {"y": 2, "z": [1]}, "k": 0, "n": 3}
    assert a == {"x": {"y": 1, "z": [1]}, "k": 0} and b == {"x": {"y": 2}, "n": 3}


def test_thesis_settings_in_params():
    p = base()
    assert p["render"]["stroke_width"] == 2.2 and p["render"]["camera_distance"] == 2.5
    assert p["render"]["elevation"] == 20 and p["render"]["resolution"] == 224
    assert p["render"]["sketch_azimuths"] == {"chair": [0, 30, 75], "lamp": [0, 45, 90]}
    assert p["retrieval"]["baseline_box"] == 170 and p["retrieval"]["thesis_choice"]["obb_box"] == 129


@pytest.mark.parametrize(
    "key, value, fragment",
    [
        ("retrieval.thesis_choice.obb_box", 300, "'retrieval.thesis_choice.obb_box'"),
        ("retrieval.thesis_choice.obb_box", "big", "'retrieval.thesis_choice.obb_box'"),
        ("retrieval.choices", ["search", "nope"], "'retrieval.choices"),
        ("profile", "thesis", "'profile'"),
        ("features.layer", "layer9", "'features.layer'"),
        ("render.sketch_azimuths.chair", [], "'render.sketch_azimuths.chair'"),
        ("render.typo", 1, "'render.typo'"),
        ("profiles.demo.data.splits.test", 1, "'profiles.demo.data.splits.test'"),
        ("profiles.demo.data.sketch.width", [3, 1], "'profiles.demo.data.sketch.width'"),
        ("profiles.paper.features.weights", "", "'profiles.paper.features.weights'"),
        ("chapters", ["nope"], "'chapters.0'"),
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
    with pytest.raises(ParamsError, match="profiles.demo.data.shapes_per_category"):
        load_params(REPO / "params.yaml", {"profiles.demo.data.shapes_per_category": 99})


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
