"""`sketch3d <command>`: the only entry point the workflow rules call.

Each command parses its arguments and calls one function of the package. Rules
pass the parameters they depend on as a JSON object (``--settings``), a subset
of the validated params.yaml, so Snakemake reruns a rule exactly when one of
its own parameters changes.
"""
from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from pathlib import Path

from sketch3d import DEMO_NOTICE

log = logging.getLogger("sketch3d")


class CliError(ValueError):
    """A command-line argument that cannot be used as given."""


def _settings(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(f"--settings is not valid JSON ({exc}): {text[:200]}")
    if not isinstance(value, dict):
        raise CliError("--settings must be a JSON object")
    return value


def cmd_check_params(a: argparse.Namespace) -> None:
    from sketch3d.config import load_params

    overrides = dict(kv.split("=", 1) for kv in a.set or [])
    params = load_params(a.params, overrides)
    print(f"{a.params}: valid (profile {params['profile']})")


def cmd_preflight(a: argparse.Namespace) -> None:
    from sketch3d.preflight import require_paper_inputs

    s = _settings(a.settings)
    require_paper_inputs(s["paper"], features_weights=s["paper"]["clip_weights"], probe_network=not a.no_probe)
    print("paper profile: every dataset and weight file is in place or downloadable")


def cmd_fetch(a: argparse.Namespace) -> None:
    from sketch3d.data.download import fetch
    from sketch3d.data.registry import load_sources

    sources = load_sources()
    if a.source:
        if a.source not in sources:
            raise CliError(f"unknown source '{a.source}'; known: {sorted(sources)}")
        source = sources[a.source]
    else:
        wanted = Path(a.out).resolve()
        matches = [s for s in sources.values() if s.filename and s.path(a.data_dir).resolve() == wanted]
        if not matches:
            known = [str(s.path(a.data_dir)) for s in sources.values() if s.filename]
            raise CliError(f"no registered download is stored at {a.out}; registered files: {known}")
        source = matches[0]
    print(fetch(source, Path(a.data_dir)))


def cmd_dataset(a: argparse.Namespace) -> None:
    from sketch3d.data.prepare import prepare_dataset

    shapes, sketches = prepare_dataset(_settings(a.settings), Path(a.items), Path(a.shapes), Path(a.sketches))
    log.info("dataset: %d shapes, %d sketches", len(shapes), len(sketches))


def cmd_render(a: argparse.Namespace) -> None:
    from sketch3d.render.gallery import render_split

    n = render_split(Path(a.shapes), a.category, a.split, _settings(a.settings)["render"], Path(a.out), a.threads)
    log.info("rendered %d views", n)


def cmd_rasterize(a: argparse.Namespace) -> None:
    from sketch3d.data.rasterize import rasterize_split

    n = rasterize_split(Path(a.sketches), a.category, a.split, a.size, Path(a.out))
    log.info("rasterised %d sketches", n)


def cmd_features(a: argparse.Namespace) -> None:
    from sketch3d.features.stage import extract_split

    feats = extract_split(Path(a.images), _settings(a.settings), a.box, Path(a.cache), Path(a.out), Path(a.ids))
    log.info("features %s", feats.shape)


def cmd_retrieve(a: argparse.Namespace) -> None:
    from sketch3d.retrieval.evaluate import run_retrieval

    files = None
    if a.sketch_features:
        files = {
            "sketch_npy": Path(a.sketch_features),
            "sketch_ids": Path(a.sketch_ids),
            "gallery_npy": Path(a.gallery_features),
            "gallery_ids": Path(a.gallery_ids),
        }
    m = run_retrieval(
        a.method, _settings(a.settings), Path(a.sketches), Path(a.gallery), Path(a.out), Path(a.metrics),
        a.category, a.split, files,
    )
    log.info("%s", json.dumps(m))


def cmd_table(a: argparse.Namespace) -> None:
    from sketch3d.report.tables import TABLE_4_8_TITLE, write_comparison

    titles = {"4.8": TABLE_4_8_TITLE}
    df = write_comparison([Path(p) for p in a.metrics], a.table, titles.get(a.table, f"Table {a.table}"),
                          Path(a.out_csv), Path(a.out_md), Path(a.out_json) if a.out_json else None)
    print(Path(a.out_md).read_text())
    log.info("table %s: %d rows", a.table, len(df))


def cmd_figure(a: argparse.Namespace) -> None:
    from sketch3d.report.figures import topk_figure

    s = _settings(a.settings)
    demo = s["profile"] == "demo"
    topk_figure(Path(a.retrieval), Path(a.sketches), Path(a.gallery), Path(a.out), s["report"]["figure_queries"],
                s["seed"], a.title, demo)


def cmd_query(a: argparse.Namespace) -> None:
    from sketch3d.retrieval.query import query_sketch

    s = _settings(a.settings) if a.settings else None
    from sketch3d.config import load_params

    params = s or load_params(a.params, {"profile": a.profile} if a.profile else None)
    results = query_sketch(Path(a.sketch), params, Path(a.gallery), Path(a.gallery_features), Path(a.gallery_ids),
                           box=a.box, top=a.top, index=a.index)
    if params["profile"] == "demo":
        print(f"# {DEMO_NOTICE}")
    for rank, (shape_id, dist) in enumerate(results, start=1):
        print(f"{rank}\t{shape_id}\t{dist:.6g}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sketch3d", description=__doc__.splitlines()[0])
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("check-params", help="validate params.yaml against the schema")
    c.add_argument("--params", default="params.yaml")
    c.add_argument("--set", action="append", metavar="KEY=VALUE", help="override, e.g. profile=paper")
    c.set_defaults(func=cmd_check_params)

    c = sub.add_parser("preflight", help="paper profile: stop if a dataset or weight file cannot be had")
    c.add_argument("--settings", required=True)
    c.add_argument("--no-probe", action="store_true", help="do not probe download URLs")
    c.set_defaults(func=cmd_preflight)

    c = sub.add_parser("fetch", help="download one registered dataset/weights file with checksum")
    c.add_argument("--source", help="registry name (src/sketch3d/data/sources.yaml)")
    c.add_argument("--out", help="or: the file path the download must end at")
    c.add_argument("--data-dir", required=True)
    c.set_defaults(func=cmd_fetch)

    c = sub.add_parser("dataset", help="build shapes.csv + sketches.csv of the active profile")
    c.add_argument("--settings", required=True)
    c.add_argument("--items", required=True, help="folder for meshes and sketch files")
    c.add_argument("--shapes", required=True)
    c.add_argument("--sketches", required=True)
    c.set_defaults(func=cmd_dataset)

    c = sub.add_parser("render", help="Freestyle line renderings of one category/split")
    for name in ("settings", "shapes", "category", "split", "out"):
        c.add_argument(f"--{name}", required=True)
    c.add_argument("--threads", type=int, default=0, help="Blender render threads (0: one per core)")
    c.set_defaults(func=cmd_render)

    c = sub.add_parser("rasterize", help="sketch files of one category/split -> PNGs")
    for name in ("sketches", "category", "split", "out"):
        c.add_argument(f"--{name}", required=True)
    c.add_argument("--size", type=int, default=224)
    c.set_defaults(func=cmd_rasterize)

    c = sub.add_parser("features", help="CLIP features of an image set")
    for name in ("settings", "images", "cache", "out", "ids"):
        c.add_argument(f"--{name}", required=True)
    c.add_argument("--box", type=int, required=True)
    c.set_defaults(func=cmd_features)

    c = sub.add_parser("retrieve", help="distances, ranks and acc@k of one method/category")
    for name in ("settings", "method", "category", "split", "sketches", "gallery", "out", "metrics"):
        c.add_argument(f"--{name}", required=True)
    for name in ("sketch-features", "sketch-ids", "gallery-features", "gallery-ids"):
        c.add_argument(f"--{name}")
    c.set_defaults(func=cmd_retrieve)

    c = sub.add_parser("table", help="our numbers beside the thesis's")
    c.add_argument("--table", required=True)
    c.add_argument("--metrics", nargs="+", required=True)
    c.add_argument("--out-csv", required=True)
    c.add_argument("--out-md", required=True)
    c.add_argument("--out-json", help="our numbers as DVC metrics (nested: method/category/metric)")
    c.set_defaults(func=cmd_table)

    c = sub.add_parser("figure", help="random queries with their top-5 shapes")
    for name in ("settings", "retrieval", "sketches", "gallery", "out", "title"):
        c.add_argument(f"--{name}", required=True)
    c.set_defaults(func=cmd_figure)

    c = sub.add_parser("query", help="retrieve shapes for one sketch file (.json, .ndjson QuickDraw, .svg, .png)")
    c.add_argument("--sketch", required=True)
    c.add_argument("--gallery", required=True, help="rendered gallery folder (with index.csv)")
    c.add_argument("--gallery-features", required=True)
    c.add_argument("--gallery-ids", required=True)
    c.add_argument("--box", type=int, default=129)
    c.add_argument("--top", type=int, default=5)
    c.add_argument("--index", type=int, default=0, help="which drawing of a multi-drawing file")
    c.add_argument("--params", default="params.yaml")
    c.add_argument("--profile", choices=["demo", "paper"])
    c.add_argument("--settings")
    c.set_defaults(func=cmd_query)
    return p


def _exit_on_sigterm(signum, frame):  # Snakemake stops jobs with SIGTERM: unwind so temporaries are removed
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        args.func(args)
    except Exception as exc:  # one readable line for users; full traceback with -v
        if args.verbose:
            raise
        log.error("%s: %s", type(exc).__name__, exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
