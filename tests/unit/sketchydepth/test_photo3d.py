import numpy as np
import pytest
from PIL import Image

from sketch3d.cli import main
from sketch3d.sketchydepth import photo3d
from sketch3d.sketchydepth.effects import DepthInputError

S = 40
SQUARE = (255, 0, 0)


def _scene():
    """A red square, nearest (depth 1), in the middle of a textured far background (depth 0)."""
    rng = np.random.default_rng(0)
    img = rng.integers(0, 200, (S, S, 3), dtype=np.uint8)
    img[..., 1] = np.maximum(img[..., 1], 20)  # the background is never pure red
    depth = np.zeros((S, S))
    img[16:24, 16:24] = SQUARE
    depth[16:24, 16:24] = 1.0
    return img, depth


def _red(frame):
    return int(np.all(frame == SQUARE, axis=-1).sum())


def test_near_surfaces_grow_faster_than_far_ones():
    img, depth = _scene()
    frames = photo3d.zoom_frames(img, depth, frames=5, zoom=0.3, far=8.0)
    assert len(frames) == 5 and np.array_equal(frames[0], img)  # frame 0: the camera has not moved
    areas = [_red(f) for f in frames]
    assert areas == sorted(areas)
    # the square (z = 1) is scaled by 1 / (1 - 0.3) per side; the background (z = 8) by only 8 / 7.7
    assert areas[-1] == pytest.approx(64 / 0.7 ** 2, rel=0.15)
    assert np.all(frames[-1][S // 2, S // 2] == SQUARE)  # z-ordering: the near square stays on top
    assert all(f.dtype == np.uint8 and f.shape == img.shape for f in frames)


def test_no_holes_and_disocclusions_filled():
    img, depth = _scene()
    depth[16:24, 16:24] = 0.0
    depth[:, : S // 2] = 1.0  # left half near: its edge uncovers background while moving
    for fill in photo3d.FILLS:
        frame = photo3d.zoom_frames(img, depth, frames=2, zoom=0.4, fill=fill)[-1]
        assert not np.any(np.all(frame == 0, axis=-1))  # every pixel written or filled (no black holes left)


def test_same_input_same_frames_and_bad_arguments():
    img, depth = _scene()
    a = photo3d.zoom_frames(img, depth, 3, 0.3)
    b = photo3d.zoom_frames(img, depth, 3, 0.3)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    with pytest.raises(DepthInputError, match="zoom"):
        photo3d.zoom_frames(img, depth, 3, 1.0)
    with pytest.raises(DepthInputError, match="frames"):
        photo3d.zoom_frames(img, depth, 1, 0.3)
    with pytest.raises(DepthInputError, match="8x8.*40x40"):
        photo3d.zoom_frames(img, np.zeros((8, 8)), 3, 0.3)


def test_photo3d_command_writes_a_gif_with_n_frames(tmp_path):
    img, _ = _scene()
    depth = np.tile(np.linspace(1, 0.5, S)[:, None], (1, S))  # everything near enough to move every frame
    Image.fromarray(img).save(tmp_path / "img.png")
    Image.fromarray(np.rint(depth * 255).astype(np.uint8)).save(tmp_path / "depth.png")
    out = tmp_path / "clip.gif"
    assert main(["photo3d", str(tmp_path / "img.png"), str(tmp_path / "depth.png"), "--out", str(out),
                 "--frames", "6", "--zoom", "0.3"]) == 0
    with Image.open(out) as gif:
        assert gif.format == "GIF" and gif.n_frames == 6 and gif.size == (S, S)
    assert main(["photo3d", str(tmp_path / "img.png"), str(tmp_path / "depth.png"), "--out",
                 str(tmp_path / "clip.mp4")]) == 1
    assert not (tmp_path / "clip.mp4").exists()
