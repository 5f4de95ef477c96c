"""Build and drive the Blender scene for gallery renders (imports ``bpy``).

Import this module only when rendering: ``sketch3d.render.views`` does so lazily.
Scene: factory-empty, Cycles on the CPU, a white world, view transform ``Standard``
(so white stays white), one camera (perspective or orthographic per view), and two
styles that :func:`set_style` switches between without rebuilding anything:

- ``lines``: a white emission material overriding every mesh material and one
  Freestyle line set drawing the chosen edge types in black with an absolute
  thickness; 8-bit grey PNG.
- ``rgb``: textureless shading, a light-grey Lambertian surface overriding every mesh
  material, under two directional lights fixed relative to the camera (a key light
  from the upper left, a fill from the right) and an ambient term, no shadows: the
  look of Workbench's studio lighting. The material computes this from the surface
  normal in camera axes and emits it (see ``RGB_*`` below); 8-bit RGB PNG.

Why Cycles for ``rgb`` rather than the Workbench engine itself: Workbench (like
EEVEE) rasterises through OpenGL, so it needs a GPU or a software OpenGL driver on
the machine and its pixels depend on that driver; Cycles on the CPU needs neither
and gives the same pixels on every run. And why shading in the material rather than
Cycles lights: Cycles samples one light per sample, which leaves noise at 16 samples;
an emitted shading value samples nothing, so only antialiasing varies within a pixel
and the render costs less than a line render.
"""
from __future__ import annotations

import math
from pathlib import Path

import bpy
import numpy as np
from mathutils import Matrix

from sketch3d.geometry.camera import View, yup_to_blender

CAMERA_NAME = "sketch3d_camera"
LINE_MATERIAL = "sketch3d_white"
RGB_MATERIAL = "sketch3d_grey"
_STYLE_MATERIAL = {"lines": LINE_MATERIAL, "rgb": RGB_MATERIAL}
# The rgb style's look, close to a Workbench studio render: a Lambertian light-grey surface under two
# directional lights fixed relative to the camera (a key light from the upper left, a fill from the right)
# and an ambient term, without shadows. The shading is computed in the material from the surface normal
# in camera axes and emitted, so no light is sampled and nothing but antialiasing varies within a pixel:
#   linear value = RGB_ALBEDO * (RGB_AMBIENT + sum over RGB_LIGHTS of strength * max(0, n . direction))
# about 0.2 (sRGB ~125) on faces turned away from both lights and at most ~0.65 (sRGB ~210) facing the
# key light: every surface stays well darker than the white background.
RGB_ALBEDO = 0.8        # light grey
RGB_AMBIENT = 0.25      # as a fraction of full white
_LIGHTS = (             # (direction towards the light in camera axes (right, up, back towards the viewer), strength)
    ((-0.6, 0.8, 0.7), 0.6),   # key: upper left, in front
    ((0.9, 0.1, 0.4), 0.25),   # fill: right
)
RGB_LIGHTS = tuple((tuple(float(c) for c in np.asarray(d) / np.linalg.norm(d)), s) for d, s in _LIGHTS)  # unit
_IMPORTERS = {".obj": "obj_import", ".ply": "ply_import", ".stl": "stl_import"}
# Axis arguments of Blender's importers: Y-up files map (x, y, z) -> (x, -z, y)
# (ShapeNet's front +Z faces Blender's -Y); Z-up files are taken as they are.
_AXES = {"Y": {"forward_axis": "NEGATIVE_Z", "up_axis": "Y"}, "Z": {"forward_axis": "Y", "up_axis": "Z"}}


