"""``sketch3d reconstruct``: a bundled QuickDraw chair becomes a watertight OBJ; bad sketch files are named."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import trimesh
from _inversion_fakes import FakeClip, FakeGenerator, fake_mean_style, install, settings

import sketch3d
from sketch3d.reconstruction import reconstruct as rec

CHAIR = Path(sketch3d.__file__).parent / "data" / "quickdraw" / "chair.ndjson"


@pytest.fixture
def fakes(monkeypatch):
    install(monkeypatch)


def test_quickdraw_chair_gives_a_watertight_obj(fakes, tmp_path):
    gen = FakeGenerator()
    lines = []
    out = tmp_path / "chair.obj"
    summary = rec.reconstruct(CHAIR, out, settings(), gen, iterations=4, progress_every=2, clip=FakeClip(),
                              mean=fake_mean_style(gen, 64), echo=lines.append)
    mesh = trimesh.load(out, force="mesh")
    assert mesh.is_watertight and len(mesh.faces) > 0
    assert summary["watertight"] and summary["iterations"] == 4
    assert [line.split()[2] for line in lines] == ["2/4", "4/4"]
    assert not list(tmp_path.glob(".*"))  # no temporary left


def test_quickdraw_sketch_is_rasterised_like_the_data_stage():
    from sketch3d.data.quickdraw import read_quickdraw
    from sketch3d.data.sketch import rasterize

    expect = np.asarray(rasterize(read_quickdraw(CHAIR, limit=2)[1], size=224))
    np.testing.assert_array_equal(rec.read_sketch_image(CHAIR, index=1), expect)


@pytest.mark.parametrize("name,content,match", [
    ("missing.json", None, "does not exist"),
    ("broken.json", "{not json", "cannot read sketch"),
    ("drawing.txt", "x", "unknown extension"),
    ("broken.png", "not a png", "cannot read sketch image"),
])
def test_bad_sketch_files_are_named(fakes, tmp_path, name, content, match):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(rec.ReconstructError, match=match) as err:
        rec.reconstruct(path, tmp_path / "out.obj", settings(), FakeGenerator(), clip=FakeClip())
    assert name in str(err.value)
    assert not (tmp_path / "out.obj").exists()


def test_blank_image_and_bad_options(fakes, tmp_path):
    from PIL import Image

    blank = tmp_path / "blank.png"
    Image.new("L", (64, 64), 255).save(blank)
    with pytest.raises(rec.ReconstructError, match="blank"):
        rec.reconstruct(blank, tmp_path / "o.obj", settings(), FakeGenerator(), clip=FakeClip())
    with pytest.raises(rec.ReconstructError, match=r"\.obj"):
        rec.reconstruct(CHAIR, tmp_path / "o.ply", settings(), FakeGenerator(), clip=FakeClip())
    with pytest.raises(rec.ReconstructError, match="supervision"):
        rec.reconstruct(CHAIR, tmp_path / "o.obj", settings(), FakeGenerator(), supervision="sdf")
    with pytest.raises(rec.ReconstructError, match="generator weights"):
        rec.reconstruct(CHAIR, tmp_path / "o.obj", settings(), tmp_path / "none.pt", clip=FakeClip())


def test_cli_reconstruct(fakes, tmp_path, monkeypatch, capsys):
    import json

    import torch

    from sketch3d.cli import main
    from sketch3d.reconstruction import inversion

    monkeypatch.setattr(inversion, "clip_backbone", lambda settings, device="cpu": FakeClip())
    gen = FakeGenerator()
    torch.save(gen, tmp_path / "gen.pt")
    np.savez(tmp_path / "mean.npz", mean=fake_mean_style(gen, 64).numpy())
    out = tmp_path / "chair.obj"
    args = ["reconstruct", str(CHAIR), "--out", str(out), "--generator", str(tmp_path / "gen.pt"),
            "--mean-style", str(tmp_path / "mean.npz"), "--iterations", "3", "--progress-every", "1",
            "--settings", json.dumps(settings())]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "iteration 3/3" in printed and "watertight" in printed and "DEMO PROFILE" in printed
    assert trimesh.load(out, force="mesh").is_watertight
    bad = ["reconstruct", str(tmp_path / "nope.ndjson"), "--out", str(tmp_path / "x.obj"), "--generator",
           str(tmp_path / "gen.pt"), "--settings", json.dumps(settings())]
    assert main(bad) == 1
    assert not (tmp_path / "x.obj").exists()


def test_readme_command_under_the_default_profile_uses_the_demos_generator(fakes, tmp_path, monkeypatch, capsys,
                                                                          caplog):
    """`sketch3d reconstruct SKETCH --out MESH.obj` with no --generator, default params (the demo profile): before the
    demo ran, it says to run it; after, it uses the demo's trained generator and its mean style (not the paper's
    checkpoint, whose path the params also hold)."""
    import logging
    import shutil

    import torch

    from sketch3d.cli import main
    from sketch3d.reconstruction import inversion

    repo = Path(__file__).resolve().parents[3]
    shutil.copy(repo / "params.yaml", tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(inversion, "clip_backbone", lambda settings, device="cpu": FakeClip())
    args = ["reconstruct", str(CHAIR), "--out", "my_chair.obj", "--progress-every", "1", "--iterations", "2"]
    with caplog.at_level(logging.ERROR, logger="sketch3d"):
        assert main(args) == 1
    assert "results/demo/reconstruction/generator/generator.pt does not exist yet" in caplog.text
    assert "snakemake --cores all reconstruction" in caplog.text and "epoch=199" not in caplog.text.split("(a ")[0]
    folder = tmp_path / "results/demo/reconstruction/generator"
    folder.mkdir(parents=True)
    gen = FakeGenerator()
    torch.save(gen, folder / "generator.pt")
    np.savez(folder / "mean_style.npz", mean=fake_mean_style(gen, 64).numpy())
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="sketch3d"):
        assert main(args) == 0
    assert "results/demo/reconstruction/generator/generator.pt" in caplog.text and "mean_style.npz" in caplog.text
    assert "iteration 2/2" in capsys.readouterr().out
    assert trimesh.load(tmp_path / "my_chair.obj", force="mesh").is_watertight


def _tiny_demo_params(tmp_path):
    """The repository's params.yaml with the demo profile's generator shrunk (and the render small), so that the
    README's command runs on a real (untrained) SDFStyleGAN saved as the demo workflow saves one."""
    import yaml

    repo = Path(__file__).resolve().parents[3]
    params = yaml.safe_load((repo / "params.yaml").read_text())
    demo = params["profiles"]["demo"]["reconstruction"]
    demo["generator"] = {"z_dim": 16, "style_dim": 16, "style_depth": 2, "volume_res": 8, "channels": 8,
                         "network_capacity": 2, "fmap_max": 16, "mlp_hidden": 16, "mlp_layers": 1}
    demo["render"] = {"size": 16}
    demo["inversion"]["clip_size"] = 32
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def test_readme_command_runs_the_demo_generator_and_names_it_on_stderr(tmp_path, monkeypatch, capsys, caplog):
    """`sketch3d reconstruct SKETCH --out MESH.obj` under the default (demo) profile, real renderer and a real tiny
    SDFStyleGAN saved by save_generator where the demo workflow writes it (CLIP: a stand-in); not on a terminal, so a
    progress line every --progress-every iterations."""
    import logging

    import torch

    from sketch3d.cli import main
    from sketch3d.reconstruction import generator as G
    from sketch3d.reconstruction import inversion

    _tiny_demo_params(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(inversion, "clip_backbone", lambda settings, device="cpu": FakeClip())
    from sketch3d.config import load_params

    cfg = G.GeneratorConfig.from_settings(load_params("params.yaml")["reconstruction"]["generator"])
    torch.manual_seed(0)
    gen = G.SDFStyleGAN(cfg).eval()
    folder = tmp_path / "results/demo/reconstruction/generator"
    folder.mkdir(parents=True)
    G.save_generator(gen, folder / "generator.pt")
    G.write_mean_style(folder / "mean_style.npz", G.mean_style(gen, n=8, seed=0), 8, 0)
    with caplog.at_level(logging.INFO, logger="sketch3d"):
        code = main(["reconstruct", str(CHAIR), "--out", "my_chair.obj", "--iterations", "2", "--progress-every", "1"])
    out = capsys.readouterr()
    assert code == 0, caplog.text
    assert "demo profile: the demo's own generator" in caplog.text and "not the thesis's" in caplog.text
    assert "iteration 1/2" in out.out and "iteration 2/2" in out.out and "DEMO PROFILE" in out.out
    assert (tmp_path / "my_chair.obj").stat().st_size > 0


def test_progress_bar_on_a_terminal(fakes, tmp_path, capsys):
    """bar=True (what a terminal gets): tqdm on stderr with iterations, loss and best; no progress lines."""
    lines = []
    rec.reconstruct(CHAIR, tmp_path / "o.obj", settings(), FakeGenerator(), iterations=3, clip=FakeClip(),
                    echo=lines.append, bar=True)
    err = capsys.readouterr().err
    assert "3/3" in err and "loss=" in err and "best=" in err and lines == []


def test_paper_profile_without_the_checkpoint_is_refused_before_any_compute(tmp_path, monkeypatch, caplog):
    import logging

    from sketch3d.cli import main

    repo = Path(__file__).resolve().parents[3]
    (tmp_path / "params.yaml").write_text((repo / "params.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    with caplog.at_level(logging.ERROR, logger="sketch3d"):
        assert main(["reconstruct", str(CHAIR), "--out", "x.obj", "--profile", "paper"]) == 1
    assert "epoch=199.ckpt" in caplog.text and "reconstruction.generator.weights" in caplog.text
    assert not (tmp_path / "x.obj").exists()


def test_renderer_option(fakes, tmp_path, monkeypatch):
    """--renderer picks eq. 4.7's image for this run (the inversion sees it in its settings); a bad one is named."""
    from sketch3d.reconstruction import inversion

    seen = []
    real = inversion.render_image
    monkeypatch.setattr(inversion, "render_image", lambda fn, view, s, renderer: seen.append(renderer) or
                        real(fn, view, s, renderer))
    rec.reconstruct(CHAIR, tmp_path / "o.obj", settings(), FakeGenerator(), iterations=1, clip=FakeClip(),
                    echo=lambda line: None, renderer="lines", bar=False)
    rec.reconstruct(CHAIR, tmp_path / "o.obj", settings(), FakeGenerator(), iterations=1, clip=FakeClip(),
                    echo=lambda line: None, bar=False)
    assert seen[0] == "lines" and seen[-1] == "shaded"
    with pytest.raises(rec.ReconstructError, match="renderer"):
        rec.reconstruct(CHAIR, tmp_path / "o.obj", settings(), FakeGenerator(), renderer="toon", clip=FakeClip())
