"""Set-wise inserts for the bulk importer.

PostgreSQL: rows that may exist already go by ``COPY`` into a temporary staging table
shaped like the target, then ``INSERT ... SELECT ... ON CONFLICT DO NOTHING RETURNING``
moves them, so a row a concurrent import wrote first is skipped, never an error. Rows
that cannot exist yet (children of rows this transaction created) take their ids from
the sequence in one query and go by ``COPY`` straight into the table. Other backends
use ``bulk_create``; callers read back the ids they need.
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
        self.names = [f.attname for f in self.fields]
        self.json = [isinstance(f, models.JSONField) for f in self.fields]
        self.now = [bool(getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False))
                    for f in self.fields]
        self.quoted = ", ".join(connection.ops.quote_name(f.column) for f in self.fields)

    @classmethod
    def of(cls, model) -> Columns:
        if model not in cls._cache:
            cls._cache[model] = cls(model)
        return cls._cache[model]

    def column(self, attname: str) -> str:
        return self.model._meta.get_field(attname).column if attname != "id" else \
            self.model._meta.pk.column

    def values(self, rows: list[dict]) -> list[list]:
        """Each row as a list in column order, for COPY: timestamps are now, JSON is
        serialized, columns a row leaves out take the field's default (computed and
        serialized once per call: a batch writes tens of thousands of rows)."""
        now = timezone.now()
        fill = []
        for name, is_now, f, is_json in zip(self.names, self.now, self.fields, self.json):
            default = now if is_now else f.get_default()
            fill.append((name, json.dumps(default) if is_json and not is_now else default, is_json))
        dumps = json.dumps
        return [[(dumps(row[name]) if is_json else row[name]) if name in row else default
                 for name, default, is_json in fill] for row in rows]

    def instances(self, rows: list[dict]) -> list[models.Model]:
        return [self.model(**row) for row in rows]


def _copy(cur, table: str, quoted: str, rows: Iterable[Sequence]) -> None:
    with connection.wrap_database_errors, cur.copy(f"COPY {table} ({quoted}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


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
    if not is_postgresql():
        model.objects.bulk_create(cols.instances(rows), ignore_conflicts=True, batch_size=500)
        return []
    q = connection.ops.quote_name
    stage = f"stage_{cols.table}_{zlib.crc32(cols.quoted.encode()):08x}"
    with connection.cursor() as cur:  # Django's cursor: errors are Django's DatabaseError
        # stage_order: the row's position, so the insert keeps the caller's order.
        cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS {stage} AS SELECT {cols.quoted}, "
                    f"0::bigint AS stage_order FROM {cols.table} WITH NO DATA")
        cur.execute(f"TRUNCATE {stage}")
        values = cols.values(rows)
        for k, row in enumerate(values):
            row.append(k)
        _copy(cur.cursor, stage, f"{cols.quoted}, stage_order", values)
        back = ", ".join(q(cols.column(n)) for n in returning)
        cur.execute(f"INSERT INTO {cols.table} ({cols.quoted}) SELECT {cols.quoted} FROM {stage} "
                    f"ORDER BY stage_order ON CONFLICT DO NOTHING RETURNING {back}")
        return cur.fetchall()


def copy_new_rows(model, rows: list[dict]) -> list[int]:
    """Insert rows that cannot conflict (children of rows this transaction created);
    their ids, in order. PostgreSQL: ids from the sequence in one query, then ``COPY``
    straight into the table; elsewhere ``bulk_create``."""
    if not rows:
        return []
    cols = Columns.of(model)
    if not is_postgresql():
        objs = model.objects.bulk_create(cols.instances(rows), batch_size=500)
        return [obj.pk for obj in objs]
    pk = model._meta.pk.column
    with connection.cursor() as cur:
        cur.execute("SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                    [cols.table, pk, len(rows)])
        ids = [row[0] for row in cur.fetchall()]
        values = cols.values(rows)
        for pk_value, row in zip(ids, values):
            row.append(pk_value)
        _copy(cur.cursor, cols.table, f"{cols.quoted}, {connection.ops.quote_name(pk)}", values)
    return ids


def insert_keyed(model, rows: list[dict], keys: list[tuple], sure_new: list[bool],
                 key_columns: Sequence[str]) -> dict[tuple, int]:
    """Insert rows identified by ``keys`` (their values of ``key_columns``); the ids of the
    rows inserted, by key. Rows marked ``sure_new`` are copied straight in; the others
    skip a conflict (and are missing from the answer, as are all of them on backends
    without RETURNING, where callers read the ids back)."""
    sure = [(k, r) for k, r, s in zip(keys, rows, sure_new) if s]
    maybe = [r for r, s in zip(rows, sure_new) if not s]
    ids = dict(zip([k for k, _ in sure], copy_new_rows(model, [r for _, r in sure])))
    for pk, *key in insert_ignoring_conflicts(model, maybe, returning=("id", *key_columns)):
        ids[tuple(key)] = pk
    return ids


def select_ids(model, key_columns: Sequence[str], types: Sequence[str], keys: list[tuple],
               where: str = "") -> list[tuple]:
    """PostgreSQL: ``(id, *key)`` of the rows whose ``key_columns`` equal one of ``keys``,
    by one join against the keys passed as arrays (an index lookup per key, with no
    query text growing with the batch)."""
    if not keys:
        return []
    cols = Columns.of(model)
    q = connection.ops.quote_name
    names = [q(cols.column(n)) for n in key_columns]
    arrays = ", ".join(f"%s::{t}[]" for t in types)
    on = " AND ".join(f"t.{n} = k.{n}" for n in names)
    sql = (f"SELECT t.{q(model._meta.pk.column)}, {', '.join(f't.{n}' for n in names)} "
           f"FROM {cols.table} t JOIN unnest({arrays}) AS k({', '.join(names)}) ON {on}"
           + (f" WHERE {where}" if where else ""))
    with connection.cursor() as cur:
        cur.execute(sql, [list(column) for column in zip(*keys)])
        return cur.fetchall()
