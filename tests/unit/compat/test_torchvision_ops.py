"""ensure_torchvision: torchvision and open_clip import, and ops.nms matches a brute-force NMS."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from sketch3d.compat.torchvision_ops import ensure_torchvision, fallback_active, nms_reference


def _brute_force_nms(boxes: np.ndarray, scores: np.ndarray, thr: float) -> list[int]:
    """Textbook greedy NMS with explicit loops (independent of the module's code)."""
    def iou(a, b):
        iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
        ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        inter = iw * ih
        union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
        return inter / union if union > 0 else 0.0

    remaining = sorted(range(len(scores)), key=lambda i: -scores[i])
    keep = []
    while remaining:
        best = remaining.pop(0)
        keep.append(best)
        remaining = [j for j in remaining if iou(boxes[best], boxes[j]) <= thr]
    return keep


def _random_boxes(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    xy = rng.uniform(0, 100, size=(n, 2))
    wh = rng.uniform(5, 40, size=(n, 2))
    return np.concatenate([xy, xy + wh], axis=1), rng.permutation(n).astype(np.float64) / n  # distinct scores


def test_ensure_is_idempotent_and_imports_work():
    first = ensure_torchvision()
    assert ensure_torchvision() == first
    assert fallback_active() == first
    import open_clip
    import torchvision

    assert torchvision.extension._has_ops()
    assert "RN101" in open_clip.list_models()


@pytest.mark.parametrize("thr", [0.2, 0.5, 0.7])
def test_ops_nms_matches_brute_force(thr):
    ensure_torchvision()
    import torchvision

    rng = np.random.default_rng(1)
    boxes, scores = _random_boxes(rng, 120)
    expected = _brute_force_nms(boxes, scores, thr)
    got = torchvision.ops.nms(torch.tensor(boxes, dtype=torch.float32), torch.tensor(scores, dtype=torch.float32), thr)
    assert got.dtype == torch.int64
    assert got.tolist() == expected
    assert 0 < len(expected) < 120  # the case is not trivial


def test_batched_nms_and_empty_input():
    ensure_torchvision()
    import torchvision

    rng = np.random.default_rng(2)
    boxes, scores = _random_boxes(rng, 60)
    idx = rng.integers(0, 3, 60)
    got = torchvision.ops.batched_nms(torch.tensor(boxes), torch.tensor(scores), torch.tensor(idx), 0.3)
    expected = []
    for c in range(3):
        members = np.flatnonzero(idx == c)
        expected += [int(members[k]) for k in _brute_force_nms(boxes[members], scores[members], 0.3)]
    assert sorted(got.tolist()) == sorted(expected)
    assert nms_reference(torch.zeros(0, 4), torch.zeros(0), 0.5).numel() == 0


def test_touches_nothing_when_ops_exist():
    """Simulate a working install (ops already registered): no fallback, _has_ops left alone."""
    import subprocess
    import sys

    code = (
        "import torch\n"
        "lib = torch.library.Library('torchvision', 'FRAGMENT')\n"
        "lib.define('nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor')\n"
        "lib.define('qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor')\n"
        "from sketch3d.compat.torchvision_ops import ensure_torchvision\n"
        "r = ensure_torchvision()\n"
        "import torchvision.extension as ext\n"
        "print(r, ext._has_ops())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False"]
