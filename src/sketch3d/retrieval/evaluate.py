"""Stage 'retrieve': sketch-to-shape distances, ranks and acc@k for one method and category."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from sketch3d import DEMO_NOTICE
from sketch3d.atomic import atomic_path
from sketch3d.imageset import read_index
from sketch3d.retrieval.methods import get_method
from sketch3d.retrieval.ranking import rank_queries, rank_views


def split_source(shapes_csv: Path, category: str, split: str) -> str:
    """Where the (category, split) shapes' split came from, as the dataset stage recorded it
    (an archive's folders or lists, or seeded), from the shapes manifest's ``split_source``."""
    from sketch3d.data.manifest import read_shapes, select

    shapes = select(read_shapes(shapes_csv), category, split)
    if "split_source" not in shapes.columns or shapes.empty:
        return "unknown"
    return "; ".join(sorted(set(shapes["split_source"].astype(str))))


def _load_features(npys, ids_csvs, index: pd.DataFrame, what: str) -> np.ndarray:
    """One side's features: one file per transform of its images, averaged (``features.stage.load_mean``)."""
    from sketch3d.features.stage import load_mean

    def as_list(x) -> list[Path]:
        return [Path(p) for p in x] if isinstance(x, (list, tuple)) else [Path(x)]

    return load_mean(as_list(npys), as_list(ids_csvs), index["image_id"].tolist(), what)


def row_settings(method, retrieval: dict, queries: pd.DataFrame, gallery: pd.DataFrame, reduction: str,
                 mask_file: Path | None) -> dict:
    """What a row was computed with, recorded in its metrics and its table's JSON so that the chain of choices
    (Table 4.1's box, Table 4.2's transforms -> the OBB and Augm. rows) can be checked from the outputs alone:
    the choice, each side's box and transforms (features averaged over them), the gallery's images and views,
    the reduction over views, the mask and the network."""
    def side(kind: str, index: pd.DataFrame) -> dict:
        out = {"box": method.box(kind, retrieval)}
        if method.kind == "clip":
            out["transforms"] = [t.name for t in method.transforms(kind, retrieval)]
        if kind == "gallery":
            out["images"] = f"{method.style}_{method.view_set or 'default'}"
            out["views"] = sorted(float(a) for a in set(index["azimuth"]))
        return out

    return {
        "choice": retrieval.get("choice"),
        "sketch": side("sketch", queries),
        "gallery": side("gallery", gallery),
        "reduction": reduction,
        "mask": None if method.mask is None else {"mode": method.mask[0], "selected_on": method.mask[1],
                                                  "file": Path(mask_file).name if mask_file else None},
        "network": method.network or ("pixels" if method.kind == "pixel" else "main"),
    }


def retrieve(
    method_name: str,
    params: dict,
    sketches_dir: Path,
    gallery_dir: Path,
    out_npz: Path,
    out_metrics: Path,
    category: str,
    split: str,
    feature_files: dict[str, Path] | None = None,
    shapes_csv: Path | None = None,
    mask_file: Path | None = None,
    choice: str | None = None,
    grids: tuple[Path, Path] | None = None,
) -> dict:
    """Rank the shapes of ``gallery_dir`` for every sketch of ``sketches_dir``; write distances + metrics.

    The ``.npz`` holds ids, never paths, so that results can be moved and compared by checksum.
    ``shapes_csv`` (the shapes manifest): where the split came from is recorded in the metrics.
    ``mask_file``: the learned feature mask of a method that has one (``retrieval.masks``).
    ``choice``, ``grids``: the setting of the OBB box and the Augm. transforms (``retrieval.choice``; default the
    main one) and, for ``search``, the searches' results; a method that depends on neither ignores them.
    """
    from sketch3d.retrieval.choice import depends_on_choice, main_choice, settings_under
    from sketch3d.retrieval.metrics import accuracy_at_k, rank_based

    method = get_method(method_name)
    r = params["retrieval"]
    if depends_on_choice(method):
        r = settings_under(r, choice or main_choice(r), grids)
    sketch_box, gallery_box = method.sketch_box(r), method.gallery_box(r)
    queries = read_index(sketches_dir)
    gallery = read_index(gallery_dir)
    if method.kind == "clip":
        if not feature_files:
            raise ValueError(f"method {method.name} needs CLIP feature files (sketch/gallery .npy + .csv)")
        q = _load_features(feature_files["sketch_npy"], feature_files["sketch_ids"], queries, "sketch")
        g = _load_features(feature_files["gallery_npy"], feature_files["gallery_ids"], gallery, "gallery")
        if method.mask is not None:
            from sketch3d.retrieval.masks import apply_mask, load_mask

            if mask_file is None:
                raise ValueError(f"method {method.name} needs its learned mask file ({method.mask[0]}, best "
                                 f"{method.mask[1]}): run the train_mask rule")
            mask = load_mask(Path(mask_file))
            mask_info = _mask_info(Path(mask_file), mask)
            q, g = apply_mask(q, mask), apply_mask(g, mask)
    else:
        from sketch3d.retrieval.pixel import pixel_features

        q = pixel_features([Path(p) for p in queries["path"]], sketch_box, r["pixel_size"])
        g = pixel_features([Path(p) for p in gallery["path"]], gallery_box, r["pixel_size"])
    reduction = method.view_reduction(r)
    if method.view_level:
        dist, shape_ids, truth, ranks = rank_views(q, g, queries, gallery, r["chunk_size"],
                                                   f"{sketches_dir} / {gallery_dir}")
        reduction = "none (views ranked)"
    else:
        dist, shape_ids, truth, ranks = rank_queries(q, g, queries, gallery, r["chunk_size"], reduction,
                                                     f"{sketches_dir} / {gallery_dir}")
    acc = accuracy_at_k(ranks, tuple(r["topk"]))
    with atomic_path(out_npz) as tmp:
        np.savez_compressed(
            tmp,
            dist=dist,  # float64: a float32 copy could merge distinct distances into ties
            query_ids=np.array(queries["image_id"].tolist()),
            shape_ids=np.array(shape_ids),
            truth=truth,
            ranks=ranks,
        )
    metrics = {
        "profile": params["profile"],
        "method": method.name,
        "label": method.label,
        "category": category,
        "split": split,
        "sketch_box": sketch_box,
        "gallery_box": gallery_box,
        "view_reduction": reduction,
        "n_queries": int(len(queries)),
        "n_shapes": int(gallery["shape_id"].nunique()),
        "n_candidates": int(len(shape_ids)),
        **{f"acc@{k}": round(float(v), 4) for k, v in acc.items()},
        "chance@1": round(100.0 / len(shape_ids), 4),
        **rank_based(ranks),  # mAP (= MRR: one true shape per query), MRR, median rank (retrieval.metrics)
        "level": "view" if method.view_level else "shape",
        "settings": row_settings(method, r, queries, gallery, reduction, mask_file),
    }
    if depends_on_choice(method):  # whether this row is a table's main row or one beside it (retrieval.choice)
        metrics["main_choice"] = main_choice(params["retrieval"])
    metrics["split_source"] = split_source(shapes_csv, category, split) if shapes_csv else "unknown"
    if method.kind == "clip" and method.mask is not None:
        metrics["mask"] = mask_info
    if params["profile"] == "demo":
        metrics["notice"] = DEMO_NOTICE
    with atomic_path(out_metrics) as tmp:
        tmp.write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


def _mask_info(path: Path, mask: np.ndarray) -> dict:
    """What a masked row was computed with: the mask file, its selected step (from train_mask's info JSON beside
    it), and whether it ranks as the unmasked features do (then the row equals the unmasked row: flagged)."""
    from sketch3d.retrieval.masks import is_identity

    info_path = path.with_suffix(".json")
    info = json.loads(info_path.read_text()) if info_path.is_file() else {}
    return {"file": path.name, "mode": info.get("mode"), "selected_on": info.get("selected_on"),
            "step": info.get("step"), "identity": is_identity(mask),
            "kept_fraction": round(float(mask.mean()), 6) if mask.dtype == bool else None}
