"""CLI commands of the retrieval chapter (thesis ch. 4.2): retrieve, retrieval_table, retrieval_grid, grid_table,
figure_top5, figure_4_3, figure_b_2, query, domain_study, mask_train_set, render_mask_train, train_mask."""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from sketch3d import DEMO_NOTICE
from sketch3d.command_line import REHEARSAL_ARG, SHAPES, CliError, Command, arg, parse_settings
from sketch3d.retrieval.choice import CHOICES  # names only: light, for the choices
from sketch3d.retrieval.grid_tables import GRID_TABLES, GRIDS

log = logging.getLogger("sketch3d")


def _retrieve(a: argparse.Namespace) -> None:
    from sketch3d.retrieval.evaluate import retrieve

    files = None
    if a.sketch_features:
        files = {
            "sketch_npy": [Path(p) for p in a.sketch_features],
            "sketch_ids": [Path(p) for p in a.sketch_ids],
            "gallery_npy": [Path(p) for p in a.gallery_features],
            "gallery_ids": [Path(p) for p in a.gallery_ids],
        }
    m = retrieve(a.method, parse_settings(a.settings), Path(a.sketches), Path(a.gallery), Path(a.out),
                 Path(a.metrics), a.category, a.split, files, Path(a.shapes) if a.shapes else None,
                 Path(a.mask) if a.mask else None, a.choice, _grids(a))
    log.info("retrieve: %s", json.dumps(m))


def _grids(a: argparse.Namespace) -> tuple[Path, Path] | None:
    return tuple(Path(p) for p in a.grids) if a.grids else None


# the setting of the OBB box and the Augm. transforms (sketch3d.retrieval.choice)
CHOICE_ARGS = (
    arg("--choice", choices=CHOICES, help="where the OBB box and the Augm. transforms come from: this run's searches "
                                          "(search) or the thesis's values (thesis); default retrieval.choices[0]"),
    arg("--grids", nargs=2, metavar=("BOX_JSON", "AFFINE_JSON"),
        help="with --choice search: the searches' results (retrieval/grids/box.json, affine.json)"),
)


def _retrieval_table(a: argparse.Namespace) -> None:
    from sketch3d.retrieval.tables import retrieval_table

    if len(a.ranks) != len(a.metrics):
        raise CliError(f"give one --ranks file per --metrics file, in the same order ({len(a.ranks)} vs "
                       f"{len(a.metrics)})")
    df = retrieval_table(a.table, [Path(p) for p in a.metrics], Path(a.out_csv), Path(a.out_md), Path(a.out_json),
                         Path(a.thesis), rehearsal=a.rehearsal, rank_files=[Path(p) for p in a.ranks],
                         stat_settings=parse_settings(a.settings))
    print(Path(a.out_md).read_text())
    log.info("retrieval_table %s: %d rows", a.table, len(df))


def _retrieval_grid(a: argparse.Namespace) -> None:
    from sketch3d.retrieval.grids import retrieval_grid

    if len(a.categories) != len(a.sketches) or len(a.categories) != len(a.gallery):
        raise CliError("give one --sketches and one --gallery folder per --categories entry, in the same order")
    sets = {c: (Path(s), Path(g)) for c, s, g in zip(a.categories, a.sketches, a.gallery)}
    if (a.grid == "affine") != bool(a.box_grid):
        raise CliError("--box-grid (Table 4.1's search result) is needed by the affine search, and by it only")
    retrieval_grid(a.grid, parse_settings(a.settings), sets, Path(a.cache), Path(a.out_csv), Path(a.out_json),
                   box_grid=Path(a.box_grid) if a.box_grid else None)


def _grid_table(a: argparse.Namespace) -> None:
    from sketch3d.retrieval.tables import grid_table

    grid_table(a.table, Path(a.grid_csv), Path(a.grid_json), Path(a.out_csv), Path(a.out_md), Path(a.out_json),
               Path(a.thesis), rehearsal=a.rehearsal)
    print(Path(a.out_md).read_text())


def _figure_top5(a: argparse.Namespace) -> None:
    from sketch3d.retrieval.figures import figure_top5

    s = parse_settings(a.settings)
    f = s["retrieval"]["figure"]
    figure_top5(Path(a.retrieval), Path(a.sketches), Path(a.gallery), Path(a.out), f["queries"],
                s["seed"], a.title, s["profile"] == "demo", azimuth=f["azimuth"])


