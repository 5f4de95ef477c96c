"""The one camera model shared by the Blender renderer and the sketch simulator.

Meshes are Y-up and centred. Where their front faces and which way azimuth turns
is an :class:`Orientation` (params ``render.front_axis``, ``render.azimuth_sign``);
the default is ShapeNetCore v2's ``model_normalized.obj`` convention, front facing
+Z. A view is (azimuth, elevation, distance) in degrees / shape units: azimuth 0
looks at the front (the side a sketcher draws), positive azimuth (sign +1) moves
the camera towards ``up x front`` (+X for a +Z front: counter-clockwise seen from
above), elevation lifts it towards +Y. The camera looks at the origin with +Y up.
The lens is Blender's default (50 mm on a 36 mm sensor), so a projection here and
a Blender render agree.

A view is perspective (the default) or orthographic. An orthographic view keeps
the camera's place and direction and images a square of side ``ortho_scale``
(shape units) around the line of sight, chosen so that the plane through the
origin has the same scale as in the perspective view at the same distance.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_LENS_MM = 50.0
DEFAULT_SENSOR_MM = 36.0
FRONT_AXES = {"+x": (1.0, 0.0, 0.0), "-x": (-1.0, 0.0, 0.0), "+z": (0.0, 0.0, 1.0), "-z": (0.0, 0.0, -1.0)}
PROJECTIONS = ("perspective", "orthographic")
_UP = np.array([0.0, 1.0, 0.0])


@dataclass(frozen=True)
class Orientation:
    """Where a mesh's front faces and which way positive azimuth turns the camera."""

    front_axis: str = "+z"  # ShapeNetCore v2: the front faces +Z
    azimuth_sign: int = 1   # +1: positive azimuth moves the camera towards up x front (+X for a +Z front)

    def __post_init__(self) -> None:
        if self.front_axis not in FRONT_AXES:
            raise ValueError(f"front axis {self.front_axis!r} must be one of {sorted(FRONT_AXES)} (render.front_axis)")
        if self.azimuth_sign not in (1, -1):
            raise ValueError(f"azimuth sign {self.azimuth_sign!r} must be 1 or -1 (render.azimuth_sign)")

    def direction(self, azimuth: float, elevation: float) -> np.ndarray:
        """Unit vector from the origin to a camera at (azimuth, elevation), degrees."""
        az, el = np.radians(azimuth), np.radians(elevation)
        front = np.array(FRONT_AXES[self.front_axis])
        side = self.azimuth_sign * np.cross(_UP, front)
        return np.cos(el) * (np.cos(az) * front + np.sin(az) * side) + np.sin(el) * _UP


SHAPENET = Orientation()


@dataclass(frozen=True)
class View:
    azimuth: float
    elevation: float
    distance: float
    lens_mm: float = DEFAULT_LENS_MM
    sensor_mm: float = DEFAULT_SENSOR_MM
    orientation: Orientation = SHAPENET
    projection: str = "perspective"

    def __post_init__(self) -> None:
        if self.projection not in PROJECTIONS:
            raise ValueError(f"projection {self.projection!r} must be one of {PROJECTIONS}")

    @property
    def ortho_scale(self) -> float:
        """Side (shape units) of the square an orthographic view images.

        A perspective camera at distance d with focal length f on a sensor of width s sees,
        in the plane through the origin, a width of s * d / f; an orthographic view of that
        width draws the origin's plane at the same scale, so an object about the origin
        fills about the same image area in both (exactly for a flat object facing the camera).
        """
        return self.sensor_mm * self.distance / self.lens_mm

    @property
    def position(self) -> np.ndarray:
        """Camera centre in the Y-up world frame."""
        return self.distance * self.orientation.direction(self.azimuth, self.elevation)

    def basis(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(right, up, forward) unit vectors of the camera in world coordinates."""
        forward = -self.position / np.linalg.norm(self.position)
        right = np.cross(forward, [0.0, 1.0, 0.0])
        norm = np.linalg.norm(right)
        if norm < 1e-9:
            raise ValueError(f"elevation {self.elevation} looks straight up or down: camera roll undefined")
        right = right / norm
        up = np.cross(right, forward)
        return right, up, forward

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        """World points (N, 3) -> camera coordinates (x right, y up, z depth along the view)."""
        right, up, forward = self.basis()
        rel = np.asarray(points, dtype=float) - self.position
        return np.stack([rel @ right, rel @ up, rel @ forward], axis=-1)

    def focal_px(self, size: int) -> float:
        return self.lens_mm / self.sensor_mm * size

    def project(self, points: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
        """World points (N, 3) -> (pixel coordinates (N, 2) with y down, depth (N,))."""
        cam = self.to_camera(points)
        depth = cam[:, 2]
        if self.projection == "orthographic":
            scale = np.full_like(depth, size / self.ortho_scale)  # px per shape unit, at any depth
        else:
            scale = self.focal_px(size) / depth
        u = size / 2.0 + scale * cam[:, 0]
        v = size / 2.0 - scale * cam[:, 1]
        return np.stack([u, v], axis=-1), depth


def yup_to_blender(points: np.ndarray) -> np.ndarray:
    """Y-up world coordinates -> Blender's Z-up frame (what OBJ import with forward -Z, up Y does)."""
    p = np.asarray(points, dtype=float)
    return np.stack([p[..., 0], -p[..., 2], p[..., 1]], axis=-1)
