"""The visible feature lines of a mesh seen from a camera view, as 2D polylines.

Silhouette, crease and boundary edges are found on the mesh, hidden parts are
removed with a z-buffer, and the visible pieces are chained into strokes. Points
are projected with :meth:`~sketch3d.geometry.camera.View.project`, the camera
model shared with the Blender gallery renders, so lines land where those renders
draw them.
"""
from __future__ import annotations

import math

import numpy as np
import trimesh

from sketch3d.geometry.batching import bbox_batches
from sketch3d.geometry.camera import View


def _zbuffer(uv: np.ndarray, depth: np.ndarray, faces: np.ndarray, res: int,
             cell_budget: int = 1_000_000) -> tuple[np.ndarray, np.ndarray]:
    """Depth (inf = empty) and face id (-1) per pixel of a res x res buffer; uv already in buffer pixels."""
    # hand-written: no installed library rasterises triangles with depth (no GL on the CPU machines).
    # Triangles are rasterised in batches over their padded bounding boxes; the nearest candidate
    # per pixel wins (ties: lowest face id), so the result does not depend on batching.
    zbuf = np.full(res * res, np.inf)
    fid = np.full(res * res, -1, dtype=np.int64)
    tri = uv[faces]  # (F, 3, 2)
    inv_z = 1.0 / depth[faces]  # perspective-correct depth: 1/z is linear in screen space
    lo = np.clip(np.ceil(tri.min(axis=1) - 0.5), 0, res).astype(np.int64)
    hi = np.clip(np.floor(tri.max(axis=1) - 0.5) + 1, 0, res).astype(np.int64)
    size = hi - lo
    area = ((tri[:, 1, 0] - tri[:, 0, 0]) * (tri[:, 2, 1] - tri[:, 0, 1])
            - (tri[:, 2, 0] - tri[:, 0, 0]) * (tri[:, 1, 1] - tri[:, 0, 1]))
    ok = (size[:, 0] > 0) & (size[:, 1] > 0) & (np.abs(area) > 1e-12) & np.all(depth[faces] > 0, axis=1)
    live = np.flatnonzero(ok)
    pix_parts, z_parts, f_parts = [], [], []
    for part in bbox_batches(size[live], cell_budget):
        batch = live[part]
        w, h = size[batch].max(axis=0)
        ox = np.arange(w)[None, None, :]
        oy = np.arange(h)[None, :, None]
        x0, y0 = lo[batch, 0][:, None, None], lo[batch, 1][:, None, None]
        px, py = x0 + ox + 0.5, y0 + oy + 0.5
        a, b, c = (tri[batch, k][:, :, None, None] for k in range(3))
        ar = area[batch][:, None, None]
        w0 = ((b[:, 0] - px) * (c[:, 1] - py) - (c[:, 0] - px) * (b[:, 1] - py)) / ar
        w1 = ((c[:, 0] - px) * (a[:, 1] - py) - (a[:, 0] - px) * (c[:, 1] - py)) / ar
        w2 = 1.0 - w0 - w1
        keep = ((w0 >= -1e-9) & (w1 >= -1e-9) & (w2 >= -1e-9)
                & (ox < size[batch, 0][:, None, None]) & (oy < size[batch, 1][:, None, None]))
        iz = inv_z[batch]
        inv = w0 * iz[:, 0, None, None] + w1 * iz[:, 1, None, None] + w2 * iz[:, 2, None, None]
        t_idx, y_idx, x_idx = np.nonzero(keep)
        pix_parts.append((lo[batch, 1][t_idx] + y_idx) * res + lo[batch, 0][t_idx] + x_idx)
        z_parts.append(1.0 / inv[keep])
        f_parts.append(batch[t_idx])
    if pix_parts:
        pix, z, f = np.concatenate(pix_parts), np.concatenate(z_parts), np.concatenate(f_parts)
        srt = np.lexsort((f, z, pix))
        pix, z, f = pix[srt], z[srt], f[srt]
        first = np.concatenate([[True], pix[1:] != pix[:-1]])
        zbuf[pix[first]] = z[first]
        fid[pix[first]] = f[first]
    return zbuf.reshape(res, res), fid.reshape(res, res)


