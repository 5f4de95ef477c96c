"""How often a model clears "Kendall's tau >= 0.6 over 8 test nets" by the draw of its test nets alone.

For a population tau (the model's agreement over all the nets its zoo could hold), draws 8 (target, decoded)
pairs from a bivariate normal with that Kendall's tau (Pearson rho = sin(pi tau / 2), Greiner's relation) many
times and prints: the share of draws with tau-b >= 0.6, that share cubed (three seeds all clearing it, were the
models equally good), and the standard deviation of tau-b over the draws. A check of the issue's target, not of
NetSpace: the normal pairs stand in for a model whose errors are smooth and symmetric.

    python benchmarks/netspace_budget/tau_sampling.py [--n 8] [--draws 4000] [--seed 0]
"""
from __future__ import annotations

import argparse

import numpy as np
from scipy.stats import kendalltau


def clear_rate(tau: float, n: int, draws: int, threshold: float, rng: np.random.Generator) -> tuple[float, float]:
    """(share of n-pair draws whose tau-b >= threshold, standard deviation of tau-b) at population ``tau``."""
    rho = np.sin(np.pi * tau / 2)
    values = np.array([kendalltau(*rng.multivariate_normal([0, 0], [[1, rho], [rho, 1]], size=n).T)[0]
                       for _ in range(draws)])
    return float(np.mean(values >= threshold - 1e-9)), float(values.std())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--draws", type=int, default=4000)
    ap.add_argument("--threshold", type=float, default=0.6)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    print("population_tau  share_clearing  three_seeds_clearing  sd_of_tau")
    for tau in (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9):
        share, sd = clear_rate(tau, a.n, a.draws, a.threshold, rng)
        print(f"{tau:14.2f}  {share:14.3f}  {share ** 3:20.3f}  {sd:9.3f}")


if __name__ == "__main__":
    main()
