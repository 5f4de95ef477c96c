"""CLI commands of the SketchyDepth chapter (thesis ch. 3). Each helper's commands sit in a block of their own;
``COMMANDS`` joins the blocks."""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from sketch3d.command_line import IMAGES, REHEARSAL_ARG, Command, arg, parse_settings

log = logging.getLogger("sketch3d")


# ----------------------------------------------------------------------------- the GANs: train_gan, generate

def _train_gan(a: argparse.Namespace) -> None:
    from sketch3d.devices import claim_device
    from sketch3d.sketchydepth.training import train_gan

    opt = lambda p: Path(p) if p else None  # noqa: E731
    with claim_device() as device:
        row = train_gan(a.model, parse_settings(a.settings), Path(a.train), opt(a.train_depth), Path(a.out), device,
                        opt(a.val), opt(a.val_depth), checkpoints=opt(a.checkpoints))
    log.info("train_gan %s: %s", a.model, json.dumps(row))


def _generate(a: argparse.Namespace) -> None:
    from sketch3d.devices import claim_device
    from sketch3d.sketchydepth.generation import generate

    with claim_device() as device:
        n = generate(a.model, Path(a.checkpoint), Path(a.triplets), Path(a.out_images),
                     Path(a.out_depth) if a.out_depth else None, parse_settings(a.settings), device)
    log.info("generate %s: %d examples", a.model, n)


_GAN_COMMANDS = (
    Command("train_gan", "train one GAN of Table 3.1 (baseline, sketchydepth, no_depth, no_joint) on a triplet set "
                         "and its depth set; resumable", _train_gan, (
        arg("--model", required=True, help="baseline, sketchydepth, no_depth or no_joint (networks.MODELS)"),
        arg("--settings", required=True, help="JSON with seed, profile and sketchydepth.gan"),
        arg("--train", required=True, help="training triplet set"),
        arg("--train-depth", help="its depth set (sketchydepth, no_joint)"),
        arg("--val", help="validation triplet set: its mean L1 joins the curves"),
        arg("--val-depth", help="its depth set (depth models)"),
        arg("--out", required=True, help="folder for final.pt, curves.csv, curves.png"),
        arg("--checkpoints", help="folder of the resumable checkpoint (default OUT/checkpoints); keep it outside "
                                  "the rule's outputs so a failed job's checkpoint survives"),
    )),
    Command("generate", "a trained GAN's images (and depth maps) for a triplet set's partial images", _generate, (
        arg("--model", required=True, help="baseline, sketchydepth, no_depth or no_joint (networks.MODELS)"),
        arg("--settings", required=True, help="JSON with seed and sketchydepth.gan.test_eval"),
        arg("--checkpoint", required=True, help="train_gan's final.pt"),
        arg("--triplets", required=True, help="the triplet set whose partial images are the input (test split)"),
        arg("--out-images", required=True, help="the generated triplet set (image = generated)"),
        arg("--out-depth", help="the generated depth set (sketchydepth, no_joint)"),
    )),
)




# ----------------------------------------------------------------------------- the data chain: prepare_scenes


def _prepare_scenes(a: argparse.Namespace) -> None:
    from sketch3d.sketchydepth.scenes import prepare_scenes

    manifest = prepare_scenes(parse_settings(a.settings), Path(a.out))
    log.info("prepare_scenes: %s", json.dumps(manifest["splits"], sort_keys=True))


def _fetch_sketchycoco(a: argparse.Namespace) -> None:
    from sketch3d.data.download import fetch
    from sketch3d.data.registry import stored_at
    from sketch3d.sketchydepth.sources import chapter_sources

    datasets = [s for s in chapter_sources().values() if s.kind == "dataset"]
    source = stored_at(a.out, datasets, a.data_dir, "src/sketch3d/sketchydepth/sources.yaml")
    print(fetch(source, Path(a.data_dir)))


DATA_COMMANDS = (
    Command("fetch_sketchycoco", "download one of SketchyCOCO's registered archives, with checksum",
            _fetch_sketchycoco, (
                arg("--data-dir", required=True, help="the paper profile's data folder (downloads/, checksums/)"),
                arg("--out", required=True, help="the archive's path: <data dir>/downloads/<file name>"),
            )),
    Command("prepare_scenes", "the chapter's triplet sets: generated scenes (demo) or SketchyCOCO (paper)",
            _prepare_scenes, (
                arg("--settings", required=True, help="JSON: profile, seed and the sketchydepth section"),
                arg("--out", required=True, help="folder: train/, val/, test/ (+ demo: labeller/, labeller_depth/)"),
            )),
)




