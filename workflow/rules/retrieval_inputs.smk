# Chapter 4.2 (retrieval): input functions and targets of the rules in retrieval.smk.
from sketch3d.retrieval.grid_tables import GRID_TABLES, GRIDS
from sketch3d.retrieval.methods import METHODS, TABLES, caption_rows, get_method, get_table

RETRIEVAL_TABLES = [t.slug for t in TABLES.values()]


def retrieval_inputs(wildcards):
    """Image sets of a retrieval job, plus the CLIP feature files (each side under its own transforms) of CLIP methods."""
    method = METHODS[wildcards.method]
    inputs = {
        "shapes": f"{RESULTS}/data/shapes.csv",
        "sketches": f"{RESULTS}/sketches/{wildcards.category}/{wildcards.split}",
        "gallery": gallery_dir(wildcards.category, wildcards.split, method.style, method.view_set),
    }
    if method.kind != "clip":
        return inputs
    for kind in ("sketch", "gallery"):
        # one features file per transform; the Augm. rows average them
        files = feature_files(method, kind, wildcards.category, wildcards.split)
        inputs[f"{kind}_npy"] = [f"{stem}.npy" for stem in files]
        inputs[f"{kind}_ids"] = [f"{stem}.csv" for stem in files]
    if method.mask is not None:
        mode, selected_on = method.mask
        inputs["mask"] = f"{RESULTS}/retrieval/masks/{mode}/best_{selected_on}.npy"
    return inputs


def feature_files(method, kind, category, split):
    """Stems of the features files of one side of ``method``: one per transform of its images."""
    images = "sketch" if kind == "sketch" else method.gallery_images(config["render"])
    return [f"{features_dir(method.network)}/{t.name}/{images}_{category}_{split}"
            for t in method.transforms(kind, config["retrieval"])]


def feature_args(wildcards, input):
    """The command's feature-file options (CLIP methods only) and the learned mask of a masked method."""
    if "sketch_npy" not in input.keys():
        return ""
    args = " ".join(f"--{kind}-{part} {' '.join(input[f'{kind}_{key}'])}"
                    for kind in ("sketch", "gallery") for part, key in (("features", "npy"), ("ids", "ids")))
    return args + (f" --mask {input.mask}" if "mask" in input.keys() else "")


MASK_MODES = config["retrieval"]["masks"]["modes"]


def train_mask_inputs(wildcards):
    """The training renderings (thesis 4.2.3.3: line renderings of the mask's training chairs at five views) and
    their set's summary, and each category's validation features in the setting the checkpoint is chosen on
    (thesis B.5: OBB, Augm. (4 imgs))."""
    t = config["retrieval"]["masks"]["train_set"]
    inputs = {"train": f"{RESULTS}/renders/mask_train/lines_{t['view_set']}/{t['category']}",
              "train_set": f"{RESULTS}/data/mask_train_{t['category']}.json"}
    for c in CATEGORIES:
        for kind in ("sketch", "gallery"):
            files = feature_files(METHODS["obb_augm4"], kind, c, "val")
            inputs[f"{c}_{kind}_npy"] = [f"{stem}.npy" for stem in files]
            inputs[f"{c}_{kind}_ids"] = [f"{stem}.csv" for stem in files]
    return inputs


def val_args(wildcards, input):
    """--val CLASS SKETCH_NPYS SKETCH_IDS GALLERY_NPYS GALLERY_IDS, each list joined by ','."""
    return " ".join(f"--val {c} " + " ".join(",".join(input[f"{c}_{k}"])
                                           for k in ("sketch_npy", "sketch_ids", "gallery_npy", "gallery_ids"))
                    for c in CATEGORIES)


def table_inputs(wildcards):
    """A table's metric files, one per (row method, category), and the thesis's own table (package data:
    listed as an input, editing it reruns exactly this table)."""
    table = get_table(wildcards.table)
    return {
        "metrics": expand(f"{RESULTS}/retrieval/{{method}}/{{category}}_{table.split}.json",
                          method=table.methods, category=CATEGORIES),
        "thesis": str(table_file(table.number)),
    }


# Tables 4.1 and 4.2: one search job each over both categories' validation sets (sketch3d.retrieval.grids); their
# `table` wildcard -> their search
GRID_OF_TABLE = {table_slug(t.number): t.grid for t in GRID_TABLES.values()}
# besides its own search: how it scores, and which transforms other tables read (kept in the shared cache)
_SCORING = ["retrieval.chunk_size", "retrieval.view_reduction", "retrieval.topk", "retrieval.obb_box",
            "retrieval.augment"]
GRID_KEYS = {grid: [f"retrieval.grids.{grid}", *_SCORING] for grid in GRIDS}


def grid_inputs(wildcards):
    """The validation sketches and renderings of every category, in CATEGORIES order."""
    return {
        "sketches": [f"{RESULTS}/sketches/{c}/val" for c in CATEGORIES],
        "gallery": [gallery_dir(c, "val") for c in CATEGORIES],
    }


def domain_study_inputs(wildcards):
    """Figs 4.1 / 4.2: features of the sketches and of line and RGB renderings at the sketch views, every image
    as it is (thesis 4.2.3.1 and Table 4.5 use the same settings: no box)."""
    ds = config["retrieval"]["domain_study"]
    stem = f"{FEATURES}/boxnone"
    inputs = {"sketches": f"{RESULTS}/sketches/{ds['category']}/{ds['split']}"}
    for domain, images in (("sketch", "sketch"), ("lines", "lines_sketch"), ("rgb", "rgb_sketch")):
        inputs[f"{domain}_npy"] = f"{stem}/{images}_{ds['category']}_{ds['split']}.npy"
        inputs[f"{domain}_ids"] = f"{stem}/{images}_{ds['category']}_{ds['split']}.csv"
    return inputs


CHAPTER_TARGETS["retrieval"] = [
    *(table_path(t, ext) for t in [*TABLES, *GRID_TABLES] for ext in ("csv", "md", "json")),
    *expand(f"{RESULTS}/figures/top5_{{category}}.png", category=CATEGORIES),
    *(f"{RESULTS}/figures/{name}" for name in ("fig_4_1.png", "fig_4_2.png", "domain_study.json")),
    *expand(f"{RESULTS}/retrieval/masks/{{mode}}/curves.png", mode=config["retrieval"]["masks"]["modes"]),
]
