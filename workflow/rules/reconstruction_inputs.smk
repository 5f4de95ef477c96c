# Chapter 4.3 (reconstruction): input functions, paths and targets of the rules in reconstruction.smk.
from sketch3d.reconstruction.names import SUPERVISIONS as RC_SUPERVISIONS
from sketch3d.reconstruction.names import TABLE_ID as RC_TABLE

RC = f"{RESULTS}/reconstruction"
RC_CFG = config["reconstruction"]
RC_CACHE = f"{RESULTS}/cache/reconstruction"
RC_EXAMPLES = [f"{i:02d}" for i in range(RC_CFG["targets"]["examples"])]  # examples by number (targets.py picks)
RC_CATEGORY = RC_CFG["targets"]["category"]
RC_PICKS = RC_CFG["figures"]["picks"]


def rc_generator(wildcards=None):
    """The generator's weights: the official checkpoint (paper, params) or the one the demo trains."""
    if PROFILE == "paper":
        return RC_CFG["generator"]["weights"]
    return f"{RC}/generator/generator.pt"


def rc_generator_input(wildcards):
    """The weights as an input where a file exists or a job makes it; a missing paper file is named by the
    preflight before any job, not by the DAG."""
    path = rc_generator()
    return [path] if PROFILE != "paper" or Path(path).is_file() else []


def rc_sdf_settings(wildcards):
    """What sdf_targets reads: the grid side and the category (flat)."""
    t = RC_CFG["targets"]
    return json.dumps({"sdf_resolution": t["sdf_resolution"], "category": t["category"]}, sort_keys=True)


def rc_sdf_shapes(wildcards):
    """The shapes an SDF set holds: the chosen examples (targets) or the demo generator's training chairs."""
    if wildcards.part == "targets":
        return {"shapes": f"{RC}/targets"}
    return {"shapes": f"{RESULTS}/data/shapes.csv", "store": f"{RESULTS}/data/items"}


def rc_sdf_args(wildcards, input):
    if wildcards.part == "targets":
        return f"--shapes {input.shapes}/examples.csv"
    return f"--shapes {input.shapes} --splits train val"


def rc_invert_inputs(wildcards):
    """Every inversion reads the target's SDF grid: the SDF loss compares with it, and each inversion's own grid
    (scored against it) is written on the same points."""
    return {"generator": rc_generator_input(wildcards), "mean": f"{RC}/generator/mean_style.npz",
            "targets": f"{RC}/targets", "sdf": f"{RC}/sdf/targets.npz"}


def rc_picks_input(wildcards):
    """The picks a person wrote (Figs 4.8, 4.9), once the file exists: editing it reruns the figures only."""
    return [RC_PICKS] if Path(RC_PICKS).is_file() else []


RC_INVERSIONS = [f"{RC}/inversions/{s}/{e}" for s in RC_SUPERVISIONS for e in RC_EXAMPLES]

CHAPTER_TARGETS["reconstruction"] = [
    *(table_path(RC_TABLE, ext) for ext in ("csv", "md", "json")),
    f"{RESULTS}/figures/reconstruction",
]
