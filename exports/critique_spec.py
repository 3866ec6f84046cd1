"""The ``critiques`` format's options (docs/api.md, "critiques"), checked for ``spec``:

* ``critique_source``: ``human`` (annotators' critiques), ``machine`` (a judge's or an
  imported label's reasons, named by ``critique_machine_source``), or ``accepted_machine``
  (machine reasons a person accepted as they were shown). Default ``human``.
* ``critique_machine_source``: ``judge:<name>`` or ``imported:<name>``, with ``machine``.
* ``agree_with``: ``gold`` or ``human:consensus``: keep only rows whose every step verdict
  agrees with that reference (the ThinkPRM filter). Default: no filter.
"""

from __future__ import annotations

CRITIQUE_OPTIONS = ("critique_source", "critique_machine_source", "agree_with")
CRITIQUE_SOURCES = ("human", "machine", "accepted_machine")
AGREE_WITH = ("gold", "human:consensus")


def critique_options(raw: dict, fmt, errors: dict) -> dict:
    """The options' canonical values; a bad one (or one given for another format) goes into
    ``errors`` under its name."""
    if fmt != "critiques":
        for name in CRITIQUE_OPTIONS:
            if raw.get(name) is not None:
                errors[name] = "An option of the critiques format only."
        return {}
    source = raw.get("critique_source", "human")
    if source not in CRITIQUE_SOURCES:
        errors["critique_source"] = f"One of: {', '.join(CRITIQUE_SOURCES)}."
    machine = raw.get("critique_machine_source")
    if source == "machine":
        family, _, name = machine.partition(":") if isinstance(machine, str) else ("", "", "")
        if family not in ("judge", "imported") or not name or len(machine) > 250 \
                or "\x00" in machine:
            errors["critique_machine_source"] = ("Name the machine critiques: judge:<name> or "
                                                 "imported:<name>.")
    elif machine is not None:
        errors["critique_machine_source"] = "Only with critique_source machine."
    agree = raw.get("agree_with")
    if agree is not None and agree not in AGREE_WITH:
        errors["agree_with"] = f"One of: {', '.join(AGREE_WITH)}, or leave it out."
    return {"critique_source": source if source in CRITIQUE_SOURCES else "human",
            "critique_machine_source": machine if source == "machine" else None,
            "agree_with": agree}
