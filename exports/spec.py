"""What an export asks for: format, filters and options, validated once for the API,
the snapshot builder and the streaming endpoint."""

from __future__ import annotations

from datetime import UTC, datetime

from django.utils.dateparse import parse_datetime

from .critique_spec import CRITIQUE_OPTIONS, critique_options

FORMATS = ("prm800k", "trl", "openrlhf", "rlhflow", "processbench", "parquet", "rl_prompts",
           "agentprocessbench", "trace", "deltabench", "critiques")
LABEL_MODES = ("per_annotator", "consensus", "gold")
GOLD_MODES = ("include", "exclude", "only")
# Whether gold answer keys become records beside human labels: of gold solutions no human
# labeled (default), of every gold solution, or never.
GOLD_KEY_MODES = ("unlabeled", "all", "none")
#: OpenRLHF's default step placeholder (Math-Shepherd's tag).
PLACEHOLDER = "ки"
FINISH_REASONS = ("solution", "found_error", "give_up", "bad_problem")


#: A token budget (exports/token_budget.py): a tokenizer and a max_length, with TRL's PRM
#: layout's prompt limit and step separator (its PRMConfig defaults).
BUDGET_FIELDS = ("tokenizer", "max_length", "max_prompt_length", "step_separator")
BUDGET_FORMATS = ("trl", "parquet", "processbench", "critiques")
MAX_TOKENS = 131_072


class SpecError(ValueError):
    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def _ids(value, name, errors) -> list[int]:
    if not isinstance(value, list) or not value or not all(
            isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value):
        errors[name] = "Give a non-empty list of positive integer ids."
        return []
    return sorted(set(value))


def to_utc(raw) -> datetime | None:
    """An ISO 8601 string as an aware UTC datetime (naive means UTC), or None if invalid.
    Converting first matters: PostgreSQL refuses odd offsets such as -19:43."""
    try:
        parsed = parse_datetime(raw) if isinstance(raw, str) and len(raw) < 64 else None
        if parsed is None:
            return None
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def _when(value, name, errors) -> str | None:
    if value in (None, ""):
        return None
    parsed = to_utc(value)
    if parsed is None:
        errors[name] = "Give an ISO 8601 date-time."
        return None
    return parsed.isoformat()


