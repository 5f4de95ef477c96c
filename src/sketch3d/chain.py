"""The data chain as DVC sees it: one stage per artifact boundary, named here once (``dvc.yaml`` cannot import Python).

Snakemake keeps the fine-grained DAG (one job per image set, per zoo member, per setting) and the GPU scheduling;
DVC gets the coarse chain, so that a lab can push the expensive boundaries (renders, features, the trained
models) to a shared remote and rebuild any table from them: downloads -> scenes, depth labels -> renders ->
features -> trained models (GANs, masks, generator, zoo, SDF MLPs, NetSpace models) -> grids and searches ->
evaluations -> tables and figures (the table stages of :mod:`sketch3d.table_stages`).

Each :class:`Boundary` is a set of Snakemake rules. Its DVC stage asks Snakemake for those rules' jobs (``--until
<rules>`` over the default target, or explicit files) and owns their outputs (``outs``, folders or files under
:func:`sketch3d.config.results_dir`): DVC deletes them before the command (they are not ``persist``, so DVC's
run-cache restores an identical run instead of running it) and checks them afterwards. Its deps are the upstream
boundaries' outs (``after``), the package code its rules run (``code``, not the whole ``src/``: ``dvc status``
then says which step is stale) and, for a chain's first stage, its inputs: the paper profile's downloads (DVC
outs of the ``raw_*`` stages), the demo's generator code (the demo makes its data). Its params: the params.yaml
sections its rules read, plus the profile's overrides.

Files a boundary's rules write that are no out stay Snakemake's intermediates (the retrieval runs of the
retrieval tables, the depth labels of generated images, the demo's labeller): a fresh clone does not need them,
and Snakemake does not redo them while the outs that depend on them are up to date.

**Snakemake after a DVC checkout.** ``dvc pull``/``dvc checkout`` write files with the time of the checkout, in
no order, and a fresh clone has no ``.snakemake`` metadata: Snakemake (9.27: its ``mtime`` rerun trigger cannot
be turned off, ``--rerun-triggers`` without it still compares times) would rerun every job whose input happens to
be written after its output. The workflow therefore puts the times of what it did not write itself in the chain's
order before it builds its DAG (``workflow/rules/common.smk`` calls :func:`order_checkout_times`): a result with
no Snakemake record on this machine gets the time of its boundary's rank (upstream older), tables and figures the
newest, all at fixed times ending when the working copy's first Snakemake call ran (:func:`checkout_base`), so that
what Snakemake writes from them is newer. What
Snakemake wrote here keeps its time; content changes of the shared artifacts are DVC's to see (hashes
in ``dvc.lock``).

**DVC reruns a stage; Snakemake obeys.** A boundary's outs are deleted by DVC before its command, so Snakemake
redoes their jobs. A table or figure stage's outs are ``persist`` (committed for the demo): its command forces
its targets (``--force``), since in a fresh clone Snakemake has no record of the params DVC saw change.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from sketch3d.config import results_dir

PROFILES = ("demo", "paper")
PROFILE_PARAMS = '"profiles.${key}"'  # every stage reads its profile's overrides


@dataclass(frozen=True)
class Boundary:
    name: str                       # the DVC stage (``<name>@demo``, ``<name>@paper``)
    chapter: str                    # "shared" or the chapter (params.yaml `chapters`) it belongs to
    rules: tuple[str, ...]          # the Snakemake rules whose outputs it owns; it runs their jobs (``--until``)
                                    # unless ``targets`` is given
    outs: tuple[str, ...]           # what it owns, relative to the results folder
    after: tuple[str, ...] = ()     # upstream boundaries (their outs are its deps)
    code: tuple[str, ...] = ()      # package paths its rules run (deps)
    params: tuple[str, ...] = ()    # params.yaml sections (or dotted keys) its rules read
    # a chain's first stage: its inputs per profile, as many for each (paths relative to the repository root)
    sources: dict[str, tuple[str, ...]] = field(default_factory=dict)
    targets: tuple[str, ...] = ()   # explicit Snakemake targets (relative to the results folder) instead of --until
    goal: str = ""                  # a target rule of the workflow that asks for the boundary's files, instead of --until

    def __hash__(self) -> int:
        return hash(self.name)


# what a features computation reads (the workflow's FEATURE_KEYS; `features.weights` is a profile's key, under
# "profiles.<profile>") and how a retrieval is scored (its _SCORING)
FEATURE_KEYS = ("features.backbone", "features.layer", "features.batch_size", "features.dtype",
                "features.precision")
SCORING_KEYS = ("retrieval.chunk_size", "retrieval.view_reduction", "retrieval.topk", "retrieval.choices",
                "retrieval.thesis_choice")
DOWNLOADS = "data/paper/downloads"  # the paper profile's data.data_dir + /downloads (the raw_* stages' outs)

BOUNDARIES: tuple[Boundary, ...] = (
    # ---- shared: the 3D shapes and sketches, their renders, their features
    Boundary("dataset", "shared", ("prepare_dataset", "rasterize_sketches"),
             ("data/items", "data/shapes.csv", "data/sketches.csv", "sketches"),
             code=("src/sketch3d/data",), params=("seed", "data"),
             sources={"demo": ("src/sketch3d/data/procedural", "src/sketch3d/data/demo_shapes.py"),
                      "paper": (f"{DOWNLOADS}/AmateurSketch-3DChair.zip", f"{DOWNLOADS}/AmateurSketch-3DLamp.zip")}),
    Boundary("renders", "shared", ("render_gallery", "mask_train_set", "render_mask_train"),
             ("renders", "data/mask_train_chair.csv", "data/mask_train_chair.json"), after=("dataset",),
             code=("src/sketch3d/render", "src/sketch3d/geometry", "src/sketch3d/retrieval/mask_data.py"),
             params=("seed", "data", "render", "retrieval.masks.train_set")),
    Boundary("features", "shared", ("extract_features",), ("features",), after=("dataset", "renders"),
             code=("src/sketch3d/features",), params=("seed", "features")),
    # ---- chapter 4.2: retrieval (its retrieval runs are the table stages' own, seconds each)
    Boundary("retrieval_grids", "retrieval", ("retrieval_grid",), ("retrieval/grids",), after=("dataset", "renders"),
             code=("src/sketch3d/features", "src/sketch3d/retrieval"),
             params=("seed", *FEATURE_KEYS, "retrieval.grids", *SCORING_KEYS)),
    Boundary("retrieval_masks", "retrieval", ("train_mask",), ("retrieval/masks",),
             after=("renders", "features", "retrieval_grids"),
             code=("src/sketch3d/features", "src/sketch3d/retrieval"),
             params=("seed", *FEATURE_KEYS, "retrieval.chunk_size", "retrieval.choices", "retrieval.thesis_choice",
                     "retrieval.masks")),
    # ---- chapter 3: SketchyDepth
    Boundary("scenes", "sketchydepth", ("prepare_scenes",), ("sketchydepth/data",),
             code=("src/sketch3d/sketchydepth/scenes.py", "src/sketch3d/sketchydepth/sketchycoco.py",
                   "src/sketch3d/sketchydepth/triplets.py"), params=("seed", "sketchydepth"),
             sources={"demo": ("src/sketch3d/sketchydepth/photo3d.py", "src/sketch3d/sketchydepth/scenes.py"),
                      "paper": (f"{DOWNLOADS}/SketchyCOCO-Scene.zip", f"{DOWNLOADS}/SketchyCOCO-Others.zip")}),
    # the depth labels of the real scenes (the demo trains its labeller here; the paper runs MiDaS)
    Boundary("depth_labels", "sketchydepth", ("label_depth",),
             ("sketchydepth/depth/train", "sketchydepth/depth/val", "sketchydepth/depth/test"), after=("scenes",),
             code=("src/sketch3d/sketchydepth/labeller.py", "src/sketch3d/sketchydepth/midas.py"),
             params=("seed", "sketchydepth.labeller"),
             targets=("sketchydepth/depth/train", "sketchydepth/depth/val", "sketchydepth/depth/test")),
    Boundary("gans", "sketchydepth", ("train_gan",), ("sketchydepth/models",), after=("scenes", "depth_labels"),
             code=("src/sketch3d/sketchydepth/networks.py", "src/sketch3d/sketchydepth/training.py",
                   "src/sketch3d/training_loop.py"), params=("seed", "sketchydepth.gan")),
    # asked through its target rule (workflow/rules/sketchydepth.smk): with `--until generate image_metrics`
    # (label_depth listed or not: image_metrics reads MiDaS's labels of the generated images) Snakemake stopped
    # "out of jobs ready to be started" once the generate jobs were done
    Boundary("sketchydepth_eval", "sketchydepth", ("generate", "label_depth", "image_metrics"),
             ("sketchydepth/generated", "sketchydepth/metrics"), after=("scenes", "depth_labels", "gans"),
             code=("src/sketch3d/sketchydepth",),
             params=("seed", "sketchydepth.labeller", "sketchydepth.gan", "sketchydepth.perturbation",
                     "sketchydepth.fid", "sketchydepth.metrics"), goal="sketchydepth_eval"),
    # ---- chapter 4.3: reconstruction
    Boundary("reconstruction_targets", "reconstruction", ("reconstruction_targets", "sdf_targets"),
             ("reconstruction/targets", "reconstruction/sdf"), after=("dataset",),
             code=("src/sketch3d/reconstruction/targets.py", "src/sketch3d/reconstruction/sdf_targets.py",
                   "src/sketch3d/geometry"),
             params=("seed", "data", "reconstruction.targets", "reconstruction.inversion.views")),
    Boundary("generator", "reconstruction", ("train_generator", "mean_style"), ("reconstruction/generator",),
             after=("reconstruction_targets",),
             code=("src/sketch3d/reconstruction/generator.py", "src/sketch3d/reconstruction/demo_generator.py"),
             params=("seed", "reconstruction.generator", "reconstruction.demo_training")),
    Boundary("inversions", "reconstruction", ("invert", "reconstruction_scores"),
             ("reconstruction/inversions", "reconstruction/scores.csv", "reconstruction/snapshot_scores.csv",
              "reconstruction/score_vs_iteration.png"),
             # the scores' retrieval baseline row reads a retrieve job's ranking (reconstruction.scores.retrieval_method:
             # paper binary_chair, over the features, the searches' choice and the masks)
             after=("reconstruction_targets", "generator", "features", "retrieval_masks"),
             code=("src/sketch3d/reconstruction", "src/sketch3d/geometry", "src/sketch3d/features"),
             params=("seed", "features.backbone", "render", "reconstruction")),
    # ---- chapter 5: NetSpace
    Boundary("zoo", "netspace", ("train_member",), ("netspace/zoo", "netspace/zoo_curves"),
             code=("src/sketch3d/netspace/zoo.py", "src/sketch3d/netspace/architectures.py",
                   "src/sketch3d/netspace/images.py", "src/sketch3d/training_loop.py"), params=("seed", "netspace"),
             sources={"demo": ("src/sketch3d/netspace/images.py",),
                      "paper": (f"{DOWNLOADS}/tiny-imagenet-200.zip",)}),
    Boundary("sdf_mlps", "netspace", ("sdf_samples", "fit_sdf_mlp"), ("netspace/sdf_samples", "netspace/sdf_mlps"),
             after=("dataset",), code=("src/sketch3d/netspace/sdf_samples.py", "src/sketch3d/netspace/sdf_mlps.py",
                                       "src/sketch3d/geometry"),
             params=("seed", "netspace.sdf_samples", "netspace.sdf_mlps")),
    Boundary("netspace_models", "netspace", ("teacher_logits", "train_netspace"), ("netspace/models",), after=("zoo", "sdf_mlps"),
             code=("src/sketch3d/netspace",), params=("seed", "netspace")),
    Boundary("netspace_eval", "netspace", ("evaluate_netspace", "optimise_latent"),
             ("netspace/evaluation", "netspace/latent"), after=("zoo", "sdf_mlps", "netspace_models"),
             code=("src/sketch3d/netspace",), params=("seed", "netspace")),
)

# what each chapter's tables and figures read: the boundaries their stages depend on (the evaluations; the
# retrieval tables run their own retrieval jobs on the features, the grids and the masks)
CHAPTER_INPUTS: dict[str, tuple[str, ...]] = {
    "retrieval": ("dataset", "renders", "features", "retrieval_grids", "retrieval_masks"),
    "sketchydepth": ("scenes", "depth_labels", "gans", "sketchydepth_eval"),
    "reconstruction": ("reconstruction_targets", "generator", "inversions"),
    "netspace": ("zoo", "netspace_eval"),
}
# the code every stage runs (the CLI, the config), besides its own package code and the rules files that define its
# rules (:func:`rules_files`). Not the Snakefile nor common.smk: an edit there would make DVC delete and redo every
# boundary (the zoo's GPU-days) where Snakemake, which tracks each job's command, params and code version, reruns
# only what the edit changes; after such an edit, `dvc repro --force <stage>` for a stage whose jobs it changed.
COMMON_CODE = ("src/sketch3d/cli.py", "src/sketch3d/config.py", "src/sketch3d/params.schema.yaml",
               "src/sketch3d/codeversion.py")
REPO = Path(__file__).resolve().parents[2]  # the repository of a source checkout (src/sketch3d/chain.py)


def rules_files(rules, root: Path = REPO) -> list[str]:
    """The workflow files (relative to ``root``) that define ``rules``, each with its chapter's ``*_inputs.smk``
    (the input functions), in the order found."""
    folder = root / "workflow" / "rules"
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no workflow rules; write dvc.yaml's stages from a source checkout")
    found = []
    for rule in rules:
        owners = [p for p in sorted(folder.glob("*.smk"))
                  if re.search(rf"^(?:rule|checkpoint) {re.escape(rule)}:", p.read_text(), re.M)]
        if len(owners) != 1:
            raise ValueError(f"rule {rule}: defined in {len(owners)} files of {folder}, expected one")
        inputs = owners[0].with_name(owners[0].stem + "_inputs.smk")
        for p in (owners[0], inputs):
            rel = p.relative_to(root).as_posix()
            if p.exists() and rel not in found:
                found.append(rel)
    return found


def boundary(name: str) -> Boundary:
    found = [b for b in BOUNDARIES if b.name == name]
    if not found:
        raise KeyError(f"no boundary {name!r} in sketch3d.chain.BOUNDARIES")
    return found[0]


def results(profile: str) -> str:
    """The results folder of a profile, as the workflow names it."""
    return results_dir({"profile": profile}).as_posix()


def outs_of(names, item: str = "${item.results}") -> list[str]:
    """The outs of the named boundaries, under ``item`` (a results folder or its interpolation)."""
    return [f"{item}/{out}" for name in names for out in boundary(name).outs]


def snakemake_cmd(targets=(), until=(), force=False) -> str:
    """A stage's command: Snakemake for the profile of the stage's key; ``force``: redo the targets (a ``persist``
    out, which DVC does not delete)."""
    cmd = "snakemake --cores all --config profile=${key}" + (" --force" if force else "")
    if until:
        cmd += f" --until {' '.join(until)}"
    return cmd + (f" -- {' '.join(targets)}" if targets else "")


def foreach_items(extra: dict[str, dict[str, str]] | None = None) -> list[str]:
    """The ``foreach`` mapping of a stage, profile -> {results: its results folder, ...extra[profile]}."""
    lines = ["    foreach:"]
    for p in PROFILES:
        fields = {"results": results(p), **(extra or {}).get(p, {})}
        lines.append(f"      {p}: {{{', '.join(f'{k}: {v}' for k, v in fields.items())}}}")
    return lines


def yaml_list(indent: str, values) -> list[str]:
    return [f"{indent}- {v}" for v in values]


def chain_stages() -> str:
    """The text of every boundary's DVC stage (the first lines of dvc.yaml's generated block)."""
    out = []
    for b in BOUNDARIES:
        if b.sources and sorted(b.sources) != sorted(PROFILES):
            raise ValueError(f"boundary {b.name}: sources for {sorted(b.sources)}, expected each of {PROFILES}")
        if b.sources and len({len(v) for v in b.sources.values()}) != 1:
            raise ValueError(f"boundary {b.name}: each profile needs as many sources (one stage text for both)")
        n_sources = len(next(iter(b.sources.values()))) if b.sources else 0
        extra = {p: {f"source{i}": b.sources[p][i] for i in range(n_sources)} for p in PROFILES} if b.sources else {}
        # --until over the chapters that read the boundary (their target rules): the paper's preflight then
        # checks those chapters' data only
        targets = [f"${{item.results}}/{t}" for t in b.targets] or ([b.goal] if b.goal else list(chapters_reading(b.name)))
        out += [f"  {b.name}:", *foreach_items(extra), "    do:",
                f"      cmd: {snakemake_cmd(targets, () if b.targets or b.goal else b.rules)}",
                "      deps:",
                *yaml_list("        ", [f"${{item.source{i}}}" for i in range(n_sources)]),
                *yaml_list("        ", outs_of(b.after)),
                *yaml_list("        ", [*rules_files(b.rules), *COMMON_CODE, *b.code]),
                f"      params: [{', '.join([*b.params, PROFILE_PARAMS])}]",
                "      outs:", *yaml_list("        ", [f"${{item.results}}/{o}" for o in b.outs]), ""]
    return "\n".join(out)


def chapters_reading(name: str) -> tuple[str, ...]:
    """The chapters whose tables read boundary ``name``, directly or through other boundaries (CHAPTER_INPUTS'
    order)."""
    def upstream(n, seen):
        for a in boundary(n).after:
            if a not in seen:
                seen.add(a)
                upstream(a, seen)
        return seen

    return tuple(c for c, inputs in CHAPTER_INPUTS.items()
                 if any(name == i or name in upstream(i, set()) for i in inputs))


def checkout_ranks() -> dict[str, int]:
    """out (relative to a results folder) -> its boundary's rank in the chain (upstream first); checks that
    :data:`BOUNDARIES` lists each boundary after those it reads."""
    rank = {b.name: i for i, b in enumerate(BOUNDARIES)}
    for b in BOUNDARIES:
        late = [a for a in b.after if rank[a] >= rank[b.name]]
        if late:
            raise ValueError(f"sketch3d.chain.BOUNDARIES lists {b.name} before {late}, which it reads")
    return {out: rank[b.name] for b in BOUNDARIES for out in b.outs}


def order_checkout_times(results: str | os.PathLike, written_here, base: float) -> int:
    """Give the results that Snakemake did not write here (``written_here(path)`` false for the path and every
    folder above it up to ``results``: a DVC checkout, a copy) fixed times in the chain's order, ending at ``base``:
    a boundary's out ``base`` less ``SPACING`` times (its distance from the chain's end), upstream older; the tables
    and figures ``base``. ``base`` is fixed per working copy (:func:`checkout_base`): later than the clone's own
    files (the package's reference tables are inputs too), earlier than what Snakemake writes from the results, and
    a second call changes nothing. Only the folders of the boundaries' outs, ``tables`` and ``figures`` are
    visited. Returns how many paths' times it set."""
    ranks = checkout_ranks()
    results = Path(results)
    tops = {o.split("/")[0] for o in ranks} | {"tables", "figures"}
    count = 0
    for top, dirs, files in os.walk(results):
        here = Path(top)
        rel_top = here.relative_to(results).as_posix()
        if rel_top == ".":
            dirs[:] = [d for d in dirs if d in tops]
            files = [f for f in files if f in tops]
        kept = []
        for name in sorted(dirs) + sorted(files):
            path = here / name
            rel = name if rel_top == "." else f"{rel_top}/{name}"
            if written_here(path):
                continue  # with everything under it (a directory output's files carry no record of their own)
            if name in dirs:
                kept.append(name)
            owner = next((o for o in ranks if rel == o or rel.startswith(o + "/")), None)
            if owner is None and any(o.startswith(rel + "/") for o in ranks):
                continue  # a folder above outs (results/<p>/data): its own time is no result's
            when = base - SPACING * (len(BOUNDARIES) - ranks[owner] if owner is not None else 0)
            if path.lstat().st_mtime != when:
                os.utime(path, (when, when), follow_symlinks=False)
                count += 1
        dirs[:] = kept
    return count




def checkout_base(stamp: str | os.PathLike) -> float:
    """The time the chain's checked-out results end at in this working copy: the time of ``stamp``, written (now)
    the first time it is asked for."""
    stamp = Path(stamp)
    if not stamp.exists():
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text("the end of the times sketch3d.chain.order_checkout_times gives checked-out results\n")
    return stamp.stat().st_mtime


SPACING = 2.0  # seconds between two ranks (coarse file-system clocks)
