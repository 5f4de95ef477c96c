"""Pretrained weights: what a setting means, where its file lies, how to get it, what it is.

The one place that knows the weight files of every pretrained network the
pipeline uses. A weights *setting* (``profiles.paper.features.weights`` in
params.yaml, a ``FeatureSpec.weights``) is one of

- ``"random"``: seeded random initialisation, no file;
- a *tag* registered below for the network (open_clip's ``"openai"`` for the CLIP
  networks, torchvision's ``"IMAGENET1K_V1"`` for its ImageNet classifiers);
- a *file path*: contains a path separator, starts with ``~``, ends with one of
  :data:`WEIGHT_SUFFIXES` or names an existing file.

For a tag, :func:`find_local` looks where its file may already lie, offline and
without touching the network: the Hugging Face cache, ``<data_dir>/<dest>/<filename>``
of its sources.yaml entry (verified against the registry's sha256), torch hub's
checkpoint folder (``torch.hub.get_dir()/checkpoints/resnet101-63fe2227.pth``, checked
against the sha256 prefix torchvision puts in the name) and the network's own download
caches (``~/.cache/clip/RN101.pt``). :func:`unavailable`
is the single "what, where, how to get it" message used by the preflight check
and by the loaders' errors; :func:`sha256` is the content digest for cache keys;
:func:`describe` a portable description (no absolute path) for provenance columns.

Adding a network (MiDaS v2.1, SDF-StyleGAN, pytorch-fid's Inception, ...) is one
:class:`Pretrained` entry in :data:`REGISTRY` (plus, where the file can be
downloaded or placed by hand, one sources.yaml entry named by ``source``), e.g.::

    Pretrained(network="inception_fid", tag="pt_inception-2015-12-05", title="pytorch-fid Inception weights",
               setting="<params key>", source="inception_fid",
               user_files=("~/.cache/torch/hub/checkpoints/pt_inception-2015-12-05-6726825d.pth",),
               online="python -c 'from pytorch_fid.inception import fid_inception_v3; fid_inception_v3()'")

This module imports neither torch nor open_clip (the loaders do); nothing here
reaches the network.
"""
from __future__ import annotations

import functools
import hashlib
import os
import posixpath
import re
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from sketch3d.data.registry import Source

__all__ = [
    "RANDOM",
    "WEIGHT_SUFFIXES",
    "CLIP_SETTING",
    "NETWORK_SETTING",
    "network_setting",
    "Pretrained",
    "REGISTRY",
    "Unavailable",
    "find",
    "tags",
    "is_file_setting",
    "kind",
    "setting_path",
    "hf_cache",
    "hub_offline",
    "torch_hub_dir",
    "find_local",
    "local_file",
    "from_open_clip",
    "from_torchvision",
    "how_to_get",
    "unavailable",
    "sha256",
    "is_torchscript",
    "describe",
]

RANDOM = "random"
# One list for everyone: a setting ending in one of these is a file path, never a tag.
WEIGHT_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors", ".ckpt")
# The params.yaml key that names the CLIP weights of the paper profile (named in every message).
CLIP_SETTING = "profiles.paper.features.weights"
# The key of a named network's weights (features.networks.<name>, sketch3d.features.stage.feature_spec);
# registry entries not tied to one name carry the template, callers pass the concrete key.
NETWORK_SETTING = "profiles.paper.features.networks.<name>.weights"
HF_ENDPOINT = "https://huggingface.co"
_HF_DEFAULT_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
# torch.hub's reading of a checkpoint name: "<name>-<first hex digits of its sha256>.<ext>".
_HUB_HASH = re.compile(r"-([a-f0-9]*)\.")

Kind = Literal["random", "tag", "file", "unknown"]