# ----------------------------------------------------------------------------- metrics, effects, 3D photo, study


def _image_metrics(a: argparse.Namespace) -> None:
    from sketch3d.devices import claim_device
    from sketch3d.sketchydepth.image_metrics import image_metrics

    settings = parse_settings(a.settings)
    with claim_device() as device:
        result = image_metrics(settings, Path(a.real), Path(a.generated), Path(a.out), device,
                               Path(a.cache) if a.cache else None, a.generated_depth, a.depth_labels, a.midas_depth)
    log.info("image_metrics: FID %s, KID %s, SSIM %.4f", json.dumps(result["fid"]), json.dumps(result["kid"]),
             result["ssim"])


def _effects(a: argparse.Namespace) -> None:
    from sketch3d.sketchydepth.effects import effects

    out = effects(a.image, a.depth, a.effect, a.out, a.start, a.direction, a.strength, a.overlay, a.seed)
    log.info("effects: %s -> %s", a.effect, out)


def _photo3d(a: argparse.Namespace) -> None:
    from sketch3d.sketchydepth.photo3d import photo3d

    out = photo3d(a.image, a.depth, a.out, a.frames, a.zoom, a.far, a.fill, a.duration)
    log.info("photo3d: %d frames -> %s", a.frames, out)


def _human_study_page(a: argparse.Namespace) -> None:
    from sketch3d.sketchydepth.human_study import human_study_page

    result = human_study_page(parse_settings(a.settings), Path(a.generated), Path(a.ours), Path(a.midas),
                              Path(a.out), Path(a.out_items) if a.out_items else None)
    log.info("human_study_page: %d items -> %s", len(result["items"]), a.out)


def _human_study_table(a: argparse.Namespace) -> None:
    from sketch3d.sketchydepth.human_study import human_study_table

    s = parse_settings(a.settings) if a.settings else {}
    level = s.get("sketchydepth", {}).get("human_study", {}).get("ci_level", 0.95)
    result = human_study_table([Path(p) for p in a.answers], Path(a.items), Path(a.out), s.get("profile") == "demo",
                               level, Path(a.out_md) if a.out_md else None)
    log.info("human_study_table: %d/%d prefer ours (%.2f%%)", result["ours"], result["answers"], result["share"])


# sketch3d.sketchydepth.effects.EFFECTS: the thesis's six, then the named variants (kept out of the import: the
# command table is read on every start-up)
_EFFECT_NAMES = ("bokeh", "light", "fog", "hue", "grayscale", "cartoon", "bokeh_gaussian", "fog_flat", "hue_rotate")