def _view_figure_inputs(a: argparse.Namespace, lists: tuple[str, ...]) -> dict:
    """category -> its files, from options given once per category (in --categories order)."""
    for name in lists:
        if len(getattr(a, name)) != len(a.categories):
            raise CliError(f"give one --{name.replace('_', '-')} per --categories entry, in the same order")
    return {c: tuple(Path(getattr(a, name)[i]) for name in lists) for i, c in enumerate(a.categories)}


def _figure_4_3(a: argparse.Namespace) -> None:
    from sketch3d.retrieval.view_figures import figure_4_3

    s = parse_settings(a.settings)
    shown = figure_4_3(_view_figure_inputs(a, ("retrieval_a", "retrieval_b", "sketches", "gallery")), Path(a.out),
                       s["seed"], s["profile"] == "demo")
    log.info("figure_4_3: %s", json.dumps(shown))


def _figure_b_2(a: argparse.Namespace) -> None:
    from sketch3d.retrieval.view_figures import figure_b_2

    s = parse_settings(a.settings)
    shown = figure_b_2(_view_figure_inputs(a, ("retrieval_a", "retrieval_b", "sketches", "gallery", "gallery_b")),
                       Path(a.out), s["seed"], s["profile"] == "demo")
    log.info("figure_b_2: %s", json.dumps(shown))


def _query(a: argparse.Namespace) -> None:
    from sketch3d.config import load_params
    from sketch3d.retrieval import query as q

    sketch = a.sketch_file or a.sketch
    if bool(sketch) == bool(a.queries):
        raise CliError("give one sketch (sketch3d query SKETCH, or --sketch SKETCH) or a folder of them "
                       "(--queries DIR), not both")
    if a.queries and not a.out:
        raise CliError("--queries DIR writes one ranking per sketch to a CSV: give --out FILE.csv")
    if not (a.meshes or a.gallery):
        raise CliError("give --meshes DIR (a folder of meshes), or --gallery DIR (a gallery the pipeline rendered)")
    if a.meshes and a.gallery:
        raise CliError("give --meshes DIR or --gallery DIR, not both")
    params = parse_settings(a.settings) if a.settings else load_params(a.params, {"profile": a.profile} if a.profile else None)
    setup = q.query_setup(params, Path(a.results) if a.results else None, Path(a.mask) if a.mask else None,
                          allow_random_weights=a.allow_random_weights, choice=a.choice)
    files = q.query_files(Path(a.queries)) if a.queries else [Path(sketch)]
    sketches = q.read_sketches(files, a.index)  # a bad sketch fails here, before any rendering or embedding
    for line in setup.header():
        print(f"# {line}")
    if params["profile"] == "demo":
        print(f"# {DEMO_NOTICE}")
    if a.meshes:
        results, skipped = q.query_meshes(sketches, setup, params, Path(a.meshes), Path(a.cache), top=a.top,
                                          figure=Path(a.figure) if a.figure else None)
        for s in skipped:
            print(f"# skipped {s.path}: {s.reason}")
    else:
        results = q.query_gallery(sketches, setup, params, Path(a.gallery), Path(a.cache), top=a.top)
    if a.out:
        q.write_rankings(results, Path(a.out))
        print(f"# {len(results)} ranking(s) written to {a.out}")
    if not a.queries:
        for rank, (shape_id, dist) in enumerate(results[files[0].name], start=1):
            print(f"{rank}\t{shape_id}\t{dist:.6g}")