@dataclass(frozen=True)
class Pretrained:
    """The weights a tag names for one network: where they may lie, how a person gets them."""

    network: str  # e.g. "RN101" (the open_clip model name for CLIP networks)
    tag: str  # the setting value that names these weights, e.g. "openai"
    title: str  # what, in messages: "CLIP RN101 weights"
    setting: str  # the params.yaml key to change, in messages
    tag_of: str = ""  # whose tag it is, in messages ("open_clip")
    hf_repo: str | None = None  # Hugging Face repo holding the file
    hf_files: tuple[str, ...] = ()  # file names in that repo, first found wins
    source: str | None = None  # sources.yaml entry: the file lies at <data_dir>/<dest>/<filename>
    user_files: tuple[str, ...] = ()  # other caches the network's library fills ("~" allowed)
    online: str = ""  # one command that, with internet, puts the file in a cache above
    hub_checkpoint: str | None = None  # file name in torch hub's <get_dir()>/checkpoints (torchvision's)
    url: str | None = None  # where the file is published, in messages
    # False where the hex part of hub_checkpoint's name is not the start of the file's sha256 (pytorch-fid's
    # Inception file shares its "6726825d" with torch-fidelity's other file): nothing is checked against it.
    hub_name_is_sha256: bool = True

    @property
    def sha256_prefix(self) -> str | None:
        """The leading sha256 hex digits a torch hub checkpoint name carries (torch.hub's own rule), or None."""
        if not self.hub_name_is_sha256:
            return None
        m = _HUB_HASH.search(self.hub_checkpoint or "")
        return m.group(1) if m and m.group(1) else None

    def hub_url(self, endpoint: str | None = None) -> str | None:
        """URL of the first ``hf_files`` entry on the hub (``endpoint``, default $HF_ENDPOINT or huggingface.co)."""
        if not self.hf_repo or not self.hf_files:
            return None
        endpoint = endpoint or os.environ.get("HF_ENDPOINT") or HF_ENDPOINT
        return f"{endpoint.rstrip('/')}/{self.hf_repo}/resolve/main/{self.hf_files[0]}"


