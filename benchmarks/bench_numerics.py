"""The cost of the pinned kernels (sketch3d.numerics) against each machine's native ones, in one run:

    python benchmarks/bench_numerics.py [--repeats 3]

Each workload of numerics_workload.py runs in fresh processes, alternately native (SKETCH3D_NATIVE_KERNELS=1) and
pinned (the default); prints the median CPU seconds of each and their ratio. On an AVX2 CPU the pins change only the
training convolutions (oneDNN off); on an AVX-512 CPU they also move MKL and PyTorch's kernels to AVX2.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PINS = ("ATEN_CPU_CAPABILITY", "MKL_CBWR", "NPY_DISABLE_CPU_FEATURES", "SKETCH3D_NATIVE_KERNELS")


def cpu_seconds(what: str, native: bool) -> float:
    env = {k: v for k, v in os.environ.items() if k not in PINS}
    if native:
        env["SKETCH3D_NATIVE_KERNELS"] = "1"
    what = "train_native_convs" if native and what == "train" else what
    out = subprocess.run([sys.executable, str(HERE / "numerics_workload.py"), what], env=env, check=True,
                         capture_output=True, text=True).stdout.split()
    return float(out[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"{'workload':<10} {'native s':>9} {'pinned s':>9} {'ratio':>6}")
    for what in ("train", "clip_rn", "clip_vit"):
        runs = {True: [], False: []}
        for _ in range(args.repeats):
            for native in (True, False):
                runs[native].append(cpu_seconds(what, native))
        nat, pin = statistics.median(runs[True]), statistics.median(runs[False])
        print(f"{what:<10} {nat:9.2f} {pin:9.2f} {pin / nat:6.2f}")


if __name__ == "__main__":
    main()
