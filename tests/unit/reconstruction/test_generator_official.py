"""The SDF-StyleGAN port against the OFFICIAL code's outputs (tests/fixtures/official/Zhengxinyang_SDF-StyleGAN/,
made by make_reference.py there from github.com/Zhengxinyang/SDF-StyleGAN on seeded random weights), for both
architectures of the official code: network/model.py's defaults and the released chair model's (train_chair.sh,
through train.py). The weights reach the port through a lightning checkpoint in the official key layout, read by
the pipeline's loader, which takes the architecture from the checkpoint's hyper_parameters. (The reference's
``sdf_broadcast``, a mapped w repeated over the blocks, is checked by test_generator_reference.py through
``compare_with_reference``.)

Tolerance: float32 on the CPU; the mapping within 1e-6 x max(1, max |w|) (measured: bit-identical), the SDF within
1e-5 x max(1, max |official SDF|) (measured 2.2e-6 on an SDF of about +-2 noise off; 5.4e-5 on about +-12 with the
random noise on). A wrong weight, layer, axis or noise orientation moves them by orders of magnitude more."""
import numpy as np
import pytest
import torch

from sketch3d.reconstruction import generator as G

from _official import ARCHS, layout, reference, write_checkpoint

HP = {"model_py": dict(z_dim=128, channels=32, mlp_layers=4), "train_chair": dict(z_dim=512, channels=16, mlp_layers=2)}


def _close(ours: torch.Tensor, theirs: np.ndarray, rel: float) -> float:
    diff = float(np.abs(ours.detach().numpy().astype(np.float64) - theirs).max())
    bound = rel * max(1.0, float(np.abs(theirs).max()))
    assert diff <= bound, f"port differs from the official code by {diff:.3g} > {bound:.3g}"
    return diff


@pytest.fixture(scope="module", params=ARCHS)
def official(request, tmp_path_factory):
    arch = request.param
    path = write_checkpoint(arch, tmp_path_factory.mktemp(arch) / "epoch=199.ckpt")
    return arch, path, reference(arch)


def test_the_port_computes_what_the_official_code_computes(official):
    arch, path, ref = official
    torch.set_num_threads(1)
    generator = G.load_generator(path, noise="zero")
    for field, value in HP[arch].items():  # read from the checkpoint's hyper_parameters
        assert getattr(generator.config, field) == value
    with torch.no_grad():
        _close(generator.map(torch.from_numpy(ref["z"])), ref["w"], 1e-6)
        points = torch.from_numpy(ref["points"])
        _close(generator(torch.from_numpy(ref["styles"]), points), ref["sdf_quiet"], 1e-5)
        # noise on: the official blocks' own draws, loaded as the port's fixed noise volumes
        for i, volume in enumerate(generator.G.noises()):
            volume.copy_(torch.from_numpy(ref[f"noise_{i}"]))
        noisy = generator(torch.from_numpy(ref["styles"][:1]), points)
    _close(noisy, ref["sdf_noise"], 1e-5)
    assert np.abs(ref["sdf_noise"] - ref["sdf_quiet"][:1]).max() > 0.1  # the noise path is exercised


def test_the_architecture_is_read_from_the_hyper_parameters_and_checked_against_the_tensors(official, tmp_path):
    arch, path, _ = official
    config, source = G.checkpoint_architecture(path)
    assert "hyper_parameters" in source
    assert {f: getattr(config, f) for f in HP[arch]} == HP[arch]
    if arch != "train_chair":
        return
    # no hyper_parameters: the shapes (and the params' lr_multiplier), said so
    bare = write_checkpoint(arch, tmp_path / "bare.ckpt", hyper_parameters=False)
    config_bare, source_bare = G.checkpoint_architecture(bare, lr_default=0.1)
    assert config_bare == config and "shapes" in source_bare
    # hyper_parameters that contradict the tensors: the file is named as damaged
    lied = write_checkpoint(arch, tmp_path / "lied.ckpt",
                            hyper_parameters={**layout(arch)["hyper_parameters"], "G_feature_dim": 32})
    with pytest.raises(G.ArchitectureMismatch, match=r"lied.ckpt: the checkpoint disagrees with itself.*G_feature_dim"):
        G.load_generator(lied)


def test_the_paper_settings_are_the_released_chair_models(official):
    """params.yaml's generator settings load the train_chair.sh checkpoint and refuse model.py's, naming both."""
    from sketch3d.config import load_params

    arch, path, _ = official
    settings = load_params("params.yaml", {"profile": "paper"})["reconstruction"]["generator"]
    if arch == "train_chair":
        assert G.load_for_settings(path, settings).config.z_dim == 512
        return
    with pytest.raises(G.ArchitectureMismatch) as err:
        G.load_for_settings(path, settings)
    message = str(err.value)
    assert "epoch=199.ckpt" in message and "z_dim: params 512 vs weights 128" in message
    assert "channels: params 16 vs weights 32" in message and "mlp_layers: params 2 vs weights 4" in message
    assert "z_dim=512" in message and "z_dim=128" in message  # both architectures, whole
