"""sketch3d: reproducible pipeline for 'Understanding 3D structures from Sketches'."""
# The kernels every sketch3d process computes with (numpy's, PyTorch's, MKL's), pinned so that x86-64 CPUs of
# different kinds give the same numbers: this must run before numpy or torch is imported, and every `sketch3d`
# command imports this package first. See sketch3d.numerics (standard library only).
from sketch3d import numerics as _numerics

_numerics.pin_environment()

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
