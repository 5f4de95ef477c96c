"""Tables 4.1 / 4.2 searches: sampling ranges, counts and seeds, the refinement, the choice, the counts."""
import numpy as np
import pytest

from sketch3d.features.transforms import Transform
from sketch3d.retrieval import grids


def test_box_sizes_are_whole_pixels_in_range_and_seeded():
    a = grids.box_sizes(grids.rng_for(0, "box", 0), 50, 0.531, 0.987)
    b = grids.box_sizes(grids.rng_for(0, "box", 0), 50, 0.531, 0.987)
    c = grids.box_sizes(grids.rng_for(1, "box", 0), 50, 0.531, 0.987)
    assert a == b and a != c and len(a) == 50
    assert all(isinstance(x, int) and round(0.531 * 224) <= x <= round(0.987 * 224) for x in a)
    # stages draw from different streams
    assert grids.box_sizes(grids.rng_for(0, "box", 1), 50, 0.531, 0.987) != a


def test_translations_and_rotations():
    t = grids.translations(grids.rng_for(0, "translation", 0), 20, (-22.4, 22.4), (-22.4, 22.4))
    assert len(t) == 20 and all(isinstance(x, int) and -22 <= x <= 22 and -22 <= y <= 22 for x, y in t)
    r = grids.rotations(grids.rng_for(0, "rotation", 0), 20, -40, 40, 0.5)
    assert len(r) == 20 and all(-40 <= a <= 40 and (a * 2).is_integer() for a in r)
    assert len(set(r)) > 10  # spread over the range, not one value
    with pytest.raises(ValueError, match="range"):
        grids.rotations(grids.rng_for(0, "rotation", 0), 2, 10, -10, 0.5)
    with pytest.raises(ValueError, match="step"):
        grids.rotations(grids.rng_for(0, "rotation", 0), 2, -10, 10, 0)


def test_refinement_range_is_centred_and_clipped():
    assert grids.around(0.55, 0.038) == pytest.approx((0.512, 0.588))
    assert grids.around(0.98, 0.038, high=1.0) == pytest.approx((0.942, 1.0))


def test_best_index_for_both_and_per_category():
    s = [{"chair": {"acc@1": 50, "acc@5": 80}, "lamp": {"acc@1": 70, "acc@5": 80}},   # mean 60
         {"chair": {"acc@1": 65, "acc@5": 80}, "lamp": {"acc@1": 55, "acc@5": 90}},   # mean 60, better acc@5
         {"chair": {"acc@1": 40, "acc@5": 99}, "lamp": {"acc@1": 71, "acc@5": 99}}]
    assert grids.best_index(s) == 1
    assert grids.best_index(s, "chair") == 1 and grids.best_index(s, "lamp") == 2
    # a full tie keeps the earlier setting
    assert grids.best_index([s[0], s[0]]) == 0


class FakeEvaluator(grids.Evaluator):
    """Scores from a known function of the transforms; counts as the real evaluator does."""

    def __init__(self, score):
        super().__init__({"chair": (None, None), "lamp": (None, None)}, None, 8, "min", (1, 5))
        self.score = score
        self.calls = []

    def __call__(self, transforms):
        self.calls.append(tuple(t.name for t in transforms))
        for t in transforms:
            self.needed.update((f"img{i}", t.name) for i in range(10))
        self.naive += 10 * len(transforms) * 2
        return {c: {"acc@1": self.score(transforms, c), "acc@5": 50.0} for c in ("chair", "lamp")}


def test_box_grid_refines_around_the_first_stage_best():
    g = {"random": {"n": 12, "range": [0.531, 0.987]}, "refine": {"n": 6, "half_width": 0.038}}
    ev = FakeEvaluator(lambda ts, c: -abs(ts[0].box - 129))   # best box: 129
    rows, choice = grids.run_box_grid(g, 0, ev)
    first = [r["setting"] for r in rows if r["stage"] == "random" and r["category"] == "chair"]
    refine = [int(r["setting"]) for r in rows if r["stage"] == "refine" and r["category"] == "chair"]
    assert len(first) == 12 and len(refine) == 6
    best_first = min((int(b) for b in first), key=lambda b: abs(b - 129))
    assert all(abs(b - best_first) <= 0.038 * 224 + 0.5 for b in refine)
    assert choice["box"] == min([int(b) for b in first] + refine, key=lambda b: (abs(b - 129)))
    assert [r["stage"] for r in rows].count("best") == 2   # one row per category


