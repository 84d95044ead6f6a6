"""Check that the vector store and the SQL catalog agree, and make them agree (``undertone catalog --verify/--repair``).

SQL is the source of truth (it holds every embedding); the store is an index of it. Differences:

* **outbox** -- tracks staged in SQL whose vector write has not happened yet (an interrupted run);
* **missing** -- tracks ``indexed`` in SQL whose point is not in the store (a store restored from an
  old backup, a deleted collection);
* **drifted** -- points whose payload names another content hash, model or path than SQL says;
* **orphans** -- points with no SQL row at all.

Repair re-queues missing and drifted tracks, flushes the outbox, and deletes orphans. Every step is
idempotent, and safe while ingestion runs: the snapshot of the store is taken before SQL is read, so
a race can only cause a harmless extra upsert or delete.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ingest.catalog import Catalog
from ingest.pipeline import batched, flush_outbox

if TYPE_CHECKING:
    from recommender.store import VectorStore


@dataclass
class Reconciliation:
    """What :func:`reconcile` found (and, with ``repair``, fixed)."""

    store_points: int
    sql_indexed: int
    outbox: int
    missing: list[str] = field(default_factory=list)
    drifted: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    repaired: bool = False

    @property
    def consistent(self) -> bool:
        return not (self.outbox or self.missing or self.drifted or self.orphans)

    def to_dict(self) -> dict[str, Any]:
        return {
            "consistent": self.consistent,
            "repaired": self.repaired,
            "store_points": self.store_points,
            "sql_indexed": self.sql_indexed,
            "outbox": self.outbox,
            "missing": self.missing,
            "drifted": self.drifted,
            "orphans": self.orphans,
        }


def reconcile(catalog: Catalog, store: VectorStore, *, repair: bool = False) -> Reconciliation:
    """Compare ``catalog`` with ``store``; with ``repair``, fix every difference found."""
    in_store = {
        point.id: (point.payload.get("content_hash"), point.payload.get("model"), point.payload.get("path"))
        for point in store.iter_points()
    }
    counts = catalog.counts()
    report = Reconciliation(store_points=len(in_store), sql_indexed=0, outbox=counts["pending"] + counts["retired"])
    for rows in catalog.indexed_tracks():
        report.sql_indexed += len(rows)
        for row in rows:
            stored = in_store.get(row.id)
            if stored is None:
                report.missing.append(row.id)
            elif stored != (row.content_hash, row.model, row.path):
                report.drifted.append(row.id)
    for chunk in batched(in_store, 1000):
        known = catalog.known_ids(chunk)
        report.orphans.extend(point_id for point_id in chunk if point_id not in known)
    if repair and not report.consistent:
        for chunk in batched(report.missing + report.drifted, 1000):
            catalog.requeue(chunk)
        flush_outbox(catalog, store)
        if report.orphans:
            store.delete(report.orphans)
        report.repaired = True
    return report
