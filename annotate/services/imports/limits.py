"""What one import may read: uncompressed bytes, line length, rows, JSON depth.

The limits come from settings (``STEPWISE_IMPORT_*``, docs/importing.md "Limits"). A
``Budget`` counts the bytes an import has read, across every file of a folder, and calls
the cancel check every few megabytes, so a stream of blank lines or a compressed bomb
neither runs past the limit nor ignores a cancel.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings

#: Bytes read between two cancel checks.
CHECK_EVERY_BYTES = 8 << 20


class ImportLimitExceeded(Exception):
    """The import stopped at a limit; the message says which and the setting that sets it."""


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 10 << 30
    max_line_bytes: int = 20_000_000
    max_rows: int = 5_000_000
    max_depth: int = 64

    @classmethod
    def from_settings(cls) -> Limits:
        return cls(
            max_bytes=getattr(settings, "IMPORT_MAX_BYTES", cls.max_bytes),
            max_line_bytes=getattr(settings, "IMPORT_MAX_LINE_BYTES", cls.max_line_bytes),
            max_rows=getattr(settings, "IMPORT_MAX_ROWS", cls.max_rows),
            max_depth=getattr(settings, "IMPORT_MAX_JSON_DEPTH", cls.max_depth),
        )


class Budget:
    """The bytes one import has read so far, against ``limits.max_bytes``."""

    def __init__(self, limits: Limits | None = None, check: Callable[[], None] | None = None):
        self.limits = limits or Limits.from_settings()
        self.check = check
        self.bytes = 0
        self._next_check = CHECK_EVERY_BYTES

    def read(self, n: int) -> None:
        """Count ``n`` more bytes read; raise past the limit, check for a cancel now and then."""
        self.bytes += n
        if self.bytes > self.limits.max_bytes:
            raise ImportLimitExceeded(
                f"the source holds over {self.limits.max_bytes:,} bytes (uncompressed); the limit "
                "is STEPWISE_IMPORT_MAX_BYTES")
        if self.check is not None and self.bytes >= self._next_check:
            self._next_check = self.bytes + CHECK_EVERY_BYTES
            self.check()
