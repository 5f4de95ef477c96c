"""Unit tests, grouped as the package is (tests/unit/<package>/ mirrors src/sketch3d/<package>/).

This folder is put on sys.path (pytest does so for a conftest's folder), so that every
test file can import the shared helpers in ``_helpers.py``.
"""

import pytest

ONE_THREAD_CHAPTERS = ("sketchydepth", "reconstruction", "netspace")


@pytest.fixture(autouse=True, scope="module")
def _one_thread(request):
    """The chapters' tests (sketchydepth, reconstruction, netspace) run torch on one thread: their networks here
    are tiny, and one thread is fastest, far faster than several on a busy machine."""
    if request.path.parent.name not in ONE_THREAD_CHAPTERS:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _fresh_feature_network():
    """Each test builds its own feature network: the process-wide one of features.extract (inference_model keeps
    the last build) would hide a test's patched loader or count of builds."""
    import sys

    extract = sys.modules.get("sketch3d.features.extract")
    if extract is not None:
        extract._BUILT.clear()
    yield
