"""Chapter 3 (SketchyDepth): scene sketch -> RGB image + depth map.

Modules: ``triplets`` (the on-disk form of {partial image, scene image} sets and their depth labels),
and, per stage, the scene data, the MiDaS labeller, the GANs, the metrics and the depth effects.
"""
