"""The few values NetSpace's GPU rules read back from the device to the host (each one a device sync).

Everything else a step computes stays on the model's device. Two kinds of reads remain, and they go through here so
that they are few (once per batch or per evaluation, never per sample) and so that a test can run a rule's steps on
PyTorch's ``meta`` device (shapes, no values) by replacing these two functions:

- :func:`ids`: the argmax of each row of ClassId logits: which architecture a decoded PRep is loaded into is a
  decision the host makes (5.4: the ClassId head picks the architecture).
- :func:`value`: a one-element tensor as a Python float: losses and accuracies logged, compared, written.
"""
from __future__ import annotations

import torch


def ids(logits: torch.Tensor) -> list[int]:
    """The argmax of each row of ``logits`` [B, C], as host integers (one sync)."""
    return logits.argmax(-1).tolist()


def value(t: torch.Tensor) -> float:
    """A one-element tensor as a host float (one sync)."""
    return float(t)
