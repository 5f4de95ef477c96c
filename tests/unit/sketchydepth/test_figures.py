import numpy as np
import pytest
from PIL import Image

from _helpers import assert_pixels_only
from sketch3d.sketchydepth.figures import (FigureInputError, figure_depth, figure_effects, figure_effects_midas,
                                           figure_images, figure_photo3d, pick, sketch_on_depth)
from sketch3d.sketchydepth.triplets import read_triplets, write_depths, write_triplets


def _sets(tmp_path, n=6, s=32):
    rng = np.random.default_rng(0)
    ids = [f"t{k}" for k in range(n)]
    kinds = ["fb", "bo"] * (n // 2)
    img = lambda: rng.integers(0, 256, (n, s, s, 3), dtype=np.uint8)  # noqa: E731
    write_triplets(tmp_path / "test", ids, kinds, img(), img())
    for name in ("ours", "base"):
        write_triplets(tmp_path / name, ids[::-1], kinds[::-1], img(), img())  # another order: joined by id
    for name in ("d_ours", "d_midas"):
        write_depths(tmp_path / name, ids, rng.integers(0, 256, (n, s, s), dtype=np.uint8))
    return ids


def test_pick_is_seeded_and_respects_kind(tmp_path):
    _sets(tmp_path)
    t = read_triplets(tmp_path / "test")
    assert pick(t, 2, 0, "bo") == pick(t, 2, 0, "bo") and all(t.kinds[i] == "bo" for i in pick(t, 5, 0, "bo"))
    assert len(pick(t, 10, 0)) == 6


def test_each_figure_is_written_and_marked_demo(tmp_path):
    _sets(tmp_path)
    figure_images(tmp_path / "test", tmp_path / "ours", tmp_path / "base", tmp_path / "f33.png", 2, 0, True)
    figure_depth(tmp_path / "ours", tmp_path / "d_ours", tmp_path / "d_midas", tmp_path / "f34.png", 2, 0, True)
    figure_effects(tmp_path / "ours", tmp_path / "d_ours", tmp_path / "f35.png", 2, 0, True)
    figure_effects_midas(tmp_path / "ours", tmp_path / "d_ours", tmp_path / "d_midas", tmp_path / "fa4.png", 2, 0,
                         False)
    figure_photo3d(tmp_path / "ours", tmp_path / "d_ours", tmp_path / "f36.gif", 0, 3, 0.3)
    for name in ("f33.png", "f34.png", "f35.png", "fa4.png"):
        assert Image.open(tmp_path / name).size[0] > 200
        assert_pixels_only(tmp_path / name)  # formerly stamped with Matplotlib's version
    # Fig. 3.3 shows 2 fb and 2 bo rows; Fig. A.4 two rows (ours, MiDaS) per example: taller than Fig. 3.5
    assert Image.open(tmp_path / "fa4.png").size[1] > Image.open(tmp_path / "f35.png").size[1]
    with Image.open(tmp_path / "f36.gif") as gif:
        assert gif.n_frames >= 2


def test_a_generated_set_missing_test_ids_is_named(tmp_path):
    ids = _sets(tmp_path)
    rng = np.random.default_rng(1)
    write_triplets(tmp_path / "short", ids[:3], ["fb", "bo", "fb"], rng.integers(0, 256, (3, 32, 32, 3), np.uint8),
                   rng.integers(0, 256, (3, 32, 32, 3), np.uint8))
    with pytest.raises(FigureInputError, match="lacks 3 test triplet"):
        figure_images(tmp_path / "test", tmp_path / "short", tmp_path / "base", tmp_path / "x.png", 2, 0, True)
    assert not (tmp_path / "x.png").exists()


def test_depth_sketch_paints_one_area_with_one_value():
    depth = np.zeros((64, 64), np.uint8)
    edited = sketch_on_depth(depth, np.random.default_rng(0), value=200)
    changed = edited != depth
    assert changed.any() and set(np.unique(edited[changed])) == {200}
    rows = np.flatnonzero(changed.any(axis=1))
    assert rows.min() >= 64 // 2 - 64 // 8  # in the lower half (the ground), where new objects stand


def test_effect_figures_take_the_users_fog_image(tmp_path):
    """sketchydepth.figures.fog_overlay: the fog column is the weighted average with that file's pixels."""
    from sketch3d.sketchydepth.figures import _effect_row

    rng = np.random.default_rng(2)
    img = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    depth = np.tile(np.linspace(255, 0, 16)[:, None], (1, 16)).astype(np.uint8)
    Image.fromarray(np.full((16, 16, 3), (0, 255, 0), np.uint8)).save(tmp_path / "green.png")
    fog = _effect_row(img, depth, ("fog",), tmp_path / "green.png", 0)[0]
    generated = _effect_row(img, depth, ("fog",), None, 0)[0]
    far = depth < 40  # the farthest rows: fog weight 0.8 (strength) there
    assert (fog[far][:, 1].astype(int) >= img[far][:, 1].astype(int)).all() and not np.array_equal(fog, generated)
    assert np.abs(fog[-1].astype(int) - np.rint(0.2 * img[-1] + 0.8 * np.array([0, 255, 0]))).max() <= 1
    _sets(tmp_path)
    figure_effects(tmp_path / "ours", tmp_path / "d_ours", tmp_path / "f35.png", 1, 0, False,
                   fog=tmp_path / "green.png")
    assert (tmp_path / "f35.png").is_file()
