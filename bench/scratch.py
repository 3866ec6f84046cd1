"""A scratch database and folder for the benchmarks that run in process: the test runner's own
database machinery (a ``test_`` copy of the configured database, migrated), and a temporary
folder for the files they write; both removed afterwards, whatever happens."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def scratch_database(prefix: str) -> Iterator[tuple[str, Path]]:
    """(the scratch database's name, a temporary folder); call after ``django.setup()``."""
    from django.db import connection
    from django.test.utils import setup_test_environment

    setup_test_environment()
    db_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield db_name, folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        connection.close()
        connection.creation.destroy_test_db(db_name, verbosity=0)
