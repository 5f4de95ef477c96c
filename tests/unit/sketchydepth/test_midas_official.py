"""The MiDaS v2.1 port against outputs of the official code (tests/fixtures/official/isl-org_MiDaS/: made by its
make_reference.py from isl-org/MiDaS at tag v2_1; see the README there)."""
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from sketch3d.sketchydepth import midas

HERE = Path(__file__).resolve()
OFFICIAL = HERE.parents[2] / "fixtures" / "official" / "isl-org_MiDaS"
sys.path.insert(0, str(HERE.parents[2]))  # tests/: rehearsal.fixtures._seeded_state
from rehearsal.fixtures._seeded_state import read_layout, seeded_state  # noqa: E402

# the network: float32, the same operations in the same order -> identical up to summation order
NET_RTOL, NET_ATOL = 1e-5, 1e-5
# the input transform: OpenCV's INTER_CUBIC on float64 against torch's bicubic on float32, both a = -0.75;
# measured max difference 8.5e-5 in normalised units (one step of 255 is ~0.017)
TRANSFORM_ATOL = 2e-4


@pytest.fixture(scope="module")
def reference():
    return np.load(OFFICIAL / "midas_v21_reference.npz")


def test_port_has_the_official_key_layout():
    layout = read_layout(OFFICIAL / "midas_v21_layout.json")
    with torch.device("meta"):
        ours = {k: (tuple(v.shape), str(v.dtype).removeprefix("torch.")) for k, v in midas.MidasNet().state_dict().items()}
    assert sorted(set(layout) - set(ours)) == [] and sorted(set(ours) - set(layout)) == []
    assert {k: (ours[k], layout[k]) for k in layout if ours[k] != layout[k]} == {}


def test_port_gives_the_official_output_on_the_same_weights(reference):
    state = seeded_state(read_layout(OFFICIAL / "midas_v21_layout.json"), int(reference["seed"]))
    model = midas.MidasNet()
    model.load_state_dict(state, strict=True)
    with torch.no_grad():
        y = model.eval()(torch.from_numpy(reference["net_input"])).numpy()
    expected = reference["net_output"]
    assert float(np.abs(expected).max()) > 1 and (expected > 0).mean() > 0.5  # a non-trivial output
    np.testing.assert_allclose(y, expected, rtol=NET_RTOL, atol=NET_ATOL)


def test_input_transform_is_the_official_one(reference):
    cases = sorted({k.split("_")[0] for k in reference.files if k.startswith("transform")})
    assert len(cases) == 4
    for case in cases:
        img, size = reference[f"{case}_image"], int(reference[f"{case}_net_size"])
        expected = reference[f"{case}_output"]
        ours = midas.prepare_input(img[None], size)[0].numpy()
        assert ours.shape == expected.shape, (case, img.shape, size)
        np.testing.assert_allclose(ours, expected, rtol=0, atol=TRANSFORM_ATOL, err_msg=case)


def test_8_bit_maps_are_the_official_write_depth_png(reference):
    ours = midas.to_uint8(reference["write_depth_input"][None])[0]
    np.testing.assert_array_equal(ours, reference["write_depth_png"])
