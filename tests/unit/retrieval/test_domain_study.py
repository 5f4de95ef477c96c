import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy import stats

from sketch3d.cli import main
from sketch3d.imageset import write_index
from sketch3d.retrieval import domain_study as ds

AZ = (0, 30, 75)


def _domain(name, shapes, d=40, seed=0, azimuths=AZ, shuffle=True, weights="random init (seed 0)"):
    """A DomainFeatures with one row per (shape, azimuth), rows in a shuffled order."""
    rng = np.random.default_rng(seed)
    ids = pd.DataFrame([{"image_id": f"{name}_{s}_az{int(a):03d}", "shape_id": s, "azimuth": a}
                        for s in shapes for a in azimuths])
    if shuffle:
        ids = ids.iloc[rng.permutation(len(ids))].reset_index(drop=True)
    ids["weights"] = weights
    feats = rng.normal(size=(len(ids), d)).astype(np.float32)
    return ds.DomainFeatures(name, feats, ids)


def _row(dom, shape, az):
    hit = dom.ids.index[(dom.ids["shape_id"] == shape) & (dom.ids["azimuth"] == az)]
    assert len(hit) == 1
    return dom.features[hit[0]].astype(np.float64)


def _mse(x, y):
    return float(np.mean((x - y) ** 2))


def test_eq_4_4_against_a_direct_loop():
    shapes = [f"s{i}" for i in range(6)]
    a, b = _domain("sketch", shapes, seed=1), _domain("lines", shapes, seed=2)
    al = ds.align_views([a, b], AZ)
    assert al.shape_ids == tuple(shapes)
    objects = np.array([0, 2, 3, 5])
    dist, per_view = ds.object_distances(a.features, b.features, al.rows["sketch"][objects], al.rows["lines"][objects],
                                         chunk_size=2)
    for r, sa in enumerate(np.array(shapes)[objects]):
        for c, sb in enumerate(np.array(shapes)[objects]):
            views = [_mse(_row(a, sa, k), _row(b, sb, k)) for k in AZ]
            assert per_view[r, c] == pytest.approx(views, rel=1e-10)
            assert dist[r, c] == pytest.approx(sum(views) / len(views), rel=1e-10)


def test_eq_4_5_against_a_direct_loop_in_small_blocks(monkeypatch):
    shapes = [f"s{i}" for i in range(7)]
    a, b = _domain("sketch", shapes, seed=3), _domain("rgb", shapes, seed=4)
    al = ds.align_views([a, b], AZ)
    monkeypatch.setattr(ds, "_BLOCK_BYTES", 2 * len(AZ) * 40 * 4)  # two objects per block
    terms = ds.view_distances(a.features, b.features, al.rows["sketch"], al.rows["rgb"])
    for o, s in enumerate(shapes):
        for k, ak in enumerate(AZ):
            for h, ah in enumerate(AZ):
                assert terms[o, k, h] == pytest.approx(_mse(_row(a, s, ak), _row(b, s, ah)), rel=1e-10)
    expected = np.array([[np.mean([_mse(_row(a, s, ak), _row(b, s, ah)) for s in shapes]) for ah in AZ] for ak in AZ])
    np.testing.assert_allclose(terms.mean(axis=0), expected, rtol=1e-10)


def test_t_interval_against_scipy_and_the_t_table():
    x = np.random.default_rng(5).normal(size=(4, 3))
    mean, low, high = ds.t_interval(x, axis=1, level=0.95)
    for r in range(4):
        lo, hi = stats.t.interval(0.95, df=2, loc=x[r].mean(), scale=stats.sem(x[r]))
        assert (low[r], high[r]) == pytest.approx((lo, hi), rel=1e-12)
    # t_{0.975, 2} = 4.30265273 (tables): mean +- t * s / sqrt(3)
    half = 4.30265273 * x.std(axis=1, ddof=1) / np.sqrt(3)
    np.testing.assert_allclose(high - mean, half, rtol=1e-8)
    with pytest.raises(ValueError, match="at least 2 samples"):
        ds.t_interval(np.zeros((3, 1)), axis=1)
    with pytest.raises(ValueError, match="ci_level"):
        ds.t_interval(np.zeros(3), level=95)


