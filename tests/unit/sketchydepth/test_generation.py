import numpy as np
import pytest
import torch

from sketch3d.sketchydepth.generation import generate, image_from_depth, load_generators
from sketch3d.sketchydepth.training import to_tensor, to_uint8, train_gan
from sketch3d.sketchydepth.triplets import read_depths, read_triplets, write_depths, write_triplets


SIZE = 64  # 6 downsamplings: one dropout block, so the seed matters at test time


def _settings(seed=7, test_eval=False):
    gan = dict(ngf=2, ndf=2, n_layers_d=3, dropout=0.5, init_gain=0.02, lr=2e-4, beta1=0.5, beta2=0.999,
               l1_weight=100.0, n_epochs=1, n_epochs_decay=0, batch_size=2, flip=True, test_eval=test_eval)
    return {"seed": seed, "profile": "demo", "sketchydepth": {"gan": gan}}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("gan")
    rng = np.random.default_rng(0)
    ids = ["a", "b", "c"]
    write_triplets(root / "t", ids, ["fb", "bo", "fb"], rng.integers(0, 256, (3, SIZE, SIZE, 3), dtype=np.uint8),
                   rng.integers(0, 256, (3, SIZE, SIZE, 3), dtype=np.uint8))
    write_depths(root / "d", ids, rng.integers(0, 256, (3, SIZE, SIZE), dtype=np.uint8))
    for model in ("sketchydepth", "baseline"):
        train_gan(model, _settings(), root / "t", root / "d", root / model, "cpu")
    return root


def test_generate_writes_a_triplet_set_and_a_depth_set(trained, tmp_path):
    n = generate("sketchydepth", trained / "sketchydepth" / "final.pt", trained / "t", tmp_path / "img",
                 tmp_path / "dep", _settings(), "cpu")
    src, out = read_triplets(trained / "t"), read_triplets(tmp_path / "img", tmp_path / "dep")
    assert n == 3 and out.ids == src.ids and out.kinds == src.kinds
    assert np.array_equal(out.partial, src.partial)  # partial = the input
    assert out.image.shape == src.image.shape and out.depth.shape == (3, SIZE, SIZE) and out.image.std() > 0
    # same seed: byte-identical files; another seed: other dropout masks, other images
    generate("sketchydepth", trained / "sketchydepth" / "final.pt", trained / "t", tmp_path / "img2",
             tmp_path / "dep2", _settings(), "cpu")
    for name in ("a", "b", "c"):
        assert (tmp_path / "img" / "image" / f"{name}.png").read_bytes() == \
            (tmp_path / "img2" / "image" / f"{name}.png").read_bytes()
    generate("sketchydepth", trained / "sketchydepth" / "final.pt", trained / "t", tmp_path / "img3",
             tmp_path / "dep3", _settings(seed=8), "cpu")
    assert not np.array_equal(read_triplets(tmp_path / "img3").image, out.image)


def test_test_time_follows_pix2pix_train_mode_by_default(trained, tmp_path):
    final = trained / "sketchydepth" / "final.pt"
    generate("sketchydepth", final, trained / "t", tmp_path / "tm", tmp_path / "tmd", _settings(), "cpu")
    generate("sketchydepth", final, trained / "t", tmp_path / "ev", tmp_path / "evd", _settings(test_eval=True), "cpu")
    # eval mode is deterministic and equals an independent eval-mode forward of the loaded generators
    _, _, nets, _ = load_generators(final, "cpu")
    src = read_triplets(trained / "t")
    with torch.no_grad():
        for m in nets.values():
            m.eval()
        p = to_tensor(src.partial)
        d = nets["G_d"](p)
        i = nets["G_i"](torch.cat([p, d], 1))
    assert np.array_equal(read_depths(tmp_path / "evd", src.ids)[1], to_uint8(d))
    assert np.array_equal(read_triplets(tmp_path / "ev").image, to_uint8(i))
    assert not np.array_equal(read_triplets(tmp_path / "tm").image, to_uint8(i))


def test_baseline_writes_images_only_and_mismatches_are_named(trained, tmp_path):
    generate("baseline", trained / "baseline" / "final.pt", trained / "t", tmp_path / "b", None, _settings(), "cpu")
    assert len(read_triplets(tmp_path / "b")) == 3
    with pytest.raises(ValueError, match="generates no depth map"):
        generate("baseline", trained / "baseline" / "final.pt", trained / "t", tmp_path / "x", tmp_path / "y",
                 _settings(), "cpu")
    with pytest.raises(ValueError, match="--out-depth"):
        generate("sketchydepth", trained / "sketchydepth" / "final.pt", trained / "t", tmp_path / "x", None,
                 _settings(), "cpu")
    with pytest.raises(ValueError, match="holds model 'baseline'"):
        generate("no_depth", trained / "baseline" / "final.pt", trained / "t", tmp_path / "x", None, _settings(), "cpu")
    with pytest.raises(FileNotFoundError, match="run train_gan first"):
        generate("baseline", tmp_path / "none.pt", trained / "t", tmp_path / "x", None, _settings(), "cpu")
    assert not (tmp_path / "x").exists()


