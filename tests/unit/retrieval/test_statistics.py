"""Numbers beside acc@k: mAP / MRR / median rank on hand-made ranks, McNemar and the bootstrap against independent
computations (scipy), and the tables that show them."""
import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from sketch3d.retrieval.methods import TABLES, get_method
from sketch3d.retrieval.metrics import mean_average_precision, mean_reciprocal_rank, median_rank, rank_based
from sketch3d.retrieval.statistics import (accuracy_intervals, bootstrap_accuracy, bootstrap_rng, chi2_p,
                                           exact_binomial_p, mcnemar, reference_method)
from sketch3d.retrieval.tables import retrieval_table

STATS = {"bootstrap": 2000, "ci_level": 0.95, "mcnemar_exact_below": 25}


def test_rank_based_numbers_on_hand_made_ranks():
    ranks = np.array([0, 1, 3, 0, 9])  # 1-based: 1, 2, 4, 1, 10
    assert mean_reciprocal_rank(ranks) == pytest.approx(100 * (1 + 1 / 2 + 1 / 4 + 1 + 1 / 10) / 5)
    assert median_rank(ranks) == 2.0
    assert median_rank(np.array([0, 1, 2, 3])) == 2.5  # even count: the mean of the middle two (2 and 3)

    def ap(relevance):  # the textbook AP of one ranked list: mean over the relevant items of precision there
        rel = np.asarray(relevance, float)
        precision = np.cumsum(rel) / np.arange(1, rel.size + 1)
        return float((precision * rel).sum() / rel.sum())

    brute = np.mean([ap(np.arange(12) == r) for r in ranks])
    assert mean_average_precision(ranks) == pytest.approx(100 * brute)
    assert rank_based(ranks) == {"mAP": 57.0, "MRR": 57.0, "median_rank": 2.0}
    with pytest.raises(ValueError, match="0-based integer ranks"):
        median_rank(np.array([0.5, 1.0]))


@pytest.mark.parametrize("b, c", [(0, 1), (3, 12), (7, 7), (1, 9), (20, 4), (0, 24), (13, 11)])
def test_exact_mcnemar_is_the_two_sided_binomial_test(b, c):
    assert exact_binomial_p(b, c) == pytest.approx(sps.binomtest(c, b + c, 0.5).pvalue, rel=1e-12)


@pytest.mark.parametrize("b, c", [(12, 28), (40, 60), (100, 140), (33, 30)])
def test_chi2_mcnemar_against_scipy_and_the_exact_test(b, c):
    stat = max(0, abs(b - c) - 1) ** 2 / (b + c)
    assert chi2_p(b, c) == pytest.approx(sps.chi2.sf(stat, 1), rel=1e-10)
    # the continuity-corrected chi-square approximates the exact test at these counts
    assert chi2_p(b, c) == pytest.approx(exact_binomial_p(b, c), rel=0.1)


def test_mcnemar_counts_the_discordant_queries_and_says_which_test():
    ref = np.array([1, 1, 1, 0, 0, 1, 0, 1], bool)
    row = np.array([1, 0, 0, 1, 0, 1, 1, 1], bool)
    t = mcnemar(ref, row, exact_below=25)
    assert (t.only_reference, t.only_row, t.test) == (2, 2, "exact") and t.p == 1.0
    big_ref, big_row = np.r_[np.ones(30, bool), np.zeros(10, bool)], np.r_[np.zeros(30, bool), np.ones(10, bool)]
    t = mcnemar(big_ref, big_row, exact_below=25)  # 40 discordant queries: the chi-square
    assert (t.only_reference, t.only_row, t.test) == (30, 10, "chi2")
    assert t.p == pytest.approx(sps.chi2.sf(19 ** 2 / 40, 1))
    assert mcnemar(big_ref, big_row, exact_below=41).test == "exact"
    with pytest.raises(ValueError, match="paired"):
        mcnemar(ref, row[:-1], 25)


def test_bootstrap_interval_matches_the_exact_bootstrap_distribution():
    """The resampled acc@1 of n queries with h hits is Binomial(n, h/n) / n exactly: the percentile interval of
    many resamples lies within one step (100/n) of that distribution's quantiles, and of scipy's bootstrap."""
    n, h = 40, 14
    ranks = np.r_[np.zeros(h, int), np.full(n - h, 7)]
    samples = bootstrap_accuracy(ranks, [1], 20000, bootstrap_rng(0, "chair", "test"))[0]
    exact = sps.binom(n, h / n)
    assert samples.mean() == pytest.approx(100 * h / n, abs=0.2)
    assert samples.std() == pytest.approx(100 * exact.std() / n, rel=0.03)
    ci = accuracy_intervals(ranks, [1, 5, 10], 20000, 0.95, bootstrap_rng(0, "chair", "test"))
    lo, hi = ci[1]
    step = 100 / n
    assert abs(lo - 100 * exact.ppf(0.025) / n) <= step and abs(hi - 100 * exact.ppf(0.975) / n) <= step
    ref = sps.bootstrap(((ranks < 1).astype(float),), np.mean, n_resamples=20000, method="percentile",
                        confidence_level=0.95, random_state=np.random.default_rng(1)).confidence_interval
    assert abs(lo - 100 * ref.low) <= step and abs(hi - 100 * ref.high) <= step
    assert ci[10] == (100.0, 100.0)  # every query's rank is < 10: no spread


