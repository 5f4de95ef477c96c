# sketch3d: reproduce "Understanding 3D structures from Sketches" (Berardi, 2023).
#   snakemake --cores all                                # demo profile, offline
#   snakemake --cores all --resources gpu=2 --config profile=paper
# Rules live in workflow/rules/, one file per pipeline stage; each calls `sketch3d <command>`.
from snakemake.utils import min_version

min_version("9.0")


configfile: "params.yaml"


include: "workflow/rules/common.smk"


wildcard_constraints:
    category="|".join(CATEGORIES),
    split="train|val|test",
    kind="gallery|sketch",
    box=r"\d+",


include: "workflow/rules/data.smk"
include: "workflow/rules/render.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/retrieval.smk"
include: "workflow/rules/report.smk"


report: "workflow/report/workflow.rst"


onstart:
    preflight()


rule all:
    default_target: True
    input:
        slice_targets(),
