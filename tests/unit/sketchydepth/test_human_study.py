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
    result = human_study_page(_settings(**kw), tmp_path / "gen", tmp_path / "ours", tmp_path / "midas", out,
                              tmp_path / "items.json")
    return out.read_text(), result


def _items(tmp_path, items):
    """An items.json as the page writes it (written here from the list, independently of the page)."""
    path = tmp_path / "items.json"
    path.write_text(json.dumps({"page": "page.html", "items": items}))
    return path


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
    assert json.loads((tmp_path / "items.json").read_text())["items"] == result["items"]  # the page's own file
    table = human_study_table(files, tmp_path / "items.json", out, demo=True, ci_level=0.95, out_md=md)
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
    items = _items(tmp_path, [{"item": 1, "triplet_id": "s00", "left": "ours"},
                              {"item": 2, "triplet_id": "s01", "left": "midas"}])
    bad = tmp_path / "answers_x.csv"
    bad.write_text("participant,item,triplet_id,chosen\nx,1,s00,ours\nx,2,s01,left\n")
    with pytest.raises(StudyError, match=r"answers_x\.csv, line 3: chosen 'left'"):
        human_study_table([bad], items, tmp_path / "t.json")
    bad.write_text("who,item,triplet_id,chosen\nx,1,s00,ours\n")
    with pytest.raises(StudyError, match=r"answers_x\.csv, line 1: the header"):
        human_study_table([bad], items, tmp_path / "t.json")
    bad.write_text("participant,item,triplet_id,chosen\nx,one,s00,ours\n")
    with pytest.raises(StudyError, match=r"line 2: item 'one'"):
        human_study_table([bad], items, tmp_path / "t.json")
    bad.write_text("participant,item,triplet_id,chosen\nx,1,s00,ours\nx,1,s00,midas\n")
    with pytest.raises(StudyError, match=r"line 3: participant x answered item 1 already"):
        human_study_table([bad], items, tmp_path / "t.json")
    assert not (tmp_path / "t.json").exists()


def test_table_command(tmp_path):
    page = [{"item": 1, "triplet_id": "a"}, {"item": 2, "triplet_id": "b"}]
    f = _answers(tmp_path, "p9", page, 1)
    out = tmp_path / "t.json"
    assert main(["human_study_table", "--answers", str(f), "--items", str(_items(tmp_path, page)), "--out", str(out),
                 "--settings", json.dumps(_settings(profile="paper"))]) == 0
    t = json.loads(out.read_text())
    assert (t["answers"], t["ours"], t["demo"]) == (2, 1, False) and "notice" not in t
    assert thesis_numbers()["participants"] == 23


def test_page_command(tmp_path):
    _sets(tmp_path)
    out = tmp_path / "study.html"
    assert main(["human_study_page", "--settings", json.dumps(_settings(items=4)), "--generated", str(tmp_path / "gen"),
                 "--ours", str(tmp_path / "ours"), "--midas", str(tmp_path / "midas"), "--out", str(out),
                 "--out-items", str(tmp_path / "i.json")]) == 0
    assert out.read_text().count('class="item"') == 4
    assert [i["item"] for i in json.loads((tmp_path / "i.json").read_text())["items"]] == [1, 2, 3, 4]


PAGE = [{"item": k, "triplet_id": f"s{k:02d}", "left": "ours"} for k in range(1, 5)]


def _csv(tmp_path, name, lines):
    path = tmp_path / name
    path.write_text("participant,item,triplet_id,chosen\n" + "".join(line + "\n" for line in lines))
    return path


def _mismatch(tmp_path, files):
    with pytest.raises(StudyError, match="do not match the study page's items") as exc:
        human_study_table(files, _items(tmp_path, PAGE), tmp_path / "t.json")
    assert not (tmp_path / "t.json").exists()
    return str(exc.value)