def normalize_spec(raw: dict) -> dict:
    """Return a complete, canonical spec, or raise SpecError naming each bad field."""
    if not isinstance(raw, dict):
        raise SpecError({"non_field_errors": "The export spec must be an object."})
    errors: dict[str, str] = {}
    known = {"format", "projects", "created_after", "created_before", "finish_reasons", "labels",
             "annotators", "gold", "min_agreement", "machine_labels", "neutral",
             "expand_alternatives", "label_type", "test_fraction", "split_seed", "gold_keys",
             "placeholder", *BUDGET_FIELDS, *CRITIQUE_OPTIONS}
    for key in set(raw) - known:
        errors[key] = "Unknown field."
    fmt = raw.get("format", "trl")
    if fmt not in FORMATS:
        errors["format"] = f"One of: {', '.join(FORMATS)}."
    spec = {"format": fmt, "projects": _ids(raw.get("projects"), "projects", errors)}
    spec["created_after"] = _when(raw.get("created_after"), "created_after", errors)
    spec["created_before"] = _when(raw.get("created_before"), "created_before", errors)
    reasons = raw.get("finish_reasons") or []
    if not isinstance(reasons, list) or any(r not in FINISH_REASONS for r in reasons):
        errors["finish_reasons"] = f"A list of: {', '.join(FINISH_REASONS)}."
        reasons = []
    spec["finish_reasons"] = sorted(set(reasons))
    labels = raw.get("labels", "per_annotator")
    if isinstance(labels, dict):
        labels = _rule(labels, raw, fmt, errors)
    elif labels not in LABEL_MODES:
        errors["labels"] = f"One of: {', '.join(LABEL_MODES)}, or a label rule (an object)."
    spec["labels"] = labels
    spec["annotators"] = (_ids(raw["annotators"], "annotators", errors)
                          if raw.get("annotators") not in (None, []) else [])
    if spec["annotators"] and labels != "per_annotator":
        errors["annotators"] = "Annotator filters apply to per_annotator labels only."
    gold = raw.get("gold", "include")
    if gold not in GOLD_MODES:
        errors["gold"] = f"One of: {', '.join(GOLD_MODES)}."
    spec["gold"] = gold
    assignment_only = fmt in ("prm800k", "rl_prompts")
    gold_keys = raw.get("gold_keys", "none" if assignment_only or is_rule(labels) else "unlabeled")
    if gold_keys not in GOLD_KEY_MODES:
        errors["gold_keys"] = f"One of: {', '.join(GOLD_KEY_MODES)}."
    elif assignment_only and gold_keys != "none":
        errors["gold_keys"] = f"{fmt} rows never carry gold answer keys: leave gold_keys out."
    spec["gold_keys"] = gold_keys
    if labels == "gold":
        if gold == "exclude":
            errors["gold"] = "Gold labels come from gold solutions: include them."
        if reasons:
            errors["finish_reasons"] = "Finish reasons select human work; gold labels have none."
    placeholder = raw.get("placeholder", PLACEHOLDER)
    if not isinstance(placeholder, str) or not placeholder or len(placeholder) > 32 \
            or any(c.isspace() for c in placeholder) or placeholder in ("+", "-"):
        errors["placeholder"] = "A non-empty string of at most 32 characters without spaces, " \
                                "not a reward token (+ or -)."
    spec["placeholder"] = placeholder if isinstance(placeholder, str) else PLACEHOLDER
    agreement = raw.get("min_agreement")
    if agreement is not None:
        if isinstance(agreement, bool) or not isinstance(agreement, (int, float)) \
                or not 0 <= agreement <= 1:
            errors["min_agreement"] = "A number between 0 and 1."
        elif labels != "consensus":
            errors["min_agreement"] = "Agreement exists for consensus labels only."
    spec["min_agreement"] = agreement
    for flag in ("machine_labels", "expand_alternatives"):
        value = raw.get(flag, False)
        if not isinstance(value, bool):
            errors[flag] = "true or false."
        spec[flag] = value is True
    if spec["expand_alternatives"] and "format" not in errors:
        # Said, not silently ignored: only these rows can carry an alternative.
        if fmt not in ("trl", "parquet"):
            errors["expand_alternatives"] = "Alternatives become rows in the trl and parquet " \
                                            "formats only."
        elif labels == "gold":
            errors["expand_alternatives"] = "Gold answer keys have no alternatives: use " \
                                            "per_annotator or consensus labels."
    spec["neutral"] = raw.get("neutral", "positive")
    if spec["neutral"] not in ("positive", "negative"):
        errors["neutral"] = "positive or negative: how an Okay (0) step maps to a bool."
    spec["label_type"] = raw.get("label_type", "hard")
    if spec["label_type"] not in ("hard", "soft"):
        errors["label_type"] = "hard (+/-) or soft (floats)."
    fraction = raw.get("test_fraction")
    if fraction is not None and (isinstance(fraction, bool)
                                 or not isinstance(fraction, (int, float))
                                 or not 0 < fraction < 1):
        errors["test_fraction"] = "A number strictly between 0 and 1."
    spec["test_fraction"] = fraction
    seed = raw.get("split_seed", "")
    if not isinstance(seed, str) or len(seed) > 100:
        errors["split_seed"] = "A string of at most 100 characters."
    spec["split_seed"] = seed if isinstance(seed, str) else ""
    _budget(raw, spec, fmt, errors)
    if fmt == "prm800k" and (labels != "per_annotator" or spec["machine_labels"]):
        errors["format"] = "PRM800K records are one annotator's human labels: use per_annotator " \
                           "labels without machine labels."
    spec.update(critique_options(raw, fmt, errors))
    if errors:
        raise SpecError(errors)
    return spec


