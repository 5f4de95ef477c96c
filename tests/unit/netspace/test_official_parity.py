"""The port against the official NetSpace code (github CVLAB-Unibo/netspace), not against itself.

``tests/fixtures/official/CVLAB-Unibo_netspace/`` holds what the peer's own classes computed on seeded random weights
(see its README: repository, commit, command): for LeNetLike, VanillaCNN, ResNet8, ResNet32 and ResNet56 in their
CIFAR-10 and Tiny-ImageNet variants, the outputs on fixed inputs of the network, of its batch-norm-folded form
(``ResNetFusedBN``) and of ``func_forward`` with its PRep, and the PRep itself (row sums, values at seeded
positions). Here the same weights, regenerated from the seed and loaded into the port's networks by position (the
shapes and kinds checked pair by pair), must give the same numbers.

Tolerances: networks without batch norm hold the very same parameters, so their PRep values must be bit-identical;
folding is the same algebra in another order of float32 operations (torch's ``fuse_conv_bn_weights`` vs the peer's
``fuse_conv_and_bn``), so folded values agree to 1e-6 relative (abs 1e-7) and outputs to 1e-4 of the largest logit.
"""
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from sketch3d.netspace.architectures import ARCHITECTURES, build, count_parameters
from sketch3d.netspace.bn_fold import fold_batchnorm
from sketch3d.netspace.prep import forward_with_prep, prep_height, to_prep

REF = Path(__file__).resolve().parents[2] / "fixtures" / "official" / "CVLAB-Unibo_netspace"
SIZES = {"cifar10": (32, 10), "tiny-imagenet-200": (64, 200)}


def _reference_module():
    spec = importlib.util.spec_from_file_location("netspace_make_reference", REF / "make_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # defines functions only; the peer's code is imported by its main()
    return module


MR = _reference_module()
META = json.loads((REF / "reference.json").read_text())
NPZ = np.load(REF / "reference.npz")


def _kind(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def _port_net(dataset: str, arch: str) -> torch.nn.Module:
    """The port's network with the peer's weights, loaded by position (shapes and kinds checked pair by pair)."""
    size, classes = SIZES[dataset]
    info = META["networks"][f"{dataset}/{arch}"]
    net = build(arch, classes, size, batch_norm=ARCHITECTURES[arch].trained_with_batch_norm)
    ours = list(net.state_dict().items())
    theirs = info["state_dict"]
    assert len(ours) == len(theirs), f"{arch}: {len(ours)} tensors in the port, {len(theirs)} in the peer"
    values = MR.random_state(theirs, info["seed"])
    state = {}
    for (name, tensor), (peer_name, shape) in zip(ours, theirs):
        assert tuple(tensor.shape) == tuple(shape) and _kind(name) == _kind(peer_name), (name, peer_name)
        state[name] = values[peer_name]
    net.load_state_dict(state)
    return net.eval()


CASES = [(ds, arch) for ds in SIZES for arch in MR.ARCHITECTURES]


@pytest.mark.parametrize("dataset,arch", CASES)
def test_port_matches_the_official_networks_folds_and_preps(dataset, arch):
    key = f"{dataset}/{arch}"
    info = META["networks"][key]
    x = torch.from_numpy(NPZ[f"{dataset}/inputs"])
    np.testing.assert_array_equal(x.numpy(), MR.inputs(dataset).numpy())  # the inputs regenerate as they were
    net = _port_net(dataset, arch)
    assert count_parameters(net) == info["trainable_params"]
    with torch.no_grad():
        if ARCHITECTURES[arch].trained_with_batch_norm:
            out = net(x).numpy()
            ref = NPZ[f"{key}/out_unfolded"]
            np.testing.assert_allclose(out, ref, rtol=0, atol=1e-4 * np.abs(ref).max())
        folded = fold_batchnorm(net)
        ref = NPZ[f"{key}/out_folded"]
        scale = 1e-4 * np.abs(ref).max()
        np.testing.assert_allclose(folded(x).numpy(), ref, rtol=0, atol=scale)
        height, width = META["prep_size"]
        prep = to_prep(folded, width, height)
        assert sum(p.numel() for p in folded.parameters()) == info["prep_params"]
        summary = MR.prep_summary(prep, torch.from_numpy(NPZ[f"{key}/prep_sample_idx"]))
        if ARCHITECTURES[arch].trained_with_batch_norm:
            np.testing.assert_allclose(summary["sample_val"], NPZ[f"{key}/prep_sample_val"], rtol=1e-6, atol=1e-7)
            np.testing.assert_allclose(summary["row_sum"], NPZ[f"{key}/prep_row_sum"], rtol=0,
                                       atol=1e-6 * NPZ[f"{key}/prep_row_abs_sum"].max())
        else:  # the same parameters, laid out the same way: bit for bit
            np.testing.assert_array_equal(summary["sample_val"], NPZ[f"{key}/prep_sample_val"])
            np.testing.assert_array_equal(summary["row_sum"], NPZ[f"{key}/prep_row_sum"])
        np.testing.assert_allclose(summary["row_abs_sum"], NPZ[f"{key}/prep_row_abs_sum"], rtol=1e-6)
        out = forward_with_prep(folded, prep, x).numpy()
        np.testing.assert_allclose(out, NPZ[f"{key}/out_func"], rtol=0, atol=scale)


def test_prep_heights_are_those_of_the_peer_scripts():
    """C.2's height rule gives the sizes the peer's scripts hard-code: ResNet8 8 rows (CIFAR-10) and 16
    (Tiny-ImageNet) in the single setting; 88 rows in the multi setting, ResNet56 on CIFAR-10's height."""
    sizes = META["peer_script_prep_sizes"]
    for dataset, (h, w) in sizes["single"].items():
        assert prep_height(META["networks"][f"{dataset}/resnet8"]["prep_params"], w) == h
    h, w = sizes["multi"]
    assert prep_height(META["networks"]["cifar10/resnet56"]["prep_params"], w) == h
