"""The API's one JSON parser: refuses what would otherwise become a 500 further in.

* nesting deeper than ``MAX_JSON_DEPTH``: counted on the text before ``json`` recurses (the
  C scanner raises RecursionError near 1,000 levels, which DRF does not catch);
* a lone surrogate (``"\\ud800"``): valid JSON, but no UTF-8 can hold it, so PostgreSQL and
  the tokenizers refuse it later;
* a NUL byte: PostgreSQL text and jsonb cannot hold one.

Each is a 400 with a message that says which.
"""

from __future__ import annotations

import codecs
import json
import re

from django.conf import settings
from django.http import QueryDict
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.parsers import JSONParser, get_encoding
from rest_framework.settings import api_settings
from rest_framework.utils.json import strict_constant

MAX_JSON_DEPTH = 64

# A JSON string (skipped whole: brackets inside it do not nest), or a run of brackets.
_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[{]+|[\]}]+', re.DOTALL)
_SURROGATE = re.compile("[\ud800-\udfff]")
# Parsed JSON holds a NUL or a surrogate only where the text has its \\u escape: the walk
# over every string runs only then.
_SUSPECT_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")


def max_depth() -> int:
    return getattr(settings, "API_MAX_JSON_DEPTH", MAX_JSON_DEPTH)


def nesting_exceeds(text: str, bound: int) -> bool:
    """Whether ``text`` opens more than ``bound`` arrays/objects inside one another."""
    depth = 0
    for match in _TOKENS.finditer(text):
        first = match.group()[0]
        if first in "[{":
            depth += len(match.group())
            if depth > bound:
                return True
        elif first != '"':
            depth -= len(match.group())
    return False


def _fields(data, path: str = ""):
    """(name, string) for every key and string value under ``data``, as ``items.0.text``."""
    if isinstance(data, str):
        yield path, data
        return
    if isinstance(data, dict):
        entries = data.items()
    elif isinstance(data, list | tuple):
        entries = enumerate(data)
    else:
        return
    for key, value in entries:
        name = f"{path}.{key}" if path else str(key)
        yield name, name
        yield from _fields(value, name)


def _clean(name: str) -> str:
    return _SURROGATE.sub("\ufffd", name.replace("\x00", ""))


def nul_field(data, path: str = "") -> str | None:
    """The name of the first string field under ``data`` (a query, a form or parsed JSON)
    whose key or value holds a NUL byte, as ``items.0.metadata.key``; None if there is none."""
    if isinstance(data, QueryDict):
        for key, values in data.lists():
            if "\x00" in key or any(isinstance(v, str) and "\x00" in v for v in values):
                return key.replace("\x00", "")
        return None
    for name, text in _fields(data, path):
        if "\x00" in text:
            return _clean(name)
    return None


def check_json(data) -> None:
    """Raise the 400 for the first NUL byte or lone surrogate in parsed JSON (one pass)."""
    for name, text in _fields(data):
        if "\x00" in text:
            label = _clean(name) or "body"
            raise ValidationError({label: f"'{label}' contains a NUL byte."})
        if _SURROGATE.search(text):
            label = _clean(name) or "body"
            raise ValidationError({label: f"'{label}' contains a lone UTF-16 surrogate "
                                          "(a \\ud800-\\udfff escape without its pair)."})


def parse_json_text(text: str):
    """Parse API JSON: bounded nesting, then no NUL bytes or lone surrogates (400s)."""
    bound = max_depth()
    if nesting_exceeds(text, bound):
        raise ParseError(f"JSON parse error - nested more than {bound} levels deep.")
    parse_constant = strict_constant if api_settings.STRICT_JSON else None
    try:
        data = json.loads(text, parse_constant=parse_constant)
    except ValueError as exc:
        raise ParseError(f"JSON parse error - {exc}")
    if _SUSPECT_ESCAPE.search(text):
        check_json(data)
    return data


class StrictJSONParser(JSONParser):
    """DRF's JSON parser with the checks of ``parse_json_text``."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = get_encoding(parser_context or {})
        try:
            text = codecs.getreader(encoding)(stream).read()
        except (UnicodeDecodeError, LookupError) as exc:
            raise ParseError(f"JSON parse error - the body is not valid {encoding}: {exc}")
        return parse_json_text(text)
