"""sketch3d: reproducible pipeline for 'Understanding 3D structures from Sketches'."""
import os as _os
import platform as _platform

# Same numbers on every x86-64 CPU: on AVX-512 CPUs numpy 1.26 computes float64 sin, cos, tan, arccos,
# arctan2, power, ... with SVML (up to 4 ulp off the glibc results that AVX2 CPUs get), and the procedural
# meshes and simulated sketches then differ in discrete ways (triangulations, strokes): one acc@1 cell of the
# demo moved by a query. numpy reads this variable when it is first imported, so this must run before any
# `import numpy`; every `sketch3d` command imports this package first. A user's own setting is kept.
if _platform.machine().lower() in ("x86_64", "amd64"):
    _os.environ.setdefault(
        "NPY_DISABLE_CPU_FEATURES",
        "AVX512F AVX512CD AVX512_KNL AVX512_KNM AVX512_SKX AVX512_CLX AVX512_CNL AVX512_ICL",
    )

__version__ = "0.1.0"

DEMO_NOTICE = (
    "DEMO PROFILE: generated data (shapes, sketches, scenes), small models and randomly initialised "
    "weights where no trained ones exist. These numbers are NOT the thesis's results."
)
# the paper rehearsal's tables (scripts/rehearse.sh; their commands' --rehearsal flag)
REHEARSAL_NOTICE = (
    "A REHEARSAL, NOT A RESULT: the paper profile's rules run on fixtures with random weights at tiny sizes "
    "(scripts/rehearse.sh); these numbers mean nothing."
)
