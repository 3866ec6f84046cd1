"""What the web process may know about a generator's model: only the ``config.json`` of a
directory the operator allows (``MODELS_DIR`` and ``STEPWISE_MODEL_DIRS``), never another
project's trained models (``MODELS_DIR/prm/<project id>-...``), never a file elsewhere and
never the Hugging Face hub. A hub id is accepted as a name: the worker resolves it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

# One message for a path that is missing and one that is not allowed: no file probing.
NOT_AVAILABLE = ("No model directory with a config.json at that path among the model folders "
                 "this deployment allows (MODELS_DIR, STEPWISE_MODEL_DIRS).")
HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,95}(/[A-Za-z0-9][A-Za-z0-9_.\-]{0,95})?$")
MAX_CONFIG_BYTES = 1_000_000


class ModelDirRefused(ValueError):
    pass


@dataclass(frozen=True)
class ModelInfo:
    local: bool
    model_type: str = ""


def looks_like_a_path(model: str) -> bool:
    return model.startswith((".", "/", "~")) or "\\" in model or model.count("/") > 1


def allowed_roots() -> list[Path]:
    roots = [settings.MODELS_DIR, *getattr(settings, "STEPWISE_MODEL_DIRS", [])]
    return [Path(r).expanduser().resolve() for r in roots if str(r).strip()]


def _other_projects_model(path: Path, project_id: int | None) -> bool:
    prm = (Path(settings.MODELS_DIR).expanduser().resolve() / "prm")
    if not path.is_relative_to(prm) or path == prm:
        return False
    owner = path.relative_to(prm).parts[0].split("-", 1)[0]
    return project_id is None or owner != str(project_id)


def allowed_model_dir(model: str, project_id: int | None = None) -> Path:
    """The resolved directory of a local ``model`` the web process may read, else
    ModelDirRefused with the same message whether it is missing or forbidden."""
    try:
        path = Path(model).expanduser().resolve()  # symlinks followed: no way out of a root
    except (OSError, RuntimeError, ValueError):
        raise ModelDirRefused(NOT_AVAILABLE) from None
    inside = any(path.is_relative_to(root) for root in allowed_roots())
    if not inside or _other_projects_model(path, project_id):
        raise ModelDirRefused(NOT_AVAILABLE)
    if not (path / "config.json").is_file():
        raise ModelDirRefused(NOT_AVAILABLE)
    return path


def describe_model(model: str, project_id: int | None = None) -> ModelInfo:
    """What the Generator tab may say about ``model`` without loading it or reaching a hub."""
    model = model.strip()
    if not looks_like_a_path(model):
        if not HUB_ID.match(model):
            raise ModelDirRefused("The model is a local directory or a Hugging Face id "
                                  "(owner/name).")
        return ModelInfo(local=False)
    path = allowed_model_dir(model, project_id)
    config_file = path / "config.json"
    try:
        if config_file.stat().st_size > MAX_CONFIG_BYTES:
            raise ModelDirRefused(NOT_AVAILABLE)
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise ModelDirRefused(NOT_AVAILABLE) from None
    model_type = config.get("model_type") if isinstance(config, dict) else None
    return ModelInfo(local=True, model_type=str(model_type or "unknown"))
