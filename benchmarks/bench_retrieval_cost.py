"""Costs of the retrieval chapter, side by side in one run: (a) the images the Table 4.1 + 4.2 grids
embed against what recomputing every evaluated setting would embed, (b) the feature stage against a
plain eager fp32 forward, and each reduced precision's speed and agreement with fp32, (c) the peak
memory and time of the distance stage (``shape_mse`` on float32 memory maps on disk).

    python benchmarks/bench_retrieval_cost.py                      # all three, sizes below
    python benchmarks/bench_retrieval_cost.py --only a             # one part (a, b or c)
    python benchmarks/bench_retrieval_cost.py --dist-queries 600 --dist-shapes 1000   # (c) at full size

(a) runs ``grids.run_box_grid`` and ``grids.run_affine_grid`` with the paper profile's grid sizes on
image sets of ``--shapes`` x ``--views`` gallery images and ``--sketches`` queries per category; the
counts do not depend on the network, so ``embed`` is a cheap deterministic fake.
(b) plain: ``model(x)`` of the RN101 layer-3 backbone (random weights), NCHW, no inference mode, default
threads, batch 16, on pre-made tensors; stage: ``embed_images`` with an empty cache (decode, box fit,
network, cache writes). Both alternate ``--repeats`` times; wall images/s (median) and CPU seconds per
image (median; steadier than wall time on a shared machine). Agreement of each precision with fp32:
the largest feature difference relative to the largest fp32 feature, and acc@1/acc@5 of OBB retrieval
(both sides fitted to 129 px, minimum over views) on the demo's validation images when present.
(c) runs in a subprocess: peak RSS (``VmHWM``, with the anonymous and file-backed parts sampled apart;
``ru_maxrss`` is not used: after fork + exec it keeps the parent's peak), peak numpy heap
(``tracemalloc``) and wall time, by default at the full size (600 queries, 1000 shapes x 9 views:
7.7 GB of float32 on disk under ``--tmp``; a few minutes on 2 cores).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DEMO = Path(__file__).resolve().parents[1] / "results" / "demo"
FULL_DIST = {"queries": 600, "shapes": 1000, "views": 9}


# ------------------------------------------------------------------ (a) grid embeddings
def _fake_set(folder: Path, category: str, n_shapes: int, views: int, sketches: int) -> tuple[Path, Path]:
    """Index files (and empty image files) of a sketch set and a gallery set of the given sizes."""
    import pandas as pd

    sk, ga = folder / category / "sketches", folder / category / "gallery"
    rows = {"sk": [], "ga": []}
    shapes = [f"{category}_{i:04d}" for i in range(n_shapes)]
    for i in range(sketches):
        s = shapes[i % n_shapes]
        rows["sk"].append({"image_id": f"{s}_sk{i:04d}", "shape_id": s, "azimuth": 0, "path": f"sk{i:04d}.png"})
    for s in shapes:
        for v in range(views):
            rows["ga"].append({"image_id": f"{s}_v{v}", "shape_id": s, "azimuth": 30 * v, "path": f"{s}_v{v}.png"})
    for d, key in ((sk, "sk"), (ga, "ga")):
        d.mkdir(parents=True)
        df = pd.DataFrame(rows[key])
        for p in df["path"]:
            (d / p).touch()
        df.to_csv(d / "index.csv", index=False)
    return sk, ga


def grid_embeddings(shapes: int, views: int, sketches: int) -> dict:
    from sketch3d.config import load_params
    from sketch3d.features.transforms import Transform
    from sketch3d.retrieval import grids

    params = load_params(overrides={"profile": "paper"})
    r = params["retrieval"]

    def fake_embed(paths: list[Path], t: Transform) -> np.ndarray:
        out = np.empty((len(paths), 8), dtype=np.float32)
        for i, p in enumerate(paths):
            digest = hashlib.sha256(f"{p.name}|{t.name}".encode()).digest()
            out[i] = np.random.default_rng(int.from_bytes(digest[:8], "little")).standard_normal(8)
        return out

    with tempfile.TemporaryDirectory() as tmp:
        sets = {c: _fake_set(Path(tmp), c, shapes, views, sketches) for c in ("chair", "lamp")}
        out = {}
        for grid in grids.GRIDS:
            ev = grids.Evaluator(sets, fake_embed, r["chunk_size"], r["view_reduction"], tuple(r["topk"]))
            if grid == "box":
                rows, _ = grids.run_box_grid(r["grids"]["box"], params["seed"], ev)
            else:
                # on the thesis's box (the chain runs it on Table 4.1's choice; the counts do not depend on it)
                box = int(r["thesis_choice"]["obb_box"])
                rows, _ = grids.run_affine_grid(r["grids"]["affine"], params["seed"], box, ev)
            settings = len({(row["stage"], row["setting"]) for row in rows})
            out[grid] = {"settings": settings, "distinct": len(ev.needed), "from_scratch": ev.naive,
                         "transforms": len({t for _, t in ev.needed})}
    out["both"] = {k: sum(out[g][k] for g in grids.GRIDS) for k in ("settings", "distinct", "from_scratch")}
    return out


# ------------------------------------------------------------------ (b) feature stage
def _timed(fn) -> tuple[float, float]:
    w, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w, time.process_time() - c


def feature_stage(n: int, repeats: int, batch_size: int, precisions: list[str]) -> dict:
    import torch

    sys.path.insert(0, str(Path(__file__).parent))
    from bench_features import make_images

    from sketch3d.features.backbone import FeatureSpec, load_backbone
    from sketch3d.features.extract import embed_images, prepare_batch

    spec = FeatureSpec(backbone="RN101", layer="layer3", weights="random", seed=0)
    res: dict = {"n": n, "batch": batch_size, "threads": torch.get_num_threads(), "runs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "img").mkdir()
        paths = make_images(Path(tmp) / "img", n, 0)
        model = load_backbone(spec)
        x = prepare_batch(paths, 129).contiguous()  # NCHW, as a plain forward would get it
        batches = [x[s : s + batch_size] for s in range(0, n, batch_size)]
        model(batches[0][:2])  # warm-up outside the timing

        def plain() -> np.ndarray:
            return torch.cat([model(b).detach() for b in batches]).reshape(n, -1).numpy()

        feats = {}

        def stage(precision: str):
            def run() -> None:
                with tempfile.TemporaryDirectory() as cache:
                    feats[precision] = embed_images(paths, spec, 129, Path(cache), batch_size=batch_size,
                                                    dtype="float32", precision=precision)
            return run

        runs = {"plain": plain, **{f"stage {p}": stage(p) for p in precisions}}
        times = {k: [] for k in runs}
        for _ in range(repeats):
            for k, fn in runs.items():
                times[k].append(_timed(fn))
        ref = plain()
        for k, t in times.items():
            res["runs"][k] = {"img_s": n / float(np.median([w for w, _ in t])),
                              "cpu_s_per_img": float(np.median([c for _, c in t])) / n}
        scale = float(np.abs(ref).max())
        res["rel_diff"] = {p: float(np.abs(feats[p] - ref).max()) / scale for p in precisions}
    return res


def agreement(precisions: list[str], split: str) -> dict | None:
    """acc@1/acc@5 (OBB) on the demo's ``split`` images for each precision; None without demo data."""
    from sketch3d.features.backbone import FeatureSpec
    from sketch3d.features.extract import embed_images
    from sketch3d.imageset import read_index
    from sketch3d.retrieval.evaluate import rank_queries
    from sketch3d.retrieval.metrics import accuracy_at_k

    cats = ["chair", "lamp"]
    sets = {c: (DEMO / "sketches" / c / split, DEMO / "renders" / "gallery" / c / split) for c in cats}
    if not all((d / "index.csv").exists() for pair in sets.values() for d in pair):
        return None
    spec = FeatureSpec(backbone="RN101", layer="layer3", weights="random", seed=0)  # the demo's network
    out: dict = {}
    with tempfile.TemporaryDirectory() as cache:
        for c, (sk_dir, ga_dir) in sets.items():
            sk, ga = read_index(sk_dir), read_index(ga_dir)
            for p in precisions:
                q = embed_images([Path(x) for x in sk["path"]], spec, 129, Path(cache), dtype="float32", precision=p)
                g = embed_images([Path(x) for x in ga["path"]], spec, 129, Path(cache), dtype="float32", precision=p)
                _, _, _, ranks = rank_queries(q, g, sk, ga, 64, "min", c)
                acc = accuracy_at_k(ranks, (1, 5))
                out.setdefault(p, {})[c] = {k: round(float(v), 2) for k, v in
                                            {"acc@1": acc[1], "acc@5": acc[5]}.items()}
            out.setdefault("sizes", {})[c] = {"queries": len(sk), "gallery_images": len(ga),
                                               "shapes": int(ga["shape_id"].nunique())}
    return out


