# Helpers shared by the rules: the effective (validated, profile-merged) config, result paths,
# per-rule settings and code versions, chapter targets. Chapter-specific helpers live in
# workflow/rules/<chapter>_inputs.smk.
import copy
import json
import re

from sketch3d.chain import checkout_base, order_checkout_times
from sketch3d.code_version_store import VersionStore
from sketch3d.config import ParamsError, results_dir, validate
from sketch3d.names import SPLITS, table_id, table_slug, table_stem
from sketch3d.report.reference import table_file

try:
    config.update(validate(config, source="params.yaml (+ --config overrides)"))
except ParamsError as exc:
    raise WorkflowError(str(exc)) from None

PROFILE = config["profile"]
# the rehearsal (workflow/rehearsal.yaml) runs the paper profile's rules on fixtures: its outputs stay apart
# (sketch3d.config.results_dir: results/<profile>, results/<profile>-<variant> for a variant, results/rehearsal)
RESULTS = results_dir(config).as_posix()


def written_here(path):
    """Whether Snakemake recorded ``path`` as an output it wrote in this working copy (.snakemake/metadata keeps a
    record per output, named by the path's urlsafe base64, split into 254-character parts)."""
    import base64
    import os

    b64 = base64.urlsafe_b64encode(str(path).encode()).decode()
    parts = [b64[i : i + 254] for i in range(0, len(b64), 254)]
    return os.path.exists(os.path.join(".snakemake", "metadata", *(f"@{p}" for p in parts[:-1]), parts[-1]))


def another_run_here():
    """A job of a running workflow (Snakemake starts each cluster job as `snakemake --target-jobs ...`), or another
    run holding this working copy's lock: its jobs' outputs have no record yet, and their times are not ours."""
    import os
    import sys

    locks = os.path.join(".snakemake", "locks")
    return "--target-jobs" in sys.argv or (os.path.isdir(locks) and bool(os.listdir(locks)))


# A DVC checkout (`dvc pull`, a fresh clone) writes files with the checkout's time in no order, and no Snakemake
# record: before the DAG is built, what Snakemake did not write here gets fixed times in the chain's order
# (sketch3d.chain.order_checkout_times; upstream older), so that a pulled chain has nothing to rerun.
if not another_run_here():
    order_checkout_times(RESULTS, written_here, checkout_base(".snakemake/sketch3d_checkout_base"))
LOGS = f"{RESULTS}/logs"
# the table commands' flag in the rehearsal (its tables say their numbers mean nothing); empty otherwise, so that
# the demo's and the paper's jobs are unchanged
REHEARSAL_FLAG = "--rehearsal" if config["rehearsal"] else ""
CATEGORIES = config["data"]["categories"]
MAIN_NETWORK = f"{config['features']['backbone']}-{config['features']['layer']}"
FEATURES = f"{RESULTS}/features/{MAIN_NETWORK}"
NETWORKS = list(config["features"].get("networks", {}))  # the other backbones (Tables 4.5, 4.6)


def features_dir(network=None):
    """Features of the main network (features.backbone/layer), or of a named one (features.networks)."""
    return FEATURES if network is None else f"{RESULTS}/features/{network}"


def feature_settings(wildcards):
    """What a features job reads: the main network's keys, or its own network's entry."""
    base = ["profile", "seed", "features.batch_size", "features.dtype", "features.precision"]
    base += ["data.data_dir"] if PROFILE == "paper" else []
    if wildcards.network == MAIN_NETWORK:
        return settings(*base, "features.backbone", "features.layer", "features.weights")
    return settings(*base, f"features.networks.{wildcards.network}")


def table_path(table, ext):
    """A result table's file: results/<profile>/tables/<sketch3d.names.table_stem>.<ext>; ``table`` may be the
    `table` wildcard ("{table}", a table_slug)."""
    return f"{RESULTS}/tables/{table_stem(table)}.{ext}"


def thesis_input(table):
    """The package's copy of thesis table ``table`` as an input of the table rules, relative to the working
    directory when the package lives under it (the editable install, or a .venv inside the clone), so that
    Snakemake's record of the input set is the same in every clone of the repository (an absolute path differs
    between clones, and results moved from one clone to another would rerun their tables)."""
    import os

    path = os.path.abspath(table_file(table))
    rel = os.path.relpath(path)
    return path if rel.startswith(os.pardir) else rel


def network_arg(wildcards):
    return "" if wildcards.network == MAIN_NETWORK else f"--network {wildcards.network}"
