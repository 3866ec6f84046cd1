"""Anchoring: does verify mode make people accept what the machine shows? (docs/labels.md,
"Anchoring: is verify mode rubber-stamping?")

For one machine source (default: the project's ``verify_source``), per annotator and overall,
over the steps on the solutions' paths where the source has a parsed verdict:

* **shown**: steps rated in tasks that showed this source (``Assignment.shown_source``);
  **blind**: steps rated in the project's other submitted tasks (a blind share, a
  certification sample, or rating from scratch). **Agreement**: the person's submitted rating
  equals the source's verdict.
* with a reference (the report's: gold or human consensus), on the steps where the source's
  verdict is wrong (it differs from the reference's parsed label): how often the person gave
  that same wrong verdict (the **rubber-stamp rate**), shown against blind.
* **changed**: of the steps whose rating records a verdict of this source as shown
  (``StepRating.shown``; an unparsed answer showed none), the share the person rated
  otherwise than shown.

Every label (the source's, each person's, the reference's) is ``labels_for``'s; only which
task showed what is read here. An annotator has one task per solution, so a person's label of a
solution's step belongs to exactly one task, shown or blind.
"""

from __future__ import annotations

from collections import defaultdict

from annotate.models import Assignment, StepRating

from .labels import Labels, UnknownSource, labels_for, machine_source

#: The counters of one annotator (or of everyone): ``<side>_*`` for side shown / blind.
COUNTS = ("shown_steps", "shown_agree", "blind_steps", "blind_agree",
          "shown_wrong", "shown_wrong_accepted", "blind_wrong", "blind_wrong_accepted",
          "shown_verdicts", "shown_changed")
RATIOS = ("shown_agreement", "blind_agreement", "agreement_gap",
          "shown_rubber_stamp", "blind_rubber_stamp", "changed_share")
COLUMNS = ("annotator", *COUNTS, *RATIOS)
OVERALL = "(all)"


def _ratio(a: int, b: int) -> float | None:
    return a / b if b else None


def _with_ratios(counts: dict) -> dict:
    shown = _ratio(counts["shown_agree"], counts["shown_steps"])
    blind = _ratio(counts["blind_agree"], counts["blind_steps"])
    return {**counts, "shown_agreement": shown, "blind_agreement": blind,
            "agreement_gap": None if shown is None or blind is None else shown - blind,
            "shown_rubber_stamp": _ratio(counts["shown_wrong_accepted"], counts["shown_wrong"]),
            "blind_rubber_stamp": _ratio(counts["blind_wrong_accepted"], counts["blind_wrong"]),
            "changed_share": _ratio(counts["shown_changed"], counts["shown_verdicts"])}


def absent(message: str, source: str | None = None, reference: str | None = None) -> dict:
    return {"source": source, "reference": reference, "message": message,
            "overall": None, "annotators": []}


def anchoring(project, spec: str | None, paths: dict[int, list[int]], reference: str | None,
              reference_labels: Labels | None, known: dict[str, Labels] | None = None) -> dict:
    """The section (module docstring). ``spec`` None means the project's verify source; one
    given that names no machine source raises UnknownSource (a 400 where a request named it).
    ``known`` holds labels the caller already read ({spec: labels_for(spec, ...)}), so the
    report does not read a source twice."""
    if spec is None:
        spec = project.verify_source or ""
        if not spec:
            return absent("This project has no verify source, so no task showed machine "
                          "verdicts; name a machine source to measure it anyway.",
                          reference=reference)
        try:
            machine_source(spec)
        except UnknownSource as exc:
            return absent(f"The project's verify source is unusable: {exc}", spec, reference)
    else:
        machine_source(spec)
    known = dict(known or {})
    ids = list(paths)

    def read(name: str) -> Labels:
        if name not in known:
            known[name] = labels_for(name, ids, paths, project=project)
        return known[name]

    machine = read(spec)
    tasks = _tasks(project)
    shown = _shown(project, spec, paths)
    per = {username: _count(read(f"human:{username}"), username, spec, tasks, machine,
                            reference_labels or {}, shown.get(username, {}))
           for username in sorted({u for u, _sid in tasks}, key=str.lower)}
    total = {k: sum(c[k] for c in per.values()) for k in COUNTS}
    message = "" if per else "No submitted task in this project yet."
    if reference_labels is None:
        message = " ".join(filter(None, (message, (
            "The rubber-stamp rate needs a gold or human-consensus reference; this report's "
            f"is {reference or 'none'}."))))
    return {"source": spec, "reference": reference, "message": message,
            "overall": _with_ratios(total),
            "annotators": [{"annotator": u, **_with_ratios(c)} for u, c in per.items()]}


def _count(mine: Labels, username: str, spec: str, tasks, machine: Labels, truth: Labels,
           shown: dict[tuple[int, int], int | None]) -> dict:
    """One person's counters (``COUNTS``)."""
    counts = dict.fromkeys(COUNTS, 0)
    for sid, row in mine.items():
        side = "shown" if tasks.get((username, sid)) == spec else "blind"
        verdicts, right = machine.get(sid, {}), truth.get(sid, {})
        for pos, rating in row.items():
            verdict = verdicts.get(pos)
            if verdict is None:  # the source has no parsed verdict here
                continue
            counts[f"{side}_steps"] += 1
            counts[f"{side}_agree"] += rating == verdict
            if right.get(pos) is not None and right[pos] != verdict:
                counts[f"{side}_wrong"] += 1
                counts[f"{side}_wrong_accepted"] += rating == verdict
    for (sid, pos), was in shown.items():
        rating = mine.get(sid, {}).get(pos)
        if rating is not None:
            counts["shown_verdicts"] += 1
            counts["shown_changed"] += rating != was
    return counts


def _tasks(project) -> dict[tuple[str, int], str]:
    """{(username, solution id): the source the submitted task showed ("" for none)}."""
    rows = Assignment.objects.filter(project=project, status=Assignment.Status.SUBMITTED
                                     ).values_list("annotator__username", "solution_id",
                                                   "shown_source")
    return {(user, sid): shown for user, sid, shown in rows}


def _shown(project, spec: str, paths) -> dict[str, dict[tuple[int, int], int | None]]:
    """{username: {(solution id, position): the verdict shown}} for the path steps whose
    rating records ``spec``'s verdict as shown, in submitted tasks that showed ``spec`` (the
    person's rating itself is ``labels_for``'s)."""
    position = {sid: {node: pos for pos, node in enumerate(nodes)} for sid, nodes in paths.items()}
    out: dict[str, dict[tuple[int, int], int | None]] = defaultdict(dict)
    rows = StepRating.objects.filter(
        assignment__project=project, assignment__status=Assignment.Status.SUBMITTED,
        assignment__shown_source=spec, shown__source=spec,
    ).exclude(shown__rating=None).values_list("assignment__annotator__username", "assignment__solution_id", "node_id",
                  "shown__rating")
    for user, sid, node, was in rows:
        pos = position.get(sid, {}).get(node)
        if pos is not None:
            out[user][(sid, pos)] = was
    return out


def table_rows(section: dict | None) -> list[dict]:
    """The ``anchoring`` CSV: one row per annotator, then the overall row."""
    if not section or section.get("overall") is None:
        return []
    head = {"source": section["source"], "reference": section["reference"]}
    rows = [*section["annotators"], {"annotator": OVERALL, **section["overall"]}]
    return [{**head, **{k: row.get(k) for k in COLUMNS}} for row in rows]
