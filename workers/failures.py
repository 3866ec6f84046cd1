"""What a failed Run tells the people it affects, and clean-up that survives the failure.

A Run's ``reason`` is short and safe for anyone the Run affects: no traceback, no server
path. ``error`` keeps the full story for staff. A full disk is named as such, whichever
writer hit it (exports, training checkpoints), so the person who waits knows what to fix.
"""

from __future__ import annotations

import errno
import logging
import os
from pathlib import Path

logger = logging.getLogger(__name__)

DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
DISK_FULL_REASON = ("The disk is full: the server ran out of space while writing the "
                    "job's files. Free some space, then run it again.")
DATABASE_REASON = "The database was unreachable; run it again once it is back."


def _chain(exc: BaseException | None):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc``, or an error it was raised from or while handling, is a full disk."""
    return any(isinstance(e, OSError) and e.errno in DISK_FULL_ERRNOS for e in _chain(exc))


def public_reason(exc: BaseException) -> str:
    """The short reason a failed Run shows to anyone: a RunFailure's own, a full disk's,
    or only the kind of error (the message may hold paths and data)."""
    reason = getattr(exc, "reason", None)
    if isinstance(reason, str) and reason:
        return reason[:300]
    if is_disk_full(exc):
        return DISK_FULL_REASON
    from django.db import InterfaceError, OperationalError

    if isinstance(exc, OperationalError | InterfaceError):
        return DATABASE_REASON
    return f"The job failed ({type(exc).__name__}); staff can read the details in its error log."


def discard_partial(path: Path | str, *closers) -> None:
    """Close what wrote ``path`` and delete it, whatever closing raises: a full disk makes
    the close fail again (buffered bytes cannot be flushed), and the partial file must go
    anyway, or it keeps the disk full for the next job."""
    for close in closers:
        try:
            close()
        except Exception as exc:  # clean-up after a failure: the first error is the one raised
            logger.warning("closing %s failed during clean-up: %s", path, exc)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        logger.warning("could not delete partial file %s: %s", path, exc)
