"""What is done to an image before it is embedded: fit it to a box, then translate and rotate it.

Thesis 4.2.3.2: objects are centred and scaled into a square box (Table 4.1), and
"robust features" average the embeddings of an image and of affinely transformed
copies of it (Table 4.2: a translation, a rotation, both). Transforms are image
operations on the cached renderings and sketches: nothing is re-rendered.

A :class:`Transform` is a value. Its :attr:`~Transform.name` (``box129``,
``box129_tx19_ty-4``, ``box129_rot-23.5``, ``boxnone``, ``boxcentred``) is file-name safe, parses
back with :meth:`Transform.parse`, keys the feature cache (one embedding per image
and transform, shared by every table that needs it) and names feature folders.

Sign conventions (fixed; tested on single pixels in tests/unit/features/test_transforms.py):

- ``tx`` moves the picture right and ``ty`` moves it DOWN, in pixels (image
  axes: x along a row, y down the rows): (19, -4) is 19 px right, 4 px up.
- ``rot`` is in degrees, positive CLOCKWISE as the image is seen on screen,
  about the image centre (112, 112) in pixel-corner coordinates, i.e. the
  corner shared by the four middle pixels of 224: +90 takes pixel (x, y) to
  (223 - y, x), the top to the right; -23.5 turns counter-clockwise.
- Both: rotated about the centre first, then translated along the image axes
  (translation not rotated): box129_tx19_ty-4_rot-23.5 = translate(rotate(.)).
- Uncovered pixels are white; bilinear interpolation.

These are torchvision's ``transforms.functional.affine`` (which does the work).
What the thesis states and what is ours: Table 4.2 prints translations as
(19, -4) and rotations as -23.5 degrees and names no axis or turning sense. Its
B.5 augmentation ("translation ... [-10%, +10%] of the image size, rotation
[-10, +10] degrees, scaling ... [-10%, +10%]") is torchvision's RandomAffine
parameterisation, which runs this same ``affine``: the likeliest source of its
numbers, so its conventions are ours. y down is every image library's
convention (PIL, torchvision, OpenCV), so (19, -4) moving up is near certain;
the rotation's sense is the choice that matters (PIL's ``Image.rotate`` and
torchvision's ``rotate`` turn positive angles counter-clockwise, ``affine``
clockwise). Under the other sense the thesis's -23.5 would be our +23.5.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Iterable

from PIL import Image

from sketch3d.features.box import centre_object, fit_to_box

__all__ = ["CENTRED", "Transform", "TransformError", "parse_transforms"]

_NUM = r"-?\d+(?:\.\d+)?"
CENTRED = "centred"  # box value: the object moved to the centre, not scaled (Table B.2's "w/ centering")
_NAME = re.compile(rf"^box(?P<box>\d+|none|{CENTRED})(?:_tx(?P<tx>{_NUM})_ty(?P<ty>{_NUM}))?(?:_rot(?P<rot>{_NUM}))?$")


class TransformError(ValueError):
    pass


def _fmt(x: float) -> str:
    """Shortest exact decimal of ``x`` without exponent or trailing zeros (19 -> '19', -23.5 -> '-23.5')."""
    text = f"{x:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


@dataclass(frozen=True)
class Transform:
    box: int | str | None       # px side of the box the object is fitted into; None: the image as it is;
                                # CENTRED: the object moved to the centre at its own size
    tx: float = 0.0             # px, + moves right
    ty: float = 0.0             # px, + moves down
    rot: float = 0.0            # degrees, + turns clockwise on screen, about the image centre (before translating)

    def __post_init__(self) -> None:
        if self.box is not None and self.box != CENTRED and (
                isinstance(self.box, bool) or not isinstance(self.box, int) or self.box < 1):
            raise TransformError(f"Transform: box must be a positive whole number of pixels, None or {CENTRED!r}, "
                                 f"got {self.box!r}")
        for key in ("tx", "ty", "rot"):
            v = getattr(self, key)
            if not isinstance(v, (int, float)) or not math.isfinite(v):
                raise TransformError(f"Transform: {key} must be a finite number, got {v!r}")
            # six decimals at most: the name must parse back to the same value
            object.__setattr__(self, key, float(_fmt(float(v))))
        if abs(self.rot) > 180:
            raise TransformError(f"Transform: rot={self.rot} must be within [-180, 180] degrees")

    @property
    def is_affine(self) -> bool:
        return bool(self.tx or self.ty or self.rot)

    @property
    def name(self) -> str:
        text = f"box{'none' if self.box is None else self.box}"
        if self.tx or self.ty:
            text += f"_tx{_fmt(self.tx)}_ty{_fmt(self.ty)}"
        if self.rot:
            text += f"_rot{_fmt(self.rot)}"
        return text

    def __str__(self) -> str:
        return self.name

    @classmethod
    def parse(cls, name: str) -> "Transform":
        m = _NAME.match(str(name))
        if not m:
            raise TransformError(
                f"{name!r} is not a transform name; expected box<px|none>[_tx<px>_ty<px>][_rot<deg>], "
                "e.g. box129, box129_tx19_ty-4_rot-23.5")
        box = None if m["box"] == "none" else CENTRED if m["box"] == CENTRED else int(m["box"])
        return cls(box, float(m["tx"] or 0), float(m["ty"] or 0), float(m["rot"] or 0))

    def with_box(self, box: int | str | None) -> "Transform":
        return Transform(box, self.tx, self.ty, self.rot)

    def compose(self, other: "Transform") -> "Transform":
        """This transform's box with both translations and rotations (e.g. the best translation & rotation)."""
        if other.box != self.box:
            raise TransformError(f"cannot combine transforms on different boxes: {self.name} and {other.name}")
        return Transform(self.box, self.tx + other.tx, self.ty + other.ty, self.rot + other.rot)

    def parts(self) -> list["Transform"]:
        """This transform's box with each subset of its translation and rotation: box129_tx19_ty-4_rot-23.5 gives
        box129, box129_tx19_ty-4, box129_rot-23.5 and itself (the copies Table 4.2's four-image augmentation
        averages); a box alone gives itself."""
        moves = [(0.0, 0.0)] + ([(self.tx, self.ty)] if self.tx or self.ty else [])
        turns = [0.0] + ([self.rot] if self.rot else [])
        return [Transform(self.box, x, y, r) for r in turns for x, y in moves]

    def apply(self, grey: Image.Image, size: int = 224) -> Image.Image:
        """``grey`` (mode "L", black lines on white) fitted to the box, then translated and rotated."""
        if self.box == CENTRED:
            out = centre_object(grey, size=size)
        elif self.box is None:
            if grey.size != (size, size):
                raise TransformError(f"an image of {grey.size[0]}x{grey.size[1]} px needs a box to become "
                                     f"{size}x{size} (transform {self.name})")
            out = grey
        else:
            out = fit_to_box(grey, self.box, size=size)
        if not self.is_affine:
            return out
        from sketch3d.compat.torchvision_ops import ensure_torchvision

        ensure_torchvision()
        from torchvision.transforms import InterpolationMode
        from torchvision.transforms.functional import affine

        # torchvision's angle turns the picture clockwise, as ours (tested: top moves right for +90)
        return affine(out, angle=self.rot, translate=[self.tx, self.ty], scale=1.0, shear=[0.0, 0.0],
                      interpolation=InterpolationMode.BILINEAR, fill=255)


def parse_transforms(names: Iterable[str]) -> list[Transform]:
    """Transforms from their names; duplicates are an error (they would be averaged twice)."""
    out = [Transform.parse(n) for n in names]
    seen: set[str] = set()
    for t in out:
        if t.name in seen:
            raise TransformError(f"transform {t.name} is listed twice")
        seen.add(t.name)
    if not out:
        raise TransformError("no transform given")
    return out

