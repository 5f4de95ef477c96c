"""One line per GPU job of a run: rule, job, device, seconds, peak memory, from the line each GPU job logs when it
gives its device back (sketch3d.devices.REPORT_PREFIX). Usage: python scripts/gpu_report.py results/<run>/logs
Exit status 1 if no GPU job logged one, or (--require-cuda, the default) if one ran on the CPU."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sketch3d.devices import REPORT_PREFIX


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("logs", type=Path)
    ap.add_argument("--allow-cpu", action="store_true", help="do not fail when a GPU job ran on the CPU")
    args = ap.parse_args(argv)
    rows = []
    for log in sorted(args.logs.glob("*/*.log")):
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith(REPORT_PREFIX):
                rows.append((log.parent.name, log.stem, line[len(REPORT_PREFIX):].strip()))
    if not rows:
        print(f"no GPU job logged its device under {args.logs}", file=sys.stderr)
        return 1
    width = max(len(r[0]) for r in rows)
    print(f"{'rule':<{width}}  job: device, time, peak memory")
    for rule, job, what in rows:
        print(f"{rule:<{width}}  {job}: {what}")
    on_cpu = [f"{rule}/{job}" for rule, job, what in rows if what.startswith("cpu")]
    print(f"{len(rows)} GPU jobs in {len({r[0] for r in rows})} rules; {len(on_cpu)} on the CPU")
    if on_cpu and not args.allow_cpu:
        print(f"GPU jobs that ran on the CPU: {on_cpu}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
