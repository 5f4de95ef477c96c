import json
from pathlib import Path

from sketch3d.cli import main

REPO = Path(__file__).resolve().parents[2]


def test_check_params_ok_and_bad(capsys):
    assert main(["check-params", "--params", str(REPO / "params.yaml")]) == 0
    assert "valid" in capsys.readouterr().out
    assert main(["check-params", "--params", str(REPO / "params.yaml"), "--set", "profile=nope"]) == 1


def test_bad_settings_json_is_reported(tmp_path, caplog):
    rc = main(["render_gallery", "--settings", "{not json", "--shapes", "x", "--category", "chair", "--split", "test",
               "--out", str(tmp_path)])
    assert rc == 1 and "not valid JSON" in caplog.text


def test_fetch_of_an_unregistered_path_names_the_registered_ones(tmp_path, caplog):
    rc = main(["fetch", "--data-dir", str(tmp_path), "--out", str(tmp_path / "downloads" / "nope.zip")])
    assert rc == 1 and "AmateurSketch-3DChair.zip" in caplog.text


def test_table_command_writes_three_files(tmp_path):
    m = tmp_path / "m.json"
    m.write_text(json.dumps({"profile": "demo", "method": "baseline", "category": "lamp", "n_queries": 3,
                             "n_shapes": 3, "acc@1": 33.3333, "acc@5": 100.0, "chance@1": 33.33}))
    rc = main(["retrieval_table", "--table", "4.8", "--thesis", str(REPO / "src/sketch3d/reference/table_4_8.csv"),
               "--metrics", str(m), "--out-csv", str(tmp_path / "t.csv"),
               "--out-md", str(tmp_path / "t.md"), "--out-json", str(tmp_path / "t.json")])
    assert rc == 0
    assert json.loads((tmp_path / "t.json").read_text())["Baseline"]["lamp"]["acc@1"] == 33.33