def test_affine_grid_rows_and_the_four_image_mean():
    g = {"translation": {"random": {"n": 4, "x": [-22.4, 22.4], "y": [-22.4, 22.4]},
                         "refine": {"n": 3, "half_width": [7.5, 2.5]}},
         "rotation": {"step": 0.5, "random": {"n": 4, "range": [-40, 40]}, "refine": {"n": 3, "half_width": 5}}}

    def score(ts, c):   # chairs like moving right, lamps like turning anticlockwise
        t = ts[-1]
        return t.tx + 0.1 * t.ty if c == "chair" else -t.rot
    ev = FakeEvaluator(score)
    rows, choice = grids.run_affine_grid(g, 0, 129, ev)
    stages = list(dict.fromkeys(r["stage"] for r in rows))
    assert stages == ["obb", "translation random", "translation refine", "translation best both",
                      "translation best chair", "translation best lamp", "rotation random", "rotation refine",
                      "rotation best both", "rotation best chair", "rotation best lamp", "combined", "augm4"]
    # every grid setting averages the OBB image with one transformed copy
    assert all(len(c) == 2 and c[0] == "box129" for c in ev.calls[1:-2])
    t, r = choice["translation"], choice["rotation"]
    both = Transform(129, t[0], t[1], r).name
    assert ev.calls[-2] == ("box129", both)
    assert ev.calls[-1] == ("box129", Transform(129, t[0], t[1]).name, Transform(129, rot=r).name, both)
    chair_best = [x for x in rows if x["stage"] == "translation best chair"][0]["setting"]
    assert chair_best == max((x["setting"] for x in rows if x["stage"].startswith("translation r")),
                             key=lambda s: float(s.strip("()").split(",")[0]) + 0.1 * float(s.strip("()").split(",")[1]))


def test_grid_counts_shared_embeddings_against_from_scratch():
    g = {"random": {"n": 6, "range": [0.55, 0.56]}, "refine": {"n": 4, "half_width": 0.001}}
    ev = FakeEvaluator(lambda ts, c: 1.0)
    grids.run_box_grid(g, 0, ev)
    # sizes in [123, 125] px: 11 evaluations, at most 3 distinct boxes embedded
    assert ev.naive == 11 * 20 and len(ev.needed) <= 3 * 10


def test_grid_tables_show_mean_std_beside_the_thesis(tmp_path):
    import json

    import pandas as pd

    from sketch3d.retrieval.tables import grid_table

    g = {"random": {"n": 5, "range": [0.531, 0.987]}, "refine": {"n": 3, "half_width": 0.038}}
    ev = FakeEvaluator(lambda ts, c: float(ts[0].box % 7))
    rows, choice = grids.run_box_grid(g, 0, ev)
    pd.DataFrame(rows).to_csv(tmp_path / "box.csv", index=False)
    sizes = {c: {"queries": 30, "gallery_images": 50, "shapes": 10} for c in ("chair", "lamp")}
    (tmp_path / "box.json").write_text(json.dumps({
        "grid": "box", "profile": "demo", "choice": choice, "sizes": sizes,
        "embeddings": {"distinct": 1, "from_scratch": 2, "saving": 2.0}}))
    df = grid_table("4.1", tmp_path / "box.csv", tmp_path / "box.json", tmp_path / "t.csv", tmp_path / "t.md")
    random_scores = [r["acc@1"] for r in rows if r["stage"] == "random" and r["category"] == "chair"]
    row = df[(df["method"].str.startswith("Random 5 from")) & (df["category"] == "chair") & (df["metric"] == "acc@1")]
    assert row["ours"].item() == pytest.approx(np.mean(random_scores), abs=0.005)
    assert row["ours_spread"].item() == pytest.approx(np.std(random_scores, ddof=1), abs=0.005)
    assert row["thesis"].item() == 63.90 and row["thesis_spread"].item() == 3.33
    best = df[df["method"].str.startswith("Best:")]
    assert (best["thesis"].notna()).all() and f"({choice['box']}x{choice['box']})" in best["method"].iloc[0]
    md = (tmp_path / "t.md").read_text()
    assert "± " in md and "NOT the thesis" in md
    with pytest.raises(ValueError, match="not Table 4.2"):
        grid_table("4.2", tmp_path / "box.csv", tmp_path / "box.json", tmp_path / "u.csv", tmp_path / "u.md")


def test_refine_stages_are_evenly_spaced_over_their_interval():
    """The "uniform" stages are grids: n values from the start in steps of width / n. The thesis's own bests lie
    on them: -23.5 degrees in [-30, -20] (step 0.5), 57.7% (129 px) in [51.6%, 59.2%] (step 0.38%)."""
    rot = grids.even_rotations(20, -30, -20, 0.5)
    assert rot == [-30 + 0.5 * k for k in range(20)] and -23.5 in rot
    boxes = grids.even_box_sizes(20, 0.516, 0.592)
    assert boxes == [round((0.516 + 0.0038 * k) * 224) for k in range(20)]
    assert boxes[16] == 129 and round(100 * (0.516 + 0.0038 * 16), 1) == 57.7
    # translations: a lattice of near-square cells over the rectangle, whole pixels
    assert grids.lattice_shape(20, 15, 5) == (10, 2)
    assert grids.lattice_shape(20, 10, 10) == (5, 4) and grids.lattice_shape(20, 0, 5) == (1, 20)
    t = grids.even_translations(20, (6, 21), (-6, -1))
    xs = [int(v) for v in np.rint(6 + 1.5 * np.arange(10))]
    assert t == [(x, y) for y in (-6, -4) for x in xs]   # -3.5 rounds to even: -4
    assert xs == [6, 8, 9, 10, 12, 14, 15, 16, 18, 20]


