"""CLI commands of the shared report layer: a table's variation over seeds and CPU kinds."""
from __future__ import annotations

import argparse
from pathlib import Path

from sketch3d.command_line import REHEARSAL_ARG, Command, arg, parse_settings


def _table_variation(a: argparse.Namespace) -> None:
    from sketch3d.names import table_id
    from sketch3d.report.comparison import notice
    from sketch3d.report.variation import write_variation

    s = parse_settings(a.settings)
    write_variation(table_id(a.table), a.reference, a.seeds or [], a.cpus or [], Path(a.out_csv), Path(a.out_md),
                    table_csv=a.table_csv, k=float(a.k), notice=notice(s["profile"], a.rehearsal))
    print(Path(a.out_md).read_text())


COMMANDS = (
    Command("table_variation", "a table's cells beside the same table over other seeds and CPU kinds: the seeds' "
                               "spread, which differences lie within it", _table_variation, (
        arg("--table", required=True, help="table id, e.g. 3.1 (or 3_1)"),
        arg("--settings", required=True, help="JSON: profile"),
        arg("--reference", required=True, help="the table's metrics JSON from the profile's own run"),
        arg("--table-csv", help="the table's CSV (ours beside the thesis's): marks ours - thesis"),
        arg("--seeds", nargs="*", help="the same table's JSON from runs with another seed (results/<profile>-seedN)"),
        arg("--cpus", nargs="*", help="the same table's JSON from the profile's seed on other CPU kinds "
                                      "(results/<profile>-cpu_<kind>)"),
        arg("--k", default="2", help="a difference within k standard deviations of the seeds lies within the spread"),
        arg("--out-csv", required=True),
        arg("--out-md", required=True),
        REHEARSAL_ARG,
    )),
)