def _domain_study(a: argparse.Namespace) -> None:
    from sketch3d.retrieval.domain_study import domain_study

    s = parse_settings(a.settings)
    try:
        study = s["retrieval"]["domain_study"]
        azimuths = s["render"]["sketch_azimuths"][study["category"]]
        seed, demo, chunk = s["seed"], s["profile"] == "demo", s["retrieval"]["chunk_size"]
    except KeyError as exc:
        raise CliError(f"domain_study: --settings lacks {exc} (needs profile, seed, render.sketch_azimuths, "
                       "retrieval.domain_study, retrieval.chunk_size)") from None
    features = {d: (Path(getattr(a, f"{d}_features")), Path(getattr(a, f"{d}_ids"))) for d in ("sketch", "lines", "rgb")}
    result = domain_study(features, Path(a.sketches), azimuths, seed, study["objects_4_1"], study["objects_4_2"],
                          study["ci_level"], Path(a.fig_4_1), Path(a.fig_4_2), Path(a.out_json), Path(a.out_csv), demo,
                          chunk)
    for fig in ("fig_4_1", "fig_4_2"):
        for pair, p in result[fig]["pairs"].items():
            log.info("domain_study %s %s: %s", fig, pair, json.dumps(p["summary"]))


def _mask_train_set(a: argparse.Namespace) -> None:
    from sketch3d.retrieval.mask_data import mask_train_set

    summary = mask_train_set(parse_settings(a.settings), Path(a.shapes), Path(a.out), Path(a.summary))
    log.info("mask_train_set: %s", json.dumps(summary))


def _render_mask_train(a: argparse.Namespace) -> None:
    from sketch3d.render.gallery import render_gallery

    n = render_gallery(Path(a.shapes), a.category, "train", parse_settings(a.settings)["render"], Path(a.out),
                       threads=a.threads, style="lines", view_set=a.view_set)
    log.info("render_mask_train: %d line renderings (view set %s)", n, a.view_set)


def _train_mask(a: argparse.Namespace) -> None:
    from sketch3d.devices import claim_device
    from sketch3d.features.stage import feature_spec
    from sketch3d.retrieval.mask_data import Augment
    from sketch3d.retrieval.masks import MaskSettings, RenderedViews, ValSet, train_mask

    from sketch3d.retrieval.choice import main_choice, settings_under

    s = parse_settings(a.settings)
    # the augmentation's box is the OBB box of the choice the validation features were computed under
    s["retrieval"] = settings_under(s["retrieval"], a.choice or main_choice(s["retrieval"]), _grids(a))
    settings = [MaskSettings.from_params(s["retrieval"]["masks"], m, s["seed"], s["retrieval"]["chunk_size"])
                for m in a.modes]
    val = {}
    for name, sketch_npy, sketch_ids, gallery_npy, gallery_ids in a.val:
        if name in val:
            raise CliError(f"--val {name} is given twice")
        val[name] = ValSet.from_files(*([Path(p) for p in x.split(",")]
                                        for x in (sketch_npy, sketch_ids, gallery_npy, gallery_ids)))
    train_set = json.loads(Path(a.train_set).read_text()) if a.train_set else None
    with claim_device() as device:
        source = RenderedViews(Path(a.train), feature_spec(s), device, s["features"].get("precision", "fp32"))
        selections = train_mask(source, val, settings, Path(a.out), Path(a.checkpoints), Augment.from_params(s),
                                demo=s["profile"] == "demo", train_set=train_set, suffix=a.suffix)
    for mode, sel in selections.items():
        log.info("train_mask %s: %s", mode, json.dumps({k: {"step": v["step"], **v["metrics"]} for k, v in sel.items()}))


def _view_figure_args(a: str, b: str) -> tuple:
    """The options of Figs. 4.3 and B.2: two rows' retrieval outputs (views ``a`` and ``b``) and the images."""
    return (
        arg("--settings", required=True, help="JSON with profile and seed"),
        arg("--categories", nargs="+", required=True),
        arg("--retrieval-a", nargs="+", required=True, help=f"retrieve .npz with {a}, per category"),
        arg("--retrieval-b", nargs="+", required=True, help=f"retrieve .npz with {b}, per category"),
        arg("--sketches", nargs="+", required=True, help="the sketches' image set, per category"),
        arg("--gallery", nargs="+", required=True, help=f"the gallery at {a}, per category"),
        arg("--out", required=True),
    )