def is_rule(labels) -> bool:
    """Whether the spec's ``labels`` is a label rule (docs/labels.md, "Rules")."""
    return isinstance(labels, dict)


#: Formats whose rows carry a rule's labels step by step; prm800k records are one annotator's
#: work, rl_prompts have no labels, agentprocessbench and deltabench give imported records back
#: as they were; trace gives a long text's steps with their labels.
RULE_FORMATS = ("trl", "parquet", "openrlhf", "rlhflow", "processbench", "trace", "critiques")
#: Fields that select human work or human labels, which a rule's labels are not.
NOT_WITH_RULE = ("finish_reasons", "annotators", "min_agreement", "machine_labels",
                 "expand_alternatives", "gold_keys")


def _rule(raw_rule: dict, raw: dict, fmt, errors: dict) -> dict:
    """The normalized rule, or the rule's own message under ``labels``."""
    from quality.label_rules import RuleError, parse_rule

    try:
        rule = parse_rule(raw_rule).as_dict()
    except RuleError as exc:
        errors["labels"] = str(exc)
        return raw_rule
    if fmt in FORMATS and fmt not in RULE_FORMATS:
        errors["labels"] = (f"A label rule's labels go into the {', '.join(RULE_FORMATS)} "
                            f"formats; {fmt} rows cannot carry them.")
    for name in NOT_WITH_RULE:
        if raw.get(name) not in (None, False, [], "none"):
            errors[name] = ("Not with a label rule: the rule names its label sources "
                            "(gold keys are the source 'gold', machine labels their own specs).")
    return rule


def _count(value, name: str, low: int, high: int, errors: dict) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        errors[name] = f"A whole number from {low} to {high}."
        return None
    return value


def _budget(raw: dict, spec: dict, fmt, errors: dict) -> None:
    """The token budget's fields, in the spec only where one is asked for (a spec without
    one stays as it was)."""
    if not any(raw.get(name) is not None for name in BUDGET_FIELDS):
        return
    tokenizer = raw.get("tokenizer")
    if not isinstance(tokenizer, str) or not tokenizer.strip() or len(tokenizer) > 1000:
        errors["tokenizer"] = ("Name the model whose tokenizer counts the tokens (a model this "
                               "deployment allows), with max_length.")
    if fmt in FORMATS and fmt not in BUDGET_FORMATS:
        errors["tokenizer"] = (f"Token budgets are counted for {', '.join(BUDGET_FORMATS)} rows "
                               f"(TRL's PRM layout, or SFTTrainer's chat); {fmt} rows are not.")
    if raw.get("max_length") is None:
        errors["max_length"] = "Give max_length (the trainer's, in tokens) with the tokenizer."
        length = None
    else:
        length = _count(raw["max_length"], "max_length", 16, MAX_TOKENS, errors)
    if fmt == "critiques":  # SFTTrainer's chat: no prompt limit, no step separator
        for name in ("max_prompt_length", "step_separator"):
            if raw.get(name) is not None:
                errors[name] = "TRL's PRM layout only; a critiques row is one chat."
        spec.update({"tokenizer": tokenizer.strip() if isinstance(tokenizer, str) else tokenizer,
                     "max_length": length, "max_prompt_length": None, "step_separator": None})
        return
    prompt = raw.get("max_prompt_length", 512)
    prompt = None if prompt is None else _count(prompt, "max_prompt_length", 1, MAX_TOKENS, errors)
    separator = raw.get("step_separator", "\n")
    if not isinstance(separator, str) or not separator or len(separator) > 32:
        errors["step_separator"] = "A non-empty string of at most 32 characters (TRL's is \\n)."
    spec.update({"tokenizer": tokenizer.strip() if isinstance(tokenizer, str) else tokenizer,
                 "max_length": length, "max_prompt_length": prompt,
                 "step_separator": separator})
