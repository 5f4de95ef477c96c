"""NetSpace's losses (chapter 5.3, eqs. 5.1-5.12).

- ``kd``: KL(softmax(t/T) || softmax(p/T)) * T^2, averaged over the samples (eqs. 5.1, 5.3, 5.8; Hinton et al.;
  the thesis writes KL(softmax(p/T), softmax(t/T)) for the divergence of the prediction from the target, computed as
  PyTorch's ``kl_div(log_softmax(p/T), softmax(t/T), reduction="batchmean")``, as the public peer does).
- ``task``: cross entropy of the predicted net's logits and the labels (eqs. 5.4, 5.9).
- ``l_kd``: alpha * KD(teacher) + (1 - alpha) * task (eqs. 5.5, 5.10), alpha 0.9 in the thesis.
- ``l_class``: cross entropy of the ClassId logits (eqs. 5.6, 5.7); a soft target where the interpolated ClassId
  falls between two ids (with eq. 5.12's factors and boundary ids it is always an integer: a one-hot target).
- ``interpolation_factors(A)``: gamma = i / (A - 1), i = 1..A-2 (eq. 5.12).
- ``interpolated_class_target``: c_t^gamma = (1 - gamma) c^A + gamma c^B as a distribution over ClassIds.
- ``sdf_mse``: MSE between the predicted and target MLP's outputs (eq. 5.2).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def kd(pred_logits: torch.Tensor, target_logits: torch.Tensor, temperature: float = 4.0) -> torch.Tensor:
    """KL divergence of softmax(pred/T) from softmax(target/T), times T^2, averaged over samples (eq. 5.1)."""
    if pred_logits.shape != target_logits.shape:
        raise ValueError(f"kd: logits of different shapes {tuple(pred_logits.shape)} vs {tuple(target_logits.shape)}")
    t = float(temperature)
    return F.kl_div(F.log_softmax(pred_logits / t, dim=1), F.softmax(target_logits.detach() / t, dim=1),
                    reduction="batchmean") * t * t


def task(pred_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross entropy of the predicted net's logits with the image labels, averaged (eq. 5.4)."""
    return F.cross_entropy(pred_logits, labels)


def l_kd(pred_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor, alpha: float = 0.9,
         temperature: float = 4.0) -> torch.Tensor:
    """alpha * KD against the teacher + (1 - alpha) * task CE (eq. 5.5)."""
    return alpha * kd(pred_logits, teacher_logits, temperature) + (1 - alpha) * task(pred_logits, labels)


def soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross entropy with a target distribution per row [B, C], averaged over rows."""
    return -(target * F.log_softmax(logits, dim=1)).sum(dim=1).mean()


def l_class(class_logits: torch.Tensor, class_ids: torch.Tensor) -> torch.Tensor:
    """Cross entropy of the ClassId head's logits [B, A] with integer ids [B] or distributions [B, A] (eqs. 5.6/5.7)."""
    if class_ids.dim() == 2:
        return soft_cross_entropy(class_logits, class_ids)
    return F.cross_entropy(class_logits, class_ids)


def interpolation_factors(architectures: int) -> list[float]:
    """gamma = i / (A - 1) for i in 1..A-2 (eq. 5.12); empty for A <= 2."""
    if architectures < 1:
        raise ValueError(f"interpolation_factors: {architectures} architectures; need at least 1")
    return [i / (architectures - 1) for i in range(1, architectures - 1)]


def interpolated_class_id(class_a: int, class_b: int, gamma: float) -> int:
    """The ClassId nearest c^gamma = (1 - gamma) c^A + gamma c^B (the one an interpolated embedding should decode
    to; exact for eq. 5.12's factors between the boundary ClassIds)."""
    return int(round((1 - gamma) * class_a + gamma * class_b))


def interpolated_class_target(class_a: int, class_b: int, gamma: float, classes: int,
                              device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> torch.Tensor:
    """The distribution over ``classes`` ClassIds of c^gamma = (1 - gamma) c^A + gamma c^B: one-hot where it is an
    integer (always, for eq. 5.12's factors between the boundary ClassIds), else split between its two neighbours.
    ``device`` / ``dtype``: the logits' it is compared with (default the CPU, float32)."""
    c = (1 - gamma) * class_a + gamma * class_b
    target = torch.zeros(classes, device=device, dtype=dtype)
    lo = math.floor(c + 1e-9)
    frac = c - lo
    if frac < 1e-6:
        target[lo] = 1.0
    else:
        target[lo], target[lo + 1] = 1 - frac, frac
    return target


def interpolate(e_a: torch.Tensor, e_b: torch.Tensor, gamma: float) -> torch.Tensor:
    """e^gamma = (1 - gamma) e^A + gamma e^B."""
    return (1 - gamma) * e_a + gamma * e_b


def sdf_mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """MSE between the predicted and the target MLP's SDF values at the same points (eq. 5.2)."""
    if pred.shape != target.shape:
        raise ValueError(f"sdf_mse: shapes differ {tuple(pred.shape)} vs {tuple(target.shape)}")
    return F.mse_loss(pred, target.detach())