# open_clip 3.3 (pretrained.py): RN101/openai has hf_hub "timm/resnet101_clip.openai/" with no file
# name, so it tries open_clip_model.safetensors, then open_clip_pytorch_model.bin; without
# huggingface_hub it downloads OpenAI's TorchScript RN101.pt into ~/.cache/clip.
# tests/unit/test_weights.py checks these entries against open_clip's own table.
REGISTRY: tuple[Pretrained, ...] = (
    Pretrained(
        network="RN101",
        tag="openai",
        title="CLIP RN101 weights",
        setting=CLIP_SETTING,
        tag_of="open_clip",
        hf_repo="timm/resnet101_clip.openai",
        hf_files=_HF_DEFAULT_FILES,
        source="clip_rn101_openai",
        user_files=("~/.cache/clip/RN101.pt",),
        online="python -c \"import open_clip; open_clip.create_model_and_transforms('RN101', pretrained='openai')\"",
    ),
    *(
        Pretrained(
            network=net,
            tag="openai",
            title=f"CLIP {net} weights",
            setting=NETWORK_SETTING,
            tag_of="open_clip",
            hf_repo=repo,
            hf_files=_HF_DEFAULT_FILES,
            source=source,
            user_files=(f"~/.cache/clip/{net}.pt",),
            online=f"python -c \"import open_clip; open_clip.create_model_and_transforms('{net}', pretrained='openai')\"",
        )
        for net, repo, source in (
            ("ViT-B-32", "timm/vit_base_patch32_clip_224.openai", "clip_vit_b_32_openai"),
            ("ViT-B-16", "timm/vit_base_patch16_clip_224.openai", "clip_vit_b_16_openai"),
        )
    ),
    # torchvision's ImageNet-1K classifiers (Table 4.6). The file names and URLs are those of
    # torchvision 0.28's weights enums (ResNet101_Weights, ViT_B_32_Weights, ViT_B_16_Weights);
    # tests/unit/test_weights.py checks them against torchvision's own table.
    *(
        Pretrained(
            network=net,
            tag=tag,
            title=f"torchvision {title} ImageNet weights",
            setting=NETWORK_SETTING,
            tag_of="torchvision",
            source=f"torchvision_{net}_{tag.lower()}",
            hub_checkpoint=file,
            url=f"https://download.pytorch.org/models/{file}",
            online=f"python -c \"import torchvision; torchvision.models.get_model('{net}', weights='{tag}')\"",
        )
        for net, title, tag, file in (
            ("resnet101", "ResNet-101", "IMAGENET1K_V1", "resnet101-63fe2227.pth"),
            ("resnet101", "ResNet-101", "IMAGENET1K_V2", "resnet101-cd907fc2.pth"),
            ("vit_b_32", "ViT-B/32", "IMAGENET1K_V1", "vit_b_32-d86f8d99.pth"),
            ("vit_b_16", "ViT-B/16", "IMAGENET1K_V1", "vit_b_16-c867db91.pth"),
        )
    ),
    # pytorch-fid 0.3.0's InceptionV3 (FID, thesis Table 3.1): the file pytorch_fid.inception.FID_WEIGHTS_URL names,
    # which pytorch-fid itself loads from torch hub's checkpoints folder (sketch3d.sketchydepth.fid never lets it
    # download).
    Pretrained(
        network="pt_inception",
        tag="pt_inception-2015-12-05",
        title="pytorch-fid InceptionV3 weights (FID)",
        setting="profiles.paper.sketchydepth.fid.weights",
        tag_of="pytorch-fid",
        source="pytorch_fid_inception",
        hub_checkpoint="pt_inception-2015-12-05-6726825d.pth",
        hub_name_is_sha256=False,
        url="https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth",
        online="python -c \"from pytorch_fid.inception import fid_inception_v3; fid_inception_v3()\"",
    ),
    # MiDaS v2.1 (chapter 3's depth labeller, sketch3d.sketchydepth.midas). The hex part of the file name is
    # the start of its sha256: MiDaS's hubconf loads it with torch.hub's check_hash=True. Its source entry is in
    # the chapter's registry (sketch3d.sketchydepth.sources.chapter_sources(): pass it as ``sources``).
    Pretrained(
        network="midas_v21",
        tag="v2.1",
        title="MiDaS v2.1 weights (ResNeXt-101 MidasNet)",
        setting="profiles.paper.sketchydepth.labeller.weights",
        tag_of="MiDaS",
        source="midas_v21",
        hub_checkpoint="midas_v21-f6b98070.pt",
        url="https://github.com/isl-org/MiDaS/releases/download/v2_1/midas_v21-f6b98070.pt",
    ),
)


@dataclass(frozen=True)
class Unavailable:
    """Weights that cannot be had now: what they are, where the file must lie, how to get it."""

    what: str
    path: str
    how_to_get: str

    def message(self) -> str:
        return f"{self.what}. Expected at: {self.path}. How to get it: {self.how_to_get}"


# ----------------------------------------------------------------------------- what a setting means


def find(network: str, tag: str) -> Pretrained | None:
    """The registry entry for ``tag`` of ``network``, or None."""
    return next((w for w in REGISTRY if w.network == network and w.tag == tag), None)


def tags(network: str) -> tuple[str, ...]:
    """The registered tags of ``network``."""
    return tuple(w.tag for w in REGISTRY if w.network == network)


def network_setting(name: str) -> str:
    """The params.yaml key of the weights of the named network ``name`` (``features.networks.<name>``)."""
    return NETWORK_SETTING.replace("<name>", name)


def _reserved() -> set[str]:
    return {RANDOM} | {w.tag for w in REGISTRY}


def setting_path(value: str | os.PathLike, base: str | os.PathLike = ".") -> Path:
    """The file a path setting names: ``~`` expanded, relative paths taken from ``base``."""
    p = Path(value).expanduser()
    return p if p.is_absolute() else Path(base) / p


def is_file_setting(value: str, base: str | os.PathLike = ".") -> bool:
    """True if ``value`` names a weights file rather than ``random`` or a registered tag.

    A file path contains ``/`` (or os.sep), starts with ``~``, ends with one of
    :data:`WEIGHT_SUFFIXES` (any case), or names an existing file under ``base``.
    """
    value = str(value)
    if not value or value in _reserved():
        return False
    return (
        value.lower().endswith(WEIGHT_SUFFIXES)
        or "/" in value
        or os.sep in value
        or value.startswith("~")
        or setting_path(value, base).is_file()
    )


