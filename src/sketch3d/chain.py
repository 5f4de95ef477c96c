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
no order, and a fresh clone has no ``.snakemake`` metadata: under Snakemake's default ``mtime`` trigger an out
that happens to be written after its reader's outs would rerun the reader. Every stage command therefore runs
Snakemake with :data:`RERUN_TRIGGERS` (no ``mtime``), and so does the workflow's default profile
(``workflow/profiles/default/profile.yaml``, loaded by every plain ``snakemake`` call): a job reruns when its
params (which carry its code version, ``sketch3d.codeversion``), its list of inputs, its software environment or
its shell text change, or when an upstream job reruns; not because a file is newer. Content changes of the
shared artifacts are DVC's to see (hashes in ``dvc.lock``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sketch3d.config import results_dir

PROFILES = ("demo", "paper")
# Snakemake's rerun triggers in every stage command and in the default profile (see the module's docstring)
RERUN_TRIGGERS = ("params", "input", "software-env", "code")
PROFILE_PARAMS = '"profiles.${key}"'  # every stage reads its profile's overrides


@dataclass(frozen=True)
class Boundary:
    name: str                       # the DVC stage (``<name>@demo``, ``<name>@paper``)
    chapter: str                    # "shared" or the chapter (params.yaml `chapters`) it belongs to
    rules: tuple[str, ...]          # Snakemake rules whose jobs it runs (``--until``), unless ``targets`` is given
    outs: tuple[str, ...]           # what it owns, relative to the results folder
    after: tuple[str, ...] = ()     # upstream boundaries (their outs are its deps)
    code: tuple[str, ...] = ()      # package paths its rules run (deps)
    params: tuple[str, ...] = ()    # params.yaml sections (or dotted keys) its rules read
    # a chain's first stage: its inputs per profile, as many for each (paths relative to the repository root)
    sources: dict[str, tuple[str, ...]] = field(default_factory=dict)
    targets: tuple[str, ...] = ()   # explicit Snakemake targets (relative to the results folder) instead of --until

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
    Boundary("sketchydepth_eval", "sketchydepth", ("image_metrics",),
             ("sketchydepth/generated", "sketchydepth/metrics"), after=("scenes", "depth_labels", "gans"),
             code=("src/sketch3d/sketchydepth",),
             params=("seed", "sketchydepth.labeller", "sketchydepth.gan", "sketchydepth.perturbation",
                     "sketchydepth.fid", "sketchydepth.metrics")),
    # ---- chapter 4.3: reconstruction
    Boundary("reconstruction_targets", "reconstruction", ("reconstruction_targets", "sdf_targets"),
             ("reconstruction/targets", "reconstruction/sdf"), after=("dataset",),
             code=("src/sketch3d/reconstruction/targets.py", "src/sketch3d/reconstruction/sdf_targets.py",
                   "src/sketch3d/geometry"),
             params=("seed", "data", "reconstruction.targets", "reconstruction.inversion.views")),
    Boundary("generator", "reconstruction", ("mean_style",), ("reconstruction/generator",),
             after=("reconstruction_targets",),
             code=("src/sketch3d/reconstruction/generator.py", "src/sketch3d/reconstruction/demo_generator.py"),
             params=("seed", "reconstruction.generator", "reconstruction.demo_training")),
    Boundary("inversions", "reconstruction", ("reconstruction_scores",),
             ("reconstruction/inversions", "reconstruction/scores.csv", "reconstruction/snapshot_scores.csv",
              "reconstruction/score_vs_iteration.png"), after=("reconstruction_targets", "generator"),
             code=("src/sketch3d/reconstruction", "src/sketch3d/geometry", "src/sketch3d/features"),
             params=("seed", "features.backbone", "render", "reconstruction")),
    # ---- chapter 5: NetSpace
    Boundary("zoo", "netspace", ("train_member",), ("netspace/zoo", "netspace/zoo_curves"),
             code=("src/sketch3d/netspace/zoo.py", "src/sketch3d/netspace/architectures.py",
                   "src/sketch3d/netspace/images.py", "src/sketch3d/training_loop.py"), params=("seed", "netspace"),
             sources={"demo": ("src/sketch3d/netspace/images.py",),
                      "paper": (f"{DOWNLOADS}/tiny-imagenet-200.zip",)}),
    Boundary("sdf_mlps", "netspace", ("fit_sdf_mlp",), ("netspace/sdf_samples", "netspace/sdf_mlps"),
             after=("dataset",), code=("src/sketch3d/netspace/sdf_samples.py", "src/sketch3d/netspace/sdf_mlps.py",
                                       "src/sketch3d/geometry"),
             params=("seed", "netspace.sdf_samples", "netspace.sdf_mlps")),
    Boundary("netspace_models", "netspace", ("train_netspace",), ("netspace/models",), after=("zoo", "sdf_mlps"),
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
# the code every stage runs (the CLI, the config, the shared helpers), besides its own
COMMON_CODE = ("Snakefile", "workflow/rules", "src/sketch3d/cli.py", "src/sketch3d/config.py",
               "src/sketch3d/params.schema.yaml", "src/sketch3d/codeversion.py")


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


def snakemake_cmd(targets=(), until=()) -> str:
    """A stage's command: Snakemake for the profile of the stage's key, with the chain's rerun triggers."""
    cmd = (f"snakemake --cores all --config profile=${{key}} --rerun-triggers {' '.join(RERUN_TRIGGERS)}")
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
        targets = [f"${{item.results}}/{t}" for t in b.targets]
        out += [f"  {b.name}:", *foreach_items(extra), "    do:",
                f"      cmd: {snakemake_cmd(targets, () if targets else b.rules)}",
                "      deps:",
                *yaml_list("        ", [f"${{item.source{i}}}" for i in range(n_sources)]),
                *yaml_list("        ", outs_of(b.after)),
                *yaml_list("        ", [*COMMON_CODE, *b.code]),
                f"      params: [{', '.join([*b.params, PROFILE_PARAMS])}]",
                "      outs:", *yaml_list("        ", [f"${{item.results}}/{o}" for o in b.outs]), ""]
    return "\n".join(out)
