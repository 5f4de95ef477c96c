"""The retrieval settings of chapter 4.2, and which thesis table shows which: the one place for both.

The rules (which methods exist, which need CLIP features, which box each side's
features use), the tables (row labels, the thesis row compared with) and the
report captions all derive from :data:`METHODS` and :data:`TABLES`. The ids
of these tables are typed here only, as the thesis prints them (``4.8``;
``sketch3d.names`` derives the file names); Tables 4.1 and 4.2, made by
searches rather than methods, are ``retrieval.grid_tables``.

A box is the side, in px, of the square that the drawn object is centred and
scaled into (``features.box``); ``None`` uses an image as it is (a rendering
as rendered). Thesis B.3.1: the *Baseline* of Table 4.8 fits the sketches to
170x170 and uses the renderings as rendered; fitting the renderings too is
Table B.2's *Baseline w/ centering*; *OBB* fits both to the optimal box, Table 4.1's choice (the
thesis's 129x129; ``retrieval.choice``).

*Augm.* (thesis 4.2.3.2 "robust features", Tables 4.8, B.3, B.4): each image's
feature is the mean of the features of the image and of transformed copies, the
same transforms on both sides: the translation t and rotation r chosen by Table 4.2's searches
(``retrieval.choice``: this run's, or the thesis's (19, -4) px and -23.5 degrees). (2 imgs):
the image and t&r applied together; (4 imgs): the image, t, r, t&r; Table B.4
drops one of the four.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sketch3d.features.transforms import Transform
from sketch3d.names import table_id, table_slug

# Which copies of an image are averaged: (translate?, rotate?) per copy; (False, False) is the image itself.
AUGMENTATIONS: dict[str | None, tuple[tuple[bool, bool], ...]] = {
    None: ((False, False),),
    "2": ((False, False), (True, True)),
    "4": ((False, False), (True, False), (False, True), (True, True)),
    "4-orig": ((True, False), (False, True), (True, True)),
    "4-t": ((False, False), (False, True), (True, True)),
    "4-r": ((False, False), (True, False), (True, True)),
    "4-tr": ((False, False), (True, False), (False, True)),
}


@dataclass(frozen=True)
class Method:
    name: str                   # used in file names and the `method` wildcard
    label: str                  # row label in our tables
    kind: str                   # "clip" (CLIP features) or "pixel" (raw thumbnails)
    sketch_box_key: str | None  # key of params.yaml's `retrieval` section giving the sketches' box, px; None: as drawn
    gallery_box_key: str | None  # the same for the renderings; None: renderings used as rendered
    summary: str                # one line for captions; {sketch_box} / {gallery_box} are replaced
    thesis_rows: dict[str, str] = field(default_factory=dict)  # thesis table number -> its row label
    reduction: str | None = None  # over a shape's views: "min" / "mean"; None: retrieval.view_reduction
    augment: str | None = None  # key of AUGMENTATIONS: which transformed copies are averaged
    view_level: bool = False    # Table B.1: rank views, a hit is the true shape's view at the sketch's azimuth
    style: str = "lines"        # gallery renderings: Freestyle "lines" or textureless "rgb"
    view_set: str | None = None  # gallery views (render.view_sets); None: render.gallery_view_set
    mask: tuple[str, str] | None = None  # a learned feature mask: (mode, category it was selected on)
    network: str | None = None  # features.networks name (Tables 4.5, 4.6); None: the main network (CLIP RN101)

    def sketch_box(self, retrieval: dict) -> int | None:
        return None if self.sketch_box_key is None else int(retrieval[self.sketch_box_key])

    def gallery_box(self, retrieval: dict) -> int | None:
        return None if self.gallery_box_key is None else int(retrieval[self.gallery_box_key])

    def box(self, kind: str, retrieval: dict) -> int | None:
        """The box of the ``kind`` ("sketch" or "gallery") images under the ``retrieval`` parameters."""
        return self.sketch_box(retrieval) if kind == "sketch" else self.gallery_box(retrieval)

    def transforms(self, kind: str, retrieval: dict) -> list[Transform]:
        """What is done to the ``kind`` images before embedding: one transform per averaged copy."""
        box = self.box(kind, retrieval)
        if self.augment is None:
            return [Transform(box)]
        tx, ty = (float(v) for v in retrieval["augment"]["translate"])
        rot = float(retrieval["augment"]["rotate"])
        return [Transform(box, tx * t, ty * t, rot * r) for t, r in AUGMENTATIONS[self.augment]]

    def features_name(self, kind: str, retrieval: dict) -> str:
        """The feature folder of the ``kind`` side: its transforms' names joined by '+' (averaged)."""
        return "+".join(t.name for t in self.transforms(kind, retrieval))

    def describe(self, retrieval: dict, backbone: str) -> str:
        """The row for a caption; ``backbone``: the main CLIP network (features.backbone; the demo's is smaller)."""
        text = self.summary.format(sketch_box="{B}", gallery_box="{B}", backbone=backbone)
        key = self.sketch_box_key or self.gallery_box_key
        # before the searches ran (a caption written with the DAG), the OBB box is named by where it comes from
        box = f"{int(retrieval[key])}x{int(retrieval[key])}" if key in retrieval else "(Table 4.1's chosen)"
        return f"{self.label}: " + text.replace("{B}x{B}", box).replace("{B}", box)

    def gallery_images(self, render: dict) -> str:
        """The gallery image set: ``<style>_<view set>`` (its folder under renders/, its features' kind)."""
        return f"{self.style}_{self.view_set or render['gallery_view_set']}"

    def thesis_row(self, table: str) -> str | None:
        return self.thesis_rows.get(table)

    def view_reduction(self, retrieval: dict) -> str:
        return self.reduction or retrieval["view_reduction"]


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method("baseline", "Baseline", "clip", "baseline_box", None,
               "CLIP {backbone} layer-3 features; sketches fitted to a {sketch_box}x{sketch_box} box, "
               "renderings as rendered",
               {"4.8": "Baseline", "B.2": "Baseline"}),
        Method("baseline_centering", "Baseline w/ centering", "clip", "baseline_box", "baseline_box",
               "CLIP {backbone} layer-3 features; sketches and renderings fitted to a {sketch_box}x{sketch_box} box",
               {"B.2": "Baseline w/ centering", "4.6": "ResNet101 CLIP"}),
        Method("obb", "OBB", "clip", "obb_box", "obb_box",
               "CLIP {backbone} layer-3 features; sketches and renderings fitted to the optimal "
               "{sketch_box}x{sketch_box} box",
               {"4.8": "OBB", "B.2": "OBB", "4.4": "0°, 30°, 45°, 75°, 90°", "4.5": "ResNet101 | lines, OBB;"}),
        # Table 4.4 and B.5: other gallery view sets (render.view_sets), OBB
        *(Method(f"views_{vs}", label, "clip", "obb_box", "obb_box",
                 f"as OBB ({{sketch_box}}x{{sketch_box}} box), gallery views '{vs}' (render.view_sets); {how}",
                 rows, reduction=red, view_set=vs)
          for vs, label, red, how, rows in (
              ("sketch", "Sketch views", "min", "minimum over views",
               {"4.4": "Sketch views", "B.5": "OBB, sketch views, min"}),
              ("seven", "7 views: [0° : 15° : 90°]", None, "", {"4.4": "7 views: [0° : 15° : 90°]"}),
              ("seven_shifted", "7 views: [-5° : 15° : 85°]", None, "", {"4.4": "7 views: [-5° : 15° : 85°]"}),
              ("sketch_pm5", "9 views: sketch views ±5°", None, "", {"4.4": "9 views: sketch views ±5°"}),
              ("schlachte", "OBB, 0 (o), 30 (p), 180 (o), min", "min", "minimum over views",
               {"B.5": "OBB, 0 (o), 30 (p), 180(o), min"}),
          )),
        Method("views_sketch_mean", "OBB, sketch views, avg", "clip", "obb_box", "obb_box",
               "as OBB ({sketch_box}x{sketch_box} box), gallery at the sketch views; mean over views",
               {"B.5": "OBB, sketch views, avg"}, reduction="mean", view_set="sketch"),
        Method("views_schlachte_mean", "OBB, 0 (o), 30 (p), 180 (o), avg", "clip", "obb_box", "obb_box",
               "as OBB ({sketch_box}x{sketch_box} box), gallery at Schlachte et al.'s views (front and back "
               "orthographic, 30 degrees perspective); mean over views",
               {"B.5": "OBB, 0 (o), 30 (p), 180(o), avg"}, reduction="mean", view_set="schlachte"),
        # Table 4.5: renderings' style, sketches and renderings as they are (no box)
        Method("lines_asis", "ResNet101 lines", "clip", None, None,
               "CLIP {backbone} layer-3 features; sketches as drawn, line renderings as rendered",
               {"4.5": "ResNet101 | lines;"}),
        Method("rgb_asis", "ResNet101 rgb", "clip", None, None,
               "CLIP {backbone} layer-3 features; sketches as drawn, textureless RGB renderings as rendered",
               {"4.5": "ResNet101 | rgb;"}, style="rgb"),
        Method("vit_lines_asis", "ViT lines", "clip", None, None,
               "CLIP ViT image embeddings (features.networks.clip_vit); sketches as drawn, line renderings as "
               "rendered", {"4.5": "ViT | lines;"}, network="clip_vit"),
        Method("vit_rgb_asis", "ViT rgb", "clip", None, None,
               "CLIP ViT image embeddings (features.networks.clip_vit); sketches as drawn, textureless RGB "
               "renderings as rendered", {"4.5": "ViT | rgb;"}, style="rgb", network="clip_vit"),
        # Table 4.6: CLIP against ImageNet pre-training, both sides fitted to the Baseline box
        *(Method(name, label, "clip", "baseline_box", "baseline_box",
                 f"{what}; sketches and renderings fitted to a {{sketch_box}}x{{sketch_box}} box",
                 {"4.6": label}, network=net)
          for name, label, net, what in (
              ("vit_clip_box170", "ViT CLIP", "clip_vit", "CLIP ViT image embeddings"),
              ("vit_imagenet_box170", "ViT ImageNet", "imagenet_vit",
               "ImageNet ViT class-token features (features.networks.imagenet_vit)"),
              ("rn101_imagenet_box170", "ResNet101 ImageNet", "imagenet_rn101",
               "ImageNet ResNet101 layer-3 features (features.networks.imagenet_rn101)"),
          )),
        # Table 4.3 compares the two reductions whatever retrieval.view_reduction says
        Method("obb_min", "OBB, minimum over views", "clip", "obb_box", "obb_box",
               "as OBB ({sketch_box}x{sketch_box} box); a shape's distance is the minimum over its views",
               {"4.3": "Minimum"}, reduction="min"),
        Method("obb_mean", "OBB, average over views", "clip", "obb_box", "obb_box",
               "as OBB ({sketch_box}x{sketch_box} box); a shape's distance is the mean over its views",
               {"4.3": "Average"}, reduction="mean"),
        Method("obb_augm2", "OBB, Augm. (2 imgs)", "clip", "obb_box", "obb_box",
               "as OBB ({sketch_box}x{sketch_box} box); each image's feature averaged with that of its copy "
               "translated and rotated (Table 4.2's choice)",
               {"4.8": "OBB, Augm. (2 imgs)"}, augment="2"),
        Method("obb_augm4", "OBB, Augm. (4 imgs)", "clip", "obb_box", "obb_box",
               "as OBB ({sketch_box}x{sketch_box} box); each image's feature averaged over the image and its "
               "translated, rotated, and translated-and-rotated copies (Table 4.2's choice)",
               {"4.8": "OBB, Augm. (4 imgs)", "B.3": "OBB, Augm. (4 imgs), no masking",
                "B.4": "OBB, Augm. (4 imgs)", "4.7": "Augm. (4 imgs.)"}, augment="4"),
        # Tables 4.7, 4.8, B.1, B.3: a learned mask (binary) or weighting (continuous) of the features
        *(Method(f"{mode}_{cls}", f"{mode.capitalize()} (best {cls}s)", "clip", "obb_box", "obb_box",
                 f"as OBB, Augm. (4 imgs), features {'masked' if mode == 'binary' else 'weighted'} by the "
                 f"learned {mode} mask whose checkpoint is the best on the {cls} validation sketches",
                 {"4.7": f"{mode.capitalize()} (best {cls}s)",
                  **({"4.8": f"Binary (best {cls}s)"} if mode == "binary" else {}),
                  **({"B.3": "Our - OBB, Augm. (4 imgs), Binary", "B.1": "our, correctly selected object"}
                     if (mode, cls) == ("binary", "chair") else {})},
                 augment="4", mask=(mode, cls))
          for mode in ("binary", "continuous") for cls in ("chair", "lamp")),
        Method("binary_chair_views", "our, correctly selected view", "clip", "obb_box", "obb_box",
               "Binary (best chairs), ranking the gallery's views: a hit is the true shape's view at the "
               "sketch's azimuth", {"B.1": "our, correctly selected view"}, augment="4", mask=("binary", "chair"),
               view_level=True),
        Method("binary_chair_box170", "Cent. BB: 170x170, Augm. (4 imgs), Binary", "clip", "baseline_box",
               "baseline_box", "as Binary (best chairs), with sketches and renderings fitted to a "
               "{sketch_box}x{sketch_box} box", {"B.3": "Cent. BB: 170×170 , Augm. (4 imgs), Binary"},
               augment="4", mask=("binary", "chair")),
        Method("binary_chair_noaugm", "OBB, No augm., Binary", "clip", "obb_box", "obb_box",
               "as Binary (best chairs), without the augmented copies", {"B.3": "OBB, No augm., Binary (4 imgs)"},
               mask=("binary", "chair")),
        *(Method(f"obb_augm4_no_{slug}", f"OBB, Augm. w/o {what} (3 imgs)", "clip", "obb_box", "obb_box",
                 f"as OBB, Augm. (4 imgs) without the {what}", {"B.4": f"OBB, Augm. w/o {what} (3 imgs)"},
                 augment=f"4-{key}")
          for slug, key, what in (("orig", "orig", "original img."), ("t", "t", "transl."),
                                  ("r", "r", "rot."), ("tr", "tr", "transl & rot."))),
        Method("pixel", "Pixel matcher (scale reference)", "pixel", "obb_box", "obb_box",
               "raw ink of {sketch_box}x{sketch_box}-fitted images, shrunk to thumbnails (not in the thesis)"),
    )
}