def test_missing_and_repeated_views_are_named():
    shapes = ["a", "b", "c"]
    sk = _domain("sketch", shapes)
    lines = _domain("lines", shapes)
    lines = ds.DomainFeatures("lines", lines.features[1:], lines.ids.iloc[1:].reset_index(drop=True), "l.npy")
    gone = sk.ids.iloc[0]  # same shuffle (seed 0) in both domains: the first row of lines was dropped
    with pytest.raises(ValueError, match=rf"lines features \(l.npy\) lacks 1 view.*\({gone.shape_id}, {gone.azimuth}\)"):
        ds.align_views([sk, lines], AZ)
    extra = _domain("rgb", shapes, azimuths=(0, 30, 30, 75), shuffle=False)
    with pytest.raises(ValueError, match=r"several rows for \(shape, azimuth\) \(a, 30\), \(b, 30\)"):
        ds.align_views([sk, extra], AZ)
    other = _domain("rgb", shapes, weights="CLIP RN101 openai")
    with pytest.raises(ValueError, match="differ in weights"):
        ds.align_views([sk, other], AZ)


def test_alignment_matches_azimuths_across_number_formats_and_ignores_extra_views():
    sk = _domain("sketch", ["a", "b"], shuffle=False)
    gal = _domain("lines", ["b", "a", "z"], azimuths=(0.0, 30.0, 45.0, 75.0))  # z: not sketched, 45: not a sketch view
    al = ds.align_views([sk, gal], [0, 30.0, 75])
    assert al.shape_ids == ("a", "b")
    assert al.image_ids["lines"][1, 2] == "lines_b_az075"
    np.testing.assert_array_equal(gal.ids["shape_id"].to_numpy()[al.rows["lines"]], [["a"] * 3, ["b"] * 3])


def test_object_selection_is_seeded_sorted_and_sized():
    pick = [ds.select_objects(40, 10, np.random.default_rng(7)) for _ in range(2)]
    np.testing.assert_array_equal(pick[0], pick[1])
    assert len(set(pick[0])) == 10 and list(pick[0]) == sorted(pick[0]) and pick[0].max() < 40
    assert not np.array_equal(pick[0], ds.select_objects(40, 10, np.random.default_rng(8)))
    with pytest.raises(ValueError, match="objects_4_2 asks for 100 objects but only 40"):
        ds.select_objects(40, 100, np.random.default_rng(0), "retrieval.domain_study.objects_4_2")
    with pytest.raises(TypeError, match="Generator"):
        ds.select_objects(40, 10, 7)


def test_nearest_and_separation_summaries():
    d = np.array([[1.0, 2.0, 3.0], [0.5, 1.0, 4.0], [2.0, 2.0, 2.0]])
    # row 2 is an exact tie: it goes to the first column (the package's tie rule), so not the diagonal
    np.testing.assert_array_equal(ds.same_is_nearest(d), [True, False, False])
    low, high = d - 0.2, d + 0.2
    low[0, 1] = 1.1  # row 0: [0.8, 1.2] vs [1.1, 2.2]: overlap
    np.testing.assert_array_equal(ds.ci_separated(low, high), [False, False, False])
    np.testing.assert_array_equal(ds.ci_separated(d - 0.1, d + 0.1), [True, False, False])


def _write_study(tmp, n_shapes=5, d=30):
    """Three domains' feature files of a few objects (the sketch domain close to the lines) and a sketch image set."""
    shapes = [f"chair_{i:02d}" for i in range(n_shapes)]
    rng = np.random.default_rng(11)
    base = rng.normal(size=(n_shapes, len(AZ), d))
    args = []
    for k, name in enumerate(("sketch", "lines", "rgb")):
        rows = [{"image_id": f"{s}_az{a:03d}", "shape_id": s, "azimuth": a, "weights": "random init (seed 0)",
                 "settings_key": "abc"} for s in shapes for a in AZ]
        feats = (base.reshape(-1, d) + (0.3 + 0.5 * k) * rng.normal(size=(len(rows), d))).astype(np.float32)
        np.save(tmp / f"{name}.npy", feats)
        pd.DataFrame(rows).to_csv(tmp / f"{name}.csv", index=False)
        args += [f"--{name}-features", str(tmp / f"{name}.npy"), f"--{name}-ids", str(tmp / f"{name}.csv")]
    sk = tmp / "sketches"
    sk.mkdir()
    index = []
    for s in shapes:
        for a in AZ:
            p = sk / f"{s}_az{a:03d}.png"
            Image.fromarray(rng.integers(0, 256, size=(24, 24), dtype=np.uint8)).save(p)
            index.append({"image_id": p.stem, "shape_id": s, "azimuth": a, "path": str(p)})
    write_index(sk, pd.DataFrame(index))
    return args + ["--sketches", str(sk)]


