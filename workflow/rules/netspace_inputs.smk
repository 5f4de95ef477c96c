# Chapter 5 (NetSpace): input functions, paths and targets of the rules in netspace.smk.
from sketch3d.netspace.figures import FIGURES as NS_FIGURES
from sketch3d.netspace.names import SDF as NS_SDF, SETTINGS as NS_SETTINGS, TABLE_5_1, TABLE_C_1
from sketch3d.netspace.names import SEVERAL_ARCHITECTURES as NS_TEACHER_SETTINGS  # distilled from the teacher
from sketch3d.netspace.tables import TABLE_IDS as NS_TABLES
from sketch3d.netspace.zoo import member_by_name, zoo_members, zoo_plan

NS = f"{RESULTS}/netspace"
NS_CFG = config["netspace"]
NS_CACHE = f"{RESULTS}/cache/netspace"
NS_PLAN = zoo_plan(config)  # every zoo member: a name, its seed and regime, independent of the counts
NS_MEMBERS = [m.name for m in NS_PLAN]
NS_MLPS = {s: [f"{s}-{i:03d}" for i in range(n)] for s, n in NS_CFG["sdf_mlps"]["count"].items()}


def ns_dataset_source():
    from sketch3d.netspace.images import DATASETS

    return DATASETS[NS_CFG["data"]["dataset"]].source


def ns_archive_files():
    from sketch3d.netspace.sources import chapter_sources

    return [s.filename for s in chapter_sources().values() if s.filename]


NS_ARCHIVE_FILES = ns_archive_files()  # CIFAR-10, Tiny-ImageNet (fetch_netspace)


def ns_raw_inputs(wildcards=None):
    """Paper profile: the dataset's archive (made by fetch_netspace); the demo's digits ship with scikit-learn."""
    name = ns_dataset_source()
    if name is None:
        return []
    from sketch3d.netspace.sources import chapter_sources

    return [str(chapter_sources()[name].path(config["data"]["data_dir"]))]


# what a job reading the images is passed: netspace.data, and in the paper profile the data folder of the archives
NS_DATA_KEYS = ["netspace.data"] + (["data.data_dir"] if PROFILE == "paper" else [])


def ns_member_json(wildcards):
    return member_by_name(config, wildcards.member).to_json()


def ns_member_files(setting, split):
    return [f"{NS}/zoo/{m.name}.pt" for m in zoo_members(config, setting, split, NS_PLAN)]


NS_TEACHER = f"{NS}/zoo/{zoo_members(config, 'teacher', 'teacher', NS_PLAN)[0].name}.pt"


def ns_nets(wildcards, split):
    if wildcards.setting == NS_SDF:
        return [f"{NS}/sdf_mlps/{name}.pt" for name in NS_MLPS[split]]
    return ns_member_files(wildcards.setting, split)


def ns_sdf_trains_on_all():
    """netspace.training.sdf.train_on: all (thesis C.5: NetSpace "is trained on the 1000 MLPs", as the peer's
    train_range (0, 1000); the stopping metric read on them) or split (train / val as the counts say)."""
    return (NS_CFG["training"].get("sdf") or {}).get("train_on", "all") == "all"


def ns_train_inputs(wildcards):
    if wildcards.setting == NS_SDF and ns_sdf_trains_on_all():
        every = [f for split in ("train", "val", "test") for f in ns_nets(wildcards, split)]
        return {"train": every, "val": every, "raw": []}
    inputs = {"train": ns_nets(wildcards, "train"), "val": ns_nets(wildcards, "val"), "raw": ns_raw_inputs()}
    if wildcards.setting in NS_TEACHER_SETTINGS:
        inputs["teacher"] = NS_TEACHER
    return inputs


def ns_teacher_arg(wildcards, input):
    return f"--teacher {input.teacher}" if wildcards.setting in NS_TEACHER_SETTINGS else ""


def ns_training_settings(wildcards):
    keys = ["seed", "profile", "netspace.prep", "netspace.model"]
    if wildcards.setting in NS_CFG["training"]:
        keys.append(f"netspace.training.{wildcards.setting}")
    if wildcards.setting == "unseen":
        keys.append("netspace.training.multi")  # unseen trains as multi unless it has a block of its own
    if wildcards.setting != NS_SDF:
        keys += NS_DATA_KEYS
    return settings(*keys)


# Table 5.1: latent space optimisation from the first test net of the single zoo and of each multi architecture
NS_LATENT = {f"single-{m.name}": ("single", m.name) for m in zoo_members(config, "single", "test", NS_PLAN)[:1]}
for _arch in NS_CFG["zoo"]["multi"]["counts"]:
    _first = [m for m in zoo_members(config, "multi", "test", NS_PLAN) if m.architecture == _arch][:1]
    NS_LATENT.update({f"multi-{m.name}": ("multi", m.name) for m in _first})

CHAPTER_TARGETS["netspace"] = [
    *(table_path(t, ext) for t in NS_TABLES for ext in ("csv", "md", "json")),
    *(f"{RESULTS}/figures/{f}" for s in NS_SETTINGS for f in NS_FIGURES[s]),
    *(f"{NS}/models/{s}/curves.png" for s in NS_SETTINGS),
]