@dataclass(frozen=True)
class Table:
    number: str                 # the thesis's table number, e.g. "4.8"
    title: str
    methods: tuple[str, ...]    # rows, in order
    split: str = "test"

    @property
    def slug(self) -> str:
        """``4_8``: the table's name in file names and the `table` wildcard (``sketch3d.names.table_slug``)."""
        return table_slug(self.number)


TABLES: dict[str, Table] = {
    t.number: t
    for t in (
        Table("4.8", "Table 4.8: instance-level sketch-based 3D shape retrieval on the test set",
              ("baseline", "obb", "obb_augm2", "obb_augm4", "binary_chair", "binary_lamp", "pixel")),
        Table("4.7", "Table 4.7: learned feature masking (binary) and weighting (continuous) (validation set)",
              ("obb_augm4", "binary_chair", "binary_lamp", "continuous_chair", "continuous_lamp"), split="val"),
        Table("B.1", "Table B.1: correctly selected object against correctly selected view (test set)",
              ("binary_chair", "binary_chair_views")),
        Table("B.3", "Table B.3: ablation of the full method (test set)",
              ("binary_chair", "binary_chair_box170", "binary_chair_noaugm", "obb_augm4")),
        Table("B.2", "Table B.2: role of centring objects in sketch and model views (test set)",
              ("baseline", "baseline_centering", "obb", "pixel")),
        Table("4.3", "Table 4.3: a shape's distance as the minimum or the average over its views (validation set)",
              ("obb_mean", "obb_min"), split="val"),
        Table("4.4", "Table 4.4: the gallery's views (validation set)",
              ("views_sketch", "obb", "views_seven", "views_seven_shifted", "views_sketch_pm5"), split="val"),
        Table("4.5", "Table 4.5: CLIP version and rendering style (validation set)",
              ("vit_rgb_asis", "rgb_asis", "vit_lines_asis", "lines_asis", "obb"), split="val"),
        Table("4.6", "Table 4.6: CLIP against ImageNet pre-training, box 170 (test set)",
              ("vit_clip_box170", "vit_imagenet_box170", "baseline_centering", "rn101_imagenet_box170")),
        Table("B.5", "Table B.5: the sketch views against Schlachte et al.'s views, minimum and mean (test set)",
              ("views_sketch", "views_schlachte", "views_sketch_mean", "views_schlachte_mean")),
        Table("B.4", "Table B.4: the four-image augmentation without one of its images (test set)",
              ("obb_augm4_no_orig", "obb_augm4_no_t", "obb_augm4_no_r", "obb_augm4_no_tr", "obb_augm4")),
    )
}


def get_method(name: str) -> Method:
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(f"unknown retrieval method '{name}'; known: {sorted(METHODS)}") from None


def get_table(number: str) -> Table:
    """A table by number (``4.8``) or slug (``4_8``)."""
    try:
        return TABLES[table_id(number)]
    except KeyError:
        raise ValueError(f"no retrieval table {number!r}; known: {sorted(TABLES)}") from None


def caption_rows(table: str, retrieval: dict, backbone: str) -> str:
    """The rows of ``table`` described for a report caption."""
    return "; ".join(get_method(m).describe(retrieval, backbone) for m in get_table(table).methods)
