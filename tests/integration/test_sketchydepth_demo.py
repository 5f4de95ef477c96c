"""Chapter 3 end to end at tiny sizes (32 px scenes, 1+1 epochs): generated scenes, the trained labeller's depth,
the four GANs, Table 3.1, the figures, the study page and table; then a parameter change reruns only what
reads it, and DVC's Table 3.1 stage rebuilds only that table's chain."""
from __future__ import annotations

import json
import shutil

import numpy as np

import pandas as pd
import pytest
from PIL import Image

from readme_commands import commands_of
from workflow_helpers import BIN, init_dvc_repo, jobs_after, make_project, ran_stages, run, snakemake

pytestmark = pytest.mark.slow

MODELS = ("baseline", "sketchydepth", "no_depth", "no_joint")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    project = make_project(tmp_path_factory.mktemp("sketchydepth"))
    # the page first: a participant answers the items it shows (human_study_table checks answers against them)
    items_json = "results/demo/sketchydepth/human_study/items.json"
    snakemake("--cores", "2", items_json, cwd=project, timeout=1200)
    items = json.loads((project / items_json).read_text())["items"]
    answers = project / "data/human_study/answers_p1.csv"
    answers.parent.mkdir(parents=True)
    answers.write_text("participant,item,triplet_id,chosen\n" + "".join(
        f"p1,{i['item']},{i['triplet_id']},{'ours' if k == 0 else 'midas'}\n" for k, i in enumerate(items)))
    snakemake("--cores", "2", "sketchydepth", cwd=project, timeout=1200)
    return project


def test_every_output_is_there_and_says_demo(built):
    r = built / "results/demo"
    table = pd.read_csv(r / "tables/table_3_1.csv")
    assert set(table["method"]) == set(MODELS)
    assert table["note"].str.contains("NOT the thesis").all()
    sd = table[(table["method"] == "sketchydepth") & (table["category"] == "test") & (table["metric"] == "FID")]
    assert float(sd["thesis"].iloc[0]) == 116.87
    assert "DEMO PROFILE" in (r / "tables/table_3_1.md").read_text()
    for fig in ("fig_3_3.png", "fig_3_4.png", "fig_3_5.png", "fig_3_7.png", "fig_A_4.png"):
        assert Image.open(r / "figures" / fig).size[0] > 100, fig
    with Image.open(r / "figures/fig_3_6.gif") as gif:
        assert gif.n_frames >= 2
    page = (r / "sketchydepth/human_study/page.html").read_text()
    assert "http://" not in page and "https://" not in page
    study = json.loads((r / "tables/human_study.json").read_text())
    assert len(json.loads((r / "sketchydepth/human_study/items.json").read_text())["items"]) == 2  # params_tiny
    assert study["answers"] == 2 and study["ours"] == 1
    for model in MODELS:
        assert (r / f"sketchydepth/models/{model}/curves.png").is_file()
        metrics = json.loads((r / f"sketchydepth/metrics/{model}.json").read_text())
        assert metrics["demo"] and "NOT pretrained" in metrics["fid_network"]
        assert metrics["ssim_variant"] == "wang2004" and metrics["kid"]["all"] is not None
        # depth quality for the models with G_d: against the labels of the real test images and MiDaS on their own
        assert (metrics["depth"] is not None) == (model in ("sketchydepth", "no_joint")), model
    # the depth labels are the trained labeller's predictions, not the scenes' exact depth
    assert (r / "sketchydepth/labeller/midas_small.pt").is_file()
    assert len(list((r / "sketchydepth/depth/train").glob("*.png"))) == 12


def test_a_change_reruns_exactly_what_reads_it(built):
    assert "Nothing to be done" in snakemake("-n", "--cores", "1", "sketchydepth", cwd=built).stdout
    figures = jobs_after(built, "sketchydepth", lambda sd: sd["figures"].update(examples=3))
    assert figures == {"figure_images": 1, "figure_depth": 1, "figure_effects": 1, "figure_effects_midas": 1,
                       "figure_depth_sketch": 1}
    fid = jobs_after(built, "sketchydepth", lambda sd: sd["fid"].update(batch_size=7))  # FID only: not the GANs
    assert fid == {"image_metrics": 4, "sketchydepth_table": 1}
    ssim = jobs_after(built, "sketchydepth", lambda sd: sd.setdefault("metrics", {}).update(ssim="uniform7"))
    assert ssim == {"image_metrics": 4, "sketchydepth_table": 1}


def test_dvc_repro_of_table_3_1_rebuilds_only_its_chain(built):
    """DVC's chain over chapter 3: the finished Snakemake run adopted up to the evaluation boundary (`dvc commit`, no
    rerun), then `dvc repro` of Table 3.1 runs that table's stage alone, through Snakemake, and leaves the GANs and
    the labels alone. (A repro from nothing runs each boundary's Snakemake jobs the same way; the retrieval chain's
    round trip through a remote, test_demo_end_to_end, covers the pull side.)"""
    (built / "results/demo/tables/table_3_1.md").unlink()
    init_dvc_repo(built)
    run([str(BIN / "dvc"), "commit", "-f", "--with-deps", "sketchydepth_eval@demo"], cwd=built, timeout=900)
    proc = run([str(BIN / "dvc"), "repro", "table_3_1@demo"], cwd=built, timeout=900)
    assert ran_stages(proc.stdout + proc.stderr) == ["table_3_1@demo"], proc.stdout[-3000:]
    assert (built / "results/demo/tables/table_3_1.md").is_file()
    log = (built / ".snakemake/log")
    last = sorted(log.glob("*.snakemake.log"))[-1].read_text()
    assert "rule sketchydepth_table:" in last and "rule train_gan:" not in last and "rule generate:" not in last
    status = run([str(BIN / "dvc"), "status", "table_3_1@demo"], cwd=built)
    assert "up to date" in status.stdout + status.stderr


def test_readme_depth_sketch(built):
    """The README's depth sketching command, as written: the demo's G_i on a partial image and an edited depth map."""
    [cmd] = commands_of("demo", "sketch3d depth_sketch ")
    data = built / "results/demo/sketchydepth"
    partial = sorted((data / "data/test/partial").glob("*.png"))[0]
    shutil.copy2(partial, built / cmd[cmd.index("--partial") + 1])
    depth = np.asarray(Image.open(data / "generated/sketchydepth/depth" / partial.name).convert("L"), dtype=np.uint8)
    edited = depth.copy()
    edited[: depth.shape[0] // 2] = 255  # the upper half painted nearest
    Image.fromarray(edited).save(built / cmd[cmd.index("--depth") + 1])
    run([str(BIN / cmd[0]), *cmd[1:]], cwd=built)
    with Image.open(partial) as p, Image.open(built / cmd[cmd.index("--out") + 1]) as out:
        assert out.size == p.size
