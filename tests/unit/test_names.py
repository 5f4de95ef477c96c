"""The package names things once: splits, table ids, NetSpace settings, searches and depth models are typed in one
module each, and the rules, the CLI, the schema and dvc.yaml follow them (issue 17)."""
from __future__ import annotations

import functools
import io
import re
import tokenize
from pathlib import Path

import pytest
import yaml

from sketch3d.names import SPLITS, table_id, table_slug, table_stem
from sketch3d.table_stages import DVC_BEGIN, DVC_END, all_tables, chapter_tables, dvc_table_stages, \
    write_dvc_table_stages

REPO = Path(__file__).resolve().parents[2]
PKG = REPO / "src/sketch3d"


# ----------------------------------------------------------------------------- the spelling of a table id
def test_a_table_id_has_one_spelling_and_two_derived_forms():
    assert (table_slug("4.8"), table_stem("4.8"), table_stem("reconstruction")) == ("4_8", "table_4_8",
                                                                                      "table_reconstruction")
    for t in all_tables():
        assert table_id(table_slug(t)) == table_id(table_stem(t)) == table_id(t) == t


def test_every_thesis_table_has_its_reference_file():
    """The thesis's numbers ship as reference/<table_stem>.csv (the file names stay: the rules list them)."""
    from sketch3d.report.reference import table_file, thesis_table

    for t in all_tables():
        if t == "reconstruction":  # the thesis has no numbers for it (4.3.3: figures only)
            continue
        assert table_file(t).name == f"{table_stem(t)}.csv"
        assert set(thesis_table(t)["table"]) == {t}


def test_every_chapter_lists_its_tables_and_their_params_sections():
    chapters = [c.chapter for c in chapter_tables()]
    assert chapters == ["retrieval", "sketchydepth", "reconstruction", "netspace"]
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    for c in chapter_tables():
        assert c.tables and set(c.params) <= set(params), c


# ----------------------------------------------------------------------------- dvc.yaml
def test_dvc_yaml_holds_exactly_the_generated_table_stages():
    """dvc.yaml cannot import Python: its table stages are written by sketch3d.table_stages; this keeps the
    committed file equal to what the package names (fix: python -m sketch3d.table_stages dvc.yaml)."""
    text = (REPO / "dvc.yaml").read_text()
    block = text.split(DVC_BEGIN + "\n", 1)[1].split(DVC_END + "\n", 1)[0]
    assert block == dvc_table_stages(), "run: python -m sketch3d.table_stages dvc.yaml"
    stages = yaml.safe_load(text)["stages"]
    assert {s for s in stages if s.startswith("table_")} == {table_stem(t) for t in all_tables()}
    # each: a foreach over the profiles whose outs and metrics are the table's three files
    s = stages[table_stem("4.8")]
    assert s["foreach"] == ["demo", "paper"]
    assert [next(iter(o)) for o in s["do"]["outs"] + s["do"]["metrics"]] == [
        f"results/${{item}}/tables/table_4_8.{ext}" for ext in ("csv", "md", "json")]
    assert s["do"]["params"] == ["seed", "data", "render", "features", "retrieval", "profiles.${item}"]


def test_rewriting_the_table_stages_keeps_the_rest_of_the_file(tmp_path):
    path = tmp_path / "dvc.yaml"
    path.write_text(f"stages:\n  raw:\n    cmd: x\n{DVC_BEGIN}\n  table_old:\n    cmd: y\n{DVC_END}\n\n"
                    "  figures:\n    cmd: z\nplots:\n  - a.csv\n")
    assert write_dvc_table_stages(path)
    text = path.read_text()
    assert "table_old" not in text and text.startswith("stages:\n  raw:\n    cmd: x\n")
    assert text.endswith(f"{DVC_END}\n\n  figures:\n    cmd: z\nplots:\n  - a.csv\n")
    assert not write_dvc_table_stages(path)  # up to date
    path.write_text("stages:\n  raw:\n    cmd: x\n")
    with pytest.raises(ValueError, match="no generated table stages block"):
        write_dvc_table_stages(path)


# ----------------------------------------------------------------------------- the schema, the CLI
def _split_lists(node):
    """Every schema enum or `required` list that names a split."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("enum", "required") and isinstance(value, list) and set(value) & set(SPLITS):
                yield value
            else:
                yield from _split_lists(value)
    elif isinstance(node, list):
        for value in node:
            yield from _split_lists(value)


def test_the_schemas_split_lists_are_the_splits():
    """The JSON schema cannot import Python: its split enums are checked against sketch3d.names.SPLITS."""
    from sketch3d.config import schema

    found = list(_split_lists(schema()))
    assert len(found) == 4 and all(v == list(SPLITS) for v in found), found


def test_cli_choices_are_the_packages_names():
    from sketch3d.netspace.commands import COMMANDS as NETSPACE
    from sketch3d.netspace.names import SETTINGS
    from sketch3d.retrieval.commands import COMMANDS as RETRIEVAL
    from sketch3d.retrieval.grid_tables import GRID_TABLES, GRIDS

    def choices(command: str, flag: str) -> list[str]:
        cmd = next(c for c in (*NETSPACE, *RETRIEVAL) if c.name == command)
        return next(list(kw["choices"]) for flags, kw in cmd.arguments if flag in flags)

    assert choices("train_netspace", "--setting") == list(SETTINGS)
    assert choices("retrieval_grid", "--grid") == list(GRIDS)
    assert choices("grid_table", "--table") == list(GRID_TABLES)


# ----------------------------------------------------------------------------- typed once: a grep over the code
@functools.lru_cache(maxsize=None)
def _code_lines(path: Path) -> list[str]:
    """The file's lines with comments and triple-quoted strings (docstrings) blanked: what runs, not what explains."""
    text = path.read_text()
    lines = text.splitlines()
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        body = tok.string.lstrip("rbfuRBFU")
        if tok.type == tokenize.COMMENT or (tok.type == tokenize.STRING and body[:3] in ('"""', "'''")):
            (r0, c0), (r1, c1) = tok.start, tok.end
            for r in range(r0, r1 + 1):
                line = lines[r - 1]
                a = c0 if r == r0 else 0
                b = c1 if r == r1 else len(line)
                lines[r - 1] = line[:a] + " " * (b - a) + line[b:]
    return lines


