from pathlib import Path

from sketch3d.config import load_params
from sketch3d.sketchydepth.preflight import missing_inputs

REPO = Path(__file__).resolve().parents[3]


def test_paper_inputs_each_named_until_present(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # no hub cache of this machine's
    params = load_params(REPO / "params.yaml", {"profile": "paper"})
    missing = missing_inputs(params, base=tmp_path, probe_network=False)
    whats = " | ".join(m.what for m in missing)
    assert len(missing) == 4, whats
    assert "sketchycoco_scene" in whats and "sketchycoco_others" in whats and "MiDaS v2.1" in whats
    assert "pytorch-fid" in whats
    midas = next(m for m in missing if "MiDaS" in m.what)
    assert midas.path.endswith("data/paper/weights/midas_v21-f6b98070.pt")
    assert "github.com/isl-org/MiDaS/releases/download/v2_1/midas_v21-f6b98070.pt" in midas.how_to_get
    weights = tmp_path / "data/paper/weights"
    weights.mkdir(parents=True)
    (weights / "midas_v21-f6b98070.pt").write_bytes(b"x")
    (weights / "pt_inception-2015-12-05-6726825d.pth").write_bytes(b"x")
    left = missing_inputs(params, base=tmp_path, probe_network=False)
    assert [m.what for m in left] == [m.what for m in missing if "SketchyCOCO" in m.what]


def test_an_archive_whose_url_answers_is_left_to_the_fetch_rule(tmp_path, monkeypatch):
    import dataclasses

    from sketch3d.sketchydepth import sources as chapter

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    served = tmp_path / "served.zip"
    served.write_bytes(b"PK")
    real = chapter.chapter_sources()
    fake = {k: dataclasses.replace(v, urls=(served.as_uri(),)) if k == "sketchycoco_scene" else v
            for k, v in real.items()}
    monkeypatch.setattr(chapter, "chapter_sources", lambda: fake)
    params = load_params(REPO / "params.yaml", {"profile": "paper"})
    whats = [m.what for m in missing_inputs(params, base=tmp_path, probe_network=True, timeout=1)]
    assert "SketchyCOCO archive 'sketchycoco_scene'" not in whats
    assert "SketchyCOCO archive 'sketchycoco_others'" in whats


def test_fetch_sketchycoco_names_the_registered_archives(tmp_path, caplog):
    from sketch3d.cli import main

    assert main(["fetch_sketchycoco", "--data-dir", str(tmp_path), "--out", str(tmp_path / "downloads/x.zip")]) == 1
    assert "SketchyCOCO-Scene.zip" in caplog.text and "SketchyCOCO-Others.zip" in caplog.text
