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
    _midas_layout(weights / "midas_v21-f6b98070.pt", "resnext101_32x8d", 256)  # the official architecture
    (weights / "pt_inception-2015-12-05-6726825d.pth").write_bytes(b"x")
    left = missing_inputs(params, base=tmp_path, probe_network=False)
    assert [m.what for m in left] == [m.what for m in missing if "SketchyCOCO" in m.what]


def _midas_layout(path: Path, encoder: str, features: int) -> None:
    """A torch-saved MidasNet state dict of meta tensors: its keys and shapes, no values (no disk, no time)."""
    import torch

    from sketch3d.sketchydepth.midas import MidasNet

    with torch.device("meta"):
        torch.save(MidasNet(encoder, features).state_dict(), path)


def test_a_midas_file_of_another_architecture_is_named_before_any_job(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    params = load_params(REPO / "params.yaml", {"profile": "paper"})
    path = tmp_path / "data/paper/weights/midas_v21-f6b98070.pt"
    path.parent.mkdir(parents=True)
    _midas_layout(path, "resnet50", 64)  # a smaller labeller's file where v2.1's is expected
    [wrong] = [m for m in missing_inputs(params, base=tmp_path, probe_network=False) if "MiDaS" in m.what]
    assert wrong.path == str(path) and "does not fit" in wrong.what
    assert "MidasNet(encoder='resnet50', features=64)" in wrong.how_to_get  # what the file holds
    assert "MidasNet(encoder='resnext101_32x8d', features=256)" in wrong.how_to_get  # what the params ask for
    path.write_bytes(b"not torch")
    [wrong] = [m for m in missing_inputs(params, base=tmp_path, probe_network=False) if "MiDaS" in m.what]
    assert "cannot be read as torch weights" in wrong.how_to_get


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
