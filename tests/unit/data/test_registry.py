"""Tests for sketch3d.data.registry (sources.yaml)."""
from pathlib import Path

import pytest
import yaml

from sketch3d.data.registry import RegistryError, Source, get_source, load_sources, stored_at


def _entry(**over):
    e = dict(
        name="thing", kind="dataset", urls=["http://127.0.0.1:1/thing.zip"], filename="thing.zip",
        size_bytes=None, sha256=None, dest="downloads", licence="x", citation="y", how_to_get="place it",
    )
    e.update(over)
    return e


def _write(tmp_path: Path, entries) -> Path:
    p = tmp_path / "sources.yaml"
    p.write_text(yaml.safe_dump({"sources": entries}))
    return p


def test_packaged_sources_have_the_items():
    s = load_sources()
    assert set(s) == {"amateursketch_chair", "amateursketch_lamp", "shapenetcore_v2", "clip_rn101_openai",
                      "clip_vit_b_32_openai", "clip_vit_b_16_openai", "torchvision_resnet101_imagenet1k_v1",
                      "torchvision_resnet101_imagenet1k_v2", "torchvision_vit_b_32_imagenet1k_v1",
                      "torchvision_vit_b_16_imagenet1k_v1"}
    assert s["amateursketch_chair"].urls == ("http://personal.ee.surrey.ac.uk/Personal/Y.Song/AmateurSketch-3DChair.zip",)
    assert "UNCONFIRMED" in s["amateursketch_lamp"].how_to_get
    assert "sketchx.eecs.qmul.ac.uk/downloads" in s["amateursketch_lamp"].how_to_get
    assert s["shapenetcore_v2"].urls == () and s["shapenetcore_v2"].filename is None
    clip = s["clip_rn101_openai"]
    assert clip.kind == "weights"
    # OpenAI publishes the sha256 as the folder of the URL
    assert clip.sha256 == clip.urls[0].split("/")[-2]
    assert "timm/resnet101_clip.openai" in clip.how_to_get


def test_paths(tmp_path):
    s = load_sources()
    assert s["amateursketch_chair"].path(tmp_path) == tmp_path / "downloads" / "AmateurSketch-3DChair.zip"
    assert s["amateursketch_chair"].pin_path(tmp_path) == tmp_path / "checksums" / "amateursketch_chair.sha256"
    assert s["shapenetcore_v2"].path(tmp_path) == tmp_path / "ShapeNetCore.v2"


def test_valid_custom_file(tmp_path):
    s = load_sources(_write(tmp_path, [_entry(), _entry(name="other", sha256="a" * 64, size_bytes=10)]))
    assert isinstance(s["other"], Source) and s["other"].size_bytes == 10
    assert get_source("thing", s).filename == "thing.zip"
    with pytest.raises(RegistryError, match="known: \\['other', 'thing'\\]"):
        get_source("nope", s)


@pytest.mark.parametrize(
    "over, message",
    [
        ({"kind": "model"}, "'kind' must be one of"),
        ({"sha256": "ABC"}, "'sha256' must be 64 lowercase hex"),
        ({"size_bytes": -3}, "'size_bytes' must be a positive integer"),
        ({"dest": "../outside"}, "'dest' must be a relative path"),
        ({"dest": "/abs"}, "'dest' must be a relative path"),
        ({"urls": ["ftp://x/y"]}, "no supported scheme"),
        ({"filename": None}, "needs a 'filename'"),
        ({"how_to_get": " "}, "'how_to_get' must be a non-empty string"),
        ({"colour": "red"}, "unknown key"),
    ],
)
def test_invalid_entries_name_the_problem(tmp_path, over, message):
    with pytest.raises(RegistryError, match=message) as info:
        load_sources(_write(tmp_path, [_entry(**over)]))
    assert "sources.yaml" in str(info.value)


def test_missing_key_and_duplicates(tmp_path):
    e = _entry()
    del e["licence"]
    with pytest.raises(RegistryError, match="missing key\\(s\\) \\['licence'\\]"):
        load_sources(_write(tmp_path, [e]))
    with pytest.raises(RegistryError, match="duplicate entry name 'thing'"):
        load_sources(_write(tmp_path, [_entry(), _entry()]))
    (tmp_path / "bad.yaml").write_text("nothing: here\n")
    with pytest.raises(RegistryError, match="top-level key 'sources'"):
        load_sources(tmp_path / "bad.yaml")


def test_stored_at_finds_the_entry_of_a_path_and_names_the_others(tmp_path):
    sources = load_sources()
    chair = next(s for s in sources.values() if s.filename == "AmateurSketch-3DChair.zip")
    same = tmp_path / "x" / ".." / chair.path(tmp_path).relative_to(tmp_path)  # another spelling of the path
    assert stored_at(same, sources.values(), tmp_path) is chair
    with pytest.raises(RegistryError) as err:
        stored_at(tmp_path / "downloads/nope.zip", sources.values(), tmp_path, "my/sources.yaml")
    assert "nope.zip" in str(err.value) and str(chair.path(tmp_path)) in str(err.value)
    assert "my/sources.yaml" in str(err.value)
