"""A copy of a page-benchmark database without the composite indexes the engine derives.

The engine derives one composite index per list view (its filters, then its sort key:
engine/runtime/tables.py `derived_indexes`). The page benchmark's issue asks for the numbers
with only single-column indexes too, as the raw floor has. This copies
`/tmp/benchapp/s<SCALE>.sqlite3` (built by `bench/app_prepare.sh`) to
`s<SCALE>-single.sqlite3`, drops every derived index of more than one column (the ones a
consultant wrote under `indexes:` stay), runs ANALYZE and prints what it dropped. The copy is
served as it is: `crm migrate` would put the indexes back, so it is never migrated.

    .venv/bin/python bench/single_column_db.py /tmp/benchapp/s0.1.sqlite3    # prints the copy's path
"""
from __future__ import annotations

import shutil
import sqlite3
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.metadata.loader import load_config  # noqa: E402
from engine.runtime.tables import derived_indexes  # noqa: E402

CONFIG = Path(__file__).parent / "config"


def composite_indexes(con: sqlite3.Connection, table: str, wanted: set[tuple[str, ...]]) -> list[str]:
    """Names of the table's indexes whose columns, in order, are one of `wanted`."""
    names = []
    for row in con.execute(f'PRAGMA index_list("{table}")').fetchall():
        name = row[1]
        columns = tuple(r[2] for r in con.execute(f'PRAGMA index_info("{name}")').fetchall())
        if columns in wanted:
            names.append(name)
    return names


def single_column_copy(source: Path) -> Path:
    target = source.with_name(source.stem + "-single" + source.suffix)
    for stale in (target, Path(f"{target}-wal"), Path(f"{target}-shm")):
        stale.unlink(missing_ok=True)
    shutil.copyfile(source, target)
    config = load_config(CONFIG)
    con = sqlite3.connect(target)
    for entity in config.entities.values():
        explicit = {tuple(ix) for ix in entity.indexes}
        wanted = {ix for ix in derived_indexes(entity) if len(ix) > 1 and ix not in explicit}
        for name in composite_indexes(con, entity.table, wanted):
            con.execute(f'DROP INDEX "{name}"')
            print(f"  dropped {name}", file=sys.stderr)
    con.execute("ANALYZE")
    con.commit()
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    return target


if __name__ == "__main__":
    if len(sys.argv) != 2 or not Path(sys.argv[1]).is_file():
        raise SystemExit("usage: bench/single_column_db.py /tmp/benchapp/s<SCALE>.sqlite3 (an existing file)")
    print(single_column_copy(Path(sys.argv[1])))
