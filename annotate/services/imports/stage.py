"""Set-wise inserts for the bulk importer.

PostgreSQL: rows go by ``COPY`` into a temporary staging table shaped like the target,
then ``INSERT ... SELECT ... ON CONFLICT DO NOTHING RETURNING`` moves them, so a row a
concurrent import wrote first is skipped, never an error. Other backends use
``bulk_create(ignore_conflicts=True)``; their callers read the ids back.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Sequence

from django.db import connection, models
from django.utils import timezone


def is_postgresql() -> bool:
    return connection.vendor == "postgresql"


class Columns:
    """A model's insertable columns, each with how to fill it when a row leaves it out."""

    _cache: dict[type, Columns] = {}

    def __init__(self, model: type[models.Model]):
        self.model = model
        self.table = model._meta.db_table
        self.fields = [f for f in model._meta.concrete_fields if not f.primary_key]
        self.json = {f.attname for f in self.fields if isinstance(f, models.JSONField)}
        self.columns = {f.attname: f.column for f in model._meta.concrete_fields}

    @classmethod
    def of(cls, model) -> Columns:
        if model not in cls._cache:
            cls._cache[model] = cls(model)
        return cls._cache[model]

    def full(self, row: dict, now) -> dict:
        """``row`` with every column: timestamps are ``now``, the rest the field's default."""
        out = {}
        for f in self.fields:
            if f.attname in row:
                out[f.attname] = row[f.attname]
            elif getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
                out[f.attname] = now
            else:
                out[f.attname] = f.get_default()
        return out

    def column(self, attname: str) -> str:
        return self.columns.get(attname, attname)


def _copy_values(cols: Columns, names: Sequence[str], row: dict) -> tuple:
    return tuple(json.dumps(row[n]) if n in cols.json else row[n] for n in names)


def _copy_into(cur, table: str, names: Sequence[str], cols: Columns, rows: Iterable[dict]) -> None:
    quoted = ", ".join(connection.ops.quote_name(cols.column(n)) for n in names)
    with cur.copy(f"COPY {table} ({quoted}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(_copy_values(cols, names, row))


def insert_ignoring_conflicts(model, rows: list[dict], returning: Sequence[str] = ("id",)
                              ) -> list[tuple]:
    """Insert ``rows`` (attname -> value); rows that hit a unique constraint are skipped.

    PostgreSQL returns ``returning`` for each row inserted; other backends return [] and
    the caller reads back what it needs. Rows are inserted in the order given, so ids
    follow the file (exports list records in id order).
    """
    if not rows:
        return []
    cols = Columns.of(model)
    now = timezone.now()
    full = [cols.full(row, now) for row in rows]
    if not is_postgresql():
        model.objects.bulk_create([model(**row) for row in full], ignore_conflicts=True,
                                  batch_size=500)
        return []
    names = [f.attname for f in cols.fields]
    q = connection.ops.quote_name
    quoted = ", ".join(q(cols.column(n)) for n in names)
    stage = f"stage_{cols.table}_{zlib.crc32(quoted.encode()):08x}"
    with connection.cursor() as wrapper:
        cur = wrapper.cursor  # the psycopg cursor, for COPY
        # stage_order: the row's position, so the insert keeps the caller's order.
        cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS {stage} AS SELECT {quoted}, "
                    f"0::bigint AS stage_order FROM {cols.table} WITH NO DATA")
        cur.execute(f"TRUNCATE {stage}")
        _copy_into(cur, stage, [*names, "stage_order"], cols,
                   ({**row, "stage_order": k} for k, row in enumerate(full)))
        back = ", ".join(q(cols.column(n)) for n in returning)
        cur.execute(f"INSERT INTO {cols.table} ({quoted}) SELECT {quoted} FROM {stage} "
                    f"ORDER BY stage_order ON CONFLICT DO NOTHING RETURNING {back}")
        return cur.fetchall()


def copy_new_rows(model, rows: list[dict]) -> None:
    """Rows that cannot conflict (children of rows this transaction created): ``COPY``
    straight into the table on PostgreSQL, ``bulk_create`` elsewhere."""
    if not rows:
        return
    cols = Columns.of(model)
    now = timezone.now()
    full = [cols.full(row, now) for row in rows]
    if not is_postgresql():
        model.objects.bulk_create([model(**row) for row in full], batch_size=500)
        return
    names = [f.attname for f in cols.fields]
    with connection.cursor() as wrapper:
        _copy_into(wrapper.cursor, cols.table, names, cols, full)
