"""How a PRM is served at scale: vLLM's pooling runner, one step score per step token.

A Stepwise PRM (a ``*ForTokenClassification`` model, "good" at label 1 on the step
separator) is served by ``vllm serve <folder> --runner pooling --convert classify
--pooler-config '{"pooling_type":"STEP","step_tag_id":<separator id>}'``: ``POST /pooling``
with ``"task": "token_classify"`` then returns ``[P(bad), P(good)]`` at each separator, the
numbers ``training.scoring.PrmScorer`` gives. The spec is on the model card (``serving``);
``GET /api/models/<id>/`` gives the command line, and the ``vllm`` scoring backend
(``training.backends.vllm_pooling``) asks the server for the model by its served name.
"""

from __future__ import annotations

import json
import shlex
from functools import lru_cache
from pathlib import Path

from django.conf import settings

SERVED_NAME_PREFIX = "stepwise-prm-"


def served_model_name(prm_model) -> str:
    """The name a scoring server serves this PRM under (``--served-model-name``)."""
    return f"{SERVED_NAME_PREFIX}{prm_model.pk}"


@lru_cache(maxsize=64)
def _folder_spec(path: str, mtime: float) -> dict | None:
    from .backends.tokenizer import load_tokenizer
    from .data import DEFAULT_SEPARATOR, separator_id

    config = json.loads((Path(path) / "config.json").read_text())
    if not any(str(a).endswith("ForTokenClassification") for a in config.get("architectures") or []):
        return None
    separator = config.get("step_separator") or DEFAULT_SEPARATOR
    tokenizer = load_tokenizer(path)  # the tokenizer only: no weights (and no torch)
    limit = int(config.get("max_position_embeddings") or config.get("n_positions") or 512)
    return {"engine": "vllm", "runner": "pooling", "convert": "classify",
            "task": "token_classify", "step_separator": separator,
            "pooler_config": {"pooling_type": "STEP",
                              "step_tag_id": separator_id(tokenizer, separator)},
            "max_model_len": limit,
            # How a longer input is cut into windows (training/windows.py); absent: truncate.
            **({"long_inputs": config["long_inputs"]} if config.get("long_inputs") else {})}


def pooling_spec(path: str | Path) -> dict | None:
    """The serving spec of a token-classification PRM folder; None for other families
    (a next-token "+"/"-" PRM scores with the transformers backend)."""
    from .backends.base import LOAD_LOCK

    config = Path(path) / "config.json"
    with LOAD_LOCK:
        return _folder_spec(str(path), config.stat().st_mtime)


def spec_of(prm_model) -> dict | None:
    """The card's spec, or the folder's where the card predates it."""
    card = prm_model.model_card or {}
    if card.get("scoring"):  # a next-token family: not served by vLLM's pooling runner
        return None
    if isinstance(card.get("serving"), dict):
        return card["serving"]
    path = prm_model.artifact_path
    if not path or not (Path(path) / "config.json").is_file():
        return None
    return pooling_spec(path)


def models_dir_relative(path: str) -> str | None:
    """The folder relative to ``MODELS_DIR``, or None when it is elsewhere."""
    try:
        return Path(path).resolve().relative_to(Path(settings.MODELS_DIR).resolve()).as_posix()
    except ValueError:
        return None


def shown_path(path: str) -> str:
    """The model folder as the command shows it: under ``$STEPWISE_MODELS_DIR`` when it is
    there (the scoring server mounts the same volume); otherwise its name under a folder
    the operator fills in. Never the server's absolute path."""
    relative = models_dir_relative(path)
    if relative is not None:
        return '"$STEPWISE_MODELS_DIR"/' + shlex.quote(relative)
    return '"$MODEL_FOLDERS"/' + shlex.quote(Path(path).name)


def vllm_serve_command(prm_model, spec: dict | None = None) -> str | None:
    """``vllm serve`` for this PRM, or None when vLLM's pooling runner cannot serve it."""
    spec = spec if spec is not None else spec_of(prm_model)
    if not spec:
        return None
    pooler = json.dumps(spec["pooler_config"], separators=(",", ":"), sort_keys=True)
    args = ["--served-model-name", served_model_name(prm_model), "--runner", spec["runner"],
            "--convert", spec["convert"], "--pooler-config", pooler,
            "--max-model-len", str(spec["max_model_len"])]
    return f"vllm serve {shown_path(prm_model.artifact_path)} {shlex.join(args)}"


def serving_info(prm_model) -> dict:
    """What the API shows about serving this PRM."""
    from .backends import backend_name

    spec = spec_of(prm_model)
    info = {"backend": backend_name(), "served_model_name": served_model_name(prm_model),
            "vllm_serve": vllm_serve_command(prm_model, spec) if spec else None,
            "compose_env": None}
    relative = models_dir_relative(prm_model.artifact_path) if prm_model.artifact_path else None
    if spec and relative is not None:  # docker-compose's prm service reads these
        info["compose_env"] = {
            "PRM_MODEL": relative, "PRM_SERVED_NAME": served_model_name(prm_model),
            "PRM_POOLER_CONFIG": json.dumps(spec["pooler_config"], separators=(",", ":"),
                                            sort_keys=True),
            "PRM_MAX_MODEL_LEN": str(spec["max_model_len"])}
    if spec is None:
        info["note"] = ("vLLM's pooling runner serves token-classification PRMs; this one "
                        "scores with the transformers backend.")
    return info