def test_bootstrap_is_seeded_per_category_and_split():
    ranks = np.random.default_rng(3).integers(0, 6, size=50)
    one = accuracy_intervals(ranks, [1, 5], 500, 0.95, bootstrap_rng(0, "chair", "test"))
    assert one == accuracy_intervals(ranks, [1, 5], 500, 0.95, bootstrap_rng(0, "chair", "test"))
    draws = [bootstrap_accuracy(ranks, [1], 200, bootstrap_rng(s, c, sp))[0]
             for s, c, sp in ((0, "chair", "test"), (1, "chair", "test"), (0, "lamp", "test"), (0, "chair", "val"))]
    assert all(not np.array_equal(draws[0], d) for d in draws[1:])
    with pytest.raises(ValueError, match="retrieval.stats.ci_level"):
        accuracy_intervals(ranks, [1], 10, 1.5, bootstrap_rng(0, "chair", "test"))


def test_every_table_has_one_reference_row():
    for number in TABLES:
        method, why = reference_method(number)
        assert method in TABLES[number].methods and why
    assert reference_method("4.8")[0] == "baseline" and reference_method("B.4")[0] == "obb_augm4"


# ------------------------------------------------------------------ the tables
def _run(tmp_path, method, category, ranks, split="test"):
    """A metric file and its ranks file as `sketch3d retrieve` writes them (the numbers computed by hand)."""
    ranks = np.asarray(ranks)
    stem = tmp_path / method / f"{category}_{split}"
    stem.parent.mkdir(exist_ok=True)
    ids = np.array([f"q{i:02d}" for i in range(ranks.size)])
    np.savez_compressed(stem.with_suffix(".npz"), query_ids=ids, ranks=ranks, truth=np.zeros(ranks.size, int))
    rr = 1 / (ranks + 1)
    stem.with_suffix(".json").write_text(json.dumps({
        "profile": "demo", "method": method, "category": category, "split": split, "n_queries": int(ranks.size),
        "n_shapes": 10, "acc@1": 100 * float(np.mean(ranks < 1)), "acc@5": 100 * float(np.mean(ranks < 5)),
        "chance@1": 10.0, "mAP": 100 * float(rr.mean()), "MRR": 100 * float(rr.mean()),
        "median_rank": float(np.median(ranks + 1))}))
    return stem.with_suffix(".json"), stem.with_suffix(".npz")


RANKS = {  # 30 queries per category
    "baseline": np.r_[np.zeros(10, int), np.full(20, 3)],
    "baseline_centering": np.r_[np.zeros(10, int), np.full(20, 3)],
    "obb": np.r_[np.full(2, 6), np.zeros(20, int), np.full(8, 2)],  # loses 2 of the baseline's hits, gains 12
    "pixel": np.r_[np.zeros(10, int), np.full(20, 9)],
}


def _table(tmp_path, number, methods, settings=None):
    files = [_run(tmp_path, m, c, RANKS[m]) for m in methods for c in ("chair", "lamp")]
    out = tmp_path / number
    out.mkdir()
    df = retrieval_table(number, [f for f, _ in files], out / "t.csv", out / "t.md", out / "t.json",
                         rank_files=[r for _, r in files],
                         stat_settings=settings or {"seed": 0, "retrieval": {"stats": STATS}})
    return df, out


