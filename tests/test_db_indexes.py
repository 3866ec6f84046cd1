"""No redundant index on the tables a bulk import writes: every index costs every imported
row (docs/importing.md), so one whose columns begin another index must not come back."""

import pytest
from django.db import connection

IMPORT_TABLES = ("annotate_problem", "annotate_stepnode", "annotate_solution",
                 "annotate_assignment", "annotate_steprating")


def table_indexes(table: str) -> list[dict]:
    with connection.cursor() as cur:
        cur.execute("""
            SELECT i.relname, ix.indisunique, ix.indpred IS NOT NULL,
                   array_agg(a.attname ORDER BY k.ord)
            FROM pg_index ix
            JOIN pg_class i ON i.oid = ix.indexrelid
            JOIN pg_class t ON t.oid = ix.indrelid
            JOIN unnest(ix.indkey) WITH ORDINALITY AS k(attnum, ord) ON true
            JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
            WHERE t.relname = %s
            GROUP BY i.relname, ix.indisunique, ix.indpred""", [table])
        return [{"name": name, "unique": unique, "partial": partial, "columns": list(columns)}
                for name, unique, partial, columns in cur.fetchall()]


def redundant(indexes: list[dict]) -> list[tuple[str, str]]:
    """(index, the index that covers it): a plain index whose columns begin a full one."""
    out = []
    for plain in indexes:
        if plain["unique"] or plain["partial"]:
            continue  # a constraint, or narrower than the table
        for other in indexes:
            if other is plain or other["partial"]:
                continue
            if other["columns"][:len(plain["columns"])] == plain["columns"] and (
                    len(other["columns"]) > len(plain["columns"]) or other["unique"]):
                out.append((plain["name"], other["name"]))
    return out


def test_the_check_finds_a_covered_index():
    indexes = [{"name": "by_created", "unique": False, "partial": False, "columns": ["created"]},
               {"name": "by_created_id", "unique": False, "partial": False,
                "columns": ["created", "id"]},
               {"name": "by_parent", "unique": False, "partial": False, "columns": ["parent_id"]},
               {"name": "child", "unique": True, "partial": True,
                "columns": ["parent_id", "text_hash"]}]
    assert redundant(indexes) == [("by_created", "by_created_id")]


@pytest.mark.django_db
def test_no_import_table_has_an_index_another_covers():
    assert connection.vendor == "postgresql"
    found = {table: redundant(table_indexes(table)) for table in IMPORT_TABLES}
    assert all(len(table_indexes(t)) >= 4 for t in IMPORT_TABLES)  # the query reads them
    assert found == {table: [] for table in IMPORT_TABLES}
