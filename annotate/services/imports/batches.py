"""One batch of row plans into the database, with the retries that keep rows whole.

``write_batch`` runs the bulk writer (``bulk.py``) in one transaction. Rows a database
check refuses are dropped and the batch written again; a batch the database refuses
for a reason no check foresaw is written again in halves, down to the bad row; a batch
PostgreSQL aborts to break a lock cycle with a concurrent import is retried whole. An
error of the database itself (out of disk or memory, the connection lost, shutting down)
is no row's fault: the batch is rolled back and the error raised, so the import stops with
nothing half-written instead of rejecting every row one by one.
"""

from __future__ import annotations

import time

from django.db import DatabaseError, OperationalError, transaction

from .bulk import BatchWriter, LateRejects
from .plan import RowPlan
from .rows import database_refusal

#: SQLSTATEs of a transaction the database gave up to break a lock cycle: retried whole.
RETRY_STATES = {"40P01", "40001"}
RETRIES = 5
#: SQLSTATE classes of the database failing, not the row: connection (08), insufficient
#: resources such as a full disk (53), operator intervention (57), system error (58).
FATAL_CLASSES = {"08", "53", "57", "58"}


def is_fatal(exc: DatabaseError) -> bool:
    """Whether ``exc`` is the database failing (stop the import) rather than refusing a row."""
    state = getattr(exc.__cause__, "sqlstate", None)
    if state:
        return state[:2] in FATAL_CLASSES
    # No SQLSTATE: a lost connection, or SQLite's "database or disk is full" / "locked".
    return isinstance(exc, OperationalError)


def write_batch(project, plans: list[tuple[int, RowPlan]]) -> dict[int, tuple[str, object]]:
    """Write ``(line, plan)`` pairs in one transaction; per line ("written", Counter of the
    rows it created, its solutions' ids) or ("rejected", reason). A batch that hits an unexpected database
    error is rolled back and written again in halves, down to single rows, so the bad
    row is reported by its line and every other row is written."""
    outcome: dict[int, tuple[str, object]] = {}
    pending = list(plans)
    retries = 0
    while pending:
        try:
            with transaction.atomic():
                writer = BatchWriter(project, [plan for _, plan in pending])
                credits = writer.write()
        except LateRejects as exc:
            for k in sorted(exc.reasons, reverse=True):
                line, _ = pending.pop(k)
                outcome[line] = ("rejected", exc.reasons[k])
            continue
        except DatabaseError as exc:
            if is_fatal(exc):
                raise
            if getattr(exc.__cause__, "sqlstate", None) in RETRY_STATES and retries < RETRIES:
                retries += 1
                time.sleep(0.05 * retries)
                continue
            if len(pending) == 1:
                outcome[pending[0][0]] = ("rejected", database_refusal(exc))
                return outcome
            half = len(pending) // 2
            outcome.update(write_batch(project, pending[:half]))
            outcome.update(write_batch(project, pending[half:]))
            return outcome
        outcome.update({line: ("written", c, ids) for (line, _), c, ids
                        in zip(pending, credits, writer.solution_ids)})
        break
    return outcome