def _depth_slope(uv: np.ndarray, depth: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Per face, how much depth changes over one pixel of ``uv`` (the plane through its corners)."""
    tri, z = uv[faces], depth[faces]
    e1, e2 = tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]
    dz1, dz2 = z[:, 1] - z[:, 0], z[:, 2] - z[:, 0]
    det = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    gx = (dz1 * e2[:, 1] - dz2 * e1[:, 1])
    gy = (dz2 * e1[:, 0] - dz1 * e2[:, 0])
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.hypot(gx, gy) / np.abs(det)
    return np.where(np.isfinite(slope), slope, np.inf)


def _feature_edges(mesh: trimesh.Trimesh, eye: np.ndarray, crease_angle_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """(E, 2) vertex ids of silhouette, crease and boundary edges, and (E, 2) adjacent face ids (-1: none)."""
    normals = mesh.face_normals
    front = np.einsum("ij,ij->i", normals, eye - mesh.triangles_center) > 0
    adj = mesh.face_adjacency
    silhouette = front[adj[:, 0]] != front[adj[:, 1]]
    crease = mesh.face_adjacency_angles > np.radians(crease_angle_deg)
    keep = silhouette | crease
    edges = [mesh.face_adjacency_edges[keep]]
    faces = [adj[keep]]
    boundary = trimesh.grouping.group_rows(mesh.edges_sorted, require_count=1)
    if len(boundary):
        edges.append(mesh.edges_sorted[boundary])
        faces.append(np.column_stack([mesh.edges_face[boundary], np.full(len(boundary), -1)]))
    return np.concatenate(edges).reshape(-1, 2), np.concatenate(faces).reshape(-1, 2)


def _visible_runs(
    mesh: trimesh.Trimesh, view: View, size: int, edges: np.ndarray, edge_faces: np.ndarray,
    oversample: int, spacing: float, depth_eps: float, min_length: float,
) -> list[tuple[np.ndarray, np.ndarray, bool, bool, int, int]]:
    """Visible pieces of each edge: (start xy, end xy, starts at vertex, ends at vertex, vertex ids)."""
    verts = np.asarray(mesh.vertices, dtype=float)
    uv, depth = view.project(verts, size)
    res = size * oversample
    faces = np.asarray(mesh.faces)
    drawn = np.arange(len(faces))
    if mesh.is_watertight:  # a closed surface hides its back faces behind its front faces: skip them
        eye = view.position
        drawn = np.flatnonzero(np.einsum("ij,ij->i", mesh.face_normals, eye - mesh.triangles_center) > 0)
    zbuf, fid = _zbuffer(uv * oversample, depth, faces[drawn], res)
    fid = np.where(fid >= 0, drawn[np.maximum(fid, 0)], -1)

    a, b = verts[edges[:, 0]], verts[edges[:, 1]]
    length_px = np.linalg.norm(uv[edges[:, 0]] - uv[edges[:, 1]], axis=1)
    n = np.maximum(2, np.ceil(length_px / spacing).astype(int) + 1)
    owner = np.repeat(np.arange(len(edges)), n)
    start = np.concatenate([[0], np.cumsum(n)[:-1]])
    t = (np.arange(owner.size) - start[owner]) / (n[owner] - 1)
    pts = a[owner] + t[:, None] * (b[owner] - a[owner])  # sample in 3D: perspective-correct along the edge
    suv, sdepth = view.project(pts, size)

    jx = np.floor(suv[:, 0] * oversample).astype(int)
    jy = np.floor(suv[:, 1] * oversample).astype(int)
    in_front = sdepth > 0
    inside = (jx >= 0) & (jx < res) & (jy >= 0) & (jy < res) & in_front
    cx, cy = np.clip(jx, 0, res - 1), np.clip(jy, 0, res - 1)
    # A sample is visible when, at one of the 3 x 3 buffer pixels around it, it is not behind the
    # surface shown there, or that surface is one of its own faces. The buffer holds depth at pixel
    # centres, up to ~1.5 px from the sample, so the test allows for the depth slope of the face shown
    # (capped: a face seen edge-on must still hide something); the 3 x 3 window keeps silhouettes
    # whose own face is too thin to cover a pixel centre. Its cost, hidden lines showing up to one
    # buffer pixel past an occluding contour, is removed by ``min_length`` for stubs at corners.
    slope = np.minimum(_depth_slope(uv * oversample, depth, np.asarray(mesh.faces)), 20.0 * depth_eps)
    fa, fb = edge_faces[owner, 0], edge_faces[owner, 1]
    visible = in_front & ~inside  # off the buffer nothing was drawn that could hide it
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            ny, nx = np.clip(cy + dy, 0, res - 1), np.clip(cx + dx, 0, res - 1)
            shown = fid[ny, nx]
            tol = depth_eps + np.where(shown >= 0, 1.5 * slope[np.maximum(shown, 0)], 0.0)
            own = ((shown == fa) & (fa >= 0)) | ((shown == fb) & (fb >= 0))
            visible |= inside & ((sdepth <= zbuf[ny, nx] + tol) | own)

    runs = []
    for e in range(len(edges)):
        vis = visible[start[e]:start[e] + n[e]]
        if not vis.any():
            continue
        padded = np.concatenate([[False], vis, [False]])
        change = np.flatnonzero(padded[1:] != padded[:-1])
        for i, j in zip(change[::2], change[1::2] - 1):
            p, q = suv[start[e] + i], suv[start[e] + j]
            full = i == 0 and j == n[e] - 1
            if not full and np.linalg.norm(q - p) < min_length:
                continue  # slivers where a hidden edge meets a visible corner
            runs.append((p, q, i == 0, j == n[e] - 1, int(edges[e, 0]), int(edges[e, 1])))
    return runs


def _chain(runs: list, max_turn_deg: float) -> list[np.ndarray]:
    """Join pieces that meet at a mesh vertex and continue within ``max_turn_deg`` into polylines."""
    if not runs:
        return []
    # ends at a mesh vertex meet there; ends inside an edge (cut by occlusion) stay free
    ends: dict[int, list[tuple[int, int]]] = {}
    pts = [(r[0], r[1]) for r in runs]
    for k, (_, _, at_a, at_b, va, vb) in enumerate(runs):
        if at_a:
            ends.setdefault(va, []).append((k, 0))
        if at_b:
            ends.setdefault(vb, []).append((k, 1))
    link: dict[tuple[int, int], tuple[int, int]] = {}
    cos_max = math.cos(math.radians(max_turn_deg))
    for members in ends.values():
        if len(members) < 2:
            continue
        cands = []
        for i in range(len(members)):
            for j in range(i + 1, len(members)):
                (ki, ei), (kj, ej) = members[i], members[j]
                if ki == kj:
                    continue
                di = pts[ki][1 - ei] - pts[ki][ei]
                dj = pts[kj][1 - ej] - pts[kj][ej]
                ni, nj = np.linalg.norm(di), np.linalg.norm(dj)
                if ni < 1e-9 or nj < 1e-9:
                    continue
                straight = -float(di @ dj) / (ni * nj)  # cos of the turning angle when going i -> j
                if straight >= cos_max:
                    cands.append((-straight, i, j))
        used: set[int] = set()
        for _, i, j in sorted(cands):
            if i in used or j in used:
                continue
            used.update((i, j))
            link[members[i]] = members[j]
            link[members[j]] = members[i]

    def walk(k: int, entry: int, done: set[int]) -> list[np.ndarray]:
        line = [pts[k][entry]]
        while True:
            done.add(k)
            exit_end = 1 - entry
            line.append(pts[k][exit_end])
            nxt = link.get((k, exit_end))
            if nxt is None or nxt[0] in done:
                return line
            k, entry = nxt

    done: set[int] = set()
    lines = []
    for k in range(len(runs)):  # open chains first, from an unlinked end
        if k in done:
            continue
        for end in (0, 1):
            if (k, end) not in link:
                lines.append(walk(k, end, done))
                break
    for k in range(len(runs)):  # what is left are closed loops
        if k not in done:
            lines.append(walk(k, 0, done))
    return [np.asarray(line, dtype=float) for line in lines]


def visible_feature_lines(
    mesh: trimesh.Trimesh,
    view: View,
    size: int,
    crease_angle_deg: float = 45.0,
    *,
    oversample: int = 2,
    spacing: float = 0.5,
    depth_eps: float | None = None,
    min_length: float = 2.0,
    max_turn_deg: float = 40.0,
) -> list[np.ndarray]:
    """The line drawing of ``mesh`` seen from ``view`` as 2D polylines in pixels of a size x size canvas.

    Lines are silhouette edges (one adjacent face towards the camera, the other
    away), boundary edges and crease edges (angle between the face normals above
    ``crease_angle_deg``; 45 degrees is Freestyle's default crease of 134.43
    degrees between the faces, rounded). Hidden parts are removed with a z-buffer
    at ``oversample`` x the canvas, sampling edges every ``spacing`` px;
    ``depth_eps`` (default 0.5% of the mesh's bounding-box diagonal) is the depth
    tolerance. Pieces that meet at a vertex and turn by less than
    ``max_turn_deg`` are chained into one stroke. Projection is
    :meth:`View.project`, so lines land where the Blender renders draw them.
    """
    if size < 1:
        raise ValueError(f"visible_feature_lines: size must be >= 1, got {size}")
    if len(mesh.faces) == 0:
        raise ValueError("visible_feature_lines: the mesh has no faces")
    eps = 0.005 * float(mesh.scale) if depth_eps is None else float(depth_eps)
    edges, edge_faces = _feature_edges(mesh, view.position, crease_angle_deg)
    if len(edges) == 0:
        return []
    runs = _visible_runs(mesh, view, size, edges, edge_faces, oversample, spacing, eps, min_length)
    return _chain(runs, max_turn_deg)
