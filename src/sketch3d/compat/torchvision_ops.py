"""Make ``import torchvision`` work when its compiled ops library cannot load.

The registry's torchvision wheel is a CUDA build; next to a CPU-only torch its
``_C`` extension fails to load and ``import torchvision`` (and so ``open_clip``)
dies with ``operator torchvision::nms does not exist``, because torchvision
registers fake kernels for ``nms``/``qnms`` at import. :func:`ensure_torchvision`
defines those two operators through ``torch.library`` with a pure-torch kernel,
imports torchvision, and then makes ``torchvision.extension._has_ops`` report
true so that ``torchvision.ops.nms`` runs. With a working install it changes
nothing. What still fails in fallback mode: ``torchvision.io`` decoding and the
compiled-only ops (``deform_conv2d``, ``roi_pool``, ``ps_roi_*``); ``roi_align``
uses torchvision's own pure-Python path.
"""
from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
import threading
from pathlib import Path

import torch

__all__ = ["ensure_torchvision", "fallback_active", "nms_reference"]

# Schemas exactly as the compiled library defines them (read from its _C.so).
_SCHEMAS = {
    "nms": "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
}

_lock = threading.Lock()
_state: dict[str, object] = {"done": False, "fallback": False, "library": None}


def nms_reference(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy non-maximum suppression in plain torch, torchvision's semantics.

    Boxes are (x1, y1, x2, y2); a box is dropped when its IoU with a kept,
    higher-scoring box is > ``iou_threshold``. Returns int64 indices of the kept
    boxes in decreasing score order (ties keep the input order).
    """
    # Hand-written: this kernel exists precisely because torchvision's compiled one is unavailable.
    if boxes.numel() == 0:
        return torch.empty(0, dtype=torch.long, device=boxes.device)
    order = torch.argsort(scores.to(torch.float64), descending=True, stable=True)
    b = boxes.to(torch.float64)[order]
    x1, y1, x2, y2 = b.unbind(1)
    area = (x2 - x1) * (y2 - y1)
    alive = torch.ones(b.shape[0], dtype=torch.bool, device=b.device)
    keep: list[int] = []
    # One vectorised IoU row per kept box: memory stays O(N), unlike an N x N IoU matrix.
    for i in range(b.shape[0]):
        if not bool(alive[i]):
            continue
        keep.append(i)
        w = (torch.minimum(x2[i], x2) - torch.maximum(x1[i], x1)).clamp(min=0)
        h = (torch.minimum(y2[i], y2) - torch.maximum(y1[i], y1)).clamp(min=0)
        inter = w * h
        union = area[i] + area - inter
        iou = torch.where(union > 0, inter / union, torch.zeros_like(inter))
        alive &= ~(iou > iou_threshold)
    return order[torch.tensor(keep, dtype=torch.long, device=order.device)]


def _qnms_kernel(dets: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    # IoU is invariant to the shared scale and zero point, so the integer values suffice.
    return nms_reference(dets.to(torch.float64), scores.to(torch.float64), iou_threshold)


def _compiled_ops_present() -> bool:
    """True if ``torchvision::nms`` exists or torchvision's ``_C`` library loads."""
    if _op_defined("nms"):
        return True
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("torchvision is not installed; install the version matching torch (see requirements/)")
    lib_dir = Path(list(spec.submodule_search_locations)[0])
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        candidate = lib_dir / f"_C{suffix}"
        if candidate.is_file():
            try:
                torch.ops.load_library(str(candidate))
            except (OSError, RuntimeError, ImportError):
                return False
            return _op_defined("nms")
    return False


def _op_defined(name: str) -> bool:
    try:
        getattr(torch.ops.torchvision, name)
    except (AttributeError, RuntimeError):
        return False
    return True


def _install_fallback() -> None:
    lib = torch.library.Library("torchvision", "FRAGMENT")
    for name, schema in _SCHEMAS.items():
        if not _op_defined(name):
            lib.define(schema)
    for key in ("CPU", "CUDA"):
        lib.impl("nms", nms_reference, key)
        lib.impl("qnms", _qnms_kernel, key)
    _state["library"] = lib  # the registrations live as long as this object


def ensure_torchvision() -> bool:
    """Import torchvision, installing the pure-torch op fallback if needed.

    Returns True if the fallback is (or already was) installed by this module,
    False if torchvision's compiled ops are present (then nothing is changed).
    Idempotent and thread-safe; call it before anything imports torchvision or
    open_clip.
    """
    with _lock:
        if _state["done"]:
            return bool(_state["fallback"])
        tv = sys.modules.get("torchvision")
        if tv is not None and hasattr(tv, "ops"):
            # Imported already (so its ops loaded, or someone else patched them): leave it.
            _state.update(done=True, fallback=False)
            return False
        if _compiled_ops_present():
            import torchvision  # noqa: F401

            _state.update(done=True, fallback=False)
            return False
        for mod in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
            del sys.modules[mod]  # drop remains of an earlier failed import
        _install_fallback()
        import torchvision  # noqa: F401  (extension._has_ops() is False here: no meta/autograd registrations)
        import torchvision.extension as ext

        ext._has_ops = lambda: True  # ops.nms checks this at call time
        _state.update(done=True, fallback=True)
        return True


def fallback_active() -> bool:
    """True if :func:`ensure_torchvision` installed the pure-torch ops."""
    return bool(_state["fallback"])
