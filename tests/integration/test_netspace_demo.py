"""Chapter 5 end to end at tiny sizes (one or two nets per split, a few steps): the zoos, the SDF MLPs, NetSpace
in its four settings, evaluation, latent space optimisation, Tables 5.1 and C.1 and the figures; then growing a
zoo reruns only the new member and what reads that zoo."""
from __future__ import annotations

import json

import pandas as pd
import pytest
from PIL import Image

from workflow_helpers import jobs_after, make_project, snakemake

pytestmark = pytest.mark.slow

FIGURES = ("fig_5_3_digits.png", "fig_5_4.png", "fig_5_5_multi_digits.png", "fig_5_5_unseen_digits.png",
           "fig_C_5_digits.png", "fig_C_6_digits.png")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    project = make_project(tmp_path_factory.mktemp("netspace"))
    snakemake("--cores", "2", "netspace", cwd=project, timeout=1200)
    return project


def test_every_output_is_there_and_says_demo(built):
    r = built / "results/demo"
    for table in ("table_5_1", "table_C_1"):
        assert "demo" in (r / f"tables/{table}.md").read_text().lower(), table
        assert json.loads((r / f"tables/{table}.json").read_text())
    c1 = pd.read_csv(r / "tables/table_C_1.csv")
    params = c1[(c1["metric"] == "params") & (c1["method"] == "ResNet8")]
    assert float(params["ours"].iloc[0]) == float(params["thesis"].iloc[0]) == 78042  # CIFAR-10 sizes (32x32)
    for fig in FIGURES:
        assert Image.open(r / "figures/netspace" / fig).size[0] > 100, fig
    for setting in ("single", "multi", "unseen", "sdf"):
        folder = "chairs" if setting == "sdf" else "digits"
        assert (r / f"netspace/models/{folder}/{setting}/curves.png").is_file(), setting


def test_growing_a_zoo_trains_only_the_new_member(built):
    assert "Nothing to be done" in snakemake("-n", "--cores", "1", "netspace", cwd=built).stdout
    single = jobs_after(built, "netspace", lambda ns: ns["zoo"]["single"]["count"].update(train=3))
    assert single == {"train_member": 1, "zoo_table": 1, "train_netspace": 1, "evaluate_netspace": 1,
                      "optimise_latent": 1, "netspace_table": 1, "figure_netspace": 1}
    mlps = jobs_after(built, "netspace", lambda ns: ns["sdf_mlps"]["count"].update(train=3))
    assert mlps == {"sdf_samples": 1, "fit_sdf_mlp": 1, "train_netspace": 1, "evaluate_netspace": 1,
                    "figure_netspace": 1}
