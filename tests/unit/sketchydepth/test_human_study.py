import json
import re
from html import escape as html_escape

import numpy as np
import pytest
from scipy.stats import beta

from sketch3d import DEMO_NOTICE
from sketch3d.cli import main
from sketch3d.sketchydepth.human_study import StudyError, human_study_page, human_study_table, thesis_numbers
from sketch3d.sketchydepth.triplets import write_depths, write_triplets

IDS = [f"s{i:02d}" for i in range(12)]
KINDS = ["fb", "fb", "bo"] * 4  # 8 fb, 4 bo


def _sets(tmp_path):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (12, 8, 8, 3), dtype=np.uint8)
    write_triplets(tmp_path / "gen", IDS, KINDS, img, img)
    write_depths(tmp_path / "ours", IDS, rng.integers(0, 256, (12, 8, 8), dtype=np.uint8))
    write_depths(tmp_path / "midas", IDS, rng.integers(0, 256, (12, 8, 8), dtype=np.uint8))


def _settings(items=5, seed=1, profile="demo"):
    return {"profile": profile, "seed": seed, "sketchydepth": {"human_study": {"items": items, "ci_level": 0.95}}}


def _page(tmp_path, name="page.html", **kw):
    out = tmp_path / name
    result = human_study_page(_settings(**kw), tmp_path / "gen", tmp_path / "ours", tmp_path / "midas", out)
    return out.read_text(), result


def test_page_holds_every_item_inline_and_nothing_external(tmp_path):
    _sets(tmp_path)
    html, result = _page(tmp_path)
    items = result["items"]
    assert len(items) == 5 and len({i["triplet_id"] for i in items}) == 5
    assert all(KINDS[IDS.index(i["triplet_id"])] == "fb" for i in items)
    for i in items:
        assert f'data-item="{i["item"]}" data-triplet="{i["triplet_id"]}"' in html
        block = html.split(f'data-item="{i["item"]}"')[1].split('class="item"')[0]
        assert re.findall(r'value="(ours|midas)"', block)[0] == i["left"]  # left/right as returned
    assert html.count("data:image/png;base64,") == 3 * 5
    assert not re.search(r"https?:|//[a-z]|src=\"(?!data:)|href=\"(?!#)", html)  # no external resource
    assert html_escape(DEMO_NOTICE) in html


def test_page_is_seeded(tmp_path):
    _sets(tmp_path)
    a, ra = _page(tmp_path, "a.html")
    b, _ = _page(tmp_path, "b.html")
    c, rc = _page(tmp_path, "c.html", seed=2)
    assert a == b and ra != rc
    lefts = [i["left"] for seed in range(10) for i in _page(tmp_path, "d.html", seed=seed)[1]["items"]]
    assert 0 < lefts.count("ours") < len(lefts)  # both orders occur
    with pytest.raises(StudyError, match=r"needs 9 .*\(fb\).* has 8"):
        _page(tmp_path, "e.html", items=9)


def _answers(tmp_path, participant, items, prefer_ours):
    path = tmp_path / f"answers_{participant}.csv"
    rows = ["participant,item,triplet_id,chosen"]
    rows += [f"{participant},{i['item']},{i['triplet_id']},{'ours' if k < prefer_ours else 'midas'}"
             for k, i in enumerate(items)]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_answers_round_trip_to_the_table(tmp_path):
    _sets(tmp_path)
    _, result = _page(tmp_path)
    files = [_answers(tmp_path, "p1", result["items"], 5), _answers(tmp_path, "p2", result["items"], 3)]
    out, md = tmp_path / "t.json", tmp_path / "t.md"
    table = human_study_table(files, out, demo=True, ci_level=0.95, out_md=md)
    assert json.loads(out.read_text()) == table
    assert (table["participants"], table["answers"], table["ours"]) == (2, 10, 8)
    assert table["share"] == pytest.approx(80.0)
    k, n = 8, 10  # Clopper-Pearson written out with the beta distribution
    assert table["ci"] == pytest.approx([100 * beta.ppf(0.025, k, n - k + 1), 100 * beta.ppf(0.975, k + 1, n - k)])
    assert table["per_participant"] == {"p1": {"answers": 5, "ours": 5}, "p2": {"answers": 5, "ours": 3}}
    assert table["thesis"]["answers"] == 2300 and table["thesis"]["ours"] == 2153
    assert table["thesis"]["share"] == pytest.approx(93.6087, abs=1e-4)
    text = md.read_text()
    assert DEMO_NOTICE in text and "| thesis | 23 | 2300 | 2153 | 93.60 |" in text and "| ours | 2 | 10 | 8 | 80.00 |" in text


def test_malformed_answers_name_file_and_line(tmp_path):
    bad = tmp_path / "answers_x.csv"
    bad.write_text("participant,item,triplet_id,chosen\nx,1,s00,ours\nx,2,s01,left\n")
    with pytest.raises(StudyError, match=r"answers_x\.csv, line 3: chosen 'left'"):
        human_study_table([bad], tmp_path / "t.json")
    bad.write_text("who,item,triplet_id,chosen\nx,1,s00,ours\n")
    with pytest.raises(StudyError, match=r"answers_x\.csv, line 1: the header"):
        human_study_table([bad], tmp_path / "t.json")
    bad.write_text("participant,item,triplet_id,chosen\nx,one,s00,ours\n")
    with pytest.raises(StudyError, match=r"line 2: item 'one'"):
        human_study_table([bad], tmp_path / "t.json")
    bad.write_text("participant,item,triplet_id,chosen\nx,1,s00,ours\nx,1,s00,midas\n")
    with pytest.raises(StudyError, match=r"line 3: participant x answered item 1 already"):
        human_study_table([bad], tmp_path / "t.json")
    assert not (tmp_path / "t.json").exists()


def test_table_command(tmp_path):
    f = _answers(tmp_path, "p9", [{"item": 1, "triplet_id": "a"}, {"item": 2, "triplet_id": "b"}], 1)
    out = tmp_path / "t.json"
    assert main(["human_study_table", "--answers", str(f), "--out", str(out),
                 "--settings", json.dumps(_settings(profile="paper"))]) == 0
    t = json.loads(out.read_text())
    assert (t["answers"], t["ours"], t["demo"]) == (2, 1, False) and "notice" not in t
    assert thesis_numbers()["participants"] == 23


def test_page_command(tmp_path):
    _sets(tmp_path)
    out = tmp_path / "study.html"
    assert main(["human_study_page", "--settings", json.dumps(_settings(items=4)), "--generated", str(tmp_path / "gen"),
                 "--ours", str(tmp_path / "ours"), "--midas", str(tmp_path / "midas"), "--out", str(out)]) == 0
    assert out.read_text().count('class="item"') == 4