STUDY_COMMANDS = (
    Command("image_metrics", "FID, KID, FID's bootstrap interval (all, fb, bo), SSIM and depth quality of a generated "
            "test set against the real one (Table 3.1)",
            _image_metrics, (
                arg("--settings", required=True),
                arg("--real", required=True, help="the real test triplet set"),
                arg("--generated", required=True, help="the generated triplet set of the same split"),
                arg("--out", required=True, help="metrics JSON"),
                arg("--cache", help="folder keeping the real images' Inception activations (shared by the models)"),
                arg("--generated-depth", help="the model's generated depth set (models with G_d)"),
                arg("--depth-labels", help="label_depth of the real test images (with --generated-depth)"),
                arg("--midas-depth", help="label_depth of the model's generated images (with --generated-depth)"),
            )),
    Command("effects", "a depth-based effect on an image (3.4.5): bokeh, light, fog, hue, grayscale, cartoon",
            _effects, (
        arg("image", help="RGB image"),
        arg("depth", help="depth map of the image's size: 8- or 16-bit single-channel PNG or .npy; bright = near"),
        arg("--effect", required=True, choices=_EFFECT_NAMES),
        arg("--start", type=float, help="distance 1 - depth (0 = nearest, 1 = farthest) where the effect starts"),
        arg("--direction", choices=("near", "far"), help="far: stronger with distance; near: stronger nearer"),
        arg("--strength", type=float, help="the effect's largest amount (bokeh: share of the blur window in [0, 1]; "
                                           "bokeh_gaussian: blur sigma in pixels)"),
        arg("--overlay", help="fog only: your fog image (resized to the image); default: a generated one"),
        arg("--seed", type=int, default=0, help="fog only: the generated fog image's seed"),
        arg("--out", required=True, help="output image (PNG)"),
    ), group=IMAGES,
       example="sketch3d effects photo.png depth.png --effect bokeh --start 0.4 --direction far --strength 0.8 "
               "--out bokeh.png"),
    Command("photo3d", "a 3D-photo zoom clip (animated GIF) from an image and its depth map", _photo3d, (
        arg("image", help="RGB image"),
        arg("depth", help="depth map of the image's size: 8- or 16-bit single-channel PNG or .npy; bright = near"),
        arg("--out", required=True, help="output .gif"),
        arg("--frames", type=int, default=24),
        arg("--zoom", type=float, default=0.3, help="final forward move of the camera, in units of the nearest depth"),
        arg("--far", type=float, default=8.0, help="the farthest depth in units of the nearest"),
        arg("--fill", choices=("nearest", "biharmonic"), default="nearest", help="how disoccluded pixels are filled"),
        arg("--duration", type=int, default=80, help="milliseconds per frame"),
    ), group=IMAGES,
       example="sketch3d photo3d photo.png depth.npy --out zoom.gif --frames 24 --zoom 0.3"),
    Command("human_study_page", "the human study's HTML page: generated image, our depth vs MiDaS's (3.4.4)",
            _human_study_page, (
                arg("--settings", required=True),
                arg("--generated", required=True, help="generated triplet set of the test split"),
                arg("--ours", required=True, help="our generated depth set"),
                arg("--midas", required=True, help="MiDaS's depth set of the generated images"),
                arg("--out", required=True, help="the HTML page"),
                arg("--out-items", help="the page's items (JSON), which human_study_table checks answers against"),
            )),
    Command("human_study_table", "tally the study's answers files beside the thesis's 2153/2300", _human_study_table, (
        arg("--answers", nargs="+", required=True, help="answers CSV files downloaded from the study page"),
        arg("--items", required=True, help="the page's items.json (human_study_page --out-items)"),
        arg("--out", required=True, help="JSON"),
        arg("--out-md", help="markdown table"),
        arg("--settings", help="JSON with profile and sketchydepth.human_study.ci_level"),
    )),
)

# ----------------------------------------------------------------------------- Table 3.1 and the figures


def _sketchydepth_table(a: argparse.Namespace) -> None:
    from sketch3d.sketchydepth.tables import sketchydepth_table

    metrics = dict(item.split("=", 1) for item in a.metrics)
    sketchydepth_table(metrics, Path(a.out_csv), Path(a.out_md), Path(a.out_json), Path(a.thesis),
                       rehearsal=a.rehearsal, test_inputs=a.test_inputs)
    print(Path(a.out_md).read_text())


def _figure_settings(a: argparse.Namespace) -> tuple[int, int, bool]:
    s = parse_settings(a.settings)
    return int(s["sketchydepth"]["figures"]["examples"]), int(s["seed"]), s["profile"] == "demo"


def _figure_images(a: argparse.Namespace) -> None:
    from sketch3d.sketchydepth.figures import figure_images

    n, seed, demo = _figure_settings(a)
    figure_images(Path(a.test), Path(a.ours), Path(a.baseline), Path(a.out), n, seed, demo)


def _figure_depth(a: argparse.Namespace) -> None:
    from sketch3d.sketchydepth.figures import figure_depth

    n, seed, demo = _figure_settings(a)
    figure_depth(Path(a.ours), Path(a.ours_depth), Path(a.midas_depth), Path(a.out), n, seed, demo)


def _fog_file(a: argparse.Namespace) -> Path | None:
    """sketchydepth.figures.fog_overlay: a fog image file, or None (a generated one)."""
    fog = parse_settings(a.settings)["sketchydepth"]["figures"].get("fog_overlay")
    return Path(fog) if fog else None


