"""workflow/profiles/slurm: what it sets reaches the rules it names."""
from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _rule_names() -> set[str]:
    names = set()
    for smk in [ROOT / "Snakefile", *sorted((ROOT / "workflow" / "rules").glob("*.smk"))]:
        names |= set(re.findall(r"^rule (\w+):", smk.read_text(), flags=re.M))
    return names


def test_set_resources_names_rules_of_the_workflow():
    """Snakemake ignores set-resources for a name that is no rule: a typo silently drops the request."""
    profile = yaml.safe_load((ROOT / "workflow" / "profiles" / "slurm" / "profile.yaml").read_text())
    rules = _rule_names()
    assert {"extract_features", "train_member", "render_gallery"} <= rules
    assert sorted(set(profile["set-resources"]) - rules) == []


def test_slurm_profile_runs_on_the_slurm_executor_with_per_job_gpus():
    profile = yaml.safe_load((ROOT / "workflow" / "profiles" / "slurm" / "profile.yaml").read_text())
    assert profile["executor"] == "slurm"
    assert profile["set-resource-scopes"] == {"gpu": "local"}
    # the plugin passes cpus_per_task whenever it is set (default-resources does), so cpus_per_gpu would be dropped
    assert all("cpus_per_gpu" not in r for r in profile["set-resources"].values())
