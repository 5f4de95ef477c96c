"""Small stand-ins for the chapter's other modules (generator, SDF renderer, frame, meshing, metrics), so
the inversion, targets, scores, figures and reconstruct tests run on tiny networks in well under a second.

``install(monkeypatch)`` puts a fake module in ``sys.modules`` only where the real one cannot be imported;
the fake generator (``FakeGenerator``) is always used: its style -> shape map is known, so a test can ask
the inversion to recover a given style.
"""
from __future__ import annotations

import importlib
import sys
import types

import numpy as np
import torch
import torch.nn.functional as F

SCALE = 2.0  # fake frame: cube = SCALE * mesh


class FakeGenerator(torch.nn.Module):
    """styles [B, S, D] -> a linear feature volume [B, C, R, R, R]; SDF = a sphere of radius 0.6 (cube units)
    bent by an MLP on the trilinearly sampled features."""

    def __init__(self, n_styles: int = 2, style_dim: int = 8, channels: int = 4, res: int = 6, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.n_styles, self.style_dim, self.channels, self.res = n_styles, style_dim, channels, res
        self.to_volume = torch.nn.Parameter(torch.randn(n_styles * style_dim, channels * res ** 3, generator=g)
                                            / (n_styles * style_dim) ** 0.5)
        self.w1 = torch.nn.Parameter(torch.randn(channels, 16, generator=g) / channels ** 0.5)
        self.w2 = torch.nn.Parameter(torch.randn(16, 1, generator=g) * 0.1)
        self.mapping = torch.nn.Parameter(torch.randn(style_dim, style_dim, generator=g) / style_dim ** 0.5)

    def map(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(z @ self.mapping)

    def broadcast(self, w: torch.Tensor) -> torch.Tensor:
        return w[:, None].expand(-1, self.n_styles, -1)

    def volume(self, styles: torch.Tensor) -> torch.Tensor:
        b = styles.shape[0]
        return (styles.reshape(b, -1) @ self.to_volume).view(b, self.channels, self.res, self.res, self.res)

    def sdf(self, volume: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        b, n, _ = points.shape
        f = F.grid_sample(volume, points.flip(-1).view(b, n, 1, 1, 3), mode="bilinear", padding_mode="border",
                          align_corners=True).view(b, self.channels, n).transpose(1, 2)
        bend = (torch.tanh(f @ self.w1) @ self.w2)[..., 0]
        return points.norm(dim=-1) - 0.6 + bend


def fake_mean_style(gen, n: int = 1000, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, gen.style_dim, generator=g)
    with torch.no_grad():
        return gen.broadcast(gen.map(z)).mean(0, keepdim=True)


class FakeRender(types.SimpleNamespace):
    pass


def fake_render_sdf(sdf_fn, view, size: int, samples: int = 12, tau: float = 0.02, **_):
    """Orthographic look along -z through the mesh-frame box [-0.5, 0.5]^3: soft silhouette by the smallest
    SDF along each ray (differentiable)."""
    t = torch.linspace(-0.5, 0.5, size)
    ys, xs = torch.meshgrid(-t, t, indexing="ij")
    zs = torch.linspace(-0.5, 0.5, samples)
    pts = torch.stack([xs[..., None].expand(-1, -1, samples), ys[..., None].expand(-1, -1, samples),
                       zs.expand(size, size, samples)], dim=-1).reshape(-1, 3)
    d = sdf_fn(pts).view(size, size, samples).amin(-1)
    sil = torch.sigmoid(-d / tau)
    return FakeRender(silhouette=sil, hit=sil > 0.5, view=view)


def fake_line_drawing(render, **_):
    return 1.0 - render.silhouette  # a filled silhouette: dark where the shape is


def fake_shaded(render, **_):
    return 1.0 - 0.5 * render.silhouette


def _frame_module():
    m = types.ModuleType("sketch3d.geometry.sdf")
    m.CUBE_SCALE = SCALE
    m.mesh_to_cube = lambda p: p * SCALE
    m.cube_to_mesh = lambda p: p / SCALE
    m.sdf_cube_to_mesh = lambda v: v / SCALE

    def cube_to_mesh_mesh(mesh):
        out = mesh.copy()
        out.vertices = np.asarray(mesh.vertices) / SCALE
        return out

    m.cube_to_mesh_mesh = cube_to_mesh_mesh
    return m


def _render_module():
    m = types.ModuleType("sketch3d.reconstruction.sdf_render")
    m.render_sdf, m.line_drawing, m.shaded = fake_render_sdf, fake_line_drawing, fake_shaded
    m.lambertian = fake_shaded
    m.render_options = lambda rs: {k: v for k, v in (rs or {}).items() if k in ("samples", "tau")}
    m.line_options = lambda rs: {}
    m.shade_options = lambda rs: {}
    return m


def _generator_module():
    m = types.ModuleType("sketch3d.reconstruction.generator")
    m.mean_style = fake_mean_style
    m.load_generator = lambda path: torch.load(path, weights_only=False)
    m.load_for_settings = lambda path, generator_settings: torch.load(path, weights_only=False)

    def read_mean_style(path):
        with np.load(path) as z:
            return torch.from_numpy(z["mean"])

    m.read_mean_style = read_mean_style
    return m


def _meshing_module():
    import trimesh
    from skimage.measure import marching_cubes

    def mesh_from_sdf_grid(grid, level=0.0, bound=(-1.0, 1.0), **_):
        arr = np.pad(np.asarray(grid, dtype=np.float64), 1, constant_values=1e6)
        sp = (bound[1] - bound[0]) / (np.asarray(grid).shape[0] - 1)
        v, f, _, _ = marching_cubes(arr, level=level, spacing=(sp,) * 3)
        return trimesh.Trimesh(v + bound[0] - sp, f, process=True)

    m = types.ModuleType("sketch3d.geometry.meshing")
    m.mesh_from_sdf_grid = mesh_from_sdf_grid
    return m


def _metrics_module():
    from scipy.spatial import cKDTree

    def chamfer_distance(a, b, n_points=2000, seed=0):
        pa = a.sample(n_points, seed=seed) if "seed" in a.sample.__code__.co_varnames else a.vertices
        pb = b.sample(n_points, seed=seed) if "seed" in b.sample.__code__.co_varnames else b.vertices
        return float(cKDTree(pb).query(pa)[0].mean() + cKDTree(pa).query(pb)[0].mean())

    def volumetric_iou(a, b):
        ia, ib = np.asarray(a) < 0, np.asarray(b) < 0
        return float((ia & ib).sum() / max((ia | ib).sum(), 1))

    m = types.ModuleType("sketch3d.reconstruction.shape_metrics")
    m.chamfer_distance, m.volumetric_iou = chamfer_distance, volumetric_iou
    return m


def _sdf_targets_module():
    from pathlib import Path

    def read_sdf_targets(path):
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"SDF targets {path} not found: make them with `sketch3d sdf_targets`")
        with np.load(path) as z:
            try:
                return {k: z[k] for k in ("sdf", "ids", "split", "resolution", "center", "scale", "affine", "level")}
            except KeyError as error:
                raise ValueError(f"{path} is not an sdf_targets file ({error})") from error

    def read_affines(path):
        data = read_sdf_targets(path)
        return {str(i): np.asarray(a, dtype=np.float64) for i, a in zip(data["ids"], data["affine"])}

    def apply_affine(mesh, affine):
        out = mesh.copy()
        out.vertices = np.asarray(mesh.vertices, dtype=np.float64) @ affine[:3, :3].T + affine[:3, 3]
        return out

    m = types.ModuleType("sketch3d.reconstruction.sdf_targets")
    m.read_sdf_targets, m.read_affines, m.apply_affine = read_sdf_targets, read_affines, apply_affine
    return m


def write_sdf_targets(path, grids: dict) -> None:
    """An npz in ``sdf_targets``'s form: sdf [N, R, R, R], ids, split, resolution, and each shape's affine to the
    generator's cube: here the fixed map of ``geometry.sdf`` (so the scores' frame is the mesh frame itself)."""
    from sketch3d.geometry.sdf import CUBE_ROTATION, CUBE_SCALE

    g = np.stack([np.asarray(v, np.float32) for v in grids.values()])
    affine = np.eye(4)
    affine[:3, :3] = CUBE_SCALE * CUBE_ROTATION
    np.savez(path, sdf=g, ids=np.array(list(grids), dtype=str), split=np.array(["test"] * len(g)),
             resolution=np.int64(g.shape[1]), center=np.zeros((len(g), 3)), scale=np.full(len(g), CUBE_SCALE),
             affine=np.repeat(affine[None], len(g), 0), level=np.float64(0.015), format=np.int64(2))


FAKES = {
    "sketch3d.reconstruction.sdf_targets": _sdf_targets_module,
    "sketch3d.geometry.sdf": _frame_module,
    "sketch3d.reconstruction.sdf_render": _render_module,
    "sketch3d.reconstruction.generator": _generator_module,
    "sketch3d.geometry.meshing": _meshing_module,
    "sketch3d.reconstruction.shape_metrics": _metrics_module,
}


def install(monkeypatch, force: tuple = ("sketch3d.reconstruction.sdf_render", "sketch3d.reconstruction.generator")):
    """Fake modules where the real ones are missing; those in ``force`` always (a fast renderer, and
    ``mean_style`` for the fake generator). Returns the names faked."""
    faked = []
    for name, make in FAKES.items():
        if name not in force:
            try:
                importlib.import_module(name)
                continue
            except ImportError:
                pass
        monkeypatch.setitem(sys.modules, name, make())
        faked.append(name)
    return faked


class FakeClip(torch.nn.Module):
    """A layer-3 stand-in: [B, 3, H, W] -> [B, 8, H/8, W/8]."""

    def __init__(self, seed: int = 0):
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.conv = torch.nn.Conv2d(3, 8, kernel_size=8, stride=8)
        self.requires_grad_(False)

    def forward(self, x):
        return torch.relu(self.conv(x))


def settings(**inversion) -> dict:
    return {"seed": 0, "profile": "demo",
            "render": {"camera_distance": 2.5, "lens_mm": 50, "front_axis": "+z", "azimuth_sign": 1},
            "reconstruction": {"generator": {"mc_resolution": 16, "mc_level": 0.0, "mean_samples": 64},
                               "targets": {"elevation": 20},
                               "render": {"size": 16},
                               "inversion": {"lr": 0.01, "iterations": {"sdf": 6, "clip": 6, "clip_argmax": 6, "clip_lines": 6},
                                             "clip_size": 32, "snapshot_every": 2, "checkpoint_every": 2,
                                             **inversion}}}
