"""The teacher's logits on the fixed training images, computed once per image set and shared.

Where the training images are fixed (no augmentation: the demo), the multi and unseen trainings and every latent
optimisation distil from the same ResNet56 on the same images (eqs. 5.5, 5.11; Table 5.1), so its logits are a
table (``training.FixedLogits``). Computed inside each of those jobs, the demo spent the teacher's forward pass
seven times (~6 s each on one core); the ``teacher_logits`` rule computes it once and the jobs read the file.
With augmentation (the paper profile) every step draws new images and the logits are computed per step, as before:
there is no such file.

The file (``atomic.save_torch``: written atomically, its bytes the same at every run) holds ``logits``
[N, classes], computed on the training loop's kernels (``numerics.training_kernels``) in the batches that
``FixedLogits.build`` uses, so a job reading it sees the same numbers it would have computed; ``images`` (N),
``images_sha256`` (the normalised images' bytes), and ``teacher`` (the teacher file's name). A reader checks the images against its own before any step.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from torch import nn

from sketch3d.atomic import save_torch
from sketch3d.numerics import training_kernels

FORMAT = "sketch3d.netspace.teacher_logits/1"


class TeacherLogitsError(ValueError):
    """A teacher-logits file that cannot serve these images; the message names the file and the fix."""


def images_digest(images: torch.Tensor) -> str:
    """sha256 of the float images' bytes (host, contiguous): which image set the logits belong to."""
    return hashlib.sha256(images.detach().cpu().contiguous().numpy().tobytes()).hexdigest()


def compute(teacher: nn.Module, images: torch.Tensor, device="cpu") -> torch.Tensor:
    """The teacher's logits [N, classes] on ``images`` (fixed, normalised float, host), as the trainings compute
    them (``training.FixedLogits.build`` on the loop's kernels)."""
    from sketch3d.netspace.training import FixedLogits

    teacher = teacher.to(device).eval()
    with training_kernels():
        fixed = FixedLogits.build({"teacher": teacher}, images, device)
    if fixed is None:
        raise TeacherLogitsError(f"the teacher's logits on {len(images)} images exceed FixedLogits's bound; "
                                 "the trainings compute them per step there: drop the teacher_logits input")
    return fixed.logits["teacher"]


def write(path: str | Path, logits: torch.Tensor, images: torch.Tensor, teacher: str) -> None:
    # through save_torch: a torch.save to the temporary path names the archive after it, so the file's bytes (and
    # DVC's hash of the models folder) would change at every run
    save_torch({"format": FORMAT, "logits": logits.detach().cpu(), "images": len(images),
                "images_sha256": images_digest(images), "teacher": str(teacher)}, path)


def read(path: str | Path, images: torch.Tensor) -> torch.Tensor:
    """The logits of ``path`` for ``images`` (the job's own fixed training images); TeacherLogitsError where the
    file is unreadable or was computed on other images."""
    path = Path(path)
    try:
        record = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise TeacherLogitsError(f"{path}: no teacher-logits file; run its teacher_logits rule") from None
    except Exception as exc:  # noqa: BLE001 - a truncated or foreign file: say which and how to remake it
        raise TeacherLogitsError(f"{path}: unreadable ({exc}); delete it and rerun its teacher_logits rule") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise TeacherLogitsError(f"{path}: not a teacher-logits file (format {FORMAT}); rerun teacher_logits")
    logits = record["logits"]
    if record["images"] != len(images) or logits.shape[0] != len(images) \
            or record["images_sha256"] != images_digest(images):
        raise TeacherLogitsError(f"{path}: computed on other training images ({record['images']} images) than "
                                 f"this job's ({len(images)}); rerun its teacher_logits rule")
    return logits