def _figure_effects_midas(a: argparse.Namespace) -> None:
    from sketch3d.sketchydepth.figures import figure_effects_midas

    n, seed, demo = _figure_settings(a)
    figure_effects_midas(Path(a.ours), Path(a.ours_depth), Path(a.midas_depth), Path(a.out), n, seed, demo,
                         fog=_fog_file(a))


def _figure_effects(a: argparse.Namespace) -> None:
    from sketch3d.sketchydepth.figures import figure_effects, figure_photo3d

    n, seed, demo = _figure_settings(a)
    clip = parse_settings(a.settings)["sketchydepth"]["figures"]["photo3d"]
    figure_effects(Path(a.ours), Path(a.ours_depth), Path(a.out), n, seed, demo, fog=_fog_file(a))
    figure_photo3d(Path(a.ours), Path(a.ours_depth), Path(a.out_gif), seed, int(clip["frames"]), float(clip["zoom"]))


def _figure_depth_sketch(a: argparse.Namespace) -> None:
    from sketch3d.devices import claim_device
    from sketch3d.sketchydepth.figures import figure_depth_sketch, figure_diversity

    n, seed, demo = _figure_settings(a)
    settings = parse_settings(a.settings)
    if a.out_diversity and not a.test:
        raise ValueError("figure_depth_sketch: --out-diversity (Fig. A.1) needs --test, the test triplet set")
    with claim_device() as device:
        figure_depth_sketch(Path(a.ours), Path(a.checkpoint), settings, Path(a.out), n, seed, demo, device)
        if a.out_diversity:  # Fig. A.1 in the same job: the checkpoint is loaded and torch started once
            figure_diversity(Path(a.test), Path(a.checkpoint), settings, Path(a.out_diversity), n, seed, demo, device)


def _depth_sketch(a: argparse.Namespace) -> None:
    import numpy as np
    from PIL import Image

    from sketch3d.atomic import atomic_path
    from sketch3d.devices import claim_device
    from sketch3d.sketchydepth.effects import check_pair, load_depth, load_image
    from sketch3d.sketchydepth.generation import image_from_depth

    partial, depth = load_image(a.partial), load_depth(a.depth)
    check_pair(partial, depth, str(a.partial), str(a.depth))
    with claim_device() as device:
        image = image_from_depth(Path(a.checkpoint), partial, np.round(depth * 255).astype(np.uint8),
                                 {"seed": a.seed, "sketchydepth": {"gan": {"test_eval": False}}}, device)
    with atomic_path(a.out) as tmp:
        Image.fromarray(image).save(tmp)
    log.info("depth_sketch: %s", a.out)


_FIGURE_ARGS = (arg("--settings", required=True, help="JSON: profile, seed, sketchydepth.figures"),
                arg("--out", required=True, help="the figure (PNG)"))
