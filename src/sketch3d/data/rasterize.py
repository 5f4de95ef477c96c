"""Stage 'rasterize_sketches': sketch files of one category/split -> 224x224 PNGs."""
from __future__ import annotations

from pathlib import Path

from sketch3d.atomic import atomic_dir
from sketch3d.data.manifest import read_sketches, select
from sketch3d.imageset import write_index


def rasterize_sketches(sketches_csv: Path, category: str, split: str, size: int, out_dir: Path) -> int:
    """Rasterise the sketches of (category, split) listed in ``sketches_csv`` into ``out_dir``; return their number."""
    from sketch3d.data.sketch import rasterize_sketches as rasterize_rows

    sketches = select(read_sketches(sketches_csv), category, split)
    if sketches.empty:
        raise ValueError(f"{sketches_csv}: no sketches of category '{category}' in split '{split}'")
    with atomic_dir(out_dir) as tmp:
        index = rasterize_rows(sketches, size, tmp)
        write_index(tmp, index)
    return len(index)
