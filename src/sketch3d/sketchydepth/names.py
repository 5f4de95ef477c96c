"""Chapter 3's names, each typed once: the models of Table 3.1 (which networks each has) and the table itself.

A light module (the standard library only): the workflow's rules read it when Snakemake loads them, so loading
the workflow imports no torch, and a job's code version follows it (``sketch3d.codeversion``).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelSpec:
    """One model of Table 3.1: generators name -> (input, output) channels, discriminators name -> input channels.

    Inputs are always concatenated in the order partial image (3), depth (1), scene image (3).
    """

    generators: dict[str, tuple[int, int]]
    discriminators: dict[str, int]

    @property
    def depth(self) -> bool:
        """Does the model generate a depth map (G_d)?"""
        return "G_d" in self.generators

    @property
    def joint(self) -> bool:
        """Does it have the joint discriminator D_j?"""
        return "D_j" in self.discriminators


MODELS: dict[str, ModelSpec] = {
    # pix2pix as SketchyCOCO's background stage: partial -> image, D on (partial, image)
    "baseline": ModelSpec({"G_i": (3, 3)}, {"D_i": 6}),
    # eq. 3.1-3.10: G_d partial -> depth, G_i (partial, depth) -> image; D_d pairs, D_i and D_j triplets
    "sketchydepth": ModelSpec({"G_d": (3, 1), "G_i": (4, 3)}, {"D_d": 4, "D_i": 7, "D_j": 7}),
    # 3.4.3 "w/o G_d and D_d": D_i and D_j take no depth
    "no_depth": ModelSpec({"G_i": (3, 3)}, {"D_i": 6, "D_j": 6}),
    # 3.4.3 "w/o D_j"
    "no_joint": ModelSpec({"G_d": (3, 1), "G_i": (4, 3)}, {"D_d": 4, "D_i": 7}),
}

TABLE_ID = "3.1"  # the chapter's one table
# this chapter's tables (found by sketch3d.table_stages) and the params.yaml sections their jobs read (their DVC
# stages' params)
TABLE_IDS = (TABLE_ID,)
TABLE_PARAMS = ("seed", "sketchydepth")
# model (MODELS) -> its row of the thesis's Table 3.1
THESIS_ROWS = {
    "baseline": "SketchyCOCO (replicated)",
    "no_depth": "SketchyDepth (w/o G_d and D_d)",
    "no_joint": "SketchyDepth (w/o D_j)",
    "sketchydepth": "SketchyDepth",
}
