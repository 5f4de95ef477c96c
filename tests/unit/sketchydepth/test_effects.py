import numpy as np
import pytest
from PIL import Image
from skimage.color import rgb2hsv

from sketch3d.cli import main
from sketch3d.sketchydepth import effects as fx
from sketch3d.sketchydepth.commands import _EFFECT_NAMES

S = 32
BANDS = 4  # rows grouped in bands of S / BANDS: the depth falls from 1 (top, nearest) to 0 (bottom, farthest)


def _image(seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(30, 226, (S, S, 3), dtype=np.uint8)


def _ramp():
    return np.tile(np.linspace(1.0, 0.0, S)[:, None], (1, S))


def _bands(per_pixel):
    return per_pixel.reshape(BANDS, S // BANDS, S).mean(axis=(1, 2))


def _amount(effect, img, out):
    """How much of the effect each band got, measured independently of the implementation."""
    a, b = img.astype(float) / 255, out.astype(float) / 255
    if effect == "bokeh":  # lost detail: high-frequency energy removed
        lap = lambda x: np.abs(4 * x[1:-1, 1:-1] - x[:-2, 1:-1] - x[2:, 1:-1] - x[1:-1, :-2] - x[1:-1, 2:]).sum(-1)  # noqa: E731
        lost = np.pad(lap(a) - lap(b), 1, mode="edge")
        return _bands(lost)
    if effect == "fog":  # closeness to the fog colour
        return -_bands(np.abs(b - np.array(fx.FOG_COLOUR) / 255).sum(-1))
    if effect == "grayscale":
        return -_bands(rgb2hsv(b)[..., 1])
    if effect == "light":  # darkening (negative strength)
        return -_bands(rgb2hsv(b)[..., 2] / np.maximum(rgb2hsv(a)[..., 2], 1e-6))
    if effect == "hue":
        d = np.mod(rgb2hsv(b)[..., 0] - rgb2hsv(a)[..., 0], 1.0)
        return np.nanmean(np.where(rgb2hsv(a)[..., 1] > 0.1, d, np.nan).reshape(BANDS, S // BANDS, S), axis=(1, 2))
    return _bands(np.abs(b - a).sum(-1))  # cartoon: how far from the original


@pytest.mark.parametrize("effect,strength", [("bokeh", 1.0), ("fog", 0.9), ("grayscale", 1.0), ("light", -0.7),
                                             ("hue", 0.4), ("cartoon", 1.0)])
def test_each_effect_grows_with_distance_for_direction_far(effect, strength):
    img, depth = _image(), _ramp()
    far = _amount(effect, img, fx.apply_effect(img, depth, effect, start=0.0, direction="far", strength=strength))
    assert np.all(np.diff(far) > 0), (effect, far)
    near = _amount(effect, img, fx.apply_effect(img, depth, effect, start=1.0, direction="near", strength=strength))
    assert np.all(np.diff(near) < 0), (effect, near)


def test_nothing_changes_nearer_than_start():
    img, depth = _image(), _ramp()
    for effect in ("fog", "grayscale", "light"):
        out = fx.apply_effect(img, depth, effect, start=0.5, direction="far", strength=0.8)
        untouched = (1 - depth) <= 0.5
        assert np.array_equal(out[untouched], img[untouched]) and not np.array_equal(out, img)


def test_weight_formula():
    d = np.array([1.0, 0.75, 0.5, 0.25, 0.0])  # distances 0, .25, .5, .75, 1
    assert fx.weight(d, 0.5, "far") == pytest.approx([0, 0, 0, 0.5, 1])
    assert fx.weight(d, 0.5, "near") == pytest.approx([1, 0.5, 0, 0, 0])
    assert fx.weight(d, 0.0, "far") == pytest.approx([0, 0.25, 0.5, 0.75, 1])
    with pytest.raises(fx.DepthInputError, match="direction"):
        fx.weight(d, 0.5, "up")
    with pytest.raises(fx.DepthInputError, match="start"):
        fx.weight(d, 1.5, "far")


def test_cartoon_has_black_edges_and_smooth_areas():
    img = np.full((24, 24, 3), 200, np.uint8)
    img[6:18, 6:18] = (40, 90, 200)
    cart = fx.cartoon(img)
    assert cart.shape == img.shape and cart.min() == 0.0  # edges painted black
    assert np.allclose(cart[0, 0], 200 / 255, atol=0.02)  # flat areas keep their colour


def _astronaut():
    from skimage import data

    return np.asarray(Image.fromarray(data.astronaut()).resize((48, 40), Image.BILINEAR))


def test_load_depth_reads_png8_png16_and_npy(tmp_path):
    depth = np.tile(np.linspace(0, 1, 48)[None, :], (40, 1))
    Image.fromarray(np.rint(depth * 255).astype(np.uint8)).save(tmp_path / "d8.png")
    Image.fromarray(np.rint(depth * 65535).astype(np.uint16)).save(tmp_path / "d16.png")
    np.save(tmp_path / "d.npy", depth * 7.0 + 3.0)  # raw relative inverse depth: scaled from min..max
    assert fx.load_depth(tmp_path / "d8.png") == pytest.approx(depth, abs=0.5 / 255)
    assert fx.load_depth(tmp_path / "d16.png") == pytest.approx(depth, abs=0.5 / 65535)
    assert fx.load_depth(tmp_path / "d.npy") == pytest.approx(depth, abs=1e-12)
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "rgb.png")
    with pytest.raises(fx.DepthInputError, match="RGB image; expected one channel"):
        fx.load_depth(tmp_path / "rgb.png")
    np.save(tmp_path / "bad.npy", np.zeros((4, 4, 3)))
    with pytest.raises(fx.DepthInputError, match=r"\[4, 4, 3\]"):
        fx.load_depth(tmp_path / "bad.npy")


@pytest.mark.parametrize("kind", ["png8", "png16", "npy"])
def test_effects_command_on_a_photograph(tmp_path, kind):
    img = _astronaut()
    Image.fromarray(img).save(tmp_path / "photo.png")
    depth = np.tile(np.linspace(1, 0, 40)[:, None], (1, 48))
    path = {"png8": tmp_path / "d.png", "png16": tmp_path / "d16.png", "npy": tmp_path / "d.npy"}[kind]
    if kind == "png8":
        Image.fromarray(np.rint(depth * 255).astype(np.uint8)).save(path)
    elif kind == "png16":
        Image.fromarray(np.rint(depth * 65535).astype(np.uint16)).save(path)
    else:
        np.save(path, depth)
    out = tmp_path / "out.png"
    assert main(["effects", str(tmp_path / "photo.png"), str(path), "--effect", "fog", "--start", "0.2",
                 "--direction", "far", "--strength", "0.8", "--out", str(out)]) == 0
    expected = fx.apply_effect(img, fx.load_depth(path), "fog", 0.2, "far", 0.8)
    assert np.array_equal(np.asarray(Image.open(out)), expected)


def test_effects_command_names_both_sizes(tmp_path):
    Image.fromarray(_astronaut()).save(tmp_path / "photo.png")
    Image.fromarray(np.zeros((30, 20), np.uint8)).save(tmp_path / "d.png")
    with pytest.raises(fx.DepthInputError, match=r"d\.png is 20x30.*photo\.png is 48x40"):
        main(["-v", "effects", str(tmp_path / "photo.png"), str(tmp_path / "d.png"), "--effect", "bokeh",
              "--out", str(tmp_path / "o.png")])
    assert main(["effects", str(tmp_path / "photo.png"), str(tmp_path / "d.png"), "--effect", "bokeh",
                 "--out", str(tmp_path / "o.png")]) == 1
    assert not (tmp_path / "o.png").exists()


def test_command_choices_are_the_effects():
    assert set(_EFFECT_NAMES) == set(fx.EFFECTS)