def test_answers_are_checked_against_the_pages_items(tmp_path):
    full = [f"p1,{k},s{k:02d},ours" for k in range(1, 5)]
    ok = _csv(tmp_path, "answers_p1.csv", full)
    assert human_study_table([ok], _items(tmp_path, PAGE), tmp_path / "t.json")["answers"] == 4
    (tmp_path / "t.json").unlink()
    # too few answers: the participant, the count and the unanswered items are named
    short = _csv(tmp_path, "answers_p2.csv", [f"p2,{k},s{k:02d},midas" for k in (1, 3)])
    msg = _mismatch(tmp_path, [ok, short])
    assert "participant p2 (" in msg and "answers_p2.csv): 2 answers, the page has 4 items; unanswered: 2, 4" in msg
    assert "p1" not in msg.split("items):")[1]  # the complete participant is not named
    # an item number that is not on the page (an answers file of a larger page)
    extra = _csv(tmp_path, "answers_p3.csv", [*(f"p3,{k},s{k:02d},ours" for k in range(1, 5)), "p3,5,s05,ours"])
    msg = _mismatch(tmp_path, [extra])
    assert "answers_p3.csv, line 6: item 5 is not on the page (items 1..4)" in msg
    assert "participant p3 (" in msg and "5 answers, the page has 4 items" in msg and "unanswered" not in msg
    # a triplet id other than the page's for that item (an answers file of another page, another seed)
    other = _csv(tmp_path, "answers_p4.csv", ["p4,1,s01,ours", "p4,2,s02,ours", "p4,3,s07,ours", "p4,4,s04,ours"])
    msg = _mismatch(tmp_path, [other])
    assert "answers_p4.csv, line 4: item 3 is triplet s03 on the page, the answer names s07" in msg
    assert msg.count("\n  ") == 1  # only that one problem listed
    # two files of the same participant that together answer everything are fine (a browser names the second
    # download "answers_p5 (1).csv")
    a = _csv(tmp_path, "answers_p5.csv", [f"p5,{k},s{k:02d},ours" for k in (1, 2)])
    b = _csv(tmp_path, "answers_p5 (1).csv", [f"p5,{k},s{k:02d},midas" for k in (3, 4)])
    assert human_study_table([a, b], _items(tmp_path, PAGE), tmp_path / "t.json")["ours"] == 2
    (tmp_path / "t.json").unlink()
    # a file whose rows name another participant than its name, or several participants, is named
    renamed = _csv(tmp_path, "answers_p6.csv", [f"p7,{k},s{k:02d},ours" for k in range(1, 5)])
    msg = _mismatch(tmp_path, [renamed])
    assert "answers_p6.csv: answers of participant(s) p7, but the page saves participant p6's answers" in msg
    merged = _csv(tmp_path, "all.csv", [*(f"p8,{k},s{k:02d},ours" for k in range(1, 5)),
                                        *(f"p9,{k},s{k:02d},ours" for k in range(1, 5))])
    msg = _mismatch(tmp_path, [merged])
    assert "all.csv: answers of participant(s) p8, p9; one file holds one participant's answers" in msg


def test_a_missing_or_malformed_items_file_is_named(tmp_path):
    ok = _csv(tmp_path, "answers_p1.csv", ["p1,1,s01,ours"])
    with pytest.raises(StudyError, match=r"items \S*nowhere\.json do not exist: build the page"):
        human_study_table([ok], tmp_path / "nowhere.json", tmp_path / "t.json")
    (tmp_path / "bad.json").write_text('{"pages": []}')
    with pytest.raises(StudyError, match=r"bad\.json is not the study page's items file"):
        human_study_table([ok], tmp_path / "bad.json", tmp_path / "t.json")
    (tmp_path / "gap.json").write_text(json.dumps({"items": [{"item": 1, "triplet_id": "a"},
                                                             {"item": 3, "triplet_id": "b"}]}))
    with pytest.raises(StudyError, match=r"gap\.json: items must be numbered 1..N once each, got \[1, 3\]"):
        human_study_table([ok], tmp_path / "gap.json", tmp_path / "t.json")
