"""Which test nets start Table 5.1's latent space optimisations, from the zoo plan alone.

A light module (the workflow builds the optimise_latent jobs from it when Snakemake loads the rules, so it imports
no torch), apart from ``zoo_plan``, whose members' code versions it would otherwise move.
"""
from __future__ import annotations

from sketch3d.netspace.zoo_plan import Member, zoo_members, zoo_plan


def latent_starts(settings: dict, plan: list[Member] | None = None) -> dict[str, tuple[str, str]]:
    """Table 5.1's latent space optimisations: ``{"<setting>-<member>": (setting, member name)}``, one start net
    from the single zoo's test split and one per multi-zoo architecture.

    The thesis says only "one ResNet8 instance from the test set" (5.4) and the peer's script takes whatever
    checkpoint its user names. Its start nets are mid-zoo instances: the single one at 25.73% on Tiny-ImageNet
    against the zoo's best ResNet8 at 40.51% (Tables 5.1, C.1), the multi ones below their architecture's mean.
    Our choice, made from the plan alone (no accuracy is known when the workflow is built): in the single zoo,
    whose members differ in epochs, the test member of median epochs (the upper median of the sorted (epochs,
    index) list), so the start is neither the zoo's weakest nor its best instance; in the multi zoo, whose members
    share one regime, the first test member of each architecture."""
    plan = zoo_plan(settings) if plan is None else plan
    out = {}
    single = sorted(zoo_members(settings, "single", "test", plan), key=lambda m: (m.epochs, m.index))
    if single:
        m = single[len(single) // 2]
        out[f"single-{m.name}"] = ("single", m.name)
    multi = zoo_members(settings, "multi", "test", plan)
    for arch in dict.fromkeys(m.architecture for m in multi):  # the plan's order of the architectures
        m = next(m for m in multi if m.architecture == arch)
        out[f"multi-{m.name}"] = ("multi", m.name)
    return out