# ------------------------------------------------------------------ (c) distance stage memory
_CHILD = r"""
import json, sys, time, tracemalloc
import numpy as np
from sketch3d.retrieval.distances import shape_mse
q_path, g_path, shapes, views, chunk = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
q, g = np.load(q_path, mmap_mode="r"), np.load(g_path, mmap_mode="r")
import threading
peak = {"RssFile": 0, "RssAnon": 0}
done = threading.Event()
def watch():  # peaks of file-backed and anonymous resident memory, sampled
    while not done.wait(0.05):
        with open("/proc/self/status") as fh:
            for line in fh:
                k = line.split(":")[0]
                if k in peak:
                    peak[k] = max(peak[k], 1024 * int(line.split()[1]))
w = threading.Thread(target=watch, daemon=True)
w.start()
tracemalloc.start()
t = time.perf_counter()
d = shape_mse(q, g, np.repeat(np.arange(shapes), views), shapes, chunk_size=chunk)
wall = time.perf_counter() - t
done.set()
_, heap = tracemalloc.get_traced_memory()
with open("/proc/self/status") as fh:  # this process image's own high-water RSS; ru_maxrss would also count
    rss = next(int(line.split()[1]) for line in fh if line.startswith("VmHWM"))  # the parent's, from before exec
print(json.dumps({"wall_s": wall, "peak_rss_b": rss * 1024, "peak_heap_b": heap,
                  "peak_rss_file_b": peak["RssFile"], "peak_rss_anon_b": peak["RssAnon"], "shape": list(d.shape)}))
"""