def test_image_from_depth_runs_g_i_on_the_given_depth(trained):
    final = trained / "sketchydepth" / "final.pt"
    src = read_triplets(trained / "t")
    flat = np.full((SIZE, SIZE), 40, np.uint8)
    edited = flat.copy()
    edited[:, SIZE // 2:] = 220  # a near object sketched on the right half
    s = _settings(test_eval=True)
    a = image_from_depth(final, src.partial[0], flat, s, "cpu")
    b = image_from_depth(final, src.partial[0], edited, s, "cpu")
    assert a.shape == (SIZE, SIZE, 3) and a.dtype == np.uint8 and not np.array_equal(a, b)
    _, _, nets, _ = load_generators(final, "cpu")
    with torch.no_grad():
        nets["G_i"].eval()
        want = nets["G_i"](torch.cat([to_tensor(src.partial[:1]), to_tensor(edited[None])], 1))
    assert np.array_equal(b, to_uint8(want)[0])
    both = image_from_depth(final, src.partial[:2], np.stack([flat, edited]), s, "cpu")
    assert both.shape == (2, SIZE, SIZE, 3)
    with pytest.raises(ValueError, match="takes no depth"):
        image_from_depth(trained / "baseline" / "final.pt", src.partial[0], flat, s, "cpu")
    with pytest.raises(ValueError, match="expected uint8"):
        image_from_depth(final, src.partial[0], flat[:10], s, "cpu")


# ----------------------------------------------------------------------------- A.1.6: conditioning perturbation

from sketch3d.sketchydepth.generation import (images_from_partial, perturbation_settings,  # noqa: E402
                                              perturbed_inputs, translate_objects)

RED, BLUE, INK = (200, 30, 30), (20, 40, 220), (0, 0, 0)


def _sketch():
    """White paper, a 3x3 red object, a 2x4 blue one and a 1-px-wide black stroke, apart from each other."""
    img = np.full((20, 20, 3), 255, np.uint8)
    img[3:6, 3:6] = RED
    img[12:14, 10:14] = BLUE
    img[2:7, 16] = INK  # at least 2 x max shift + 1 from the others: the moved objects cannot overlap
    return img


def _where(img, colour):
    return {(int(r), int(c)) for r, c in zip(*np.nonzero((img == colour).all(-1)))}


def test_each_object_moves_rigidly_by_a_small_shift():
    img, m = _sketch(), 2  # max_shift 0.1 of 20 px
    seen = set()
    for seed in range(6):
        out = translate_objects(img, np.random.default_rng(seed), 0.1, paper=250)
        shifts = []
        for colour in (RED, BLUE, INK):
            before, after = _where(img, colour), _where(out, colour)
            dy = min(r for r, _ in after) - min(r for r, _ in before)
            dx = min(c for _, c in after) - min(c for _, c in before)
            assert after == {(r + dy, c + dx) for r, c in before}  # the same shape, moved as a whole
            assert abs(dy) <= m and abs(dx) <= m
            shifts.append((dy, dx))
        n_ink = len(_where(img, RED)) + len(_where(img, BLUE)) + len(_where(img, INK))
        assert (out == 255).all(-1).sum() == 400 - n_ink  # everything else is paper
        seen.add(tuple(shifts))
    assert len(seen) > 1  # the objects' shifts are random, and independent of each other
    assert len({s for shifts in seen for s in shifts}) > 3
    assert np.array_equal(translate_objects(img, np.random.default_rng(0), 0.0), img)  # no shift: unchanged


def test_perturbed_inputs_are_seeded_per_example():
    img = _sketch()
    a, b = perturbed_inputs(img, 3, 1, 4, 0.1, 250), perturbed_inputs(img, 3, 1, 4, 0.1, 250)
    assert a.shape == (4, 20, 20, 3) and np.array_equal(a, b)
    assert not np.array_equal(a, perturbed_inputs(img, 3, 2, 4, 0.1, 250))  # another example: other shifts
    with pytest.raises(ValueError, match="max_shift in"):
        perturbation_settings({"sketchydepth": {"perturbation": {"max_shift": 0.7, "copies": 2, "paper": 250,
                                                                 "generate": False}}})


def _perturb(generate_on):
    s = _settings()
    s["sketchydepth"]["perturbation"] = {"max_shift": 0.05, "copies": 2, "paper": 250, "generate": generate_on}
    return s


def test_generate_can_take_translated_inputs_and_figure_a1_shows_them(trained, tmp_path):
    from PIL import Image

    from sketch3d.sketchydepth.figures import figure_diversity

    rng = np.random.default_rng(4)
    partial = np.full((2, SIZE, SIZE, 3), 255, np.uint8)
    partial[:, 10:20, 10:20] = (200, 30, 30)
    partial[:, 40:44, 5:60] = 0
    image = rng.integers(0, 256, (2, SIZE, SIZE, 3), dtype=np.uint8)
    write_triplets(tmp_path / "test", ["u", "v"], ["fb", "fb"], partial, image)
    final = trained / "sketchydepth" / "final.pt"
    generate("sketchydepth", final, tmp_path / "test", tmp_path / "off", tmp_path / "offd", _perturb(False), "cpu")
    assert np.array_equal(read_triplets(tmp_path / "off").partial, partial)  # off: the inputs as they are
    generate("sketchydepth", final, tmp_path / "test", tmp_path / "on", tmp_path / "ond", _perturb(True), "cpu")
    moved = read_triplets(tmp_path / "on").partial
    assert np.array_equal(moved, np.stack([perturbed_inputs(partial[i], 7, i, 1, 0.05, 250)[0] for i in range(2)]))
    assert not np.array_equal(moved, partial)
    # one dropout draw per image: the same input gives the same image, whatever its position
    twice = images_from_partial(final, np.concatenate([partial[:1], partial[:1]]), _settings(), "cpu")
    assert np.array_equal(twice[0], twice[1])
    figure_diversity(tmp_path / "test", final, _perturb(False), tmp_path / "a1.png", 2, 0, True, "cpu")
    assert Image.open(tmp_path / "a1.png").size[0] > 200
