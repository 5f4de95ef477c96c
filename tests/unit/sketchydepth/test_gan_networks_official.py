"""pix2pix's U-Net and PatchGAN ports against the official code (tests/fixtures/official/
junyanz_pytorch-CycleGAN-and-pix2pix/: made by its make_reference.py; see the README there)."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from sketch3d.sketchydepth.networks import MODELS, PatchDiscriminator, UnetGenerator, build_networks

HERE = Path(__file__).resolve()
OFFICIAL = HERE.parents[2] / "fixtures" / "official" / "junyanz_pytorch-CycleGAN-and-pix2pix"
sys.path.insert(0, str(HERE.parents[2]))  # tests/: rehearsal.fixtures._seeded_state
from rehearsal.fixtures._seeded_state import seeded_state  # noqa: E402

# float32, the same operations in the same order: identical up to summation order (measured: identical)
RTOL, ATOL = 1e-5, 1e-5


@pytest.fixture(scope="module")
def official():
    data = json.loads((OFFICIAL / "pix2pix_layouts.json").read_text())
    layouts = {n: {k: (tuple(v["shape"]), v["dtype"]) for k, v in lay.items()} for n, lay in data["layouts"].items()}
    return data["parameters"], layouts, np.load(OFFICIAL / "pix2pix_reference.npz")


def _ours(name: str) -> torch.nn.Module:
    if name.startswith("G_"):
        cin, cout = (int(c) for c in name.split("_")[1:])
        return UnetGenerator(cin, cout, 7, 64, dropout=0.5)  # unet_128
    return PatchDiscriminator(int(name.split("_")[1]), 64, 3)  # basic: n_layers 3


def test_parameter_counts_and_layouts_of_every_network_are_the_official_ones(official):
    counts, layouts, _ = official
    assert len(counts) == 6
    for name, expected in counts.items():
        with torch.device("meta"):
            net = _ours(name)
        assert sum(p.numel() for p in net.parameters()) == expected, name
        ours = {k: (tuple(v.shape), str(v.dtype).removeprefix("torch.")) for k, v in net.state_dict().items()}
        assert ours == layouts[name], name
    # and the networks every model of Table 3.1 builds have those counts (unet_128 at 128 px, ngf = ndf = 64)
    with torch.device("meta"):
        for model, spec in MODELS.items():
            nets = build_networks(model, 128, 64, 64)
            for g, (cin, cout) in spec.generators.items():
                assert sum(p.numel() for p in nets[g].parameters()) == counts[f"G_{cin}_{cout}"], (model, g)
            for d, cin in spec.discriminators.items():
                assert sum(p.numel() for p in nets[d].parameters()) == counts[f"D_{cin}"], (model, d)


@pytest.mark.parametrize("name", ["G_4_3", "D_7"])
def test_outputs_on_the_official_networks_weights(official, name):
    _, layouts, ref = official
    net = _ours(name)
    net.load_state_dict(seeded_state(layouts[name], int(ref["seed"])), strict=True)
    x = torch.from_numpy(ref[f"{name}_input"]).float() / 127.5 - 1.0
    with torch.no_grad():
        np.testing.assert_allclose(net.eval()(x).numpy(), ref[f"{name}_eval"], rtol=RTOL, atol=ATOL)
        torch.manual_seed(int(ref["seed"]))  # pix2pix's test mode: batch statistics, dropout drawn from this seed
        np.testing.assert_allclose(net.train()(x).numpy(), ref[f"{name}_train"], rtol=RTOL, atol=ATOL)
    assert float(np.abs(ref[f"{name}_train"] - ref[f"{name}_eval"]).max()) > 1e-3  # the two modes differ
