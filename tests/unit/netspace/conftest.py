"""The chapter's tests run torch on one thread: its convolutions here are tiny, and one thread is fastest,
far faster than several on a busy machine."""
import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