# chapter name -> its final targets; each chapter's rules file adds itself
CHAPTER_TARGETS = {}


def settings(*keys, exclude=()):
    """JSON of the named (dotted) keys of the effective config, less the dotted keys in ``exclude``: the only
    parameters a rule passes to its command, so that a change of any other parameter does not rerun it."""
    out = {}
    for dotted in keys:
        src, dst = config, out
        *parents, last = dotted.split(".")
        for p in parents:
            src = src[p]
            dst = dst.setdefault(p, {})
        dst[last] = copy.deepcopy(src[last])
    for dotted in exclude:
        *parents, last = dotted.split(".")
        node = out
        for p in parents:
            node = node[p]
        del node[last]
    return json.dumps(out, sort_keys=True)


def code(rule_name):
    """Code version of the command that a rule runs, see sketch3d.codeversion. Passed as a param, so that
    a change of the package code or data it runs on reruns exactly the rules that use it (Snakemake's
    own code trigger sees only the shell text of a rule). Kept between starts by the package's digest
    (sketch3d.code_version_store: deriving them all takes ~2.6 s a start)."""
    return _CODE_VERSIONS.version(rule_name)


_CODE_VERSIONS = VersionStore()


def log_of(rule_name, *wildcards):
    """results/<profile>/logs/<rule>/<wildcards joined by _>.log"""
    stem = "_".join(f"{{{w}}}" for w in wildcards) or rule_name
    return f"{LOGS}/{rule_name}/{stem}.log"


def gallery_settings(wildcards):
    """What a render_gallery job reads: the render settings, its own view set, and its category's sketch
    azimuths only when that set is derived from them (around_sketch). Another set's change reruns nothing."""
    render = config["render"]
    keys = [f"render.{k}" for k in render if k not in ("view_sets", "gallery_view_set", "sketch_azimuths")]
    keys.append(f"render.view_sets.{wildcards.view_set}")
    spec = render["view_sets"][wildcards.view_set]
    if isinstance(spec, dict) and "around_sketch" in spec:
        keys.append(f"render.sketch_azimuths.{wildcards.category}")
    return settings(*keys)


def gallery_dir(category, split, style="lines", view_set=None):
    """A rendered gallery: renders/<style>_<view set>/<category>/<split>; by default the retrieval gallery
    (Freestyle lines at render.gallery_view_set)."""
    return f"{RESULTS}/renders/{style}_{view_set or config['render']['gallery_view_set']}/{category}/{split}"


def feature_images(wildcards):
    """The image sets a features job embeds, one per category (in CATEGORIES' order, as its outputs): the sketch
    rasters (kind `sketch`) or a rendered gallery (kind `<style>_<view set>`, e.g. lines_five)."""
    if wildcards.kind == "sketch":
        return [f"{RESULTS}/sketches/{c}/{wildcards.split}" for c in CATEGORIES]
    style, view_set = wildcards.kind.split("_", 1)
    return [gallery_dir(c, wildcards.split, style, view_set) for c in CATEGORIES]


# what the features command reads: the weights setting, and where the paper profile keeps downloaded weights
FEATURE_KEYS = ["profile", "seed", "features.backbone", "features.layer", "features.weights", "features.batch_size",
                "features.dtype", "features.precision"] + (["data.data_dir"] if PROFILE == "paper" else [])


def raw_inputs(wildcards):
    """Paper profile: the downloaded archives that the dataset step reads (none for the demo)."""
    if PROFILE != "paper":
        return []
    from sketch3d.data.registry import load_sources

    sources = load_sources()
    return [str(sources[f"amateursketch_{c}"].path(config["data"]["data_dir"])) for c in CATEGORIES]


def chapter_targets(chapters):
    return [t for chapter in chapters for t in CHAPTER_TARGETS[chapter]]


def preflight_chapters(targets):
    """The chapters whose inputs the preflight checks: the targets' own where every target names a chapter
    (`snakemake sketchydepth` needs none of the other chapters' data), else the listed ones (params' `chapters`)."""
    targets = set(targets or ())
    if targets and targets <= set(CHAPTER_TARGETS):
        return [c for c in CHAPTER_TARGETS if c in targets]
    return config["chapters"]


def preflight():
    """Paper profile: stop before any job when a dataset or weight file of a chapter to build cannot be had, with
    one message naming every missing input (each chapter's `<chapter>/preflight.py`, found by the package)."""
    if PROFILE == "paper":
        from sketch3d.preflight import require_chapter_inputs

        require_chapter_inputs(config, preflight_chapters(workflow.dag_settings.targets))
