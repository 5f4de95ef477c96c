"""A table's variation over seeds and CPU kinds: values against numpy, the marks, and the inputs it refuses."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from sketch3d.report.variation import VariationInputError, cell_variation, run_name, summary, write_variation


def _table(path, values, notice=True):
    nested = {"A": {"chair": {"acc@1": values[0], "acc@5": values[1]}}, "B": {"lamp": {"acc@1": values[2]}}}
    if notice:
        nested["notice"] = "demo: not the thesis's numbers"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nested))
    return path


def test_spread_and_marks_against_numpy(tmp_path):
    ref = _table(tmp_path / "results/demo/tables/table_4_8.json", [50.0, 80.0, 30.0])
    seeds = [_table(tmp_path / f"results/demo-seed{i}/tables/table_4_8.json", v)
             for i, v in ((1, [54.0, 80.0, 31.0]), (2, [46.0, 80.0, 29.5]))]
    cpu = _table(tmp_path / "results/demo-cpu_avx2emu/tables/table_4_8.json", [50.0, 81.0, 30.0])
    cells = {(c.method, c.group, c.metric): c for c in cell_variation(
        ref, seeds, [cpu], thesis={("A", "chair", "acc@1"): 55.0, ("B", "lamp", "acc@1"): 40.0})}
    a1 = cells[("A", "chair", "acc@1")]
    assert a1.seed_std == pytest.approx(np.std([50, 54, 46], ddof=1)) and (a1.seed_min, a1.seed_max) == (46, 54)
    assert a1.cpu_diff == 0 and a1.cpu_within is True
    assert a1.thesis_within is True  # |50 - 55| = 5 <= 2 * 4
    a5 = cells[("A", "chair", "acc@5")]
    assert a5.seed_std == 0 and a5.cpu_diff == 1 and a5.cpu_within is False and a5.thesis_within is None
    b1 = cells[("B", "lamp", "acc@1")]
    assert b1.seed_std == pytest.approx(np.std([30, 31, 29.5], ddof=1)) and b1.thesis_within is False
    s = summary(list(cells.values()))
    assert s["cpu_cells_differing"] == 1 and s["cpu_cells_outside_seed_spread"] == 1
    assert (s["thesis_cells_within_seed_spread"], s["thesis_cells_compared"]) == (1, 2)
    assert run_name(seeds[0]) == "demo-seed1"


def test_too_few_seeds_mark_nothing(tmp_path):
    ref = _table(tmp_path / "a.json", [50.0, 80.0, 30.0])
    one = _table(tmp_path / "b.json", [52.0, 80.0, 30.0])
    cells = cell_variation(ref, [one], [_table(tmp_path / "c.json", [60.0, 80.0, 30.0])])
    assert all(c.seed_std is None and c.cpu_within is None for c in cells)


def test_runs_of_another_table_or_code_are_refused(tmp_path):
    ref = _table(tmp_path / "a.json", [50.0, 80.0, 30.0])
    other = tmp_path / "b.json"
    other.write_text(json.dumps({"A": {"chair": {"acc@1": 1.0}}}))
    with pytest.raises(VariationInputError, match=r"b\.json does not hold the reference's cells: missing"):
        cell_variation(ref, [other])
    with pytest.raises(VariationInputError, match="no such metrics file"):
        cell_variation(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(VariationInputError, match="not JSON"):
        cell_variation(tmp_path / "bad.json")


def test_command_writes_the_page_and_the_csv(tmp_path):
    ref = _table(tmp_path / "results/demo/tables/table_4_8.json", [50.0, 80.0, 30.0])
    seeds = [_table(tmp_path / f"results/demo-seed{i}/tables/table_4_8.json", [50.0 + i, 80.0, 30.0]) for i in (1, 2)]
    csv = tmp_path / "t.csv"
    pd.DataFrame([{"method": "A", "category": "chair", "metric": "acc@1", "thesis": 51.0},
                  {"method": "A", "category": "chair", "metric": "acc@5", "thesis": None}]).to_csv(csv, index=False)
    out_csv, out_md = tmp_path / "v/table_4_8.csv", tmp_path / "v/table_4_8.md"
    proc = subprocess.run([sys.executable, "-m", "sketch3d.cli", "table_variation", "--table", "4.8",
                           "--settings", '{"profile": "demo"}', "--reference", str(ref), "--table-csv", str(csv),
                           "--seeds", *map(str, seeds), "--cpus", "--out-csv", str(out_csv), "--out-md", str(out_md)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    md = out_md.read_text()
    from sketch3d import DEMO_NOTICE

    assert "demo-seed1, demo-seed2" in md and DEMO_NOTICE in md
    rows = pd.read_csv(out_csv)
    a1 = rows[(rows.method == "A") & (rows.metric == "acc@1")].iloc[0]
    assert a1.seed_std == pytest.approx(1.0) and a1.thesis == 51.0 and bool(a1.thesis_within) is True
    # same inputs, same bytes
    first = out_csv.read_bytes(), md
    write_variation("4.8", ref, seeds, [], out_csv, out_md, table_csv=csv, notice=DEMO_NOTICE)
    assert (out_csv.read_bytes(), out_md.read_text()) == first


def test_a_table_the_thesis_does_not_print_has_no_thesis_cells(tmp_path):
    # the reconstruction scores' CSV: its own columns, an empty thesis column (the thesis prints no such table)
    from sketch3d.report.variation import thesis_cells

    scores = tmp_path / "table_reconstruction.csv"
    pd.DataFrame({"table": ["reconstruction"] * 2, "example": ["00", "01"], "metric": ["iou"] * 2,
                  "ours": [0.3, 0.4], "thesis": [None, None]}).to_csv(scores, index=False)
    assert thesis_cells(scores) == {}
    runs = [_table(tmp_path / f"s{i}.json", [50.0 + i, 80.0, 30.0 - i]) for i in range(3)]
    cells = write_variation("x", runs[0], runs[1:], [], tmp_path / "v.csv", tmp_path / "v.md", scores)
    assert all(c.thesis is None for c in cells) and len(cells) == 3
    page = (tmp_path / "v.md").read_text()
    assert "no CPU kind measured" in page and "the thesis prints no cell of it" in page
    # a table that does print thesis values must still carry the columns that place them
    broken = tmp_path / "broken.csv"
    pd.DataFrame({"metric": ["acc@1"], "thesis": [10.0]}).to_csv(broken, index=False)
    with pytest.raises(VariationInputError, match="lacks the columns"):
        thesis_cells(broken)


def _grid(path, best_label, rot_label, values, box):
    nested = {"Random 3 from: [53.1%, 98.7%]": {"chair": {"acc@1": values[0]}},
              best_label: {"chair": {"acc@1": values[1]}}, rot_label: {"lamp": {"acc@1": values[2]}},
              "choice": {"box": box, "translation": [-26, 2]}, "notice": "demo"}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nested))
    return path


def test_rows_named_after_each_runs_choice_are_lined_up_by_their_words(tmp_path):
    """Tables 4.1 and 4.2 name rows after the run's own choice: another seed's 'Best: 80.8% (181x181)' is the
    reference's 'Best: 78.6% (176x176)'; the chosen box itself is a cell; a row that differs in words is refused."""
    ref = _grid(tmp_path / "r/tables/table_4_1.json", "Best: 78.6% (176x176)", "Rot. (best both) 31.5",
                [92.0, 90.0, 80.0], 176)
    seeds = [_grid(tmp_path / "s1/tables/table_4_1.json", "Best: 80.8% (181x181)", "Rot. (best both) -44",
                   [90.0, 86.0, 70.0], 181),
             _grid(tmp_path / "s2/tables/table_4_1.json", "Best: 70% (150x150)", "Rot. (best both) 2.5",
                   [94.0, 88.0, 75.0], 150)]
    cells = {(c.method, c.group, c.metric): c for c in cell_variation(ref, seeds)}
    best = cells[("Best: 78.6% (176x176)", "chair", "acc@1")]
    assert (best.seed_min, best.seed_max) == (86.0, 90.0) and best.seed_std == pytest.approx(np.std([90, 86, 88], ddof=1))
    assert cells[("Rot. (best both) 31.5", "lamp", "acc@1")].seed_min == 70.0
    box = cells[("choice", "", "box")]
    assert (box.ours, box.seed_min, box.seed_max) == (176.0, 150.0, 181.0)
    assert not any(m == "choice" and x == "translation" for m, _, x in cells)  # a list is no cell
    other = _grid(tmp_path / "s3/tables/table_4_1.json", "Worst: 78.6% (176x176)", "Rot. (best both) 31.5",
                  [1.0, 2.0, 3.0], 176)
    with pytest.raises(VariationInputError, match="does not hold the reference's cells"):
        cell_variation(ref, [other])