def setup_scene(resolution: int, stroke_width: float, lens_mm: float, samples: int,
                crease_angle_deg: float, sensor_mm: float, threads: int = 0,
                edge_types: tuple[str, ...] = ("silhouette", "crease", "border")) -> bpy.types.Scene:
    """Reset Blender to an empty scene configured for black-on-white Freestyle lines."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    _setup_render(scene, resolution, samples, threads)
    _setup_freestyle(scene, stroke_width, crease_angle_deg, edge_types)
    _setup_white_world_and_material(scene)
    _setup_grey_material()
    cam_data = bpy.data.cameras.new(CAMERA_NAME)
    cam_data.lens = lens_mm
    cam_data.sensor_width = sensor_mm
    cam_data.sensor_fit = "HORIZONTAL"
    cam_data.clip_start = 0.01
    cam_data.clip_end = 100.0
    cam = bpy.data.objects.new(CAMERA_NAME, cam_data)
    scene.collection.objects.link(cam)
    scene.camera = cam
    set_style(scene, "lines")
    return scene


def set_style(scene: bpy.types.Scene, style: str) -> None:
    """Switch the scene between the ``lines`` and ``rgb`` styles (see the module docstring)."""
    if style not in _STYLE_MATERIAL:
        raise ValueError(f"render style {style!r} must be one of {sorted(_STYLE_MATERIAL)}")
    rgb = style == "rgb"
    scene.render.use_freestyle = not rgb
    scene.view_layers[0].material_override = bpy.data.materials[_STYLE_MATERIAL[style]]
    scene.render.image_settings.color_mode = "RGB" if rgb else "BW"


def _setup_render(scene: bpy.types.Scene, resolution: int, samples: int, threads: int) -> None:
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = samples
    scene.cycles.use_adaptive_sampling = False
    scene.cycles.use_denoising = False
    # Only camera rays hitting emission or the world are needed: no light bounces.
    scene.cycles.max_bounces = 0
    r = scene.render
    r.threads_mode = "FIXED" if threads > 0 else "AUTO"
    if threads > 0:
        r.threads = threads
    r.resolution_x = r.resolution_y = resolution
    r.resolution_percentage = 100
    r.pixel_aspect_x = r.pixel_aspect_y = 1.0
    r.film_transparent = False
    r.dither_intensity = 0.0  # no noise added when quantising to 8 bits: white stays 255
    r.use_file_extension = False
    _no_stamps(r)
    r.image_settings.file_format = "PNG"
    r.image_settings.color_mode = "BW"
    r.image_settings.color_depth = "8"
    scene.view_settings.view_transform = "Standard"
    scene.view_settings.look = "None"
    scene.view_settings.exposure = 0.0
    scene.view_settings.gamma = 1.0


def _no_stamps(r: bpy.types.RenderSettings) -> None:
    """Write no metadata: by default Blender stamps the date, render time, frame, camera, file
    and scene into every PNG, so that identical renders differ in bytes."""
    r.use_stamp = False  # nothing burnt into the pixels
    for name in dir(r):
        if name.startswith("use_stamp_") and name != "use_stamp_labels":
            setattr(r, name, False)


def _setup_freestyle(scene: bpy.types.Scene, stroke_width: float, crease_angle_deg: float,
                     edge_types: tuple[str, ...]) -> None:
    r = scene.render
    r.use_freestyle = True
    r.line_thickness_mode = "ABSOLUTE"
    r.line_thickness = stroke_width  # unit thickness in px; the line style multiplies it by 1
    layer = scene.view_layers[0]
    layer.use_freestyle = True
    fs = layer.freestyle_settings
    fs.mode = "EDITOR"
    fs.crease_angle = math.radians(crease_angle_deg)
    fs.as_render_pass = False
    for lineset in list(fs.linesets):
        fs.linesets.remove(lineset)
    lineset = fs.linesets.new("sketch3d_lines")
    lineset.select_by_visibility = True
    lineset.visibility = "VISIBLE"
    lineset.select_by_edge_types = True
    lineset.select_by_face_marks = False
    lineset.select_by_collection = False
    lineset.select_by_image_border = True
    for kind in ("silhouette", "border", "crease", "contour", "external_contour", "ridge_valley",
                 "suggestive_contour", "material_boundary", "edge_mark"):
        setattr(lineset, f"select_{kind}", kind in edge_types)
    style = bpy.data.linestyles.new("sketch3d_black")
    style.use_fake_user = True
    style.color = (0.0, 0.0, 0.0)
    style.alpha = 1.0
    style.thickness = 1.0
    style.thickness_position = "CENTER"
    lineset.linestyle = style


def _setup_white_world_and_material(scene: bpy.types.Scene) -> None:
    world = bpy.data.worlds.new("sketch3d_white")
    if world.node_tree is None:  # Blender < 5 creates worlds without nodes
        world.use_nodes = True
    background = world.node_tree.nodes.get("Background") or world.node_tree.nodes.new("ShaderNodeBackground")
    background.inputs["Color"].default_value = (1.0, 1.0, 1.0, 1.0)
    background.inputs["Strength"].default_value = 1.0
    scene.world = world

    mat = bpy.data.materials.new(LINE_MATERIAL)
    mat.use_fake_user = True  # survives orphan purges between meshes
    nodes = mat.node_tree.nodes
    nodes.clear()
    emission = nodes.new("ShaderNodeEmission")
    emission.inputs["Color"].default_value = (1.0, 1.0, 1.0, 1.0)
    emission.inputs["Strength"].default_value = 1.0
    output = nodes.new("ShaderNodeOutputMaterial")
    mat.node_tree.links.new(emission.outputs["Emission"], output.inputs["Surface"])


def _setup_grey_material() -> None:
    """The rgb style's material: RGB_ALBEDO * (RGB_AMBIENT + sum of strength * max(0, n . light)), emitted.

    Cycles turns a back face's normal towards the viewer, so ShapeNet's inconsistently oriented faces
    shade like front faces.
    """
    mat = bpy.data.materials.new(RGB_MATERIAL)
    mat.use_fake_user = True  # survives orphan purges between meshes
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    nodes.clear()
    geometry = nodes.new("ShaderNodeNewGeometry")
    to_camera = nodes.new("ShaderNodeVectorTransform")
    to_camera.vector_type = "NORMAL"
    to_camera.convert_from = "WORLD"
    to_camera.convert_to = "CAMERA"
    links.new(geometry.outputs["Normal"], to_camera.inputs["Vector"])
    total = _math(nodes, "ADD", RGB_AMBIENT, 0.0)
    for direction, strength in RGB_LIGHTS:
        right, up, back = direction
        dot = nodes.new("ShaderNodeVectorMath")
        dot.operation = "DOT_PRODUCT"
        links.new(to_camera.outputs["Vector"], dot.inputs[0])
        # Blender's camera space looks down +Z (x right, y up): "back" is -Z there
        dot.inputs[1].default_value = (right, up, -back)
        lit = _math(nodes, "MAXIMUM", 0.0, 0.0)
        links.new(dot.outputs["Value"], lit.inputs[0])
        scaled = _math(nodes, "MULTIPLY", 0.0, strength)
        links.new(lit.outputs["Value"], scaled.inputs[0])
        added = _math(nodes, "ADD", 0.0, 0.0)
        links.new(total.outputs["Value"], added.inputs[0])
        links.new(scaled.outputs["Value"], added.inputs[1])
        total = added
    emission = nodes.new("ShaderNodeEmission")
    emission.inputs["Color"].default_value = (RGB_ALBEDO, RGB_ALBEDO, RGB_ALBEDO, 1.0)
    links.new(total.outputs["Value"], emission.inputs["Strength"])
    output = nodes.new("ShaderNodeOutputMaterial")
    links.new(emission.outputs["Emission"], output.inputs["Surface"])


def _math(nodes, operation: str, a: float, b: float):
    node = nodes.new("ShaderNodeMath")
    node.operation = operation
    node.use_clamp = False
    node.inputs[0].default_value = a
    node.inputs[1].default_value = b
    return node


def import_mesh(path: Path, up_axis: str) -> list[bpy.types.Object]:
    """Import one mesh file; return its mesh objects. Raises if the file holds no geometry."""
    suffix = path.suffix.lower()
    if suffix not in _IMPORTERS:
        raise ValueError(f"mesh {path}: unsupported format {suffix!r}; use one of {sorted(_IMPORTERS)}")
    before = set(bpy.data.objects)
    importer = getattr(bpy.ops.wm, _IMPORTERS[suffix])
    try:
        importer(filepath=str(path), **_AXES[up_axis])
    except RuntimeError as exc:
        raise ValueError(f"mesh {path}: Blender could not import it ({exc}); check the file") from exc
    new = [o for o in bpy.data.objects if o not in before]
    meshes = [o for o in new if o.type == "MESH"]
    n_faces = sum(len(o.data.polygons) for o in meshes)
    if n_faces == 0:
        remove_objects(new)
        raise ValueError(f"mesh {path}: no faces after import; the file is empty or not a valid "
                         f"{suffix[1:].upper()} mesh")
    return new


def remove_objects(objects: list[bpy.types.Object]) -> None:
    """Delete objects and every data block left without users (meshes, materials, images)."""
    for obj in objects:
        bpy.data.objects.remove(obj, do_unlink=True)
    bpy.data.orphans_purge(do_local_ids=True, do_linked_ids=True, do_recursive=True)


def place_camera(scene: bpy.types.Scene, view: View) -> None:
    """Put the scene camera where ``view`` is, in Blender's Z-up frame, looking at the origin, with the
    view's projection."""
    right, up, forward = view.basis()
    # Blender cameras look down their local -Z with local +Y up.
    rot = np.stack([yup_to_blender(right), yup_to_blender(up), yup_to_blender(-forward)], axis=1)
    mat = np.eye(4)
    mat[:3, :3] = rot
    mat[:3, 3] = yup_to_blender(view.position)
    scene.camera.matrix_world = Matrix(mat.tolist())
    cam = scene.camera.data
    if view.projection == "orthographic":
        cam.type = "ORTHO"
        cam.ortho_scale = view.ortho_scale  # the image's width in shape units (sensor_fit HORIZONTAL, square)
    else:
        cam.type = "PERSP"


def render_still(scene: bpy.types.Scene, path: Path) -> None:
    """Render the current frame to ``path`` (PNG, 8-bit grey or RGB by style), pixels only.

    Blender's file is re-encoded without any ancillary chunk (its Cycles timings, EXIF,
    resolution), so that equal pixels give equal bytes.
    """
    from sketch3d.render.plain_png import write_plain_png

    scene.render.filepath = str(path)
    bpy.ops.render.render(write_still=True)
    if not path.is_file() or path.stat().st_size == 0:
        raise RuntimeError(f"Blender wrote no image to {path}; check that the folder is writable")
    write_plain_png(path)
