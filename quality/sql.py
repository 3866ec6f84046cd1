"""Settings for the few big aggregations of the quality pages."""

from contextlib import contextmanager

from django.db import connection, transaction

#: Enough for hash aggregates over a million ratings without spilling to disk.
WORK_MEM = "128MB"


@contextmanager
def analytic_session():
    """A transaction whose queries may use more sort/hash memory (PostgreSQL only).

    Without it PostgreSQL spills 300k-group aggregates to disk, and plans a per-row subplan
    instead of a hashed one for ``IN (subquery)`` over many rows (minutes, not seconds).
    JIT is off: compiling these one-off queries cost more than half their time."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL work_mem = '{WORK_MEM}'")
                cursor.execute("SET LOCAL jit = off")
        yield