def _sources() -> list[Path]:
    return sorted([*PKG.rglob("*.py"), *(REPO / "workflow").rglob("*.smk"), REPO / "Snakefile"])


def _rel(path: Path) -> str:
    return str(path.relative_to(REPO))


def _q(name: str) -> str:
    return rf"""["']{re.escape(name)}["']"""


def _hits(match, skip=lambda line: False) -> dict[str, list[str]]:
    """file -> its code lines that ``match`` (a regex, or a function of the line)."""
    test = match.search if isinstance(match, re.Pattern) else match
    out: dict[str, list[str]] = {}
    for path in _sources():
        for line in _code_lines(path):
            if test(line) and not skip(line):
                out.setdefault(_rel(path), []).append(line.strip())
    return out


def _listed(names, at_least: int = 2):
    """A line that lists ``at_least`` of ``names``: in a sequence of quoted names (``("a", "b")``, ``["a", "b"]``,
    ``choices=("a", "b")``) or a regex alternation (``a|b``). A name used alone (a dict key, a comparison, one split
    a job reads) is a use, not a list."""
    one = "|".join(map(re.escape, names))
    quoted = rf"""["'](?:{one})["']"""
    sequences = re.compile(rf"{quoted}(?:\s*,\s*{quoted})+|(?<![\w.-])(?:{one})(?:\|(?:{one}))+(?![\w-])")

    def test(line: str) -> bool:
        return any(len(set(re.findall(one, m.group(0)))) >= at_least for m in sequences.finditer(line))

    return test


# where each kind of name is typed (the one module), and the only other places it may appear
TABLE_MODULES = {"src/sketch3d/retrieval/methods.py", "src/sketch3d/retrieval/grid_tables.py",
                 "src/sketch3d/sketchydepth/names.py", "src/sketch3d/netspace/names.py"}


def test_each_table_id_is_typed_in_one_module_only():
    """A table id (4.8, B.2, ...) as a literal, a slug (4_8) or a file stem (table_4_8) appears in the one module
    that names it; everything else derives it (sketch3d.names). Allowed besides: a report label of a figure
    of the same number (Fig. 4.1 is not Table 4.1), and the thesis reference CSV files (package data, named
    by table_stem) which this grep does not read."""
    numbered = [t for t in all_tables() if "." in t]  # `reconstruction` is a word the chapter uses too
    owners: dict[str, set[str]] = {}
    for t in numbered:
        s = table_slug(t)
        pattern = re.compile(rf"{_q(t)}|{_q(s)}|\b{table_stem(t)}\b|(?<![\w.]){s}\||\|{s}(?![\w.])")
        for path, lines in _hits(pattern, skip=lambda line: '"figure":' in line).items():
            owners.setdefault(t, set()).add(path)
    stray = {t: sorted(p - TABLE_MODULES) for t, p in owners.items() if p - TABLE_MODULES}
    assert not stray, f"table ids typed outside their module: {stray}"
    twice = {t: sorted(p) for t, p in owners.items() if len(p) != 1}
    assert not twice, f"table ids typed in more than one module: {twice}"
    assert set(owners) == set(numbered)


def test_the_splits_are_listed_in_one_module_only():
    """The three splits listed together (a tuple, a list, a regex alternation) only in sketch3d.names; a job that
    reads one split names it (e.g. the validation sketches of Table 4.7), and a dict of per-split values (the
    thesis's split sizes) is data, not a list. The schema's enums: checked against SPLITS above."""
    hits = _hits(_listed(SPLITS, at_least=len(SPLITS)))
    assert hits == {"src/sketch3d/names.py": ['SPLITS = ("train", "val", "test")']}, hits


def test_the_netspace_settings_are_named_in_one_module_only():
    from sketch3d.netspace.names import SETTINGS, TEACHER

    hits = _hits(_listed([*SETTINGS, TEACHER]))
    assert set(hits) == {"src/sketch3d/netspace/names.py"}, hits


def test_the_searches_of_tables_4_1_and_4_2_are_named_in_one_module_only():
    from sketch3d.retrieval.grid_tables import GRIDS

    hits = _hits(_listed(GRIDS))
    assert set(hits) <= {"src/sketch3d/retrieval/grid_tables.py"}, hits


def test_the_rules_list_no_sketchydepth_model():
    """The models (Table 3.1's rows) and the depth models (those with G_d) are derived in the rules from
    sketchydepth.names, never listed there."""
    from sketch3d.sketchydepth.names import MODELS

    hits = {p: lines for p, lines in _hits(_listed(MODELS)).items() if not p.startswith("src/")}
    assert not hits, hits
