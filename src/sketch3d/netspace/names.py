"""Chapter 5's names, each typed once: NetSpace's settings, the zoo's sections and the chapter's tables.

A light module (the standard library only): the CLI's ``choices``, the rules' wildcard constraints and the
chapter's modules read it, and a job's code version follows it (``sketch3d.codeversion``), so it holds names only.
"""
from __future__ import annotations

# NetSpace's settings (thesis 5.3): one architecture's zoo, several architectures' (with the ResNet56 teacher), the
# multi zoo with some architectures held out, and SDF MLPs instead of classifiers
SINGLE, MULTI, UNSEEN, SDF = SETTINGS = ("single", "multi", "unseen", "sdf")
TEACHER = "teacher"  # the zoo's teacher network (a section of netspace.zoo, and its members' split)
ZOO_SETTINGS = (SINGLE, MULTI, UNSEEN, TEACHER)  # netspace.zoo's sections (the SDF setting has MLPs, not a zoo)
SEVERAL_ARCHITECTURES = (MULTI, UNSEEN)  # a zoo of several architectures: distilled from the teacher, classified
ONE_ARCHITECTURE = (SINGLE, SDF)  # a zoo of one architecture

# the chapter's tables (thesis numbers; sketch3d.names spells their files)
TABLE_5_1 = "5.1"  # latent space optimisation (netspace.tables)
TABLE_C_1 = "C.1"  # the zoo's networks (netspace.zoo_table)
# this chapter's tables (found by sketch3d.table_stages) and the params.yaml sections their jobs read
TABLE_IDS = (TABLE_5_1, TABLE_C_1)
TABLE_PARAMS = ("seed", "netspace")

# each setting's figures (netspace.figures draws them; a setting with an image set gets one per set)
FIGURES = {SINGLE: ("fig_5_3.png", "fig_C_5.png"), MULTI: ("fig_5_5_multi.png", "fig_C_6.png"),
           UNSEEN: ("fig_5_5_unseen.png",), SDF: ("fig_5_4.png",)}


def figure_names(setting: str, dataset: str | None) -> list[str]:
    """The figure files of one evaluation: ``FIGURES[setting]``, each with ``_<dataset>`` before ``.png`` when the
    setting has an image set (the SDF setting has none)."""
    return [n if dataset is None else n.removesuffix(".png") + f"_{dataset}.png" for n in FIGURES[setting]]
