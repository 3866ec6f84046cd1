"""One account per username in any case: a unique index on UPPER(username) of the user
table (annotate.services.accounts checks first and says so; this holds under races).

Fails on a database that already has two usernames differing only in case: rename one
of them first."""

from django.conf import settings
from django.db import migrations

INDEX = "stepwise_username_ci_uniq"


def create(apps, schema_editor):
    table = apps.get_model(*settings.AUTH_USER_MODEL.split("."))._meta.db_table
    schema_editor.execute(
        f"CREATE UNIQUE INDEX IF NOT EXISTS {INDEX} ON {table} (UPPER(username))")


def drop(apps, schema_editor):
    schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [
        ("annotate", "0003_drop_redundant_indexes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [migrations.RunPython(create, drop)]
