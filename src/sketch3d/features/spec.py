"""Which network, which layer, which weights: :class:`FeatureSpec`, the families' constants, and the error a
missing weights file raises.

Torch-free on purpose: a feature job whose images are all in the cache (:mod:`sketch3d.features.cache`) assembles
its file from the cache without importing torch, torchvision or open_clip (about 4.5 s of every job's start on a
CPU); only :mod:`sketch3d.features.backbone`, which builds the networks, needs them.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

from sketch3d import weights as wts

__all__ = ["CLIP_MEAN", "CLIP_STD", "IMAGENET_MEAN", "IMAGENET_STD", "FAMILIES", "FAMILY_TITLES", "LAYERS",
           "CLIP_LAYERS", "FeatureSpec", "WeightsUnavailableError", "missing_file_error"]

# OpenAI CLIP's image statistics (the same numbers as open_clip.constants.OPENAI_DATASET_*).
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
# ImageNet's, as torchvision's weights enums give them (ResNet101_Weights.IMAGENET1K_V1.transforms()).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
FAMILIES = ("clip", "imagenet")
FAMILY_TITLES = {"clip": "CLIP", "imagenet": "ImageNet"}
# Layer names per family; which backbones have which layer is checked by feature_dim / load_backbone.
# For CLIP ViTs (Table 4.5's "ViT", Table 4.6's "ViT CLIP") the thesis names no layer; we read the final
# image embedding. A ViT has no stage comparable to a ResNet's layer3 (every block keeps the same 7x7 or
# 14x14 token grid), the embedding is what CLIP trains to match text and what CLIP-based sketch work uses
# from a ViT (CLIPasso [132], cited by the thesis, takes ResNet101 layers for geometry and ViT-B/32's
# embedding for semantics; Sangkloy et al. [125] the ViT-B/16 embedding), and the thesis's much lower ViT
# numbers fit a global vector rather than a spatial map. The ImageNet ViT gives its counterpart: the class
# token before the classification head.
LAYERS = {"clip": ("layer3", "embedding"), "imagenet": ("layer3", "cls")}
CLIP_LAYERS = LAYERS["clip"]


class WeightsUnavailableError(RuntimeError):
    """The requested weights are neither on disk nor downloadable now."""


@dataclass(frozen=True)
class FeatureSpec:
    """Which network, which layer, which weights: everything that changes a feature.

    ``backbone`` is an open_clip model name (``family="clip"``: RN101, ViT-B-32, ...) or a
    torchvision model name (``family="imagenet"``: resnet101, vit_b_32, vit_b_16, ...).
    """

    backbone: str = "RN101"
    layer: str = "layer3"
    weights: str = "random"
    seed: int = 0
    family: str = "clip"

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"FeatureSpec: family={self.family!r} must be one of {FAMILIES} "
                             "(features.networks.<name>.family in params.yaml)")
        layers = LAYERS[self.family]
        if self.layer not in layers:
            raise ValueError(f"FeatureSpec: layer={self.layer!r} must be one of {layers} for the {self.family} "
                             "family (features.layer, or features.networks.<name>.layer, in params.yaml)")
        if not str(self.weights):
            raise ValueError("FeatureSpec: weights must be 'random', a tag (open_clip's or torchvision's) "
                             "or a file path")

    @property
    def normalisation(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """(mean, std) per RGB channel of the images this network was trained on: CLIP's or ImageNet's."""
        return (CLIP_MEAN, CLIP_STD) if self.family == "clip" else (IMAGENET_MEAN, IMAGENET_STD)

    @property
    def family_title(self) -> str:
        """"CLIP" or "ImageNet": what pre-training the weights stand for, in provenance and messages."""
        return FAMILY_TITLES[self.family]

    @property
    def is_random(self) -> bool:
        return self.weights == wts.RANDOM

    @property
    def is_local_file(self) -> bool:
        return wts.is_file_setting(self.weights)

    def key(self) -> str:
        """16-hex-digit hash of the fields (and of a local weights file's content)."""
        fields = asdict(self)
        if self.family == "clip":
            fields.pop("family")  # CLIP specs keep the keys they had before other families existed
        if not self.is_random:
            fields.pop("seed")  # the seed only matters for random initialisation
        if self.is_local_file:
            path = wts.setting_path(self.weights)
            if not path.is_file():
                raise missing_file_error(self)
            fields["weights"] = f"file:{wts.sha256(path)[:24]}-{path.stat().st_size}"
        blob = json.dumps(fields, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def missing_file_error(spec: FeatureSpec) -> WeightsUnavailableError:
    if spec.family == "clip":
        u = wts.unavailable(spec.weights, spec.backbone, title=f"CLIP {spec.backbone} weights",
                            setting=wts.CLIP_SETTING)
    else:
        u = wts.unavailable(spec.weights, spec.backbone, title=f"torchvision {spec.backbone} ImageNet weights")
    return WeightsUnavailableError(f"{spec.family_title} weights file {spec.weights!r} does not exist. "
                                   f"{u.message()}")
