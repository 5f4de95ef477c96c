"""Which CLIP architecture a weights file holds, read before any model is built.

A CLIP weights file (OpenAI's TorchScript ``RN101.pt``, open_clip's ``open_clip_model.safetensors``, a plain
state dict) of another model than the configured backbone (RN50 weights where RN101 is set) must stop the run
before any work, naming the file and both architectures. The architecture is read from the tensor shapes the
way OpenAI's ``clip.model.build_model`` reads a released file (open_clip's
``build_model_from_openai_state_dict`` does the same): vision ResNet or ViT, its stage depths / layer count,
width, patch size, input resolution, and the embedding width. The expected one comes from open_clip's model
config of the backbone (``open_clip/model_configs/<name>.json``, read as a file: no model is built).

Only the header of a ``.safetensors`` file is read; a TorchScript archive or a torch state dict is loaded on
the CPU (memory-mapped where the format allows).
"""
from __future__ import annotations

import importlib.util
import json
import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ClipArchitectureError", "ClipArch", "tensor_shapes", "arch_from_shapes", "arch_from_config",
           "models_with", "check_clip_file"]


class ClipArchitectureError(ValueError):
    """A CLIP weights file holds another architecture than the configured backbone."""


@dataclass(frozen=True)
class ClipArch:
    """What a CLIP model's weights fix: enough to tell RN50 from RN101 from ViT-B/32."""

    kind: str  # "resnet" or "vit"
    layers: tuple[int, ...]  # ResNet stage depths, or (number of transformer blocks,) for a ViT
    width: int
    patch_size: int | None
    image_size: int
    embed_dim: int

    def describe(self) -> str:
        if self.kind == "resnet":
            tower = f"ResNet image tower, stages {list(self.layers)}, width {self.width}"
        else:
            tower = f"ViT image tower, {self.layers[0]} blocks, width {self.width}, patch {self.patch_size}"
        return f"{tower}, {self.image_size} px input, embedding {self.embed_dim}"


def _is_torchscript(path: Path) -> bool:
    from sketch3d.weights import is_torchscript

    return is_torchscript(path)


def tensor_shapes(path: str | os.PathLike) -> dict[str, tuple[int, ...]]:
    """{key: shape} of the tensors a weights file holds (``module.`` prefixes and a ``state_dict`` wrapper removed)."""
    path = Path(path)
    if path.suffix.lower() == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    import torch

    if _is_torchscript(path):
        state = torch.jit.load(str(path), map_location="cpu").state_dict()
    else:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError:  # legacy (non-zip) files cannot be memory-mapped
            state = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
            state = state["state_dict"]
    if not isinstance(state, dict):
        return {}
    return {(k[7:] if k.startswith("module.") else k): tuple(v.shape) for k, v in state.items() if hasattr(v, "shape")}


def _blocks(keys, prefix: str) -> int:
    return len({k[len(prefix):].split(".")[0] for k in keys if k.startswith(prefix)})


def arch_from_shapes(shapes: dict[str, tuple[int, ...]]) -> ClipArch | None:
    """The architecture of a CLIP state dict in OpenAI's / open_clip's key layout; None if it is not one."""
    if "text_projection" not in shapes or len(shapes["text_projection"]) != 2:
        return None
    embed_dim = int(shapes["text_projection"][1])
    keys = list(shapes)
    if "visual.proj" in shapes and "visual.conv1.weight" in shapes and "visual.positional_embedding" in shapes:
        width, _, patch, _ = shapes["visual.conv1.weight"]
        grid = round((shapes["visual.positional_embedding"][0] - 1) ** 0.5)
        return ClipArch("vit", (_blocks(keys, "visual.transformer.resblocks."),), int(width), int(patch),
                        int(patch * grid), embed_dim)
    if "visual.layer1.0.conv1.weight" in shapes and "visual.attnpool.positional_embedding" in shapes:
        layers = tuple(_blocks(keys, f"visual.layer{b}.") for b in (1, 2, 3, 4))
        grid = round((shapes["visual.attnpool.positional_embedding"][0] - 1) ** 0.5)
        return ClipArch("resnet", layers, int(shapes["visual.layer1.0.conv1.weight"][0]), None, int(grid * 32),
                        embed_dim)
    return None


def _config_dir() -> Path | None:
    spec = importlib.util.find_spec("open_clip")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "model_configs"


def _config(name: str) -> dict | None:
    folder = _config_dir()
    path = folder / f"{name}.json" if folder is not None else None
    return json.loads(path.read_text()) if path is not None and path.is_file() else None


def _arch_of_config(cfg: dict) -> ClipArch | None:
    v = cfg.get("vision_cfg") or {}
    if "timm_model_name" in v or "hf_model_name" in v:
        return None
    layers, size = v.get("layers"), v.get("image_size", 224)
    size = size[0] if isinstance(size, (list, tuple)) else size
    if isinstance(layers, (list, tuple)):
        return ClipArch("resnet", tuple(int(x) for x in layers), int(v.get("width", 64)), None, int(size),
                        int(cfg["embed_dim"]))
    if isinstance(layers, int):
        return ClipArch("vit", (layers,), int(v.get("width", 768)), int(v.get("patch_size", 16)), int(size),
                        int(cfg["embed_dim"]))
    return None


def arch_from_config(backbone: str) -> ClipArch | None:
    """The architecture open_clip's config of ``backbone`` builds; None for an unknown or non-CLIP-layout model."""
    cfg = _config(backbone)
    return _arch_of_config(cfg) if cfg else None


def models_with(arch: ClipArch) -> list[str]:
    """open_clip model names whose config builds ``arch`` (e.g. ['RN50', 'RN50-quickgelu'])."""
    folder = _config_dir()
    if folder is None:
        return []
    out = []
    for path in sorted(folder.glob("*.json")):
        try:
            if _arch_of_config(json.loads(path.read_text())) == arch:
                out.append(path.stem)
        except (ValueError, KeyError, TypeError):
            continue
    return out


def check_clip_file(path: str | os.PathLike, backbone: str, setting: str = "profiles.paper.features.weights") -> None:
    """Raise ClipArchitectureError when ``path`` holds a CLIP model other than ``backbone`` (or no CLIP at all).

    Silent when the backbone's architecture cannot be read from open_clip's configs (a timm or Hugging Face
    tower): open_clip's strict loading then checks the file.
    """
    expected = arch_from_config(backbone)
    if expected is None:
        return
    try:
        shapes = tensor_shapes(path)
    except Exception as exc:  # unreadable: the loader's own error says more; name the file here
        raise ClipArchitectureError(
            f"CLIP weights file {path} cannot be read as a weights file ({type(exc).__name__}: {exc}); expected "
            f"CLIP {backbone} ({expected.describe()}). Get the file again, or fix {setting} in params.yaml"
        ) from exc
    found = arch_from_shapes(shapes)
    if found == expected:
        return
    if found is None:
        held = (f"no CLIP model in OpenAI's / open_clip's key layout ({len(shapes)} tensors, e.g. "
                f"{sorted(shapes)[:3]})")
    else:
        names = sorted(models_with(found), key=len)
        held = f"CLIP {' / '.join(names[:3]) if names else 'model'} ({found.describe()})"
    raise ClipArchitectureError(
        f"CLIP weights file {path} holds {held}, but the configured backbone is {backbone} "
        f"({expected.describe()}). Put the {backbone} weights there, or set features.backbone to the file's "
        f"model, or point {setting} in params.yaml at a {backbone} file."
    )
