# Chapter 5 (NetSpace): input functions, paths and targets of the rules in netspace.smk.
from sketch3d.netspace.names import FIGURES as NS_FIGURES
from sketch3d.netspace.names import SDF as NS_SDF, SETTINGS as NS_SETTINGS, TABLE_5_1, TABLE_C_1
from sketch3d.netspace.names import SEVERAL_ARCHITECTURES as NS_TEACHER_SETTINGS  # distilled from the teacher
from sketch3d.netspace.names import TABLE_IDS as NS_TABLES
from sketch3d.netspace.latent_plan import latent_starts
from sketch3d.netspace.zoo_plan import member_by_name, zoo_members, zoo_plan

NS = f"{RESULTS}/netspace"
NS_CFG = config["netspace"]
# the image sets of the classification settings, each a {dataset} wildcard value and a folder of every output of
# theirs (netspace/<dataset>/...); the SDF setting's outputs lie under netspace/chairs/
NS_DATASETS = list(NS_CFG["datasets"])
NS_CHAIRS = "chairs"
NS_TABLE_DATASET = NS_CFG["table_5_1_dataset"]
if NS_TABLE_DATASET not in NS_DATASETS:
    raise ValueError(f"params: netspace.table_5_1_dataset {NS_TABLE_DATASET!r} is not one of netspace.datasets "
                     f"{NS_DATASETS}; add it there or name one of them")
NS_CACHE = f"{RESULTS}/cache/netspace"
NS_PLAN = zoo_plan(config)  # every zoo member: a name, its seed and regime, independent of the counts
NS_MEMBERS = [m.name for m in NS_PLAN]
NS_MLPS = {s: [f"{s}-{i:03d}" for i in range(n)] for s, n in NS_CFG["sdf_mlps"]["count"].items()}


def ns_dataset_source(dataset):
    from sketch3d.netspace.datasets import DATASETS

    return DATASETS[dataset].source


def ns_archive_files():
    from sketch3d.netspace.sources import chapter_sources

    return [s.filename for s in chapter_sources().values() if s.filename]


NS_ARCHIVE_FILES = ns_archive_files()  # CIFAR-10, Tiny-ImageNet (fetch_netspace)


def ns_raw_inputs(wildcards):
    """Paper profile: the dataset's archive (made by fetch_netspace); the demo's digits ship with scikit-learn."""
    if wildcards.dataset == NS_CHAIRS:
        return []
    name = ns_dataset_source(wildcards.dataset)
    if name is None:
        return []
    from sketch3d.netspace.sources import chapter_sources

    return [str(chapter_sources()[name].path(config["data"]["data_dir"]))]


# what a job reading the images is passed besides: in the paper profile the data folder of the archives
NS_DATA_KEYS = ["data.data_dir"] if PROFILE == "paper" else []


def ns_settings(dataset, *keys, exclude=()):
    """``settings(*keys)`` plus, for an image dataset, ``netspace.data`` as that dataset's jobs read it (its block over
    the shared keys, ``dataset`` named: ``images.dataset_data``) and the data folder (paper)."""
    from sketch3d.netspace.datasets import dataset_data

    out = json.loads(settings(*keys, *(NS_DATA_KEYS if dataset != NS_CHAIRS else ()), exclude=exclude))
    if dataset != NS_CHAIRS:
        out.setdefault("netspace", {})["data"] = dataset_data(NS_CFG["data"], dataset)
    return json.dumps(out, sort_keys=True)


NS_BY_NAME = {m.name: m for m in NS_PLAN}


def ns_member_json(wildcards):
    # the plan made once (zoo_plan per job made the paper DAG's ~1000 members per dataset quadratic)
    m = NS_BY_NAME.get(wildcards.member)
    return (m or member_by_name(config, wildcards.member)).to_json()


def ns_member_files(dataset, setting, split):
    return [f"{NS}/zoo/{dataset}/{m.name}.pt" for m in zoo_members(config, setting, split, NS_PLAN)]


NS_TEACHER_NAME = zoo_members(config, "teacher", "teacher", NS_PLAN)[0].name


# Scheduling (Snakemake runs the ready jobs of highest priority first): the teacher heads the chapter's longest
# chain (teacher -> multi and unseen NetSpace -> the multi latent optimisations) and is its longest job, so it
# starts first; the zoo and NetSpace's trainings come before the SDF samples and MLPs (priority 0), which feed
# only the short sdf setting and fill the cores at the end. Measured on the demo (2 cores): without priorities
# the last single-zoo member started at 459 s and the single setting's 100 s ran alone at the end.
NS_PRIORITY = {"teacher": 2, "zoo": 1, "netspace": 1}


