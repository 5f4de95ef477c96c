"""The chain of choices: Table 4.1's search -> the OBB box, Table 4.2's (on that box) -> the Augm. transforms ->
the feature files and the recorded settings of every OBB / Augm. row; the thesis's values as a named setting."""
import json

import pytest

from sketch3d.features.transforms import Transform
from sketch3d.retrieval import grids
from sketch3d.retrieval.choice import (ChoiceError, check_choices, depends_on_choice, main_choice, read_search,
                                       resolve, settings_under)
from sketch3d.retrieval.methods import METHODS

THESIS = {"obb_box": 129, "augment": {"translate": [19, -4], "rotate": -23.5}}
RETRIEVAL = {"baseline_box": 170, "choices": ["search", "thesis"], "thesis_choice": THESIS}


class ScoreEvaluator(grids.Evaluator):
    """Scores from a known function of the evaluated transforms (no images), as the grids' own tests do."""

    def __init__(self, score):
        super().__init__({"chair": (None, None), "lamp": (None, None)}, None, 8, "min", (1, 5))
        self.score = score

    def __call__(self, transforms):
        return {c: {"acc@1": self.score(transforms), "acc@5": 50.0} for c in ("chair", "lamp")}


def _search(tmp_path, box_range, best_box, best_t=(5, -3), best_rot=12.0):
    """Run both searches on scores peaking at ``best_box`` / ``best_t`` / ``best_rot``; write their results as the
    retrieval_grid job does (the ``grid`` and ``choice`` keys) and return the two files."""
    g = {"random": {"n": 8, "range": box_range}, "refine": {"n": 4, "half_width": 0.02}}
    _, box_choice = grids.run_box_grid(g, 0, ScoreEvaluator(lambda ts: -abs(ts[0].box - best_box)))
    a = {"translation": {"random": {"n": 6, "x": [-22.4, 22.4], "y": [-22.4, 22.4]},
                         "refine": {"n": 3, "half_width": [3, 3]}},
         "rotation": {"step": 0.5, "random": {"n": 6, "range": [-40, 40]}, "refine": {"n": 3, "half_width": 5}}}

    def affine_score(ts):
        t = ts[-1]
        return -abs(t.tx - best_t[0]) - abs(t.ty - best_t[1]) - abs(t.rot - best_rot) / 10
    _, affine_choice = grids.run_affine_grid(a, 0, box_choice["box"], ScoreEvaluator(affine_score))
    files = []
    for name, choice in (("box", box_choice), ("affine", affine_choice)):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps({"grid": name, "choice": choice}))
        files.append(path)
    return files


def test_the_obb_and_augm_rows_use_what_the_searches_chose(tmp_path):
    box_json, affine_json = _search(tmp_path, [0.531, 0.987], best_box=150)
    chosen = json.loads(box_json.read_text())["choice"]["box"]
    affine = json.loads(affine_json.read_text())["choice"]
    r = resolve(RETRIEVAL, "search", read_search(box_json, affine_json))
    assert r["obb_box"] == chosen != THESIS["obb_box"] and r["choice"] == "search"
    assert METHODS["obb"].features_name("sketch", r) == f"box{chosen}"
    tx, ty = affine["translation"]
    names = [t.name for t in METHODS["obb_augm4"].transforms("gallery", r)]
    assert names == [Transform(chosen).name, Transform(chosen, tx, ty).name,
                     Transform(chosen, rot=affine["rotation"]).name,
                     Transform(chosen, tx, ty, affine["rotation"]).name]


def test_changing_table_4_1s_grid_changes_the_obb_rows_box(tmp_path):
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    small = resolve(RETRIEVAL, "search", read_search(*_search(tmp_path / "a", [0.40, 0.50], best_box=100)))
    large = resolve(RETRIEVAL, "search", read_search(*_search(tmp_path / "b", [0.80, 0.95], best_box=200)))
    assert small["obb_box"] <= 0.52 * 224 < 0.78 * 224 <= large["obb_box"]
    assert METHODS["obb"].features_name("gallery", small) != METHODS["obb"].features_name("gallery", large)
    # a method that uses neither the box nor the transforms is the same under both
    assert METHODS["baseline"].features_name("sketch", small) == METHODS["baseline"].features_name("sketch", large)


def test_the_thesis_choice_is_the_named_setting():
    r = resolve(RETRIEVAL, "thesis")
    assert r["obb_box"] == 129 and r["augment"] == {"translate": [19.0, -4.0], "rotate": -23.5}
    assert METHODS["obb_augm2"].features_name("sketch", r) == "box129+box129_tx19_ty-4_rot-23.5"
    assert settings_under(RETRIEVAL, "thesis") == r


