"""A listing's rows where the database refuses to store them: folded in memory.

Read through credentials that cannot write (a replica, a SELECT-only role),
``Listing.catch_up`` cannot move the stored rows on; the listing is then those
rows plus a fold of the events after their position, made for the one read and
never written. What that costs: every stored row of the kind read and decoded,
and the kind's events the rows have not seen folded, on every such read.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from rulelog.projections.listings import Listing, rows_table
from rulelog.projections.log import read_notifications

if TYPE_CHECKING:
    from eventsourcing.application import Application

#: An originator's row and the version its data_version counts from (None: gone).
Rows = dict[str, tuple[dict[str, Any], int] | None]


def folded_in_memory(listing: Listing, app: Application, position: int, head: int) -> Rows:
    """``listing``'s rows at ``head``: those stored at ``position`` (none at 0, as a
    catch-up from 0 keeps none) and the kind's events after them."""
    rows = stored_rows(listing) if position else {}
    decode = app.mapper.to_domain_event
    topics = listing.kind.topics()
    for stored in read_notifications(app, start=position + 1, stop=head, topics=topics):
        listing.kind.fold(rows, decode(stored))
    return rows


def stored_rows(listing: Listing) -> Rows:
    """Every row the table holds for ``listing``'s kind, decoded."""
    columns = (rows_table.c.originator, rows_table.c.base, rows_table.c.rendered)
    query = select(*columns).where(rows_table.c.kind == listing.kind.name)
    with listing.engine.connect() as conn:
        return {key: (json.loads(text), base) for key, base, text in conn.execute(query)}
