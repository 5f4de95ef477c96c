"""Chapter 4.3's names, each typed once: the inversion's supervisions and the chapter's table.

A light module (the standard library only): the workflow's rules read it when Snakemake loads them, so loading
the workflow imports no torch, and a job's code version follows it (``sketch3d.codeversion``).
"""
from __future__ import annotations

SUPERVISIONS = ("sdf", "clip", "clip_argmax", "clip_lines")  # eq. 4.6 (SDF), eq. 4.7 (CLIP: the shaded rendering
# by default), its argmax-reduced variant, and eq. 4.7 on the line drawing (the second renderer's row)

TABLE_ID = "reconstruction"  # the chapter's one table (the thesis has none: 4.3.3 shows figures only)
# this chapter's tables (found by sketch3d.table_stages) and the params.yaml sections their jobs read (their DVC
# stages' params)
TABLE_IDS = (TABLE_ID,)
TABLE_PARAMS = ("seed", "render", "features", "reconstruction")
