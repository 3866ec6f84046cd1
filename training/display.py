"""What pages and the API show of a model's files: names, never absolute server paths."""

from __future__ import annotations

import os
from pathlib import Path


def file_name(value) -> str:
    """An absolute path as its last part; anything else (a hub id, a name) as it is."""
    if isinstance(value, str) and value and os.path.isabs(value):
        return Path(value).name
    return value


def public_source(source: dict | None) -> dict:
    """``data_source`` without the server path (the snapshot id, split and file name stay)."""
    source = dict(source or {"kind": "project"})
    if "path" in source:
        source.setdefault("file", file_name(source["path"]))
        del source["path"]
    return source


def public_card(card: dict | None) -> dict:
    card = dict(card or {})
    if "base_model" in card:
        card["base_model"] = file_name(card["base_model"])
    if isinstance(card.get("data"), dict):
        card["data"] = {**card["data"], "source": public_source(card["data"].get("source"))}
    return card


def no_validation(model) -> str:
    """Why the held-out metrics are (or will be) empty, or ""."""
    warning = (model.data_source or {}).get("warning", "")
    training = (model.metrics or {}).get("training") or {}
    if not warning and training.get("val_examples") == 0:
        warning = "No validation split: the held-out metrics are empty."
    return warning


def public_model(model) -> dict:
    """The model page's lines about its files."""
    source = public_source(model.data_source)
    return {"base": file_name(model.base_model) or "bundled MiniLM", "source": source,
            "artifacts": file_name(model.artifact_path), "no_validation": no_validation(model)}