COMMANDS = (
    Command("retrieve", "distances, ranks and acc@k of one method/category/split", _retrieve, (
        *(arg(f"--{name}", required=True)
          for name in ("settings", "method", "category", "split", "sketches", "gallery", "out", "metrics")),
        *(arg(f"--{name}", nargs="+", help="CLIP methods only: one file per transform of the side's images, "
                                           "averaged (the Augm. rows)")
          for name in ("sketch-features", "sketch-ids", "gallery-features", "gallery-ids")),
        arg("--shapes", help="the shapes manifest: the metrics record where the split came from"),
        arg("--mask", help="a learned feature mask (.npy, bool or float32 [D]), for methods that use one"),
        *CHOICE_ARGS,
    )),
    Command("retrieval_table", "a retrieval table (4.8, B.2): our acc@k beside the thesis's", _retrieval_table, (
        arg("--table", required=True, help="thesis table number, e.g. 4.8 or B.2"),
        arg("--thesis", required=True, help="the thesis table's CSV (src/sketch3d/reference/table_<n>.csv)"),
        arg("--metrics", nargs="+", required=True, help="retrieval metric JSON files, one per method and category"),
        arg("--ranks", nargs="+", required=True,
            help="the ranks .npz beside each metric file, in the same order (intervals, McNemar)"),
        arg("--settings", required=True, help="JSON: seed and retrieval.stats"),
        arg("--out-csv", required=True),
        arg("--out-md", required=True),
        arg("--out-json", required=True, help="our numbers as DVC metrics (nested: method/category/metric)"),
        REHEARSAL_ARG,
    )),
    Command("retrieval_grid", "Table 4.1 / 4.2 searches (box size; translation, rotation) on the validation split",
            _retrieval_grid, (
        arg("--grid", required=True, choices=GRIDS),
        arg("--settings", required=True),
        arg("--categories", nargs="+", required=True),
        arg("--sketches", nargs="+", required=True, help="sketch image folders, one per category"),
        arg("--gallery", nargs="+", required=True, help="rendered gallery folders, one per category"),
        arg("--cache", required=True, help="the per-image feature cache (shared with extract_features)"),
        arg("--box-grid", help="affine only: Table 4.1's search result (box.json); its chosen box is Table 4.2's OBB"),
        arg("--out-csv", required=True),
        arg("--out-json", required=True),
    )),
    Command("grid_table", "Table 4.1 or 4.2 from its grid, beside the thesis's", _grid_table, (
        arg("--table", required=True, choices=list(GRID_TABLES)),
        *(arg(f"--{name}", required=True)
          for name in ("grid-csv", "grid-json", "thesis", "out-csv", "out-md", "out-json")),
        REHEARSAL_ARG,
    )),
    Command("figure_top5", "random queries with their top-5 shapes", _figure_top5, (
        *(arg(f"--{name}", required=True) for name in ("settings", "retrieval", "sketches", "gallery", "out", "title")),
    )),
    Command("query", "rank shapes for a sketch (.png, .svg, .json, QuickDraw .ndjson) or a folder of them, with the "
                     "thesis's best method: a folder of meshes (--meshes) or a rendered gallery", _query, (
        arg("sketch_file", nargs="?", metavar="SKETCH", help="the sketch file"),
        arg("--sketch", help="the sketch file (instead of SKETCH)"),
        arg("--queries", help="a folder of sketch files: one ranking per sketch, written to --out (CSV: sketch, "
                              "rank, shape_id, distance)"),
        arg("--out", help="write the ranking(s) to this CSV (needed with --queries)"),
        arg("--meshes", help="a folder of meshes (OBJ, OFF, PLY, STL, GLB): rendered, embedded and cached"),
        arg("--gallery", help="a rendered gallery folder (an image set with index.csv), embedded and cached"),
        arg("--cache", default=".sketch3d-cache", help="where renders and features are kept (features under "
                                                       "CACHE/features)"),
        arg("--figure", help="with --meshes: write the (first) sketch and its top shapes to this PNG"),
        arg("--results", help="the pipeline's results folder, where the grid searches' choices (retrieval/grids) "
                              "and the learned mask (retrieval/masks/binary/best_chair.npy) are read (default: "
                              "results/<profile>)"),
        arg("--mask", help="a learned feature mask (.npy) instead of the results folder's"),
        arg("--choice", choices=["search", "thesis"], help="the box and transforms: this run's searches or the "
                                                            "thesis's (default: retrieval.choices' first)"),
        arg("--allow-random-weights", action="store_true",
            help="rank with untrained (random) weights outside the demo profile (meaningless distances)"),
        arg("--top", type=int, default=5),
        arg("--index", type=int, default=0, help="which drawing of a multi-drawing file (first: 0)"),
        arg("--params", default="params.yaml"),
        arg("--profile", choices=["demo", "paper"]),
        arg("--settings", help="effective parameters as JSON, instead of --params/--profile"),
    ), group=SHAPES,
       example="sketch3d query my_sketch.png --meshes my_meshes/ --top 5 --figure top5.png"),
    Command("figure_4_3", "Fig. 4.3: queries whose top 5 changes between 3 and 9 views per shape (two rows' "
                          "retrieval outputs)", _figure_4_3, _view_figure_args("the sketch views", "the 9 views")),
    Command("figure_b_2", "Fig. B.2: a query's true shape in the preferred views and in Schlachte et al.'s (two "
                          "rows' retrieval outputs)", _figure_b_2, (
        *_view_figure_args("the preferred views", "Schlachte et al.'s views"),
        arg("--gallery-b", nargs="+", required=True, help="the gallery at Schlachte et al.'s views, per category"),
    )),
    Command("domain_study", "Figs. 4.1 and 4.2: CLIP distances between objects and views of sketches, line "
                            "and RGB renderings", _domain_study, (
        arg("--settings", required=True, help="profile, seed, render.sketch_azimuths, retrieval.domain_study, "
                                              "retrieval.chunk_size"),
        *(arg(f"--{d}-{part}", required=True, help=f"{d} domain: the feature stage's {ext}")
          for d in ("sketch", "lines", "rgb") for part, ext in (("features", ".npy"), ("ids", ".csv"))),
        arg("--sketches", required=True, help="the sketch image set the sketch features came from (thumbnails)"),
        *(arg(f"--{name}", required=True) for name in ("fig-4-1", "fig-4-2", "out-json", "out-csv")),
    )),
    Command("mask_train_set", "the learned mask's training shapes (thesis 4.2.3.3: 4475 ShapeNet chairs; the demo: its "
                              "generated training chairs)", _mask_train_set, (
        arg("--settings", required=True, help="JSON with profile, seed, data.shapenet_root (paper), retrieval.masks.train_set"),
        arg("--shapes", required=True, help="the shapes manifest: its validation and test shapes are excluded"),
        arg("--out", required=True, help="the training shapes, a shapes manifest (split train)"),
        arg("--summary", required=True, help="JSON: found, excluded, eligible, chosen, the thesis's count"),
    )),
    Command("render_mask_train", "Freestyle line renderings of the mask's training shapes (the gallery renderer, "
                                 "thesis 4.2.3.3: five views)", _render_mask_train, (
        *(arg(f"--{name}", required=True) for name in ("settings", "shapes", "category", "view-set", "out")),
        arg("--threads", type=int, default=0),
    )),
    Command("train_mask", "learn a CLIP feature mask (binary) and weighting (continuous) on randomly transformed "
                          "training renderings; select their checkpoints per validation class (Table 4.7)", _train_mask, (
        arg("--settings", required=True, help="JSON with seed, profile, features, retrieval.obb_box, retrieval.masks "
                                              "and retrieval.chunk_size"),
        arg("--modes", nargs="+", required=True, choices=["binary", "continuous"],
            help="trained together on the same batches"),
        arg("--suffix", default="", help="the output folders are OUT/<mode><suffix> (e.g. @thesis: another choice's)"),
        *CHOICE_ARGS,
        arg("--train", required=True, help="the rendered training views (a gallery folder with index.csv)"),
        arg("--train-set", help="the training set's summary JSON (mask_train_set), copied into each info JSON"),
        arg("--val", nargs=5, action="append", required=True,
            metavar=("CLASS", "SKETCH_NPY", "SKETCH_IDS", "GALLERY_NPY", "GALLERY_IDS"),
            help="a validation class: its name and the feature stage's sketch and gallery files (.npy + .csv "
                 "ids; several joined by ',' are averaged: the Augm. (4 imgs) features); repeat per class"),
        arg("--out", required=True, help="folder of <mode><suffix>/best_<class>.npy/.json, curves.csv, curves.png"),
        arg("--checkpoints", required=True, help="folder of the resumable checkpoint (outside the rule's outputs)"),
)),
)
