"""Which models a project may name: a base to train from, or a PRM to register.

The rule is ``generation.modeldirs`` (shared with the generator and its worker): the
operator's registry (``settings.STEPWISE_MODEL_REGISTRY``: named models, or directories
whose model folders anyone may use), the shared models under ``MODELS_DIR`` and
``STEPWISE_MODEL_DIRS`` (never ``MODELS_DIR/prm/``, where each project's trained PRMs
live), plus, here, the project's own ready PRMs (``prm:<id>`` or their folder). Paths are
resolved (symlinks, ``..``) before they are checked, and every refusal says the same thing,
so a message never tells whether something exists outside what the project may see.
"""

from __future__ import annotations

from pathlib import Path

from generation.modeldirs import ModelDirRefused, is_model_dir, locate, private_tree, registry, within

from .errors import TrainingError

OWN_PREFIX = "prm:"


def _own_dirs(project) -> list[Path]:
    from .models import PrmModel

    paths = PrmModel.objects.filter(project=project, status=PrmModel.Status.READY) \
        .exclude(artifact_path="").values_list("artifact_path", flat=True)
    return [Path(p).resolve() for p in paths]


def resolve_model(project, ref: str, *, what: str = "model") -> str:
    """The location (resolved path, or a registry hub id) of ``ref`` for ``project``."""
    from .models import PrmModel

    ref = (ref or "").strip()
    refused = TrainingError(
        f"No {what} '{ref}' that this project may use. Name one from the list: a model of "
        f"the registry, a folder under the shared models directory, or prm:<id> of one of "
        f"this project's ready models.")
    if ref.startswith(OWN_PREFIX) and ref not in registry().named:
        raw = ref[len(OWN_PREFIX):]
        own = PrmModel.objects.filter(project=project, pk=int(raw), status=PrmModel.Status.READY) \
            .exclude(artifact_path="").first() if raw.isdigit() and len(raw) < 18 else None
        if own is None:
            raise refused
        return str(Path(own.artifact_path).resolve())
    found: dict[str, list[Path]] = {}

    def own(path: Path) -> bool:  # the private tree: only this project's ready models
        if "dirs" not in found:
            found["dirs"] = _own_dirs(project)
        return within(path, found["dirs"])

    try:
        return locate(ref, own=own)
    except ModelDirRefused:
        raise refused from None


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
            if child.resolve() != hidden and child.is_dir() and is_model_dir(child):
                choices.append((child.name, f"{child.name} (shared)"))
    for m in PrmModel.objects.filter(project__in=projects, status=PrmModel.Status.READY) \
            .select_related("project"):
        choices.append((f"{OWN_PREFIX}{m.pk}", f"{m.name} (PRM of {m.project.name})"))
    return choices