def _settings(**study):
    s = {"category": "chair", "objects_4_1": 4, "objects_4_2": 5, "ci_level": 0.95, **study}
    return json.dumps({"profile": "demo", "seed": 3, "render": {"sketch_azimuths": {"chair": list(AZ)}},
                       "retrieval": {"chunk_size": 2, "domain_study": s}})


def test_command_writes_figures_and_numbers_byte_identically(tmp_path):
    args = _write_study(tmp_path)
    outs = []
    for run in ("one", "two"):
        out = tmp_path / run
        paths = {k: out / f"{k}" for k in ("fig_4_1.png", "fig_4_2.png", "numbers.json", "numbers.csv")}
        assert main(["domain_study", "--settings", _settings(), *args, "--fig-4-1", str(paths["fig_4_1.png"]),
                     "--fig-4-2", str(paths["fig_4_2.png"]), "--out-json", str(paths["numbers.json"]),
                     "--out-csv", str(paths["numbers.csv"])]) == 0
        outs.append({k: p.read_bytes() for k, p in paths.items()})
    assert outs[0] == outs[1]
    for fig in ("fig_4_1.png", "fig_4_2.png"):
        with Image.open(tmp_path / "one" / fig) as im:
            assert im.size[0] > 500 and im.size[1] > 300
    doc = json.loads(outs[0]["numbers.json"])
    assert "NOT the thesis" in doc["notice"]
    assert set(doc["summary"]["fig_4_1"]) == {"sketch-lines", "sketch-rgb", "lines-rgb"}
    f41, f42 = doc["fig_4_1"]["pairs"]["sketch-lines"], doc["fig_4_2"]["pairs"]["lines-rgb"]
    assert len(doc["fig_4_1"]["shape_ids"]) == 4 and np.shape(f41["distance"]) == (4, 4)
    assert np.shape(f42["distance"]) == (3, 3) and doc["fig_4_2"]["n_objects"] == 5
    # the interval is centred on eq. 4.4 and its half-width is the t-interval's over the views
    pv = np.array(f41["per_view"])
    _, lo, hi = ds.t_interval(pv, axis=2)
    np.testing.assert_allclose(np.array(f41["ci_high"]) - np.array(f41["ci_low"]), hi - lo, rtol=1e-9)
    np.testing.assert_allclose(f41["distance"], pv.mean(axis=2), rtol=1e-9)
    assert doc["summary"]["fig_4_1"]["sketch-lines"]["same_object_nearest_rows"] == np.mean(f41["same_nearest_rows"])
    table = pd.read_csv(tmp_path / "one" / "numbers.csv")
    assert len(table) == 3 * 16 + 3 * 9
    row = table[(table.figure == "fig_4_2") & (table.pair == "lines-rgb") & (table.row == "lines 30")
                & (table.column == "rgb 75")].iloc[0]
    assert row.distance == pytest.approx(f42["distance"][1][2], rel=1e-8)


def test_command_refuses_too_many_objects_before_writing(tmp_path, caplog):
    args = _write_study(tmp_path)
    out = tmp_path / "out"
    assert main(["domain_study", "--settings", _settings(objects_4_2=50), *args, "--fig-4-1", str(out / "a.png"),
                 "--fig-4-2", str(out / "b.png"), "--out-json", str(out / "n.json"), "--out-csv", str(out / "n.csv")]) == 1
    assert "objects_4_2 asks for 50 objects but only 5" in caplog.text
    assert not out.exists()
