"""The generalisation benchmark's measures (benchmarks/netspace_budget/generalisation.py), against direct
computations: a wrong block boundary or a ridge fit on the wrong rows would change what measured.json reports."""
import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import kendalltau

_PATH = Path(__file__).resolve().parents[3] / "benchmarks" / "netspace_budget" / "generalisation.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("generalisation_benchmark", _PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_block_taus_are_each_blocks_own_tau(bench):
    rng = np.random.default_rng(3)
    target = list(rng.random(20))
    predicted = list(target[:8]) + list(-np.asarray(target[8:16])) + list(rng.random(4))
    taus = bench.block_taus(target, predicted)
    assert len(taus) == 2  # the last 4 nets make no full block
    assert taus[0] == pytest.approx(1.0) and taus[1] == pytest.approx(-1.0)
    assert bench.block_taus(target, predicted, size=5)[2] == pytest.approx(
        kendalltau(target[10:15], predicted[10:15])[0])


def test_ridge_tau_ranks_a_linear_target_and_reports_the_first_eight(bench):
    rng = np.random.default_rng(0)
    w = rng.normal(size=6)
    x_train, x_test = rng.normal(size=(40, 6)), rng.normal(size=(12, 6))
    tau, tau8 = bench.ridge_tau(x_train, x_train @ w, x_test, x_test @ w)
    assert tau == pytest.approx(1.0) and tau8 == pytest.approx(1.0)
    # the test nets' own target is what the prediction is ranked against (not the training rows'): a target
    # unrelated to the features gets the tau of that target against the (near-exact) linear prediction
    noise = rng.normal(size=12)
    tau, tau8 = bench.ridge_tau(x_train, x_train @ w, x_test, noise)
    assert tau == pytest.approx(kendalltau(noise, x_test @ w)[0])
    assert tau8 == pytest.approx(kendalltau(noise[:8], (x_test @ w)[:8])[0])


def _share_of_permutations_with_at_most(n: int, inversions: int) -> float:
    """Exact share of the n! rankings with at most ``inversions`` discordant pairs (Mahonian numbers)."""
    counts = [1]
    for k in range(2, n + 1):
        counts = [sum(counts[max(0, i - k + 1):i + 1]) for i in range(len(counts) + k - 1)]
    return sum(counts[:inversions + 1]) / math.factorial(n)


def test_tau_sampling_matches_the_exact_null_distribution():
    spec = importlib.util.spec_from_file_location("tau_sampling_benchmark", _PATH.parent / "tau_sampling.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    # population tau 0: the 8 pairs are independent, every ranking equally likely; tau-b = 1 - 4 d / 56 for d
    # discordant pairs, so tau >= 0.6 exactly when d <= 5
    exact = _share_of_permutations_with_at_most(8, 5)
    assert exact == pytest.approx(628 / 40320)
    share, sd = module.clear_rate(0.0, 8, 10000, 0.6, np.random.default_rng(1))
    assert share == pytest.approx(exact, abs=0.005)  # 4 binomial standard deviations
    assert sd == pytest.approx(np.sqrt(2 * (2 * 8 + 5) / (9 * 8 * 7)), rel=0.05)  # tau's null variance


def test_chunk_ends_score_every_n_steps_and_the_last(bench):
    assert bench.chunk_ends(1000, 400) == [400, 800, 1000]
    assert bench.chunk_ends(800, 400) == [400, 800]
    assert bench.chunk_ends(600, None) == [600]  # no --test-every: one run


def test_checkpoint_model_is_the_checkpoints_last_state_not_the_best(bench, tmp_path):
    import torch
    from sketch3d.netspace.model import NetSpace

    torch.manual_seed(0)
    last, best = NetSpace((4, 64), 256, channels={"grow": 16, "mid": 8, "wide": 32, "deep": 16}), None
    config = last.config()
    best = NetSpace.from_config(config)  # another initialisation: the state the checkpoint must not give back
    torch.save({"model": last.state_dict(), "step": 1200, "best": {"state": best.state_dict()}},
               tmp_path / "netspace_single.pt")
    model, step = bench.checkpoint_model(tmp_path / "netspace_single.pt", config)
    assert step == 1200 and not model.training
    prep = torch.randn(2, 4, 64)
    with torch.no_grad():
        assert torch.equal(model(prep)[1], last(prep)[1])
        assert not torch.equal(model(prep)[1], best(prep)[1])


def test_zoo_reference_taus_rank_test_accuracy_against_validation_accuracy_and_epochs(bench):
    records = [{"test_accuracy": t, "val_accuracy": v, "epochs": e}
               for t, v, e in [(10.0, 12.0, 1), (30.0, 25.0, 2), (50.0, 55.0, 2), (70.0, 60.0, 5), (90.0, 95.0, 4)]]
    taus = bench.zoo_reference_taus(records)
    assert taus["test_vs_val_accuracy"] == pytest.approx(1.0)  # the same order
    # epochs: one tie (2, 2) and one swapped pair (5 before 4): tau-b from scipy on the columns
    assert taus["test_accuracy_vs_epochs"] == pytest.approx(kendalltau([10, 30, 50, 70, 90], [1, 2, 2, 5, 4])[0])
    assert taus["test_accuracy_vs_epochs"] < 1.0
