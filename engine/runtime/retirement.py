"""Planning what happens to removed fields and entities: retired, un-retired, or purged.

A field or entity that leaves the configuration is never dropped by a
migration: its column or table stays with its data, recorded in `crm_retired`
and hidden from the UI. References out of it are dropped (values kept) so a
hidden column can never block deleting a record. When the field or entity
comes back under the same name, it is un-retired and its data returns. Only an
explicit purge (`crm migrate --purge --confirm`) drops them.
"""
from __future__ import annotations

import sqlalchemy as sa

from . import steps as st
from .livedb import WHOLE_ENTITY, Snapshot, referred_table
from .renames import Renames
from .diffs import OWNED_PREFIXES


def retired_after_renames(snap: Snapshot, renames: Renames) -> set[tuple[str, str]]:
    """crm_retired's rows under the names they will have once the renames ran."""
    out = set()
    for entity, fname in snap.retired:
        table = renames.new_table(entity)
        out.add((table, renames.new_column(table, fname) if fname else WHOLE_ENTITY))
    return out


def retirement_steps(target: sa.MetaData, snap: Snapshot, renames: Renames,
                     removed_columns: list[tuple[str, str]], purge: bool) -> list[st.Step]:
    retired = retired_after_renames(snap, renames)
    out: list[st.Step] = []
    for table, column in removed_columns:
        if (table, column) in retired or purge:
            if purge:
                live = snap.table(renames.live_table(table))
                foreign = tuple(str(ix.name) for ix in live.indexes
                                if column in ix.columns and not str(ix.name).startswith(OWNED_PREFIXES))
                out.append(st.Purge(table=table, column=column, indexes=foreign))
            continue
        out.append(st.RetireColumn(table=table, column=column))
    view_tables = {renames.live_table(t) for t in target.tables}
    for live_name in sorted(snap.metadata.tables):
        if live_name in view_tables or not snap.is_entity_table(live_name):
            continue
        if purge:
            out.append(st.Purge(table=live_name))
            continue
        if (live_name, WHOLE_ENTITY) in retired:
            continue
        fks = tuple(str(fk.name) if fk.name else f"fk_{live_name}_{fk.elements[0].parent.name}_{referred_table(fk)}"
                    for fk in snap.table(live_name).foreign_key_constraints)
        out.append(st.RetireTable(table=live_name, fks=fks))
    for table, column in sorted(retired):
        if table not in target.tables:
            continue
        if column == WHOLE_ENTITY or column in target.tables[table].c:
            out.append(st.Unretire(table=table, column=column))
    return out