REPORT_COMMANDS = (
    Command("sketchydepth_table", "Table 3.1: FID and SSIM of the four models beside the thesis's", _sketchydepth_table, (
        arg("--metrics", nargs="+", required=True, help="RUN=image_metrics JSON, one per run: MODEL (on the test "
                                                           "set) or MODEL@INPUTS (on the test_INPUTS set)"),
        arg("--test-inputs", default="ground_truth", help="the test set's partial images: edgegan or ground_truth"),
        arg("--thesis", required=True, help="the thesis's Table 3.1 (package reference CSV)"),
        arg("--out-csv", required=True), arg("--out-md", required=True), arg("--out-json", required=True),
        REHEARSAL_ARG,
    )),
    Command("figure_images", "Fig. 3.3: input, SketchyDepth, baseline, ground truth", _figure_images, (
        *_FIGURE_ARGS, arg("--test", required=True, help="the test triplet set"),
        arg("--ours", required=True, help="SketchyDepth's generated set"),
        arg("--baseline", required=True, help="the baseline's generated set"),
    )),
    Command("figure_depth", "Fig. 3.4: our image, our depth, MiDaS's depth of our image", _figure_depth, (
        *_FIGURE_ARGS, arg("--ours", required=True), arg("--ours-depth", required=True),
        arg("--midas-depth", required=True, help="label_depth of SketchyDepth's generated images"),
    )),
    Command("figure_effects_midas", "Fig. A.4: effects from our depth map and from MiDaS's", _figure_effects_midas, (
        *_FIGURE_ARGS, arg("--ours", required=True), arg("--ours-depth", required=True),
        arg("--midas-depth", required=True, help="label_depth of SketchyDepth's generated images"),
    )),
    Command("figure_depth_sketch", "Fig. 3.7: G_i's image from a sketched (edited) depth map; Fig. A.1: "
                                   "conditioning perturbation", _figure_depth_sketch, (
        *_FIGURE_ARGS, arg("--ours", required=True, help="SketchyDepth's generated folder (images/, depth/)"),
        arg("--checkpoint", required=True, help="SketchyDepth's final.pt"),
        arg("--test", help="the test triplet set (Fig. A.1's inputs)"),
        arg("--out-diversity", help="Fig. A.1 (PNG): translated copies of test inputs and their images (A.1.6)"),
    )),
    Command("depth_sketch", "depth sketching (3.4.6): a trained SketchyDepth's G_i on a partial image and an edited "
                            "depth map", _depth_sketch, (
        arg("--checkpoint", required=True, help="a sketchydepth (or no_joint) final.pt"),
        arg("--partial", required=True, help="the partial image (RGB PNG at the model's size)"),
        arg("--depth", required=True, help="the edited depth map: 8/16-bit grey PNG or .npy, 255 = nearest"),
        arg("--seed", type=int, default=0, help="dropout's seed (pix2pix keeps dropout at test time)"),
        arg("--out", required=True, help="the generated image (PNG)"),
    ), group=IMAGES,
       example="sketch3d depth_sketch --checkpoint results/demo/sketchydepth/models/sketchydepth/final.pt "
               "--partial partial.png --depth edited_depth.png --out new_image.png"),
    Command("figure_effects", "Figs. 3.5, A.2-A.4 (effects) and 3.6 (3D-photo clip) on generated images",
            _figure_effects, (
                *_FIGURE_ARGS, arg("--ours", required=True), arg("--ours-depth", required=True),
                arg("--out-gif", required=True, help="the zoom clip (GIF)"),
            )),
)


# ----------------------------------------------------------------------------- the depth labeller: train_labeller, label_depth


def _train_labeller(a: argparse.Namespace) -> None:
    from sketch3d.devices import claim_device
    from sketch3d.sketchydepth.labeller import train_labeller

    with claim_device() as device:
        info = train_labeller(parse_settings(a.settings), Path(a.data), Path(a.out), device)
    log.info("train_labeller: %s", json.dumps(info, sort_keys=True))


def _label_depth(a: argparse.Namespace) -> None:
    from sketch3d.devices import claim_device
    from sketch3d.sketchydepth.labeller import label_depth

    with claim_device() as device:
        counts = label_depth(parse_settings(a.settings), Path(a.images), Path(a.weights), Path(a.out), device,
                             cache=Path(a.cache) if a.cache else None)
    log.info("label_depth: %s", json.dumps(counts))


LABELLER_COMMANDS = (
    Command("train_labeller", "demo: train the small MiDaS (MidasNet) on the labeller scenes' exact depth",
            _train_labeller, (
                arg("--settings", required=True, help="JSON: profile, seed and sketchydepth.labeller"),
                arg("--data", required=True, help="prepare_scenes' folder: reads labeller/ and labeller_depth/"),
                arg("--out", required=True, help="weights file (.pt); curves.csv and <stem>.json beside it"),
            )),
    Command("label_depth", "MiDaS depth of a triplet set's images, as a depth set (8-bit, 255 = nearest)",
            _label_depth, (
                arg("--settings", required=True, help="JSON: profile, seed and sketchydepth.labeller"),
                arg("--images", required=True, help="a triplet set: its image column is labelled"),
                arg("--weights", required=True, help="MidasNet weights: the official midas_v21-f6b98070.pt "
                                                     "(paper) or train_labeller's file (demo)"),
                arg("--out", required=True, help="the depth set folder to write"),
                arg("--cache", help="per-image depth cache folder (keyed by image, weights and code); none if "
                                    "not given"),
            )),
)


COMMANDS = (*DATA_COMMANDS, *LABELLER_COMMANDS, *_GAN_COMMANDS, *STUDY_COMMANDS, *REPORT_COMMANDS)
