# Chapter 3 (SketchyDepth): input functions, paths and targets of the rules in sketchydepth.smk.
from pathlib import Path

from sketch3d.sketchydepth.names import MODELS as SD_NETWORKS
from sketch3d.sketchydepth.names import TABLE_ID as SD_TABLE, THESIS_ROWS

SD = f"{RESULTS}/sketchydepth"
SD_CFG = config["sketchydepth"]
SD_MODELS = list(THESIS_ROWS)  # Table 3.1's rows; their networks: sketchydepth.networks.MODELS (a test checks)
SD_DEPTH_MODELS = [m for m in SD_MODELS if SD_NETWORKS[m].depth]  # the models with G_d: they generate a depth map too
SD_CACHE = f"{RESULTS}/cache/sketchydepth"
# Table 3.1's test inputs (sketchydepth.sketchycoco.test_inputs; the demo's partial images hold the scene's own
# pixels: ground_truth). The first is data/test; each further one, data/test_<name>, gets a run per model,
# "<model>@<name>" (generated/<model>@<name>, metrics/<model>@<name>.json): both are rows of the table.
_SD_INPUTS = SD_CFG["sketchycoco"]["test_inputs"] if PROFILE == "paper" else ["ground_truth"]
SD_TEST_INPUTS = [_SD_INPUTS] if isinstance(_SD_INPUTS, str) else list(_SD_INPUTS)
SD_RUNS = [*SD_MODELS, *(f"{m}@{i}" for i in SD_TEST_INPUTS[1:] for m in SD_MODELS)]


def sd_run_model(wildcards):
    """The model of a run (``<model>`` or ``<model>@<inputs>``)."""
    return wildcards.model.split("@")[0]


def sd_run_testset(wildcards):
    """The test triplet set a run reads: ``test``, or ``test_<inputs>``."""
    return "test" if "@" not in wildcards.model else f"test_{wildcards.model.split('@')[1]}"


def sd_scene_settings():
    """What prepare_scenes reads: the generator's sizes (demo) or SketchyCOCO's preparation (paper)."""
    keys = ["profile", "seed", "sketchydepth.image_size"]
    return settings(*keys, "sketchydepth.scenes" if PROFILE == "demo" else "sketchydepth.sketchycoco")


def _sd_archive_files():
    from sketch3d.sketchydepth.sources import chapter_sources

    return [s.filename for s in chapter_sources().values() if s.kind == "dataset" and s.filename]


SD_ARCHIVE_FILES = _sd_archive_files()  # SketchyCOCO's archives (fetch_sketchycoco)


def sd_raw_inputs(wildcards):
    """Paper profile: SketchyCOCO's archives (made by the `fetch` rule), unless an extracted copy is named."""
    coco = SD_CFG["sketchycoco"]
    if PROFILE != "paper" or coco["root"]:
        return []
    from sketch3d.sketchydepth.sources import chapter_sources

    sources = chapter_sources()
    return [str(sources[name].path(coco["data_dir"])) for name in coco["archives"]]


def sd_labeller_weights(wildcards=None):
    """MiDaS weights: the official v2.1 file (paper, params) or the small labeller the demo trains."""
    if PROFILE == "paper":
        return SD_CFG["labeller"]["weights"]
    return f"{SD}/labeller/midas_small.pt"


def sd_labeller_weights_input(wildcards):
    """The weights as an input where a file exists or a job makes it (the demo's): a replaced file reruns the
    labelling. A paper file that is missing is named by the preflight before any job, not by the DAG."""
    path = sd_labeller_weights()
    return [path] if PROFILE != "paper" or Path(path).is_file() else []


def sd_images(wildcards):
    """The triplet set a label_depth job labels: a split of the data, or a model's generated test images."""
    if wildcards.images in SPLITS:
        return f"{SD}/data/{wildcards.images}"
    return f"{SD}/generated/{wildcards.images.removeprefix('generated_')}/images"


def sd_images_input(wildcards):
    """The output folder holding that set (the data folder, or the model's generated folder)."""
    if wildcards.images in SPLITS:
        return f"{SD}/data"
    return f"{SD}/generated/{wildcards.images.removeprefix('generated_')}"


def sd_train_inputs(wildcards):
    inputs = {"data": f"{SD}/data"}
    if wildcards.model in SD_DEPTH_MODELS:
        inputs.update(train_depth=f"{SD}/depth/train", val_depth=f"{SD}/depth/val")
    return inputs


def sd_depth_args(wildcards, input):
    if wildcards.model not in SD_DEPTH_MODELS:
        return ""
    return f"--train-depth {input.train_depth} --val-depth {input.val_depth}"


def sd_metrics_inputs(wildcards):
    """image_metrics: the test set and the run's generated set; for a model with G_d also MiDaS's depth of the
    real test images (the labels) and of the run's generated images (depth quality, Table 3.1)."""
    inputs = {"data": f"{SD}/data", "generated": f"{SD}/generated/{wildcards.model}"}
    if sd_run_model(wildcards) in SD_DEPTH_MODELS:
        inputs.update(labels=f"{SD}/depth/test", midas=f"{SD}/depth/generated_{wildcards.model}")
    return inputs


def sd_metrics_depth_args(wildcards, input):
    if sd_run_model(wildcards) not in SD_DEPTH_MODELS:
        return ""
    return (f"--generated-depth {input.generated}/depth --depth-labels {input.labels}"
            f" --midas-depth {input.midas}")


# the human study's answers (3.4.4): files participants downloaded from the page, put in sketchydepth.human_study.answers
def sd_fog_overlay(wildcards):
    """The effects figures' fog image, when the user gives one (sketchydepth.figures.fog_overlay)."""
    fog = SD_CFG["figures"].get("fog_overlay")
    return [fog] if fog else []


SD_ANSWERS = sorted(str(p) for p in Path(SD_CFG["human_study"]["answers"]).glob("answers_*.csv"))

CHAPTER_TARGETS["sketchydepth"] = [
    *(table_path(SD_TABLE, ext) for ext in ("csv", "md", "json")),
    *(f"{RESULTS}/figures/{f}" for f in ("fig_3_3.png", "fig_3_4.png", "fig_3_5.png", "fig_3_6.gif", "fig_3_7.png",
                                         "fig_A_1.png", "fig_A_4.png")),
    *(f"{SD}/models/{m}/curves.png" for m in SD_MODELS),
    f"{SD}/human_study/page.html",
    *([f"{RESULTS}/tables/human_study.json"] if SD_ANSWERS else []),
]