def distance_memory(queries: int, shapes: int, views: int, dim: int, chunk: int, folder: Path) -> dict:
    """Write float32 memmaps of the sizes asked for, run shape_mse on them in a subprocess."""
    import shutil

    need = 4 * dim * (queries + shapes * views)
    free = shutil.disk_usage(folder).free
    if need > 0.9 * free:
        raise SystemExit(f"(c) needs {need / 1e9:.1f} GB in {folder}, {free / 1e9:.1f} GB free: "
                         "lower --dist-queries/--dist-shapes or pass --tmp elsewhere")
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        files = {}
        for name, rows in (("q", queries), ("g", shapes * views)):
            files[name] = Path(tmp) / f"{name}.npy"
            arr = np.lib.format.open_memmap(files[name], mode="w+", dtype=np.float32, shape=(rows, dim))
            for s in range(0, rows, 256):
                arr[s : s + 256] = rng.standard_normal((min(256, rows - s), dim), dtype=np.float32)
            arr.flush()
            del arr
        out = subprocess.run([sys.executable, "-c", _CHILD, str(files["q"]), str(files["g"]), str(shapes),
                              str(views), str(chunk)], capture_output=True, text=True, check=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res.update(queries=queries, shapes=shapes, views=views, dim=dim, chunk=chunk,
               file_b=4 * dim * (queries + shapes * views))
    return res


# ------------------------------------------------------------------ report
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=["a", "b", "c"], action="append", help="run only these parts")
    ap.add_argument("--shapes", type=int, default=200, help="(a) gallery shapes per category")
    ap.add_argument("--views", type=int, default=5, help="(a) views per shape")
    ap.add_argument("--sketches", type=int, default=600, help="(a) query sketches per category")
    ap.add_argument("--n", type=int, default=32, help="(b) images timed")
    ap.add_argument("--repeats", type=int, default=3, help="(b) alternations of plain and stage")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--precisions", default="fp32,bf16", help="(b) comma-separated (fp16: GPU only)")
    ap.add_argument("--agreement-split", default="val", help="(b) demo split for acc@k agreement; 'none' skips")
    ap.add_argument("--dist-queries", type=int, default=FULL_DIST["queries"], help="(c) queries")
    ap.add_argument("--dist-shapes", type=int, default=FULL_DIST["shapes"], help="(c) gallery shapes")
    ap.add_argument("--dist-views", type=int, default=FULL_DIST["views"])
    ap.add_argument("--dim", type=int, default=200704)
    ap.add_argument("--chunk-size", type=int, default=64, help="(c) retrieval.chunk_size")
    ap.add_argument("--tmp", type=Path, default=Path(tempfile.gettempdir()), help="(c) where the memmaps go")
    a = ap.parse_args(argv)
    parts = set(a.only or ["a", "b", "c"])
    precisions = ["fp32"] + [p.strip() for p in a.precisions.split(",") if p.strip() and p.strip() != "fp32"]
    lines = [("what", "ours", "reference", "ratio", "target")]

    if "a" in parts:
        g = grid_embeddings(a.shapes, a.views, a.sketches)
        for k in ("box", "affine", "both"):
            x = g[k]
            lines.append((f"(a) grid {k}: images embedded ({x['settings']} settings)", f"{x['distinct']}",
                          f"{x['from_scratch']} from scratch", f"{x['from_scratch'] / x['distinct']:.2f}x fewer",
                          "the bound: each distinct image once" if k == "both" else ""))
    if "b" in parts:
        f = feature_stage(a.n, a.repeats, a.batch_size, precisions)
        plain = f["runs"]["plain"]
        lines.append(("(b) plain eager fp32 forward, NCHW, batch %d, %d threads" % (f["batch"], f["threads"]),
                      f"{plain['img_s']:.2f} img/s", f"{plain['cpu_s_per_img']:.3f} CPU s/img", "1.00x", ""))
        for p in precisions:
            s = f["runs"][f"stage {p}"]
            lines.append((f"(b) feature stage {p} (decode + fit + net + cache)", f"{s['img_s']:.2f} img/s",
                          f"{s['cpu_s_per_img']:.3f} CPU s/img",
                          f"{s['img_s'] / plain['img_s']:.2f}x wall, "
                          f"{plain['cpu_s_per_img'] / s['cpu_s_per_img']:.2f}x CPU",
                          ">= 1.1x" if p == "fp32" else f"max rel diff {f['rel_diff'][p]:.2g}"))
        lines.append(("(b) fp32 stage vs plain: max feature difference / max |feature|",
                      f"{f['rel_diff'].get('fp32', float('nan')):.2g}", "", "", "~1e-6"))
        agree = None if a.agreement_split == "none" else agreement(precisions, a.agreement_split)
        if agree is None:
            lines.append(("(b) acc@k agreement", "no demo data", "", "", ""))
        else:
            sizes = agree.pop("sizes")
            for p in precisions[1:]:
                for c in sorted(agree[p]):
                    d1 = agree[p][c]["acc@1"] - agree["fp32"][c]["acc@1"]
                    d5 = agree[p][c]["acc@5"] - agree["fp32"][c]["acc@5"]
                    lines.append((f"(b) {p} OBB {c} {a.agreement_split} ({sizes[c]['queries']} q, "
                                  f"{sizes[c]['shapes']} shapes) acc@1 / acc@5",
                                  f"{agree[p][c]['acc@1']:.2f} / {agree[p][c]['acc@5']:.2f}",
                                  f"fp32 {agree['fp32'][c]['acc@1']:.2f} / {agree['fp32'][c]['acc@5']:.2f}",
                                  f"{d1:+.2f} / {d5:+.2f} pts", "|acc@1 diff| <= 0.5"))
    if "c" in parts:
        d = distance_memory(a.dist_queries, a.dist_shapes, a.dist_views, a.dim, a.chunk_size, a.tmp)
        full = (d["queries"], d["shapes"], d["views"]) == tuple(FULL_DIST.values())
        gb = 1e9
        lines.append((f"(c) shape_mse {d['queries']} q x {d['shapes']}x{d['views']} views, D={d['dim']}, "
                      f"float32 memmaps ({d['file_b'] / gb:.2f} GB){'' if full else ', REDUCED size'}",
                      f"peak RSS {d['peak_rss_b'] / gb:.2f} GB",
                      f"anon {d['peak_rss_anon_b'] / gb:.2f} GB, file {d['peak_rss_file_b'] / gb:.2f} GB, "
                      f"heap {d['peak_heap_b'] / gb:.2f} GB",
                      f"{d['wall_s']:.1f} s", "<= 8 GB"))
    widths = [max(len(r[i]) for r in lines) for i in range(5)]
    for r in lines:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