def kind(value: str, network: str, base: str | os.PathLike = ".") -> Kind:
    """``"random"``, ``"tag"`` (registered for ``network``), ``"file"`` or ``"unknown"``."""
    if value == RANDOM:
        return "random"
    if find(network, value) is not None:
        return "tag"
    if is_file_setting(value, base):
        return "file"
    return "unknown"


# ----------------------------------------------------------------------------- where a file lies offline


def hf_cache(explicit: str | os.PathLike | None = None) -> Path:
    """The Hugging Face hub cache, read from the environment now (as huggingface_hub does at import)."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ
    for key in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if env.get(key):
            return Path(env[key]).expanduser()
    home = env.get("HF_HOME") or os.path.join(env.get("XDG_CACHE_HOME") or "~/.cache", "huggingface")
    return Path(home).expanduser() / "hub"


def hub_offline() -> bool:
    """True when HF_HUB_OFFLINE asks for no hub access (huggingface_hub's reading: 1, true, yes, on)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in ("1", "ON", "YES", "TRUE")


def torch_hub_dir() -> Path:
    """torch hub's folder, as ``torch.hub.get_dir()`` reads it: that function itself once torch is imported
    (it honours ``torch.hub.set_dir``), else $TORCH_HOME/hub, $XDG_CACHE_HOME/torch/hub or ~/.cache/torch/hub."""
    torch = sys.modules.get("torch")
    hub = getattr(torch, "hub", None) if torch is not None else None
    if hub is not None:
        return Path(hub.get_dir()).expanduser()
    env = os.environ
    home = env.get("TORCH_HOME") or os.path.join(env.get("XDG_CACHE_HOME") or "~/.cache", "torch")
    return Path(home).expanduser() / "hub"


def _hub_checkpoint(w: Pretrained) -> Path | None:
    return torch_hub_dir() / "checkpoints" / w.hub_checkpoint if w.hub_checkpoint else None


def _prefix_mismatch(w: Pretrained, path: Path) -> str:
    """Why ``path`` is not ``w``'s file by the sha256 prefix its published name carries, or ""."""
    prefix = w.sha256_prefix
    if not prefix:
        return ""
    digest = sha256(path)
    if digest.startswith(prefix):
        return ""
    return (f"{path}: sha256 {digest} does not start with {prefix}, the prefix published in the file name "
            f"{w.hub_checkpoint}; the file is incomplete or another one: delete it and get it again")


def _hub_state(w: Pretrained) -> tuple[Path | None, str]:
    """(the checked file in torch hub's checkpoints or None, why a file there is rejected or "")."""
    path = _hub_checkpoint(w)
    if path is None or not path.is_file():
        return None, ""
    why = _prefix_mismatch(w, path)
    return (None, why) if why else (path, "")


def _sources(sources: dict[str, Source] | None) -> dict[str, Source]:
    if sources is not None:
        return sources
    from sketch3d.data.registry import load_sources

    return load_sources()


def _hf_cached(w: Pretrained, cache_dir: str | os.PathLike | None) -> Path | None:
    if not w.hf_repo:
        return None
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    folder = str(hf_cache(cache_dir))
    for name in w.hf_files:
        hit = try_to_load_from_cache(w.hf_repo, name, cache_dir=folder)
        if isinstance(hit, str) and os.path.isfile(hit):
            return Path(hit)
    return None


def _data_dir_state(w: Pretrained, data_dir, sources) -> tuple[Path | None, str]:
    """(the verified file under data_dir or None, why a file there is rejected or "")."""
    if not w.source or data_dir is None:
        return None, ""
    src = _sources(sources).get(w.source)
    if src is None or not src.filename:
        return None, ""
    path = src.path(data_dir)
    if not path.is_file():
        return None, ""
    from sketch3d.data.download import VerificationError, verify

    try:
        verify(path, src, data_dir)
    except VerificationError as err:
        return None, str(err)
    why = _prefix_mismatch(w, path)
    return (None, why) if why else (path, "")


def find_local(
    w: Pretrained,
    *,
    data_dir: str | os.PathLike | None = None,
    hf_cache_dir: str | os.PathLike | None = None,
    sources: dict[str, Source] | None = None,
) -> Path | None:
    """A local file holding ``w``, or None; looks, in order, in the Hugging Face cache,
    ``<data_dir>/<dest>/<filename>`` (verified; skipped without ``data_dir``), torch hub's
    ``checkpoints`` folder (:func:`torch_hub_dir`; sha256 prefix checked) and ``user_files``."""
    hit = _hf_cached(w, hf_cache_dir)
    if hit is not None:
        return hit
    hit, _ = _data_dir_state(w, data_dir, sources)
    if hit is not None:
        return hit
    hit, _ = _hub_state(w)
    if hit is not None:
        return hit
    for name in w.user_files:
        p = Path(name).expanduser()
        if p.is_file():
            return p
    return None


def local_file(
    value: str,
    network: str,
    *,
    data_dir: str | os.PathLike | None = None,
    base: str | os.PathLike = ".",
    hf_cache_dir: str | os.PathLike | None = None,
    sources: dict[str, Source] | None = None,
) -> Path | None:
    """The local file a setting names for ``network`` (a path that exists, or a tag found
    by :func:`find_local`); None for ``random``, an unknown value or a file not on disk."""
    k = kind(value, network, base)
    if k == "file":
        path = setting_path(value, base)
        return path if path.is_file() else None
    if k == "tag":
        return find_local(find(network, value), data_dir=data_dir, hf_cache_dir=hf_cache_dir, sources=sources)
    return None


def from_open_clip(network: str, tag: str, cfg: dict) -> Pretrained:
    """An entry for an open_clip tag that is not registered, from open_clip's pretrained config."""
    repo, files = None, ()
    hf = cfg.get("hf_hub") or ""
    if hf:
        repo, filename = posixpath.split(hf)  # as open_clip does: "org/name/" -> ("org/name", "")
        names = [filename] if filename else list(_HF_DEFAULT_FILES)
        if filename.endswith((".bin", ".pth")):
            names.insert(0, filename[:-4] + ".safetensors")
        files = tuple(names)
    url = cfg.get("url") or ""
    user_files = (f"~/.cache/clip/{posixpath.basename(url)}",) if url else ()
    return Pretrained(
        network=network, tag=tag, title=f"CLIP {network} weights", setting=CLIP_SETTING, tag_of="open_clip",
        hf_repo=repo, hf_files=files, user_files=user_files,
        online=f"python -c \"import open_clip; open_clip.create_model_and_transforms('{network}', "
               f"pretrained='{tag}')\"",
    )


def from_torchvision(network: str, tag: str, url: str) -> Pretrained:
    """An entry for a torchvision weights enum member that is not registered (``url``: the enum's ``url``)."""
    file = posixpath.basename(url)
    return Pretrained(
        network=network, tag=tag, title=f"torchvision {network} ImageNet weights", setting=NETWORK_SETTING,
        tag_of="torchvision", hub_checkpoint=file, url=url,
        online=f"python -c \"import torchvision; torchvision.models.get_model('{network}', weights='{tag}')\"",
    )


# ----------------------------------------------------------------------------- how to get it


def _expected_at(w: Pretrained, data_dir, sources, hf_dir=None) -> str:
    if w.hub_checkpoint:  # where torchvision itself puts and looks for it
        return str(_hub_checkpoint(w))
    src = _sources(sources).get(w.source) if w.source else None
    if src is not None and src.filename:
        return str(src.path(data_dir)) if data_dir is not None else f"<data_dir>/{src.dest}/{src.filename}"
    if w.hf_repo and w.hf_files:
        return f"{hf_cache(hf_dir)} (Hugging Face cache, repo {w.hf_repo})"
    if w.user_files:
        return str(Path(w.user_files[0]).expanduser())
    return f"a local file named by {w.setting}"


def how_to_get(
    w: Pretrained,
    *,
    data_dir: str | os.PathLike | None = None,
    hf_cache_dir: str | os.PathLike | None = None,
    sources: dict[str, Source] | None = None,
    setting: str | None = None,
) -> str:
    """How a person gets ``w``'s file: the registry's instructions, where it is published, every place
    looked at, the online command, the params key (``setting``, default ``w.setting``) to point elsewhere."""
    parts: list[str] = []
    src = _sources(sources).get(w.source) if w.source else None
    if src is not None:
        parts.append(src.how_to_get)
    if w.url and (src is None or w.url not in src.how_to_get):
        parts.append(f"Download: {w.url}" + (f" and place it, unrenamed, at {_hub_checkpoint(w)}."
                                             if w.hub_checkpoint else "."))
    places: list[str] = []
    if w.hf_repo and w.hf_files:
        places.append(f"the Hugging Face cache {hf_cache(hf_cache_dir)} (repo {w.hf_repo}, file "
                      f"{' or '.join(w.hf_files)})")
    if src is not None and src.filename:
        places.append(str(src.path(data_dir)) if data_dir is not None else f"<data_dir>/{src.dest}/{src.filename}")
    if w.hub_checkpoint:
        places.append(f"{_hub_checkpoint(w)} (torch hub's cache)")
    places += list(w.user_files)
    if places:
        parts.append(f"Looked for offline in: {'; '.join(places)}.")
    for rejected in (_data_dir_state(w, data_dir, sources)[1], _hub_state(w)[1]):
        if rejected:
            parts.append(f"The file there is rejected: {rejected}")
    if w.online:
        parts.append(f"With internet, once: {w.online}.")
    parts.append(f"Or set {setting or w.setting} in params.yaml to the path of a local copy "
                 f"({' / '.join(WEIGHT_SUFFIXES)}).")
    return " ".join(parts)


def unavailable(
    value: str,
    network: str,
    *,
    entry: Pretrained | None = None,
    title: str | None = None,
    setting: str | None = None,
    known_tags: tuple[str, ...] | list[str] | None = None,
    data_dir: str | os.PathLike | None = None,
    base: str | os.PathLike = ".",
    hf_cache_dir: str | os.PathLike | None = None,
    sources: dict[str, Source] | None = None,
) -> Unavailable:
    """What, where and how for a setting whose file is not on disk (the preflight's and the loaders' message).

    ``entry`` describes a tag that is not registered (``from_open_clip``); ``title``,
    ``setting`` and ``known_tags`` default to the network's registry entries.
    """
    registered = [w for w in REGISTRY if w.network == network]
    w = entry or find(network, value)
    first = w or (registered[0] if registered else None)
    title = title or (first.title if first else f"{network} weights")
    setting = setting or (first.setting if first else "the weights setting")
    ctx = dict(data_dir=data_dir, hf_cache_dir=hf_cache_dir, sources=sources, setting=setting)
    if w is not None and value == w.tag:
        whose = f"{w.tag_of} tag" if w.tag_of else "tag"
        where = _expected_at(w, data_dir, sources, hf_cache_dir)
        return Unavailable(f"{title} ({whose} '{value}')", where, how_to_get(w, **ctx))
    if value != RANDOM and is_file_setting(value, base):
        how = f"{setting} points to a file that does not exist; put it there or fix the path."
        if registered:
            how += " " + how_to_get(registered[0], **ctx)
        return Unavailable(f"{title} (local file named by {setting})", str(setting_path(value, base)), how)
    known = list(known_tags) if known_tags is not None else [r.tag for r in registered]
    whose = f"{first.tag_of} tag" if first and first.tag_of else "tag"
    choices = f"the {whose}{'s' if len(known) > 1 else ''} {', '.join(map(repr, known))} or " if known else ""
    return Unavailable(
        f"{title}: unknown value '{value}'",
        f"{setting} in params.yaml",
        f"use {choices}the path of a local weights file ({' / '.join(WEIGHT_SUFFIXES)}), or 'random'",
    )


# ----------------------------------------------------------------------------- what a file is


# A weights file's digest is kept across processes under the user's cache folder, keyed, as DVC keys its own
# hashes, by the file's resolved path, size, modification time (ns) and inode: every job that names a weights file
# hashes it (provenance, feature-cache keys), and hashing CLIP RN101's 0.5 GB takes ~1 s a job. A file rewritten
# with its old size and mtime forced back is the one case this misses; SKETCH3D_HASH_MEMO=off turns it off.
HASH_MEMO_MIN_BYTES = 1 << 24  # smaller files are hashed afresh (a few ms)


def _hash_memo_dir() -> Path | None:
    setting = os.environ.get("SKETCH3D_HASH_MEMO", "")
    if setting.lower() in ("off", "0", "no"):
        return None
    if setting:
        return Path(setting)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sketch3d" / "sha256"


def _memo_file(path: str, size: int, mtime_ns: int, inode: int) -> Path | None:
    folder = _hash_memo_dir()
    if folder is None or size < HASH_MEMO_MIN_BYTES:
        return None
    key = hashlib.sha256(f"{path}\0{size}\0{mtime_ns}\0{inode}".encode()).hexdigest()[:32]
    return folder / key


@functools.lru_cache(maxsize=32)
def _sha256(path: str, size: int, mtime_ns: int, inode: int = 0) -> str:
    memo = _memo_file(path, size, mtime_ns, inode)
    if memo is not None:
        try:
            known = memo.read_text().strip()
            if re.fullmatch(r"[0-9a-f]{64}", known):
                return known
        except OSError:
            pass
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)
    digest = h.hexdigest()
    if memo is not None:
        try:  # best effort: a memo that cannot be written costs the next job a hash, nothing else
            memo.parent.mkdir(parents=True, exist_ok=True)
            tmp = memo.with_name(f"{memo.name}.{os.getpid()}.tmp")
            tmp.write_text(digest)
            os.replace(tmp, memo)
        except OSError:
            pass
    return digest


def sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a weights file, memoised per (resolved path, size, mtime, inode) within a process and, for
    files of 16 MiB and more, across processes (see :data:`HASH_MEMO_MIN_BYTES`)."""
    p = Path(path).expanduser().resolve()
    st = p.stat()
    return _sha256(str(p), st.st_size, st.st_mtime_ns, st.st_ino)


def is_torchscript(path: str | os.PathLike) -> bool:
    """True for a TorchScript archive (OpenAI's RN101.pt): load it with ``weights_only=False``."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as zf:
        return any(n.endswith("/constants.pkl") or "/code/" in n for n in zf.namelist())


def describe(
    value: str,
    network: str | None = None,
    *,
    local: str | os.PathLike | None = None,
    seed: int | None = None,
    family: str = "weights",
    base: str | os.PathLike = ".",
    data_dir: str | os.PathLike | None = None,
    sources: dict[str, Source] | None = None,
) -> str:
    """A portable description of a setting's weights, with no absolute path (for provenance).

    ``"random init (seed 0), NOT pretrained <family>"``, ``"openai (sha256:<hex>)"`` (the
    tag's file: ``local``, else looked up offline) or ``"file RN101.pt (sha256:<hex>)"``.
    """
    if value == RANDOM:
        return f"random init (seed {seed}), NOT pretrained {family}"
    if network is not None and find(network, value) is not None:
        path = local if local is not None else find_local(find(network, value), data_dir=data_dir, sources=sources)
        return f"{value} (sha256:{sha256(path)})" if path is not None else f"{value} (no local file)"
    if is_file_setting(value, base):
        path = Path(local) if local is not None else setting_path(value, base)
        name = Path(value).name
        return f"file {name} (sha256:{sha256(path)})" if path.is_file() else f"file {name} (missing)"
    if local is not None:  # a tag the network's library knows (not registered) and its file
        return f"{value} (sha256:{sha256(local)})"
    return value
