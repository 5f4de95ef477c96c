import json

import pandas as pd
import pytest

from sketch3d.sketchydepth.tables import TableInputError, sketchydepth_table


def _metrics(tmp_path, model, fid_all, ssim, fb=None, bo=None, demo=True):
    p = tmp_path / f"{model}.json"
    p.write_text(json.dumps({"demo": demo, "fid": {"all": fid_all, "fb": fb, "bo": bo}, "ssim": ssim,
                             "n": {"all": 10, "fb": 7, "bo": 3}, "fid_network": "net", "fid_dims": 64}))
    return p


def test_rows_sit_beside_the_thesis_and_its_text_values(tmp_path):
    files = {"baseline": _metrics(tmp_path, "baseline", 140.0, 0.25, 100.0, 190.0),
             "sketchydepth": _metrics(tmp_path, "sketchydepth", 120.0, 0.3, 90.0, 160.0),
             "no_depth": _metrics(tmp_path, "no_depth", 131.0, 0.28123, None, None)}
    df = sketchydepth_table(files, tmp_path / "t.csv", tmp_path / "t.md", tmp_path / "t.json")
    row = df[(df["method"] == "sketchydepth") & (df["category"] == "test") & (df["metric"] == "FID")].iloc[0]
    assert row["thesis"] == 116.87 and row["difference"] == pytest.approx(120.0 - 116.87)
    ssim = df[(df["method"] == "no_depth") & (df["metric"] == "SSIM")].iloc[0]
    assert ssim["thesis"] == 0.2820 and ssim["ours"] == 0.2812   # 4 decimals, as the thesis prints SSIM
    bo = df[(df["method"] == "baseline") & (df["category"] == "bo")].iloc[0]
    assert bo["thesis"] == 184.73 and bo["ours"] == 190.0
    assert df[(df["method"] == "no_depth")]["category"].tolist() == ["test", "test"]  # no fb/bo FIDs: no rows
    md = (tmp_path / "t.md").read_text()
    assert "DEMO" in md and "164.80" in md and "0.2812 (0.2820, -0.0008)" in md
    assert json.loads((tmp_path / "t.json").read_text())["sketchydepth"]["fb"]["FID"] == 90.0
    assert list(pd.read_csv(tmp_path / "t.csv")["method"].unique()) == ["baseline", "no_depth", "sketchydepth"]


def test_bad_inputs_are_named(tmp_path):
    with pytest.raises(TableInputError, match="unknown model"):
        sketchydepth_table({"pix2pix": tmp_path / "x.json"}, tmp_path / "t.csv", tmp_path / "t.md", tmp_path / "t.json")
    with pytest.raises(TableInputError, match="run its image_metrics rule"):
        sketchydepth_table({"baseline": tmp_path / "absent.json"}, tmp_path / "t.csv", tmp_path / "t.md", tmp_path / "t.json")
    files = {"baseline": _metrics(tmp_path, "baseline", 1.0, 0.1), "sketchydepth": _metrics(tmp_path, "s", 1.0, 0.1,
                                                                                            demo=False)}
    with pytest.raises(TableInputError, match="mixed"):
        sketchydepth_table(files, tmp_path / "t.csv", tmp_path / "t.md", tmp_path / "t.json")
    assert not (tmp_path / "t.csv").exists()


def test_new_columns_follow_the_thesis_columns(tmp_path):
    def full(model, depth):
        p = tmp_path / f"{model}.json"
        m = {"demo": True, "fid": {"all": 120.0, "fb": 90.0, "bo": 160.0}, "ssim": 0.3,
             "n": {"all": 10, "fb": 7, "bo": 3}, "fid_network": "net", "fid_dims": 64,
             "kid": {"all": 0.0123, "fb": 0.01, "bo": None}, "fid_interval": {"all": [110.0, 131.5], "fb": [80.0, 99.0],
                                                                              "bo": None},
             "ssim_variant": "wang2004", "kid_settings": {"subsets": 100, "subset_size": 1000, "kernel": "(x.y / 64 + 1)^3"},
             "bootstrap_settings": {"resamples": 1000, "level": 0.95, "seed": 0},
             "depth": {"labels": {"all": {"AbsRel": 0.25, "delta1": 0.5, "RMSE": 0.125, "n": 10}},
                       "agreement": {"all": {"AbsRel": 0.1, "delta1": 0.75, "RMSE": 0.05, "n": 10}}} if depth else None}
        p.write_text(json.dumps(m))
        return p

    df = sketchydepth_table({"baseline": full("baseline", False), "sketchydepth": full("sketchydepth", True)},
                            tmp_path / "t.csv", tmp_path / "t.md", tmp_path / "t.json")
    sd = df[df["method"] == "sketchydepth"]
    columns = list(dict.fromkeys(sd["category"] + " " + sd["metric"]))
    assert columns[:4] == ["test FID", "test SSIM", "fb FID", "bo FID"]  # the thesis's columns first
    assert columns[4:] == ["test KID x1000", "test FID CI low", "test FID CI high", "fb KID x1000", "fb FID CI low",
                           "fb FID CI high", "test depth AbsRel", "test depth delta<1.25 %", "test depth RMSE %",
                           "test agreement AbsRel", "test agreement delta<1.25 %", "test agreement RMSE %"]
    value = lambda c, m: sd[(sd["category"] == c) & (sd["metric"] == m)]["ours"].iloc[0]  # noqa: E731
    assert value("test", "KID x1000") == 12.3 and value("test", "FID CI high") == 131.5
    assert value("test", "depth delta<1.25 %") == 50.0 and value("test", "agreement RMSE %") == 5.0
    assert not df[df["method"] == "baseline"]["metric"].str.startswith(("depth", "agreement")).any()
    md = (tmp_path / "t.md").read_text()
    assert md.index("test SSIM") < md.index("test KID x1000") and "Wang et al. 2004" in md and "95% bootstrap interval" in md
    assert json.loads((tmp_path / "t.json").read_text())["sketchydepth"]["test"]["depth AbsRel"] == 0.25


def test_each_row_names_its_test_inputs_and_other_inputs_are_rows_of_their_own(tmp_path):
    files = {"sketchydepth@ground_truth": _metrics(tmp_path, "s_gt", 100.0, 0.4, 80.0, 150.0, demo=False),
             "sketchydepth": _metrics(tmp_path, "s", 120.0, 0.3, 90.0, 160.0, demo=False),
             "baseline": _metrics(tmp_path, "b", 140.0, 0.25, demo=False)}
    df = sketchydepth_table(files, tmp_path / "t.csv", tmp_path / "t.md", tmp_path / "t.json", test_inputs="edgegan")
    assert list(df["method"].unique()) == ["baseline", "sketchydepth", "sketchydepth@ground_truth"]
    fid = df[(df["category"] == "test") & (df["metric"] == "FID")].set_index("method")
    assert fid.loc["sketchydepth", "thesis"] == 116.87 and fid.loc["sketchydepth", "inputs"].startswith("EdgeGAN")
    assert pd.isna(fid.loc["sketchydepth@ground_truth", "thesis"])  # not the thesis's run: not compared
    assert fid.loc["sketchydepth@ground_truth", "inputs"].startswith("ground-truth partial images")
    assert "Test inputs (partial images): EdgeGAN" in (tmp_path / "t.md").read_text()
    with pytest.raises(TableInputError, match="unknown model.*sketchydepth@sketch"):
        sketchydepth_table({"sketchydepth@sketch": files["sketchydepth"]}, tmp_path / "u.csv", tmp_path / "u.md",
                           tmp_path / "u.json", test_inputs="edgegan")
