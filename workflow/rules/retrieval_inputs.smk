# Chapter 4.2 (retrieval): input functions and targets of the rules in retrieval.smk.
from sketch3d.report.reference import table_file
from sketch3d.retrieval.methods import METHODS, TABLES, box_name, caption_rows, get_table

RETRIEVAL_TABLES = [t.slug for t in TABLES.values()]


def retrieval_inputs(wildcards):
    """Image sets of a retrieval job, plus the CLIP feature files (each side at its own box) of CLIP methods."""
    inputs = {
        "shapes": f"{RESULTS}/data/shapes.csv",
        "sketches": f"{RESULTS}/sketches/{wildcards.category}/{wildcards.split}",
        "gallery": gallery_dir(wildcards.category, wildcards.split),
    }
    method = METHODS[wildcards.method]
    if method.kind != "clip":
        return inputs
    for kind in ("sketch", "gallery"):
        stem = f"{FEATURES}/box{box_name(method.box(kind, config['retrieval']))}/{kind}_{wildcards.category}"
        inputs[f"{kind}_npy"] = f"{stem}_{wildcards.split}.npy"
        inputs[f"{kind}_ids"] = f"{stem}_{wildcards.split}.csv"
    return inputs


def feature_args(wildcards, input):
    """The command's feature-file options (CLIP methods only)."""
    if "sketch_npy" not in input.keys():
        return ""
    return (f"--sketch-features {input.sketch_npy} --sketch-ids {input.sketch_ids}"
            f" --gallery-features {input.gallery_npy} --gallery-ids {input.gallery_ids}")


def table_inputs(wildcards):
    """A table's metric files, one per (row method, category), and the thesis's own table (package data:
    listed as an input, editing it reruns exactly this table)."""
    table = get_table(wildcards.table)
    return {
        "metrics": expand(f"{RESULTS}/retrieval/{{method}}/{{category}}_{table.split}.json",
                          method=table.methods, category=CATEGORIES),
        "thesis": str(table_file(table.number)),
    }


CHAPTER_TARGETS["retrieval"] = [
    *expand(f"{RESULTS}/tables/table_{{table}}.{{ext}}", table=RETRIEVAL_TABLES, ext=["csv", "md", "json"]),
    *expand(f"{RESULTS}/figures/top5_{{category}}.png", category=CATEGORIES),
]
