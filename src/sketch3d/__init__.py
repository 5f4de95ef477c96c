"""sketch3d: reproducible pipeline for 'Understanding 3D structures from Sketches'."""

__version__ = "0.1.0"

DEMO_NOTICE = (
    "DEMO PROFILE: synthetic shapes, simulated sketches and randomly initialised "
    "weights. These numbers are NOT the thesis's results."
)