def test_grids_refine_on_evenly_spaced_values_around_the_random_best():
    g = {"random": {"n": 7, "range": [0.531, 0.987]}, "refine": {"n": 4, "half_width": 0.038}}
    ev = FakeEvaluator(lambda ts, c: -abs(ts[0].box - 140))
    rows, choice = grids.run_box_grid(g, 0, ev)
    first = [int(r["setting"]) for r in rows if r["stage"] == "random" and r["category"] == "chair"]
    refine = [int(r["setting"]) for r in rows if r["stage"] == "refine" and r["category"] == "chair"]
    centre = min(first, key=lambda b: abs(b - 140)) / 224
    assert refine == grids.even_box_sizes(4, centre - 0.038, centre + 0.038)
    assert refine[2] == round(centre * 224)   # the grid holds the first stage's best (k = n / 2)
    a = {"translation": {"random": {"n": 3, "x": [-22.4, 22.4], "y": [-22.4, 22.4]},
                         "refine": {"n": 4, "half_width": [3, 1]}},
         "rotation": {"step": 0.5, "random": {"n": 3, "range": [-40, 40]}, "refine": {"n": 4, "half_width": 2}}}
    ev = FakeEvaluator(lambda ts, c: -abs(ts[-1].rot + 20) - abs(ts[-1].tx - 5) - abs(ts[-1].ty))
    rows, _ = grids.run_affine_grid(a, 0, 129, ev)

    def values(stage):
        return [r["value"] for r in rows if r["stage"] == stage and r["category"] == "chair"]

    best_r = max((float(v) for v in values("rotation random")), key=lambda v: -abs(v + 20))
    assert [float(v) for v in values("rotation refine")] == grids.even_rotations(4, best_r - 2, best_r + 2, 0.5)
    bx, by = max((eval(v) for v in values("translation random")), key=lambda v: -abs(v[0] - 5) - abs(v[1]))
    assert [eval(v) for v in values("translation refine")] == grids.even_translations(4, (bx - 3, bx + 3),
                                                                                    (by - 1, by + 1))


def test_a_setting_evaluated_twice_counts_once_in_the_mean_and_std(tmp_path):
    """Sizes that round to the same pixels, and the refine grid's copy of the first stage's best, are one
    evaluation each: the stage rows' mean +- std and counts hold each distinct setting once."""
    import json

    import pandas as pd

    from sketch3d.retrieval.tables import counted_settings, grid_table

    # random sizes 123-125 px (duplicates certain), refine: 4 evenly spaced sizes around the best, 2 px apart
    g = {"random": {"n": 6, "range": [0.55, 0.56]}, "refine": {"n": 4, "half_width": 4 / 224}}
    ev = FakeEvaluator(lambda ts, c: float(ts[0].box % 5) + (1 if c == "lamp" else 0))
    rows, choice = grids.run_box_grid(g, 0, ev)
    df = pd.DataFrame(rows)
    df.to_csv(tmp_path / "box.csv", index=False)
    sizes = {c: {"queries": 30, "gallery_images": 50, "shapes": 10} for c in ("chair", "lamp")}
    (tmp_path / "box.json").write_text(json.dumps({
        "grid": "box", "profile": "demo", "choice": choice, "sizes": sizes,
        "embeddings": {"distinct": 1, "from_scratch": 2, "saving": 2.0}}))
    chair = df[df["category"] == "chair"]
    first = [int(s) for s in chair[chair["stage"] == "random"]["setting"]]
    refine = [int(s) for s in chair[chair["stage"] == "refine"]["setting"]]
    assert len(set(first)) < len(first) and set(refine) & set(first)   # both kinds of repeats happen here
    distinct_first = list(dict.fromkeys(first))
    new_refine = [b for b in dict.fromkeys(refine) if b not in first]
    counted = counted_settings(df)
    assert counted[df["stage"].isin(["best"])].all()
    assert sorted(int(s) for s in df[counted & (df["stage"] == "refine") & (df["category"] == "chair")]["setting"]) \
        == sorted(new_refine)
    out = grid_table("4.1", tmp_path / "box.csv", tmp_path / "box.json", tmp_path / "t.csv", tmp_path / "t.md")
    for stage, label, boxes in (("random", f"Random {len(distinct_first)} from", distinct_first),
                                ("refine", f"Uniform {len(new_refine)} from", new_refine)):
        cell = out[out["method"].str.startswith(label) & (out["category"] == "chair") & (out["metric"] == "acc@1")]
        scores = [float(b % 5) for b in boxes]
        assert cell["ours"].item() == pytest.approx(np.mean(scores), abs=0.005)
        if len(scores) > 1:
            assert cell["ours_spread"].item() == pytest.approx(np.std(scores, ddof=1), abs=0.005)
        assert cell["settings"].item() == len(boxes)
