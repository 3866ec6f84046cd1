"""Which models a project may name: a base to train from, or a PRM to register.

Allowed: the operator's registry (``settings.STEPWISE_MODEL_REGISTRY``: named models, or
directories whose model folders anyone may use), the shared models under ``MODELS_DIR``
(never its ``prm/`` tree, where each project's trained PRMs live), and the project's own
ready PRMs (``prm:<id>``). Paths are resolved (symlinks, ``..``) before they are checked,
and every refusal says the same thing, so a message never tells whether something exists
outside what the project may see.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from .errors import TrainingError

OWN_PREFIX = "prm:"


@dataclass(frozen=True)
class Registry:
    named: dict[str, str]  # name -> absolute path or hub id
    roots: list[Path]      # resolved directories whose model folders are shared


def registry() -> Registry:
    named, roots = {}, [Path(settings.MODELS_DIR).resolve()]
    for entry in getattr(settings, "STEPWISE_MODEL_REGISTRY", []) or []:
        entry = str(entry).strip()
        if "=" in entry:
            name, _, location = entry.partition("=")
            named[name.strip()] = location.strip()
        elif entry:
            roots.append(Path(entry).resolve())
    return Registry(named, roots)


def private_tree() -> Path:
    """Where trained PRMs live, one folder per project's model: never shared."""
    return (Path(settings.MODELS_DIR) / "prm").resolve()


def _is_model_dir(path: Path) -> bool:
    return (path / "config.json").is_file() or (path / "adapter_config.json").is_file()


def _own_dirs(project) -> list[Path]:
    from .models import PrmModel

    paths = PrmModel.objects.filter(project=project, status=PrmModel.Status.READY) \
        .exclude(artifact_path="").values_list("artifact_path", flat=True)
    return [Path(p).resolve() for p in paths]


def _within(path: Path, roots) -> bool:
    return any(path == root or path.is_relative_to(root) for root in roots)


def resolve_model(project, ref: str, *, what: str = "model") -> str:
    """The location (resolved path, or a registry hub id) of ``ref`` for ``project``."""
    from .models import PrmModel

    ref = (ref or "").strip()
    refused = TrainingError(
        f"No {what} '{ref}' that this project may use. Name one from the list: a model of "
        f"the registry, a folder under the shared models directory, or prm:<id> of one of "
        f"this project's ready models.")
    reg = registry()
    if ref in reg.named:
        location = reg.named[ref]
        return str(Path(location).resolve()) if os.path.isabs(location) else location
    if ref.startswith(OWN_PREFIX):
        raw = ref[len(OWN_PREFIX):]
        own = PrmModel.objects.filter(project=project, pk=int(raw), status=PrmModel.Status.READY) \
            .exclude(artifact_path="").first() if raw.isdigit() and len(raw) < 18 else None
        if own is None:
            raise refused
        return str(Path(own.artifact_path).resolve())
    if not ref or len(ref) > 1000:
        raise refused
    candidates = [Path(ref)] if os.path.isabs(ref) else [root / ref for root in reg.roots]
    own = None
    for candidate in candidates:
        path = candidate.resolve()
        if _within(path, [private_tree()]):
            own = _own_dirs(project) if own is None else own
            if not _within(path, own):
                continue
        elif not _within(path, reg.roots):
            continue
        if path.is_dir() and _is_model_dir(path):
            return str(path)
    raise refused


def model_choices(projects) -> list[tuple[str, str]]:
    """(value, label) for the forms' lists: registry names, shared folders, own PRMs."""
    from .models import PrmModel

    reg = registry()
    choices = [(name, f"{name} (registry)") for name in sorted(reg.named)]
    hidden = private_tree()
    for root in reg.roots:
        if not root.is_dir():
            continue
        for child in sorted(root.iterdir()):
            if child.resolve() != hidden and child.is_dir() and _is_model_dir(child):
                choices.append((child.name, f"{child.name} (shared)"))
    for m in PrmModel.objects.filter(project__in=projects, status=PrmModel.Status.READY) \
            .select_related("project"):
        choices.append((f"{OWN_PREFIX}{m.pk}", f"{m.name} (PRM of {m.project.name})"))
    return choices
