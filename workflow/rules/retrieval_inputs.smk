# Chapter 4.2 (retrieval): input functions and targets of the rules in retrieval.smk.
from sketch3d.retrieval.grid_tables import GRID_TABLES, GRIDS
from sketch3d.retrieval.choice import GRID_FILES, check_choices, depends_on_choice, read_search, resolve
from sketch3d.retrieval.methods import METHODS, TABLES, VIEW_FIGURES, caption_rows, get_method, get_table

RETRIEVAL_TABLES = [t.slug for t in TABLES.values()]

# The chain of choices (sketch3d.retrieval.choice): Table 4.1's search chooses the OBB box, Table 4.2's the Augm.
# transforms; the methods that use them wait for the searches (a checkpoint: the feature files' names hold the
# chosen values). The main choice's rows are retrieval/<method>/...; another choice's rows of a method that depends
# on it are retrieval/<method>@<choice>/... (and its masks retrieval/masks/<mode>@<choice>/): the same rules.
RETRIEVAL_CHOICES = check_choices(config["retrieval"]["choices"])
MAIN_CHOICE = RETRIEVAL_CHOICES[0]
OTHER_CHOICES = RETRIEVAL_CHOICES[1:]
METHOD_VARIANTS = [*METHODS, *(f"{m}@{c}" for m in METHODS if depends_on_choice(METHODS[m])
                               for c in OTHER_CHOICES)]



def variant(name, choice):
    """A method's or mask mode's name under ``choice``: the name itself under the main choice, else name@choice."""
    return name if choice == MAIN_CHOICE else f"{name}@{choice}"


def base_name(name):
    return name.partition("@")[0]


def grid_json(grid):
    return f"{RESULTS}/retrieval/grids/{grid}.json"


def choice_of(wildcards):
    """The choice of a job: from the ``@<choice>`` of its method or mode, or its ``choice`` wildcard; else the main."""
    if "choice" in wildcards.keys():
        return wildcards.choice
    for key in ("method", "mode"):
        if key in wildcards.keys() and "@" in wildcards[key]:
            return wildcards[key].partition("@")[2]
    return MAIN_CHOICE


def chosen(choice):
    """The retrieval section under ``choice``; ``search`` reads the searches' results (waiting for them)."""
    if choice != "search":
        return resolve(config["retrieval"], choice)
    files = [checkpoints.retrieval_grid.get(grid=g).output.json for g in GRID_FILES]
    return resolve(config["retrieval"], "search", read_search(*files))


def choice_inputs(choice):
    """The searches' results a job under ``choice`` reads (``search`` only)."""
    return {"grids": [grid_json(g) for g in GRID_FILES]} if choice == "search" else {}


def choice_args(wildcards, input):
    """--choice NAME [--grids BOX_JSON AFFINE_JSON] of a job under a choice."""
    grids = f" --grids {' '.join(input.grids)}" if "grids" in input.keys() else ""
    return f"--choice {choice_of(wildcards)}{grids}"


def retrieval_inputs(wildcards):
    """Image sets of a retrieval job; a method that depends on the choice also reads, under ``search``, the
    searches' results."""
    method = METHODS[base_name(wildcards.method)]
    return {
        "shapes": f"{RESULTS}/data/shapes.csv",
        "sketches": f"{RESULTS}/sketches/{wildcards.category}/{wildcards.split}",
        "gallery": gallery_dir(wildcards.category, wildcards.split, method.style, method.view_set),
        **(choice_inputs(choice_of(wildcards)) if depends_on_choice(method) else {}),
    }


def retrieval_feature_inputs(wildcards):
    """The CLIP feature files (each side under its own transforms) of CLIP methods, and a masked method's mask;
    apart from retrieval_inputs: these wait for the searches (their names hold the chosen box and transforms)."""
    method = METHODS[base_name(wildcards.method)]
    choice = choice_of(wildcards)
    inputs = {}
    if method.kind != "clip":
        return inputs
    retrieval = chosen(choice) if depends_on_choice(method) else config["retrieval"]
    for kind in ("sketch", "gallery"):
        # one features file per transform; the Augm. rows average them
        files = feature_files(method, kind, wildcards.category, wildcards.split, retrieval)
        inputs[f"{kind}_npy"] = [f"{stem}.npy" for stem in files]
        inputs[f"{kind}_ids"] = [f"{stem}.csv" for stem in files]
    if method.mask is not None:
        mode, selected_on = method.mask
        inputs["mask"] = f"{RESULTS}/retrieval/masks/{variant(mode, choice)}/best_{selected_on}.npy"
    return inputs


def feature_files(method, kind, category, split, retrieval):
    """Stems of the features files of one side of ``method`` under the ``retrieval`` section (``chosen``): one
    per transform of its images."""
    images = "sketch" if kind == "sketch" else method.gallery_images(config["render"])
    return [f"{features_dir(method.network)}/{t.name}/{images}_{category}_{split}"
            for t in method.transforms(kind, retrieval)]


def feature_args(wildcards, input):
    """The command's feature-file options (CLIP methods only) and the learned mask of a masked method."""
    if "sketch_npy" not in input.keys():
        return ""
    args = " ".join(f"--{kind}-{part} {' '.join(input[f'{kind}_{key}'])}"
                    for kind in ("sketch", "gallery") for part, key in (("features", "npy"), ("ids", "ids")))
    return args + (f" --mask {input.mask}" if "mask" in input.keys() else "")


MASK_MODES = config["retrieval"]["masks"]["modes"]
# train_mask trains every mode of one choice in one job (the same batches): its outputs are masks/<mode><suffix>/,
# suffix "" under the main choice, "@<choice>" under another
MASK_SUFFIXES = ["", *(f"@{c}" for c in OTHER_CHOICES)]


