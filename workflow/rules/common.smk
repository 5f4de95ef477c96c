# Helpers shared by the rules: validated config, result paths, per-rule settings.
import hashlib
import json
from pathlib import Path

import sketch3d
from sketch3d.config import ParamsError, validate

try:
    config.update(validate(config, source="params.yaml (+ --config overrides)"))
except ParamsError as exc:
    raise WorkflowError(str(exc)) from None

PROFILE = config["profile"]
RESULTS = f"results/{PROFILE}"
CATEGORIES = config[PROFILE]["categories"]
FEATURES = f"{RESULTS}/features/{config['features']['backbone']}-{config['features']['layer']}"
CLIP_METHODS = ["baseline", "obb"]
# where the CLIP weights come from: a tag or file; the paper profile also looks in its data_dir
CLIP_WEIGHT_KEYS = [f"{PROFILE}.clip_weights"] + (["paper.data_dir"] if PROFILE == "paper" else [])
TABLE_METHODS = ["baseline", "obb", "pixel"]


def settings(*keys):
    """JSON of the named (dotted) config keys: the only parameters a rule passes to its command."""
    out = {}
    for dotted in keys:
        src, dst = config, out
        *parents, last = dotted.split(".")
        for p in parents:
            src = src[p]
            dst = dst.setdefault(p, {})
        dst[last] = src[last]
    return json.dumps(out, sort_keys=True)


def code_version(*parts):
    """Hash of the package sources that a job runs; ``parts`` are modules or subpackages of sketch3d.

    Snakemake's code trigger sees only a rule's own shell text; passing this as a param
    makes a change in the package code rerun exactly the rules that use it.
    """
    root = Path(sketch3d.__file__).parent
    digest = hashlib.sha256()
    for part in ("cli", "atomic", "config", *parts):
        path = root / part
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path.with_suffix(".py")]
        for f in files:
            digest.update(f.relative_to(root).as_posix().encode())
            digest.update(f.read_bytes())
    return digest.hexdigest()[:16]


def method_box(wildcards):
    key = {"baseline": "baseline_box", "obb": "obb_box", "pixel": "obb_box"}[wildcards.method]
    return config["retrieval"][key]


def feature_images(wildcards):
    if wildcards.kind == "gallery":
        return f"{RESULTS}/renders/gallery/{wildcards.category}/{wildcards.split}"
    return f"{RESULTS}/sketches/{wildcards.category}/{wildcards.split}"


def clip_inputs(wildcards):
    box = method_box(wildcards)
    stem = f"{FEATURES}/box{box}"
    return {
        "sketches": f"{RESULTS}/sketches/{wildcards.category}/{wildcards.split}",
        "gallery": f"{RESULTS}/renders/gallery/{wildcards.category}/{wildcards.split}",
        "sketch_npy": f"{stem}/sketch_{wildcards.category}_{wildcards.split}.npy",
        "sketch_ids": f"{stem}/sketch_{wildcards.category}_{wildcards.split}.csv",
        "gallery_npy": f"{stem}/gallery_{wildcards.category}_{wildcards.split}.npy",
        "gallery_ids": f"{stem}/gallery_{wildcards.category}_{wildcards.split}.csv",
    }


def raw_inputs(wildcards):
    """Paper profile: the downloaded archives that the dataset step reads (none for the demo)."""
    if PROFILE != "paper":
        return []
    from sketch3d.data.registry import load_sources

    sources = load_sources()
    return [str(sources[f"amateursketch_{c}"].path(config["paper"]["data_dir"])) for c in CATEGORIES]


def slice_targets():
    """Everything the ch. 4.2 slice produces: Table 4.8 rows and the top-5 figures."""
    return [
        f"{RESULTS}/tables/table_4_8.csv",
        f"{RESULTS}/tables/table_4_8.md",
        *expand(f"{RESULTS}/figures/top5_{{category}}.png", category=CATEGORIES),
    ]


def preflight():
    """Paper profile: stop before any job when a dataset or weight file cannot be had."""
    if PROFILE == "paper":
        from sketch3d.preflight import require_paper_inputs

        require_paper_inputs(config["paper"], features_weights=config["paper"]["clip_weights"])
