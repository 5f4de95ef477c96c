"""Figures 4.5-4.9 and the contact sheets, on tiny fake inversions."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from _inversion_fakes import FakeClip, FakeGenerator, install, settings, write_sdf_targets
from PIL import Image

from sketch3d.reconstruction import figures
from sketch3d.reconstruction import inversion as inv


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        install(mp)
        yield _build(tmp_path_factory.mktemp("inversions"))


@pytest.fixture
def fakes(monkeypatch):
    install(monkeypatch)


def _build(tmp_path):
    gen = FakeGenerator()
    tdir = tmp_path / "targets"
    (tdir / "sketches").mkdir(parents=True)
    rows, index, grids, folders = [], [], {}, []
    for k in range(2):
        shape = f"chair_{k}"
        with torch.no_grad():
            true = gen.broadcast(gen.map(torch.randn(1, gen.style_dim, generator=torch.Generator().manual_seed(k))))
        grids[shape] = inv.styles_grid(gen, true, 8)
        sketch = np.full((32, 32), 255, np.uint8)
        sketch[8:24, 10 + k] = 0
        Image.fromarray(sketch).save(tdir / "sketches" / f"{shape}_az000.png")
        index.append({"image_id": f"{shape}_az000", "shape_id": shape, "azimuth": 0, "path": f"{shape}_az000.png"})
        rows.append({"example": k, "shape_id": shape})
        target = inv.Target(f"{k:02d}", shape, sdf=grids[shape], sketches={0.0: sketch})
        for sup in inv.SUPERVISIONS:
            folders.append(tmp_path / sup / f"{k:02d}")
            inv.invert(gen, target, sup, settings(), folders[-1], clip=FakeClip())
    pd.DataFrame(index).to_csv(tdir / "sketches" / "index.csv", index=False)
    pd.DataFrame(rows).to_csv(tdir / "examples.csv", index=False)
    write_sdf_targets(tmp_path / "sdf.npz", grids)
    s = settings()
    s["reconstruction"]["figures"] = {"size": 16, "contact_columns": 2}
    return gen, folders, tdir, tmp_path / "sdf.npz", s


def test_figures_and_contact_sheets(setup, fakes, tmp_path):
    gen, folders, tdir, sdf, s = setup
    out = tmp_path / "figs"
    names = figures.figure_inversion(folders, tdir, sdf, s, out, generator=gen)
    assert names == ["fig_4_5.png", "fig_4_6.png", "fig_4_7.png", "contact_clip.png", "contact_clip_argmax.png",
                     "picks_template.csv"]
    for n in names:
        assert (out / n).stat().st_size > 0
    template = pd.read_csv(out / "picks_template.csv")
    assert len(template) == 4 and set(template["iteration"]) <= {0, 2, 4}  # snapshot iterations only
    # a person's picks -> Figs 4.8 / 4.9, and the same inputs give byte-identical figures
    out2 = tmp_path / "figs2"
    names2 = figures.figure_inversion(folders, tdir, sdf, s, out2, generator=gen, picks=out / "picks_template.csv")
    assert names2[-2:] == ["fig_4_8.png", "fig_4_9.png"]
    assert (out2 / "fig_4_6.png").read_bytes() == (out / "fig_4_6.png").read_bytes()


def test_bad_picks_are_named(setup, fakes, tmp_path):
    gen, folders, tdir, sdf, s = setup
    picks = tmp_path / "picks.csv"
    pd.DataFrame({"example": [0], "supervision": ["clip"], "iteration": [3]}).to_csv(picks, index=False)
    with pytest.raises(figures.FigureError, match="not a snapshot"):
        figures.figure_inversion(folders, tdir, sdf, s, tmp_path / "f", generator=gen, picks=picks)
    pd.DataFrame({"example": [0]}).to_csv(picks, index=False)
    with pytest.raises(figures.FigureError, match="lacks columns"):
        figures.figure_inversion(folders, tdir, sdf, s, tmp_path / "f", generator=gen, picks=picks)


def test_crop_centre():
    img = np.zeros((8, 8), np.uint8)
    img[2:6, 2:6] = 200
    np.testing.assert_array_equal(figures.crop_centre(img, 0.5, 4), np.full((4, 4), 200))
    assert figures.crop_centre(img, 1.0, 16).shape == (16, 16)