def mask_choice(wildcards):
    """The choice of a train_mask job: from its ``suffix`` wildcard."""
    return wildcards.suffix[1:] if wildcards.suffix else MAIN_CHOICE


def train_mask_inputs(wildcards):
    """The training renderings (thesis 4.2.3.3: line renderings of the mask's training chairs at five views), their
    set's summary, and, under ``search``, the searches' results (the augmentation's box is the choice's OBB box)."""
    t = config["retrieval"]["masks"]["train_set"]
    return {"train": f"{RESULTS}/renders/mask_train/lines_{t['view_set']}/{t['category']}",
            "train_set": f"{RESULTS}/data/mask_train_{t['category']}.json", **choice_inputs(mask_choice(wildcards))}


def train_mask_val_inputs(wildcards):
    """Each category's validation features in the setting the checkpoint is chosen on (thesis B.5: OBB, Augm.
    (4 imgs)), under the job's choice (they wait for the searches)."""
    retrieval = chosen(mask_choice(wildcards))
    inputs = {}
    for c in CATEGORIES:
        for kind in ("sketch", "gallery"):
            files = feature_files(METHODS["obb_augm4"], kind, c, "val", retrieval)
            inputs[f"{c}_{kind}_npy"] = [f"{stem}.npy" for stem in files]
            inputs[f"{c}_{kind}_ids"] = [f"{stem}.csv" for stem in files]
    return inputs


def val_args(wildcards, input):
    """--val CLASS SKETCH_NPYS SKETCH_IDS GALLERY_NPYS GALLERY_IDS, each list joined by ','."""
    if f"{CATEGORIES[0]}_sketch_npy" not in input.keys():
        return ""  # the inputs wait for the searches (checkpoint): asked again once they ran
    return " ".join(f"--val {c} " + " ".join(",".join(input[f"{c}_{k}"])
                                           for k in ("sketch_npy", "sketch_ids", "gallery_npy", "gallery_ids"))
                    for c in CATEGORIES)


def table_inputs(wildcards):
    """A table's metric files, one per (row method, category), their ranks (the .npz beside each, same order:
    intervals and paired tests), and the thesis's own table (package data: listed as an input, editing it reruns
    exactly this table)."""
    table = get_table(wildcards.table)
    others = [f"{RESULTS}/retrieval/{variant(m, choice)}/{c}_{table.split}.json" for m in table.methods
              if depends_on_choice(METHODS[m]) for choice in OTHER_CHOICES for c in CATEGORIES]
    metrics = expand(f"{RESULTS}/retrieval/{{method}}/{{category}}_{table.split}.json",
                     method=table.methods, category=CATEGORIES) + others
    return {
        "metrics": metrics,
        "ranks": [m.removesuffix(".json") + ".npz" for m in metrics],
        "thesis": thesis_input(table.number),
    }


# Tables 4.1 and 4.2: one search job each over both categories' validation sets (sketch3d.retrieval.grids); their
# `table` wildcard -> their search
GRID_OF_TABLE = {table_slug(t.number): t.grid for t in GRID_TABLES.values()}
# besides its own search: how it scores, and which transforms other tables read (kept in the shared cache)
_SCORING = ["retrieval.chunk_size", "retrieval.view_reduction", "retrieval.topk", "retrieval.choices",
            "retrieval.thesis_choice"]
GRID_KEYS = {grid: [f"retrieval.grids.{grid}", *_SCORING] for grid in GRIDS}


def grid_inputs(wildcards):
    """The validation sketches and renderings of every category, in CATEGORIES order; the affine search (Table
    4.2) also Table 4.1's result, whose box it runs on (the chain)."""
    return {
        "sketches": [f"{RESULTS}/sketches/{c}/val" for c in CATEGORIES],
        "gallery": [gallery_dir(c, "val") for c in CATEGORIES],
        **({"box_grid": grid_json("box")} if wildcards.grid == "affine" else {}),
    }


def box_grid_arg(wildcards, input):
    return f"--box-grid {input.box_grid}" if "box_grid" in input.keys() else ""


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


# Figs. 4.3 and B.2: the retrieval outputs of two rows of a table (retrieval.methods.VIEW_FIGURES), in their table's
# split, with the sketches and the galleries (sketch3d.retrieval.view_figures); no feature is computed for them
def view_figure_inputs(rule_name):
    figure = VIEW_FIGURES[rule_name]
    split = get_table(figure.table).split
    inputs = {
        side: [f"{RESULTS}/retrieval/{m}/{c}_{split}.npz" for c in CATEGORIES]
        for side, m in (("a", figure.a), ("b", figure.b))
    }
    inputs["sketches"] = [f"{RESULTS}/sketches/{c}/{split}" for c in CATEGORIES]
    for key, m in (("gallery", figure.a), *((("gallery_b", figure.b),) if figure.own_galleries else ())):
        method = get_method(m)
        inputs[key] = [gallery_dir(c, split, method.style, method.view_set) for c in CATEGORIES]
    return inputs


CHAPTER_TARGETS["retrieval"] = [
    *(table_path(t, ext) for t in [*TABLES, *GRID_TABLES] for ext in ("csv", "md", "json")),
    *expand(f"{RESULTS}/figures/top5_{{category}}.png", category=CATEGORIES),
    *(f"{RESULTS}/figures/{name}" for name in ("fig_4_1.png", "fig_4_2.png", "domain_study.json", "fig_4_3.png",
                                               "fig_B_2.png")),
    *(f"{RESULTS}/retrieval/masks/{variant(mode, c)}/curves.png" for mode in config["retrieval"]["masks"]["modes"]
      for c in RETRIEVAL_CHOICES),
]
