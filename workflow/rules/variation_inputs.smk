# How much each table moves by chance (sketch3d.report.variation): runs of this profile with other seeds
# (results/<profile>-seed<N>/, `snakemake --config seed=N variant=seedN <table>`) and with its seed on other CPU
# kinds (results/<profile>-cpu_<kind>/) beside its own. A table gets a variation page once such runs of it exist
# (their tables' JSON are committed: scripts/variation.sh makes them); the page is in the report.
import glob
from pathlib import Path


def variation_runs(table, kind):
    """The table's metrics JSON of the runs beside this one: kind 'seed' or 'cpu_'."""
    return sorted(glob.glob(f"{RESULTS}-{kind}*/tables/{table_stem(table)}.json"))


def variation_tables():
    """The tables with runs of other seeds beside this one (their files' names give them)."""
    stems = {Path(p).stem for p in glob.glob(f"{RESULTS}-seed*/tables/table_*.json")}
    return sorted(table_id(s) for s in stems)


# the pages of the tables that the chapters of params.yaml build
VARIATION_TARGETS = [f"{RESULTS}/tables/variation/{table_stem(t)}.md" for t in variation_tables()
                     if table_path(t, "json") in chapter_targets(config["chapters"])]
