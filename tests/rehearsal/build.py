"""Build the paper rehearsal's inputs (seeded, offline): ``python tests/rehearsal/build.py [--out DIR] [NAME ...]``.

Every module of ``fixtures/`` with a ``build(root, seed)`` is one input; names pick some (default: all). A
finished input leaves ``<out>/.built/<name>`` holding the digest of what it is made from (its module, the shared
helpers, the official layouts), so that a second run rebuilds only what changed.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib
import pkgutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests/ on the path: `rehearsal.fixtures.<name>`

SEED = 0


def builders() -> dict:
    import rehearsal.fixtures as pkg

    out = {}
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"rehearsal.fixtures.{info.name}")
        if hasattr(module, "build"):
            out[info.name] = module
    return out


OFFICIAL = HERE.parent / "fixtures" / "official"  # the official code's outputs some fixtures read (layouts)


def _digest(module) -> str:
    """What a fixture is made from: its module, the fixtures' shared helpers (``_*.py``) and the official layouts."""
    h = hashlib.sha256(Path(module.__file__).read_bytes())
    shared = sorted(Path(module.__file__).parent.glob("_*.py")) + sorted(p for p in OFFICIAL.rglob("*") if p.is_file())
    for path in shared:
        h.update(path.as_posix().encode() + path.read_bytes())
    return h.hexdigest()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default="results/rehearsal/inputs")
    ap.add_argument("names", nargs="*")
    args = ap.parse_args(argv)
    root = Path(args.out)
    found = builders()
    unknown = sorted(set(args.names) - set(found))
    if unknown:
        ap.error(f"unknown fixture(s) {unknown}; known: {sorted(found)}")
    for name in args.names or sorted(found):
        module = found[name]
        stamp = root / ".built" / name
        if stamp.exists() and stamp.read_text() == _digest(module):
            print(f"{name}: up to date")
            continue
        t0 = time.perf_counter()
        files = module.build(root, SEED)
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text(_digest(module))
        print(f"{name}: {len(files)} file(s) in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
