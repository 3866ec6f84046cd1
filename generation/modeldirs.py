"""Which model a project may name, in every process: the one rule behind the Generator
check (web), what the generation worker loads (``generation.loader``, the backends) and the
bases and PRMs training takes (``training.locations``).

Allowed: a name of the operator's ``STEPWISE_MODEL_REGISTRY`` (``name=/path/or/hub-id``; a
hub id only as the operator listed it), a model folder under a shared root (``MODELS_DIR``,
``STEPWISE_MODEL_DIRS``, directories listed in the registry) and, under ``MODELS_DIR/prm/``
where every project's trained PRMs live, only the project's own. Paths are resolved
(symlinks, ``..``) before the check; a missing and a forbidden model get the same message.
The web process only ever reads a ``config.json``; it never loads a model or reaches a hub.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

# One message for a model that is missing and one that is not allowed: no file probing.
NOT_AVAILABLE = ("No model of that name among those this deployment allows: a model folder "
                 "under MODELS_DIR or STEPWISE_MODEL_DIRS, or a name of STEPWISE_MODEL_REGISTRY.")
MAX_CONFIG_BYTES = 1_000_000
MAX_REF = 1000


class ModelDirRefused(ValueError):
    pass


@dataclass(frozen=True)
class Registry:
    named: dict[str, str]  # name -> absolute path or hub id
    roots: list[Path]      # resolved directories whose model folders are shared


@dataclass(frozen=True)
class ModelInfo:
    local: bool
    model_type: str = ""
    location: str = ""


def registry() -> Registry:
    named: dict[str, str] = {}
    roots = [settings.MODELS_DIR, *getattr(settings, "STEPWISE_MODEL_DIRS", [])]
    for entry in getattr(settings, "STEPWISE_MODEL_REGISTRY", []) or []:
        entry = str(entry).strip()
        if "=" in entry:
            name, _, location = entry.partition("=")
            named[name.strip()] = location.strip()
        elif entry:
            roots.append(entry)
    resolved: list[Path] = []
    for root in roots:
        if str(root).strip():
            path = Path(root).expanduser().resolve()
            if path not in resolved:
                resolved.append(path)
    return Registry(named, resolved)


def private_tree() -> Path:
    """Where trained PRMs live, one folder per project's model: never shared."""
    return (Path(settings.MODELS_DIR).expanduser() / "prm").resolve()


def within(path: Path, roots) -> bool:
    return any(path == root or path.is_relative_to(root) for root in roots)


def is_model_dir(path: Path) -> bool:
    return (path / "config.json").is_file() or (path / "adapter_config.json").is_file()


def is_hub_id(location: str) -> bool:
    return not os.path.isabs(location)


def locate(ref: str, *, own: Callable[[Path], bool]) -> str:
    """The location (resolved path, or a hub id the operator listed) of ``ref``; ``own``
    says which folders of the private PRM tree the caller's project owns. Anything else:
    ModelDirRefused(NOT_AVAILABLE)."""
    ref = (ref or "").strip()
    if not ref or len(ref) > MAX_REF or "\x00" in ref:
        raise ModelDirRefused(NOT_AVAILABLE)
    reg = registry()
    if ref in reg.named:
        location = reg.named[ref]
        return str(Path(location).expanduser().resolve()) if not is_hub_id(location) else location
    if is_hub_id(ref) and ref in reg.named.values():
        return ref  # the hub id itself, where the operator listed it
    try:  # "~nosuchuser" or an over-long name is refused like anything else
        raw = Path(ref).expanduser()
        candidates = [raw] if raw.is_absolute() else [root / raw for root in reg.roots]
        for candidate in candidates:
            path = candidate.resolve()  # symlinks followed: no way out of a root
            if within(path, [private_tree()]):
                if not own(path):
                    continue
            elif not within(path, reg.roots):
                continue
            if path.is_dir() and is_model_dir(path):
                return str(path)
    except (OSError, RuntimeError, ValueError):
        pass
    raise ModelDirRefused(NOT_AVAILABLE)


def owned_by(project_id: int | None) -> Callable[[Path], bool]:
    """Folders ``prm/<project id>-<model id>-<name>`` of that project's trained models."""
    def own(path: Path) -> bool:
        prm = private_tree()
        if project_id is None or path == prm:
            return False
        return path.relative_to(prm).parts[0].split("-", 1)[0] == str(project_id)
    return own


def generator_model(model: str, project_id: int | None = None) -> str:
    """What a project's generator loads: a hub id the operator listed, or the resolved folder
    of an allowed model with a ``config.json``; else ModelDirRefused(NOT_AVAILABLE)."""
    location = locate(model, own=owned_by(project_id))
    if not is_hub_id(location) and not (Path(location) / "config.json").is_file():
        raise ModelDirRefused(NOT_AVAILABLE)
    return location


def describe_model(model: str, project_id: int | None = None) -> ModelInfo:
    """What the Generator tab may say about ``model`` without loading it or reaching a hub."""
    location = generator_model(model, project_id)
    if is_hub_id(location):
        return ModelInfo(local=False, location=location)
    config_file = Path(location) / "config.json"
    try:
        if config_file.stat().st_size > MAX_CONFIG_BYTES:
            raise ModelDirRefused(NOT_AVAILABLE)
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise ModelDirRefused(NOT_AVAILABLE) from None
    model_type = config.get("model_type") if isinstance(config, dict) else None
    return ModelInfo(local=True, model_type=str(model_type or "unknown"), location=location)