def test_a_stale_or_missing_search_is_refused_naming_the_file(tmp_path):
    box_json, affine_json = _search(tmp_path, [0.531, 0.987], best_box=150)
    summary = json.loads(box_json.read_text())
    summary["choice"]["box"] += 1   # Table 4.1 chose again; Table 4.2 ran on the old box
    box_json.write_text(json.dumps(summary))
    with pytest.raises(ChoiceError, match="stale, rerun"):
        read_search(box_json, affine_json)
    with pytest.raises(ChoiceError, match="missing.*retrieval_grid"):
        read_search(tmp_path / "nope.json", affine_json)
    with pytest.raises(ChoiceError, match="not the 'box' one"):
        read_search(affine_json, affine_json)
    with pytest.raises(ChoiceError, match="--grids"):
        settings_under(RETRIEVAL, "search")


def test_choices_are_checked():
    assert check_choices(["search", "thesis"]) == ("search", "thesis") and main_choice(RETRIEVAL) == "search"
    for bad in ([], ["search", "search"], ["best"]):
        with pytest.raises(ChoiceError, match="retrieval.choices"):
            check_choices(bad)


def test_which_methods_depend_on_the_choice():
    depends = {m for m, method in METHODS.items() if depends_on_choice(method)}
    assert {"obb", "obb_augm4", "binary_chair", "binary_chair_box170", "views_sketch", "pixel"} <= depends
    assert not depends & {"baseline", "baseline_centering", "lines_asis", "vit_rgb_asis", "rn101_imagenet_box170"}


def test_a_table_shows_the_rows_of_both_choices_with_their_settings(tmp_path):
    """The paper profile: the main rows (this run's searches) and, beside them, the rows under the thesis's values;
    each row's settings in the table's JSON."""
    from sketch3d.retrieval.tables import retrieval_table

    def metrics(method, choice, box, a1):
        p = tmp_path / f"{method}_{choice}.json"
        m = {"profile": "paper", "method": method, "category": "chair", "n_queries": 30, "n_shapes": 10,
             "acc@1": a1, "acc@5": 90.0, "chance@1": 10.0}
        if choice:
            m |= {"main_choice": "search", "settings": {"choice": choice, "sketch": {"box": box}}}
        p.write_text(json.dumps(m))
        return p

    files = [metrics("baseline", None, 170, 40.0), metrics("obb", "search", 150, 55.0),
             metrics("obb", "thesis", 129, 50.0)]
    df = retrieval_table("4.8", files, tmp_path / "t.csv", tmp_path / "t.md", tmp_path / "t.json")
    rows = list(dict.fromkeys(df["method"]))
    assert rows == ["Baseline", "OBB", "OBB [the thesis's box and transforms]"]
    # both OBB rows are compared with the thesis's OBB row
    assert set(df[df["method"].str.startswith("OBB")]["thesis"].dropna()) == {
        float(df[(df["method"] == "OBB") & (df["metric"] == "acc@1")]["thesis"].iloc[0]),
        float(df[(df["method"] == "OBB") & (df["metric"] == "acc@5")]["thesis"].iloc[0])}
    table = json.loads((tmp_path / "t.json").read_text())
    assert table["OBB"]["chair"]["settings"]["sketch"]["box"] == 150
    assert table["OBB [the thesis's box and transforms]"]["chair"]["settings"]["choice"] == "thesis"
    assert table["OBB"]["chair"]["acc@1"] == 55.0 and "settings" not in table["Baseline"]["chair"]


def test_table_4_1s_json_names_the_box_the_other_tables_use(tmp_path):
    import pandas as pd

    from sketch3d.retrieval.tables import grid_table

    g = {"random": {"n": 4, "range": [0.531, 0.987]}, "refine": {"n": 2, "half_width": 0.038}}
    rows, choice = grids.run_box_grid(g, 0, ScoreEvaluator(lambda ts: -abs(ts[0].box - 140)))
    pd.DataFrame(rows).to_csv(tmp_path / "box.csv", index=False)
    sizes = {c: {"queries": 30, "gallery_images": 50, "shapes": 10} for c in ("chair", "lamp")}
    (tmp_path / "box.json").write_text(json.dumps({"grid": "box", "profile": "demo", "choice": choice, "sizes": sizes,
                                                   "embeddings": {"distinct": 1, "from_scratch": 2, "saving": 2.0}}))
    grid_table("4.1", tmp_path / "box.csv", tmp_path / "box.json", tmp_path / "t.csv", tmp_path / "t.md",
               tmp_path / "t.json")
    table = json.loads((tmp_path / "t.json").read_text())
    assert table["choice"]["box"] == choice["box"]
    (tmp_path / "affine.json").write_text(json.dumps({"grid": "affine", "choice": {
        "box": choice["box"], "translation": [3, -2], "rotation": 7.5}}))
    assert read_search(tmp_path / "box.json", tmp_path / "affine.json")["obb_box"] == table["choice"]["box"]
