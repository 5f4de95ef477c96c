"""The image sets a NetSpace zoo is trained on, by name, and one set's ``netspace.data`` as its jobs read it.

A light module (the standard library only): the workflow's rules read it when Snakemake loads them and for every
job's settings, so building the DAG imports no torch (``netspace.images`` reads the sets themselves).
"""
from __future__ import annotations

from dataclasses import dataclass


class ImagesError(ValueError):
    """An image set that cannot be read as configured; the message names the file or key and the fix."""


@dataclass(frozen=True)
class DatasetInfo:
    """One image set: classes, native side (None: resized to ``image_size``), its registry entry (paper)."""

    name: str
    num_classes: int
    native_size: int | None
    source: str | None
    pool: int  # images the train / val split is drawn from (digits: all of them, train + val + test)


DATASETS = {
    "digits": DatasetInfo("digits", 10, None, None, 1797),
    "cifar10": DatasetInfo("cifar10", 10, 32, "cifar10_python", 50000),
    "tinyimagenet": DatasetInfo("tinyimagenet", 200, 64, "tiny_imagenet_200", 100000),
}
"""name -> DatasetInfo; ``source`` is the entry of netspace/sources.yaml holding the archive."""


# ----------------------------------------------------------------------------- settings


SHARED_DATA_KEYS = ("augment", "batch")  # netspace.data keys shared by the datasets; the rest per dataset


def dataset_data(data: dict, dataset: str) -> dict:
    """One dataset's ``netspace.data`` as the jobs read it (``dataset``, ``image_size``, ``splits``, ``augment``,
    ``batch``): the shared keys of ``data`` with its ``<dataset>`` block over them (params.yaml: ``netspace.data``
    holds ``augment``, ``batch`` and a block per dataset, ``netspace.datasets`` the ones a run makes)."""
    if dataset not in DATASETS:
        raise ImagesError(f"params: netspace.datasets names {dataset!r}; known {sorted(DATASETS)}")
    block = data.get(dataset) if isinstance(data, dict) else None
    if not isinstance(block, dict):
        raise ImagesError(f"params: netspace.data.{dataset} (image_size, splits) missing; add the block to "
                          "params.yaml beside the other datasets'")
    return {"dataset": dataset, **{k: data[k] for k in SHARED_DATA_KEYS if k in data}, **block}
