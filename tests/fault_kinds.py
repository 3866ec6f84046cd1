"""Run kinds that only the test suite's workers know (tests/settings.py imports them): each
injects one fault into the worker that runs it."""

from django.db import DatabaseError, connection

from workers.runs import RunContext, run_task


def _drop_own_connection() -> None:
    """What a database restart or failover does to this worker: its connection dies."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")
    except DatabaseError:
        pass  # the server ended the session, as asked


@run_task("test_db_blink", max_retries=1)
def db_blink(ctx: RunContext, fail: bool = False) -> dict:
    """Drops the worker's connection, then either returns (the Run's end is the first write
    on the dead connection) or queries on it (a database error on every attempt)."""
    _drop_own_connection()
    if fail:
        from workers.models import Run

        Run.objects.filter(pk=ctx.run_id).exists()
    return {"blinked": True}
