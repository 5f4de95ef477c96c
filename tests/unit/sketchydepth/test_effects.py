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
    if effect in ("bokeh", "bokeh_gaussian"):  # lost detail: high-frequency energy removed
        lap = lambda x: np.abs(4 * x[1:-1, 1:-1] - x[:-2, 1:-1] - x[2:, 1:-1] - x[1:-1, :-2] - x[1:-1, 2:]).sum(-1)  # noqa: E731
        lost = np.pad(lap(a) - lap(b), 1, mode="edge")
        return _bands(lost)
    if effect == "fog":  # closeness to the (generated) fog image
        return -_bands(np.abs(b - fx.fog_overlay(S, S, seed=fx.FOG_SEED) / 255).sum(-1))
    if effect == "fog_flat":  # closeness to the fog colour
        return -_bands(np.abs(b - np.array(fx.FOG_COLOUR) / 255).sum(-1))
    if effect == "grayscale":
        return -_bands(rgb2hsv(b)[..., 1])
    if effect == "light":  # darkening (negative strength)
        return -_bands(rgb2hsv(b)[..., 2] / np.maximum(rgb2hsv(a)[..., 2], 1e-6))
    if effect in ("hue", "hue_rotate"):
        d = np.mod(rgb2hsv(b)[..., 0] - rgb2hsv(a)[..., 0], 1.0)
        return np.nanmean(np.where(rgb2hsv(a)[..., 1] > 0.1, d, np.nan).reshape(BANDS, S // BANDS, S), axis=(1, 2))
    return _bands(np.abs(b - a).sum(-1))  # cartoon: how far from the original


@pytest.mark.parametrize("effect,strength", [("bokeh", 1.0), ("fog", 0.9), ("grayscale", 1.0), ("light", -0.7),
                                             ("hue", 0.4), ("cartoon", 1.0), ("bokeh_gaussian", 1.0),
                                             ("fog_flat", 0.9), ("hue_rotate", 0.4)])
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


# ----------------------------------------------------------------------------- the thesis's definitions, by hand

TINY = np.array([[[10, 200, 30], [250, 0, 90], [60, 60, 60], [0, 128, 255], [99, 1, 7]],
                 [[40, 40, 200], [255, 255, 0], [13, 170, 120], [220, 30, 30], [5, 250, 100]],
                 [[180, 90, 0], [70, 20, 160], [128, 128, 128], [30, 60, 90], [240, 200, 10]],
                 [[0, 0, 0], [255, 255, 255], [90, 180, 45], [200, 100, 150], [17, 34, 51]]], np.uint8)
TINY_DEPTH = np.array([[1.0, 0.9, 0.8, 0.7, 0.6],
                       [0.5, 0.45, 0.4, 0.3, 0.2],
                       [0.15, 0.1, 0.05, 0.0, 0.25],
                       [0.35, 0.55, 0.65, 0.75, 0.0]])


def _amount_by_hand(start, strength):
    """a = strength * w with w = clip((t - start) / (1 - start), 0, 1), t = 1 - depth (direction far)."""
    return strength * np.clip(((1.0 - TINY_DEPTH) - start) / (1.0 - start), 0.0, 1.0)


def test_bokeh_is_a_window_whose_central_weight_follows_the_central_depth():
    """3.4.5: per pixel, a 3x3 window (neighbours weight 1, mirrored borders) whose central weight is scaled by
    that pixel's depth: c = 1 + k^2 (1 - a) / a, then normalised; a = 0 leaves the pixel as it is."""
    start, strength, k = 0.3, 0.9, 3
    a = _amount_by_hand(start, strength)
    img = TINY.astype(float)
    padded = np.pad(img, ((1, 1), (1, 1), (0, 0)), mode="symmetric")  # d c b a | a b c d
    expected = np.empty_like(img)
    for r in range(img.shape[0]):
        for c in range(img.shape[1]):
            if a[r, c] == 0:
                expected[r, c] = img[r, c]
                continue
            window = padded[r:r + k, c:c + k].reshape(-1, 3)
            centre = 1.0 + k * k * (1.0 - a[r, c]) / a[r, c]
            weights = np.ones(k * k)
            weights[k * k // 2] = centre
            expected[r, c] = (weights[:, None] * window).sum(0) / weights.sum()
    got = fx.apply_effect(TINY, TINY_DEPTH, "bokeh", start=start, direction="far", strength=strength)
    assert fx.bokeh_window(min(TINY.shape[:2])) == k
    assert np.abs(got.astype(int) - np.rint(expected).astype(int)).max() <= 1
    assert np.array_equal(got[a == 0], TINY[a == 0]) and (a == 0).sum() >= 3
    assert fx.bokeh_window(128) == 7 and fx.bokeh_window(64) == 5 and fx.bokeh_window(256) == 13


def test_fog_is_the_weighted_average_with_the_users_fog_image(tmp_path):
    """3.4.5: (1 - a) I + a O with O the fog image the user gives (here of the image's size: no resizing)."""
    rng = np.random.default_rng(5)
    fog = rng.integers(150, 256, TINY.shape, dtype=np.uint8)
    Image.fromarray(TINY).save(tmp_path / "img.png")
    Image.fromarray(fog).save(tmp_path / "fog.png")
    np.save(tmp_path / "depth.npy", TINY_DEPTH)
    assert main(["effects", str(tmp_path / "img.png"), str(tmp_path / "depth.npy"), "--effect", "fog", "--start", "0.2",
                 "--strength", "0.7", "--overlay", str(tmp_path / "fog.png"), "--out", str(tmp_path / "out.png")]) == 0
    a = _amount_by_hand(0.2, 0.7)[..., None]
    expected = np.rint((1 - a) * TINY + a * fog)
    assert np.abs(np.asarray(Image.open(tmp_path / "out.png")).astype(int) - expected.astype(int)).max() <= 1
    # another size is resized to the image; another effect takes no overlay
    Image.fromarray(rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)).save(tmp_path / "big.png")
    assert fx.load_overlay(tmp_path / "big.png", 4, 5).shape == (4, 5, 3)
    with pytest.raises(fx.DepthInputError, match="overlay is the fog image"):
        fx.effects(tmp_path / "img.png", tmp_path / "depth.npy", "hue", tmp_path / "x.png",
                   overlay=tmp_path / "fog.png")
    with pytest.raises(fx.DepthInputError, match=r"fog overlay: expected uint8 RGB \[4, 5, 3\]"):
        fx.apply_effect(TINY, TINY_DEPTH, "fog", overlay=fog[:3])


def test_generated_fog_image_is_seeded_and_light():
    a, b = fx.fog_overlay(40, 56, seed=3), fx.fog_overlay(40, 56, seed=3)
    assert np.array_equal(a, b) and not np.array_equal(a, fx.fog_overlay(40, 56, seed=4))
    colour = np.array(fx.FOG_COLOUR)
    assert np.all(a <= colour + 0.5) and np.all(a >= np.floor(0.7 * colour))  # lightness in [1 - contrast, 1]
    assert a[..., 0].std() > 5  # a texture, not a flat colour
    # the default fog of apply_effect is this image at the image's size, seed FOG_SEED
    same = fx.apply_effect(TINY, TINY_DEPTH, "fog", overlay=fx.fog_overlay(4, 5, seed=fx.FOG_SEED))
    assert np.array_equal(fx.apply_effect(TINY, TINY_DEPTH, "fog"), same)


def test_hue_scales_the_hsv_hue_channel():
    """3.4.5: HSV, the hue channel multiplied by 1 + a (an angle: wrapped), computed with colorsys per pixel."""
    import colorsys

    a = _amount_by_hand(0.0, 0.8)
    expected = np.empty(TINY.shape)
    for r in range(TINY.shape[0]):
        for c in range(TINY.shape[1]):
            h, s_, v = colorsys.rgb_to_hsv(*(TINY[r, c] / 255.0))
            expected[r, c] = colorsys.hsv_to_rgb((h * (1.0 + a[r, c])) % 1.0, s_, v)
    got = fx.apply_effect(TINY, TINY_DEPTH, "hue", start=0.0, direction="far", strength=0.8)
    assert np.abs(got.astype(int) - np.rint(expected * 255).astype(int)).max() <= 1
    assert not np.array_equal(got, fx.apply_effect(TINY, TINY_DEPTH, "hue_rotate", 0.0, "far", 0.8))


def test_bokeh_strength_is_a_share_of_the_window():
    with pytest.raises(fx.DepthInputError, match="bokeh_gaussian takes a sigma"):
        fx.apply_effect(TINY, TINY_DEPTH, "bokeh", strength=4.0)
