# sketch3d: reproduce "Understanding 3D structures from Sketches" (Berardi, 2023).
#   snakemake --cores all                                # the chapters params.yaml lists, demo profile, offline
#   snakemake --cores all retrieval                      # one chapter
#   snakemake --cores all --resources gpu=2 --config profile=paper
# Shared stages (data, render, features) and one rules file per chapter live in workflow/rules/;
# each rule calls `sketch3d <rule name>`.
from snakemake.utils import min_version

min_version("9.0")


configfile: "params.yaml"


include: "workflow/rules/common.smk"


wildcard_constraints:
    category="|".join(CATEGORIES),
    split="|".join(SPLITS),
    kind="sketch|(lines|rgb)_(" + "|".join(config["render"]["view_sets"]) + ")",
    transforms=r"box(\d+|none|centred)[-_.+a-z0-9]*",


# shared stages
include: "workflow/rules/data.smk"
include: "workflow/rules/render.smk"
include: "workflow/rules/features.smk"
# chapters (each adds its targets to CHAPTER_TARGETS and a target rule named after it)
include: "workflow/rules/retrieval_inputs.smk"
include: "workflow/rules/retrieval.smk"
include: "workflow/rules/sketchydepth_inputs.smk"
include: "workflow/rules/sketchydepth.smk"
include: "workflow/rules/reconstruction_inputs.smk"
include: "workflow/rules/reconstruction.smk"
include: "workflow/rules/netspace_inputs.smk"
include: "workflow/rules/netspace.smk"
# how much each table moves over seeds and CPU kinds, where such runs exist
include: "workflow/rules/variation_inputs.smk"
include: "workflow/rules/variation.smk"


report: "workflow/report/workflow.rst"


onstart:
    preflight()


rule all:
    default_target: True
    input:
        chapter_targets(config["chapters"]),
        VARIATION_TARGETS,
