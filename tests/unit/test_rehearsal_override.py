"""workflow/rehearsal.yaml, the rehearsal's one override: only where the inputs lie and sizes may differ from the
paper profile; every architecture a file loads into (NetSpace's own widths are sizes: the pipeline trains it),
resolution the architectures depend on, and method setting is the paper's."""
from __future__ import annotations

from pathlib import Path

import yaml

from sketch3d.config import ParamsError, load_params, merge, validate

REPO = Path(__file__).resolve().parents[2]
OVERRIDE = REPO / "workflow" / "rehearsal.yaml"

# settings whose value the rehearsal must share with the paper profile: the architectures (a checkpoint of the real
# model must load into what the rehearsal builds), the resolutions they depend on, the methods' definitions
SAME_AS_PAPER = (
    "features.backbone", "features.layer", "features.weights", "render.resolution",
    "render.view_sets", "render.sketch_azimuths", "retrieval.baseline_box", "retrieval.thesis_choice",
    "retrieval.distance", "retrieval.view_reduction",
    "sketchydepth.image_size", "sketchydepth.gan.ngf", "sketchydepth.gan.ndf", "sketchydepth.gan.n_layers_d",
    "sketchydepth.gan.dropout", "sketchydepth.labeller.encoder", "sketchydepth.labeller.features",
    "sketchydepth.fid.dims",
    "reconstruction.generator.z_dim", "reconstruction.generator.style_dim", "reconstruction.generator.style_depth",
    "reconstruction.generator.volume_res", "reconstruction.generator.channels",
    "reconstruction.generator.network_capacity", "reconstruction.generator.fmap_max",
    "reconstruction.generator.mlp_hidden", "reconstruction.generator.mlp_layers",
    "netspace.model.embedding", "netspace.prep", "netspace.datasets", "netspace.data.tinyimagenet.image_size",
    "netspace.data.cifar10.image_size",
)


def _leaves(node, prefix=""):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves(value, f"{prefix}{key}.")
    else:
        yield prefix.rstrip("."), node


def _get(params: dict, dotted: str):
    for part in dotted.split("."):
        params = params[part]
    return params


def _rehearsal() -> dict:
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    return validate(merge(raw, yaml.safe_load(OVERRIDE.read_text())), source=str(OVERRIDE))


def test_override_rehearses_the_paper_profile_with_paths_and_sizes_only():
    override = yaml.safe_load(OVERRIDE.read_text())
    assert override["profile"] == "paper" and override["rehearsal"] is True
    for key, value in _leaves(override):
        if key in ("profile", "rehearsal"):
            continue
        if isinstance(value, str):
            assert value.startswith("results/rehearsal/"), f"{key}: {value!r} is neither a size nor a fixture path"
        elif isinstance(value, bool):
            assert key.rsplit(".", 1)[-1].startswith("check_"), f"{key}: only a size check may be switched off"
        else:
            assert isinstance(value, (int, float, list)), f"{key}: {value!r}"


def test_architectures_and_methods_are_the_paper_profiles():
    paper = load_params(REPO / "params.yaml", {"profile": "paper"})
    rehearsal = _rehearsal()
    for key in SAME_AS_PAPER:
        assert _get(rehearsal, key) == _get(paper, key), key
    # NetSpace's own widths are sizes (no pretrained file loads into it; the peer's are tests/unit/netspace/
    # test_model.py's): the rehearsal sets them, smaller, and nothing else of the model
    assert set(rehearsal["netspace"]["model"]) - set(paper["netspace"]["model"]) <= {"channels", "encoder_channels"}
    assert "channels" not in paper["netspace"]["model"] and "encoder_channels" not in paper["netspace"]["model"]
    assert {k: v for k, v in rehearsal["netspace"]["model"].items() if k not in ("channels", "encoder_channels")} \
        == paper["netspace"]["model"]
    # the retrieval's main choice (every table's rows) is the paper's; its extra choices' rows are left out
    assert rehearsal["retrieval"]["choices"] == paper["retrieval"]["choices"][:1]
    # Table 3.1's first test input (data/test) is the paper's; its further inputs' runs are left out
    inputs = rehearsal["sketchydepth"]["sketchycoco"]["test_inputs"]
    assert inputs == paper["sketchydepth"]["sketchycoco"]["test_inputs"][:1] and len(inputs) == 1
    for name, net in paper["features"]["networks"].items():  # the same networks; their weights may be fixture paths
        assert {k: v for k, v in rehearsal["features"]["networks"][name].items() if k != "weights"} == {
            k: v for k, v in net.items() if k != "weights"}, name


def test_rehearsal_is_only_for_the_paper_profile():
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["rehearsal"] = True
    try:
        validate(raw)
    except ParamsError as exc:
        assert "rehearsal" in str(exc) and "profile: paper" in str(exc)
    else:
        raise AssertionError("rehearsal: true with profile demo was accepted")
