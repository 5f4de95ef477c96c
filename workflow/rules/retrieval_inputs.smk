# Chapter 4.2 (retrieval): input functions and targets of the rules in retrieval.smk.
from sketch3d.retrieval.methods import METHODS, caption_rows, get_table


def retrieval_inputs(wildcards):
    """Image sets of a retrieval job, plus the CLIP feature files of CLIP methods."""
    images = {
        "sketches": f"{RESULTS}/sketches/{wildcards.category}/{wildcards.split}",
        "gallery": f"{RESULTS}/renders/gallery/{wildcards.category}/{wildcards.split}",
    }
    method = METHODS[wildcards.method]
    if method.kind != "clip":
        return images
    stem = f"{FEATURES}/box{method.box(config['retrieval'])}"
    for kind in ("sketch", "gallery"):
        for ext in ("npy", "ids"):
            suffix = "npy" if ext == "npy" else "csv"
            images[f"{kind}_{ext}"] = f"{stem}/{kind}_{wildcards.category}_{wildcards.split}.{suffix}"
    return images


def feature_args(wildcards, input):
    """The command's feature-file options (CLIP methods only)."""
    if "sketch_npy" not in input.keys():
        return ""
    return (f"--sketch-features {input.sketch_npy} --sketch-ids {input.sketch_ids}"
            f" --gallery-features {input.gallery_npy} --gallery-ids {input.gallery_ids}")


def table_metrics(number):
    table = get_table(number)
    return expand(f"{RESULTS}/retrieval/{{method}}/{{category}}_{table.split}.json",
                  method=table.methods, category=CATEGORIES)


CHAPTER_TARGETS["retrieval"] = [
    f"{RESULTS}/tables/table_4_8.csv",
    f"{RESULTS}/tables/table_4_8.md",
    f"{RESULTS}/tables/table_4_8.json",
    *expand(f"{RESULTS}/figures/top5_{{category}}.png", category=CATEGORIES),
]
