"""Appendix A.1.6's variants as settings of the chapter's rules: the 256x256 one (workflow/variants/) and the
conditioning perturbation (sketchydepth.perturbation, exercised in test_generation.py)."""
from pathlib import Path

import torch
import yaml

from sketch3d.config import merge, results_dir, validate
from sketch3d.sketchydepth.networks import build_networks, model_spec

REPO = Path(__file__).resolve().parents[3]


def test_the_256_variant_is_image_size_256_of_the_paper_profile_and_nothing_else():
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    variant = yaml.safe_load((REPO / "workflow" / "variants" / "sketchydepth_256.yaml").read_text())
    assert variant == {"variant": "sketchydepth_256", "profiles": {"paper": {"sketchydepth": {"image_size": 256}}}}
    paper = validate({**merge(raw, variant), "profile": "paper"}, source="sketchydepth_256.yaml")
    assert paper["sketchydepth"]["image_size"] == 256 and paper["sketchydepth"]["gan"]["ngf"] == 64
    base = validate({**raw, "profile": "paper"})
    assert paper == {**base, "variant": "sketchydepth_256", "sketchydepth": {**base["sketchydepth"], "image_size": 256}}
    # its own results folder, beside the 128 px run's
    assert results_dir(paper) == Path("results/paper-sketchydepth_256") and results_dir(base) == Path("results/paper")
    assert results_dir({**paper, "rehearsal": True}) == Path("results/rehearsal-sketchydepth_256")
    demo = validate(merge(raw, variant))  # the demo profile keeps its own size
    assert demo["sketchydepth"]["image_size"] == validate(raw)["sketchydepth"]["image_size"]


def test_at_256_the_generators_are_pix2pix_unet_256_and_run_on_the_device():
    """unet_256: 8 stride-2 convolutions take 256 px to 1x1 (ngf 4 here, to keep the test small; the depth is
    what image_size decides); one forward of each generator with weights and input on ``meta``."""
    spec = model_spec("sketchydepth")
    nets = build_networks("sketchydepth", 256, 4, 4, discriminators=False)
    assert sorted(nets) == sorted(spec.generators)
    for name, net in nets.items():
        assert net.num_downs == 8, name
        net.to("meta")
        x = torch.zeros(1, net.in_channels, 256, 256, device="meta")
        assert tuple(net(x).shape) == (1, net.out_channels, 256, 256)
