"""The label-sources report of a big project, precomputed by a ``label_report`` Run.

A project of up to ``LABEL_REPORT_INLINE_SOLUTIONS`` solutions gets its report computed on
request (under 2 s). A bigger one reads every source's rows (about 8 s per 100k solutions
and source, docs/performance.md), so the page, the CSV and the API show the newest stored
result of a Run with the same reference and consensus rule, with its date; a "Recompute"
(POST) starts a new Run, whose progress bar the page shows (docs/labels.md, "The report").
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from annotate.models import Solution
from workers.models import Run
from workers.runs import start_run

from .labels import machine_source, parse_source

KIND = "label_report"
#: Above this many solutions the report is precomputed by a Run.
INLINE_SOLUTIONS = 2_000


def inline_limit() -> int:
    return int(getattr(settings, "LABEL_REPORT_INLINE_SOLUTIONS", INLINE_SOLUTIONS))


def is_precomputed(project) -> bool:
    """Whether the project's report comes from a Run (too big to compute on a request)."""
    return Solution.objects.filter(project=project).order_by()[:inline_limit() + 1].count() \
        > inline_limit()


def report_params(reference: str | None, consensus: list[str] | None,
                  anchoring: str | None = None) -> dict:
    """The Run's params for a request's reference, consensus rule and anchoring source (kept
    only when named, so the params of a report with the default one stay as they were); a
    malformed spec raises UnknownSource (before any Run is made)."""
    for spec in [reference, *(consensus or [])]:
        if spec:
            parse_source(spec)
    params = {"reference": reference or None, "consensus": list(consensus) if consensus else None}
    if anchoring:
        machine_source(anchoring)
        params["anchoring"] = anchoring
    return params


@dataclass
class Stored:
    """What a precomputed project shows: the newest finished result (or None), and the Run
    computing one now (or None)."""

    report: dict | None
    computed: Run | None
    pending: Run | None


def _runs(project, params: dict):
    return Run.objects.filter(project=project, kind=KIND, params=params)


def stored_report(project, params: dict) -> Stored:
    done = (_runs(project, params).filter(status=Run.Status.SUCCEEDED)
            .order_by("-finished_at", "-id").first())
    pending = (_runs(project, params).filter(status__in=[Run.Status.QUEUED, Run.Status.RUNNING])
               .order_by("-id").first())
    return Stored(done.result if done else None, done, pending)


def recompute(project, user, params: dict) -> Run:
    """Start a ``label_report`` Run for these params (the one already queued or running for
    them, if any)."""
    pending = stored_report(project, params).pending
    return pending or start_run(KIND, params, project=project, user=user)