def test_table_shows_intervals_rank_numbers_and_mcnemar_after_the_thesis_columns(tmp_path):
    df, out = _table(tmp_path, "B.2", ("baseline", "baseline_centering", "obb", "pixel"))
    csv = pd.read_csv(out / "t.csv")
    cols = list(csv.columns)
    assert cols[:7] == ["table", "method", "category", "metric", "thesis", "ours", "difference"]
    assert cols[7:11] == ["ci_low", "ci_high", "mAP", "MRR"] and cols.index("mcnemar_p") < cols.index("n_queries")
    obb = csv[(csv["method"] == "OBB") & (csv["category"] == "chair")].set_index("metric")
    assert obb.loc["acc@1", "ours"] == pytest.approx(200 / 3, abs=0.01)
    assert obb.loc["acc@1", "ci_low"] < obb.loc["acc@1", "ours"] < obb.loc["acc@1", "ci_high"]
    assert (obb.loc["acc@1", "only_row"], obb.loc["acc@1", "only_reference"]) == (12, 2)
    assert obb.loc["acc@1", "mcnemar_test"] == "exact"
    assert obb.loc["acc@1", "mcnemar_p"] == pytest.approx(sps.binomtest(12, 14, 0.5).pvalue, rel=1e-3)
    assert pd.isna(obb.loc["acc@5", "mcnemar_p"])  # McNemar is on acc@1
    assert obb.loc["acc@5", "median_rank"] == 1.0 and obb.loc["acc@5", "MRR"] == pytest.approx(
        100 * np.mean(1 / (RANKS["obb"] + 1)), abs=0.01)
    base = csv[(csv["method"] == "Baseline") & (csv["metric"] == "acc@1")]
    assert set(base["mcnemar_test"]) == {"reference"} and base["mcnemar_p"].isna().all()
    same = csv[(csv["method"] == "Baseline w/ centering") & (csv["metric"] == "acc@1")]
    assert (same["mcnemar_p"] == 1.0).all()  # the same hits as the reference: no discordant query

    md = (out / "t.md").read_text()
    table_part, stats_part = md.split("## Beside acc@k (ours only)")
    assert "mAP" not in table_part and "McNemar" not in table_part  # the thesis comparison is not crowded
    assert "against the reference row Baseline" in stats_part and "reference" in stats_part
    lo, hi = obb.loc["acc@1", "ci_low"], obb.loc["acc@1", "ci_high"]
    assert f"{lo:.2f}-{hi:.2f}" in stats_part and "(exact; +12 -2)" in stats_part
    metrics = json.loads((out / "t.json").read_text())
    assert metrics["OBB"]["chair"]["acc@1_ci_low"] == lo and "mcnemar_p@1" not in metrics["Baseline"]["chair"]
    assert metrics["OBB"]["lamp"]["mAP"] == metrics["OBB"]["lamp"]["MRR"]

    # the same queries, seed and stream: OBB's interval is the same number in Table 4.8
    again = tmp_path / "again"
    again.mkdir()
    _, out48 = _table(again, "4.8", ("baseline", "obb"))
    assert json.loads((out48 / "t.json").read_text())["OBB"]["chair"]["acc@1_ci_low"] == lo


def test_table_refuses_ranks_of_another_run(tmp_path):
    m1, r1 = _run(tmp_path, "baseline", "chair", RANKS["baseline"])
    m2, r2 = _run(tmp_path, "obb", "chair", RANKS["obb"])
    with pytest.raises(ValueError, match="not the one beside"):
        retrieval_table("4.8", [m1, m2], tmp_path / "t.csv", tmp_path / "t.md", rank_files=[r2, r1],
                        stat_settings={"seed": 0, "retrieval": {"stats": STATS}})
    np.savez_compressed(r2, query_ids=np.array([f"q{i:02d}" for i in range(30)]), ranks=RANKS["pixel"])
    with pytest.raises(ValueError, match="do not give the numbers of"):
        retrieval_table("4.8", [m1, m2], tmp_path / "t.csv", tmp_path / "t.md", rank_files=[r1, r2],
                        stat_settings={"seed": 0, "retrieval": {"stats": STATS}})
    with pytest.raises(ValueError, match="not a retrieval ranks file"):
        r1.unlink()
        retrieval_table("4.8", [m1, m2], tmp_path / "t.csv", tmp_path / "t.md", rank_files=[r1, r2],
                        stat_settings={"seed": 0, "retrieval": {"stats": STATS}})


def test_rows_under_both_choices_are_tested_against_the_main_reference_row(tmp_path):
    """The paper profile shows a method under this run's searches and under the thesis's values: two rows, the
    reference (Table B.4: the four-image augmentation) is its row under the main choice."""
    ranks = {"search": np.r_[np.zeros(20, int), np.full(10, 3)], "thesis": np.r_[np.zeros(12, int), np.full(18, 3)]}
    files = []
    for name, choice in (("obb_augm4", "search"), ("obb_augm4", "thesis"), ("obb_augm4_no_t", "search")):
        folder = tmp_path / (name if choice == "search" else f"{name}@{choice}")
        folder.mkdir()
        m, r = _run(folder, name, "chair", ranks[choice])
        data = json.loads(m.read_text()) | {"main_choice": "search", "settings": {"choice": choice}}
        m.write_text(json.dumps(data))
        files.append((m, r))
    retrieval_table("B.4", [m for m, _ in files], tmp_path / "t.csv", tmp_path / "t.md", tmp_path / "t.json",
                    rank_files=[r for _, r in files], stat_settings={"seed": 0, "retrieval": {"stats": STATS}})
    csv = pd.read_csv(tmp_path / "t.csv")
    acc1 = csv[csv["metric"] == "acc@1"].set_index("method")
    assert acc1.loc["OBB, Augm. (4 imgs)", "mcnemar_test"] == "reference"
    thesis_row = acc1.loc["OBB, Augm. (4 imgs) [the thesis's box and transforms]"]
    assert (thesis_row["only_reference"], thesis_row["only_row"]) == (8, 0)
    assert thesis_row["mcnemar_p"] == pytest.approx(sps.binomtest(0, 8, 0.5).pvalue, rel=1e-3)
    assert acc1.loc["OBB, Augm. w/o transl. (3 imgs)", "mcnemar_p"] == 1.0
    table = json.loads((tmp_path / "t.json").read_text())
    assert table["OBB, Augm. (4 imgs) [the thesis's box and transforms]"]["chair"]["settings"]["choice"] == "thesis"
    assert "mcnemar_p@1" in table["OBB, Augm. (4 imgs) [the thesis's box and transforms]"]["chair"]
