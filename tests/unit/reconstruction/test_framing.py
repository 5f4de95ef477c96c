"""Eq. 4.7's framing (issue 20): the sketch and the rendering fitted into one box by ``features.box`` before CLIP
compares them; the argmax reduction's two readings."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from sketch3d.features.box import fit_to_box, fit_to_box_tensor, ink_bbox
from sketch3d.geometry.camera import View
from sketch3d.reconstruction import inversion as inv
from sketch3d.reconstruction.sdf_render import lambertian, line_drawing, render_sdf


def _chair_like(p):
    """A seat and a back: two boxes, union (a shape whose box is not square)."""
    def box(c, h):
        q = (p - torch.as_tensor(c, dtype=p.dtype)).abs() - torch.as_tensor(h, dtype=p.dtype)
        return q.clamp(min=0).norm(dim=1) + q.max(dim=1).values.clamp(max=0)
    return torch.minimum(box((0.0, -0.05, 0.0), (0.22, 0.03, 0.2)), box((0.0, 0.15, -0.18), (0.22, 0.2, 0.03)))


def test_tensor_fit_matches_chapter_4_2s_fit_to_box():
    img = np.full((224, 224), 255, np.uint8)
    img[30:90, 120:200] = 0  # an 80 x 60 object off centre
    img[40:80, 130:190] = 255
    pil = np.asarray(fit_to_box(Image.fromarray(img), 170))
    ten = (fit_to_box_tensor(torch.from_numpy(img / 255.0), 170).numpy() * 255).round()
    assert ink_bbox(pil) == (27, 48, 197, 176)  # longer side 170, centred
    assert all(abs(a - b) <= 1 for a, b in zip(ink_bbox(ten.astype(np.uint8)), ink_bbox(pil)))
    assert np.mean(np.abs(ten - pil.astype(np.float64)) > 128) < 0.01  # the same picture, up to edge pixels


@pytest.mark.parametrize("renderer", ["lines", "shaded"])
def test_a_rendering_and_a_sketch_of_the_same_shape_agree_once_framed(renderer):
    """The same shape seen at two framings (camera 2.5 and 4.0 away, so about 1.6x smaller, rendered at 96 px
    vs a 224 px 'sketch' line drawing): unframed they differ; fitted into the same box their objects' boxes
    agree within a pixel and their pictures match."""
    far = View(0.0, 20.0, 4.0)
    near = View(0.0, 20.0, 2.5)
    sketch = line_drawing(render_sdf(_chair_like, near, 224), stroke_width=2.2).detach()
    R = render_sdf(_chair_like, far, 96)
    if renderer == "lines":
        image, mask = line_drawing(R, stroke_width=2.2 * 96 / 224).detach(), None
        image_near = line_drawing(render_sdf(_chair_like, near, 96), stroke_width=2.2 * 96 / 224).detach()
    else:
        image, mask = lambertian(R).detach(), R.silhouette > 0.5
        Rn = render_sdf(_chair_like, near, 96)
    size, box = 112, 170
    a = inv.frame(sketch, box, size)
    b = inv.frame(image, box, size, mask)
    # sketch vs line rendering: boxes within a pixel; shaded: the silhouette's box against the sketch's ink
    box_a = ink_bbox((a.numpy() * 255).astype(np.uint8))
    if renderer == "lines":
        box_b = ink_bbox((b.numpy() * 255).astype(np.uint8))
        assert all(abs(x - y) <= 1.5 for x, y in zip(box_a, box_b)), (box_a, box_b)
        unframed = inv.frame(image, None, size)
        assert ink_bbox((unframed.numpy() * 255).astype(np.uint8))[2] - box_b[2] < -5  # smaller before
    else:
        sil = inv.frame(R.silhouette.detach().float() * -1 + 1, box, size, mask)
        box_b = ink_bbox((sil.numpy() * 255).astype(np.uint8), threshold=128)  # the mask: coverage > 0.5
        assert all(abs(x - y) <= 1.5 for x, y in zip(box_a, box_b)), (box_a, box_b)
        # the shaded renderings' objects (coverage > 0.5) of both framings overlap once framed, not before
        def iou(x, y):
            return ((x < 0.5) & (y < 0.5)).sum().item() / ((x < 0.5) | (y < 0.5)).sum().item()

        page_far, page_near = 1 - R.silhouette.detach(), 1 - Rn.silhouette.detach()
        framed = iou(inv.frame(page_far, box, size, R.silhouette > 0.5),
                     inv.frame(page_near, box, size, Rn.silhouette > 0.5))
        unframed = iou(inv.frame(page_far, None, size), inv.frame(page_near, None, size))
        assert framed > 0.9 and unframed < 0.5, (framed, unframed)


def test_framing_lets_gradients_through_to_the_pixels():
    """fit_to_box_tensor is linear in the image with a fixed box: gradcheck against finite differences."""
    g = torch.Generator().manual_seed(0)
    img = torch.ones(12, 12, dtype=torch.float64)
    img[3:7, 2:10] = torch.rand(4, 8, generator=g, dtype=torch.float64) * 0.5
    mask = img < 0.9
    img.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: fit_to_box_tensor(x, 14.0, 16, mask=mask), (img,))
    out = fit_to_box_tensor(img, 14.0, 16, mask=mask)
    assert out.shape == (16, 16) and out.requires_grad


def test_a_blank_image_is_only_resized():
    out = fit_to_box_tensor(torch.ones(10, 10), 5, 20)
    assert out.shape == (20, 20) and torch.all(out == 1.0)


def test_argmax_reduce_channels_and_spatial():
    f = torch.arange(2 * 8 * 4 * 6, dtype=torch.float32).reshape(2, 8, 4, 6).sin()
    ch = inv.argmax_reduce(f, 4, "channels")
    assert ch.shape == (2, 2, 4, 6) and ch.numel() * 4 == f.numel()
    assert torch.equal(ch[1, 1, 2, 3], f[1, 4:8, 2, 3].max())
    sp = inv.argmax_reduce(f, 4, "spatial")
    assert sp.shape == (2, 8, 2, 3) and sp.numel() * 4 == f.numel()
    assert torch.equal(sp[0, 5, 1, 2], f[0, 5, 2:4, 4:6].max())
    f.requires_grad_(True)
    inv.argmax_reduce(f, 4, "spatial").sum().backward()
    assert f.grad.sum() == sp.numel() and set(f.grad.unique().tolist()) == {0.0, 1.0}  # one argmax per window
    with pytest.raises(inv.InversionError, match="spatial"):
        inv.argmax_reduce(torch.zeros(1, 4, 5, 5), 4, "spatial")
    with pytest.raises(inv.InversionError, match="argmax_mode"):
        inv.InversionSettings.from_settings({"argmax_mode": "rows"})
    with pytest.raises(inv.InversionError, match="frame_box"):
        inv.InversionSettings.from_settings({"frame_box": 300})


def test_renderer_for_each_supervision():
    s = {"reconstruction": {"render": {}}}
    assert inv.renderer_for("clip", s) == "shaded" and inv.renderer_for("clip_lines", s) == "lines"
    assert inv.renderer_for("clip_argmax", {"reconstruction": {"render": {"renderer": "lines"}}}) == "lines"
    with pytest.raises(inv.InversionError, match="renderer"):
        inv.renderer_for("clip", {"reconstruction": {"render": {"renderer": "toon"}}})
    # the line option's stroke width: the gallery's 2.2 px at 224, scaled to the render size
    assert inv._line_settings({"render": {"stroke_width": 2.2, "resolution": 224}}, 64)["stroke_width"] == \
        pytest.approx(2.2 * 64 / 224)