def ns_member_priority(wildcards):
    return NS_PRIORITY["teacher"] if wildcards.member == NS_TEACHER_NAME else NS_PRIORITY["zoo"]


def ns_teacher(wildcards):
    return f"{NS}/zoo/{wildcards.dataset}/{NS_TEACHER_NAME}.pt"


def ns_fixed_images(dataset):
    """Whether ``dataset``'s training images are fixed (no augmentation): then the teacher's logits on them are
    computed once (the teacher_logits rule) for every job that distils from it."""
    from sketch3d.netspace.datasets import dataset_data

    return dataset != NS_CHAIRS and not dataset_data(NS_CFG["data"], dataset).get("augment", True)


def ns_teacher_logits(wildcards):
    return [f"{NS}/models/{wildcards.dataset}/teacher_logits.pt"] if ns_fixed_images(wildcards.dataset) else []


def ns_teacher_logits_arg(wildcards, input):
    return f"--teacher-logits {input.teacher_logits}" if input.get("teacher_logits") else ""


def ns_nets(wildcards, split):
    if wildcards.setting == NS_SDF:
        return [f"{NS}/sdf_mlps/{NS_CHAIRS}/{name}.pt" for name in NS_MLPS[split]]
    return ns_member_files(wildcards.dataset, wildcards.setting, split)


def ns_sdf_trains_on_all():
    """netspace.training.sdf.train_on: all (thesis C.5: NetSpace "is trained on the 1000 MLPs", as the peer's
    train_range (0, 1000); the stopping metric read on them) or split (train / val as the counts say)."""
    return (NS_CFG["training"].get("sdf") or {}).get("train_on", "all") == "all"


def ns_train_inputs(wildcards):
    if wildcards.setting == NS_SDF and ns_sdf_trains_on_all():
        every = [f for split in SPLITS for f in ns_nets(wildcards, split)]
        return {"train": every, "val": every, "raw": []}
    inputs = {"train": ns_nets(wildcards, "train"), "val": ns_nets(wildcards, "val"), "raw": ns_raw_inputs(wildcards)}
    if wildcards.setting in NS_TEACHER_SETTINGS:
        inputs["teacher"] = ns_teacher(wildcards)
        inputs["teacher_logits"] = ns_teacher_logits(wildcards)
    return inputs


def ns_teacher_arg(wildcards, input):
    if wildcards.setting not in NS_TEACHER_SETTINGS:
        return ""
    return f"--teacher {input.teacher} {ns_teacher_logits_arg(wildcards, input)}".rstrip()


def ns_training_settings(wildcards):
    keys = ["seed", "profile", "netspace.prep", "netspace.model"]
    if wildcards.setting in NS_CFG["training"]:
        keys.append(f"netspace.training.{wildcards.setting}")
    if wildcards.setting == "unseen":
        keys.append("netspace.training.multi")  # unseen trains as multi unless it has a block of its own
    return ns_settings(NS_CHAIRS if wildcards.setting == NS_SDF else wildcards.dataset, *keys)


# Table 5.1: latent space optimisation from one test net of the single zoo and one of each multi architecture
NS_LATENT = latent_starts(config, NS_PLAN)  # which test nets start (latent_plan.latent_starts says why)

# (setting, dataset) of every NetSpace trained: the classification settings once per image set, sdf on the chairs
NS_RUNS = [(s, NS_CHAIRS if s == NS_SDF else d) for s in NS_SETTINGS for d in ([NS_CHAIRS] if s == NS_SDF else NS_DATASETS)]


def ns_figures():
    from sketch3d.netspace.names import figure_names

    return [f for s, d in NS_RUNS for f in figure_names(s, None if d == NS_CHAIRS else d)]


NS_FIGURE_FILES = ns_figures()  # what figure_netspace writes into NS_FIGURES_DIR
NS_FIGURES_DIR = f"{RESULTS}/figures/netspace"

CHAPTER_TARGETS["netspace"] = [
    *(table_path(t, ext) for t in NS_TABLES for ext in ("csv", "md", "json")),
    NS_FIGURES_DIR,
    *(f"{NS}/models/{d}/{s}/curves.png" for s, d in NS_RUNS),
]
