"""The names that cross chapters, each typed once: the data splits and how a table id is spelled.

- **Splits**: :data:`SPLITS`. The data, retrieval, SketchyDepth and NetSpace stages all split their sets into
  these three; the rules' `split` wildcard constraint and the schema's enums follow this tuple (a test checks
  the schema against it).
- **Table ids**: the thesis's number as it prints it, ``"4.8"``, ``"B.2"`` (or a name, ``"reconstruction"``,
  for a table the thesis does not have). :func:`table_slug` (``4_8``: the rules' `table` wildcard, a log's
  name) and :func:`table_stem` (``table_4_8``: the file name of a result table and of the thesis's reference
  CSV) are the only places that spell it otherwise; :func:`table_id` reads either back.

Each chapter names its own tables, settings and models in its own modules (retrieval: ``retrieval.methods``,
``retrieval.grid_tables``; SketchyDepth: ``sketchydepth.names``; reconstruction:
``reconstruction.names``; NetSpace: ``netspace.names``); ``sketch3d.table_stages`` finds every chapter's
tables for the DVC front end. A light module (the standard library only): the CLI's ``choices`` and many
jobs' code versions (``sketch3d.codeversion``) follow it, so it holds names only.

Adding a split edits :data:`SPLITS` (and the data that fills it).
"""
from __future__ import annotations

SPLITS = ("train", "val", "test")


def table_slug(table: str) -> str:
    """``4_8`` for table ``4.8``: the `table` wildcard of the rules and a table job's log name."""
    return table.replace(".", "_")


def table_stem(table: str) -> str:
    """``table_4_8`` for table ``4.8``: the file name (less the suffix) of a result table and of its thesis CSV."""
    return f"table_{table_slug(table)}"


def table_id(name: str) -> str:
    """The id (``4.8``) of a slug (``4_8``), a stem (``table_4_8``) or an id."""
    return name.removeprefix("table_").replace("_", ".")
