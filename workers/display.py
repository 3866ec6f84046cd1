"""What a Run's params and result show outside the server: file names, not server paths."""

from __future__ import annotations

import os
from pathlib import PurePath
from typing import Any


def public_value(value: Any) -> Any:
    """``value`` with every absolute path (a one-line string that starts at the root) cut
    to its last part, in nested dicts and lists too. The Run row keeps the full path: its
    worker needs it."""
    if isinstance(value, str):
        if os.path.isabs(value) and "\n" not in value and len(value) < 4096:
            return PurePath(value).name
        return value
    if isinstance(value, dict):
        return {k: public_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [public_value(v) for v in value]
    return value
