"""Certified acceptance of a machine label source (docs/labels.md, "Certification").

An admin declares a contract for a source; ``start_certification`` draws a seeded uniform
sample of the steps the source labels with a parsed label; the queue serves those solutions
first and hides the source's hints from their annotators (the ``annotate.services.blind``
registries, filled in ``QualityConfig.ready``); ``evaluate`` compares the source with the
human consensus on the sampled steps and issues a certificate or a refusal. A certification
whose source version is no longer the source's current one (``available_sources``) is void.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from django.db import transaction
from django.db.models import OuterRef, Q
from django.utils import timezone

from annotate.models import Solution
from annotate.services import blind

from . import certify_stats as stats
from .labels import RATED_KINDS, SCORED_KINDS, UnknownSource, available_sources, labels_for, parse_source
from .models import Certification, CertificationStep

REFERENCE = "human:consensus"


class CertificationError(ValueError):
    """A certification that cannot start; ``field`` names the input at fault."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def hint_rows(spec: str) -> tuple[str, str]:
    """The PreAnnotation kind and source name of a machine source ("" = every source)."""
    source = parse_source(spec)
    if source.family in RATED_KINDS:
        return RATED_KINDS[source.family], source.name
    if source.family in SCORED_KINDS:
        return SCORED_KINDS[source.family], source.name
    raise UnknownSource(f"'{spec}' is not a machine source; certify a judge, an imported "
                        "label, Monte Carlo estimates or a PRM.")


def _current_versions(project, infos=None) -> dict[tuple[str, str], dict]:
    """{(kind, source name): version} of the project's machine sources now (``infos``: what
    ``available_sources`` gave, when the caller has it)."""
    out = {}
    for info in (available_sources(project) if infos is None else infos):
        if info.family in RATED_KINDS or info.family in SCORED_KINDS:
            out[hint_rows(info.spec)] = info.version
    return out


def _version_of(spec: str, versions: dict[tuple[str, str], dict]) -> dict | None:
    kind, name = hint_rows(spec)
    if name:
        return versions.get((kind, name))
    # Every source of a kind (mc_hard, mc_soft without a name): all their versions.
    found = {n: v for (k, n), v in versions.items() if k == kind}
    return {"sources": found} if found else None


def contract_of(cert: Certification) -> stats.Contract:
    return stats.Contract(cert.max_error, cert.confidence, cert.method)


def steps_needed(max_error, confidence, method="exact", anticipated_error=0.0) -> int:
    """How many sampled steps the contract needs (raises ContractError for a bad one)."""
    return stats.sample_size(stats.Contract(max_error, confidence, method), anticipated_error)


def start_certification(project, user, *, source: str, max_error, confidence,
                        method: str = "exact", anticipated_error=0.0,
                        seed: int | None = None) -> Certification:
    """Draw the sample and store it (status sampling). Raises ContractError,
    CertificationError."""
    try:
        n = steps_needed(max_error, confidence, method, anticipated_error)
    except stats.ContractError as exc:
        raise CertificationError(exc.field, str(exc)) from None
    try:
        kind, name = hint_rows(source)
    except UnknownSource as exc:
        raise CertificationError("source", f"Unknown label source: {exc}") from None
    version = _version_of(source, _current_versions(project))
    if version is None:
        raise CertificationError("source", f"'{source}' has no labels in this project.")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise CertificationError("seed", "seed must be a whole number, 0 or more.")
    population = labeled_steps(project, source)
    if len(population) < n:
        raise CertificationError(
            "source", f"'{source}' labels {len(population)} steps with a parsed label; the "
                      f"contract needs a sample of {n}.")
    seed = random.SystemRandom().randrange(2**31) if seed is None else seed
    sample = draw_sample(population, n, seed)
    with transaction.atomic():
        cert = Certification.objects.create(
            project=project, source=source, hint_kind=kind, hint_source=name,
            max_error=max_error, confidence=confidence, method=method,
            anticipated_error=anticipated_error, sample_size=n, source_version=version,
            seed=seed, sample=[list(s) for s in sample], population=len(population),
            started_by=user if user is not None and user.is_authenticated else None)
        CertificationStep.objects.bulk_create(
            CertificationStep(certification=cert, solution_id=sid, position=pos)
            for sid, pos in sample)
        blind.first_changed(project)
        blind.hints_may_be_hidden(project.pk, True)
    return cert


def labeled_steps(project, source: str) -> list[tuple[int, int]]:
    """(solution id, position) of every step of the project's regular (non-gold) solutions
    that the source labels with a parsed label, in order."""
    ids = Solution.objects.filter(project=project, is_gold=False).order_by("id").values_list(
        "id", flat=True)
    labels = labels_for(source, ids)
    return sorted((sid, pos) for sid, row in labels.items()
                  for pos, label in row.items() if label is not None)


def draw_sample(population: list[tuple[int, int]], n: int, seed: int) -> list[tuple[int, int]]:
    """A uniform sample of n steps without replacement, the same for the same seed."""
    return sorted(random.Random(seed).sample(population, n))


@dataclass
class Progress:
    labeled: int
    needed: int


def evaluate(cert: Certification) -> Certification | Progress:
    """Certify or refuse once every sampled step has a human label; otherwise the progress.
    A void certification (its source changed) is marked so and returned."""
    if cert.status != Certification.Status.SAMPLING:
        return cert
    why = void_reason(cert)
    if why:
        return _void(cert, why)
    sample = [tuple(s) for s in cert.sample]
    sids = sorted({sid for sid, _ in sample})
    human = labels_for(REFERENCE, sids)
    machine = labels_for(cert.source, sids)
    labeled = [(sid, pos) for sid, pos in sample if human.get(sid, {}).get(pos) is not None]
    cert.labeled = len(labeled)
    if len(labeled) < len(sample):
        cert.save(update_fields=["labeled"])
        return Progress(len(labeled), len(sample))
    # A sampled step the source no longer labels with a parsed label counts as an error.
    errors = sum(machine.get(sid, {}).get(pos) != human[sid][pos] for sid, pos in sample)
    verdict = stats.verdict(errors, len(sample), contract_of(cert))
    cert.errors, cert.error_rate, cert.upper = errors, verdict.rate, verdict.upper
    cert.interval_low, cert.interval_high = verdict.interval
    cert.status = (Certification.Status.CERTIFIED if verdict.certified
                   else Certification.Status.REFUSED)
    cert.issued_at = timezone.now()
    cert.save()
    blind.first_changed(cert.project)
    return cert


def _void(cert: Certification, why: str) -> Certification:
    with transaction.atomic():
        blind.lock_hidden_flag(cert.project_id)
        cert.status, cert.void_reason = Certification.Status.VOID, why
        cert.save(update_fields=["status", "void_reason"])
        blind.hints_may_be_hidden(cert.project_id, Certification.objects.filter(
            project_id=cert.project_id).exclude(status=Certification.Status.VOID).exists())
        blind.first_changed(cert.project)
    return cert


def void_reason(cert: Certification, versions: dict | None = None) -> str:
    """Why the certification no longer holds ("" while it does): its source's version now
    differs from the one it was drawn at, or the source has no labels any more."""
    if cert.status == Certification.Status.VOID:
        return cert.void_reason
    now = _version_of(cert.source, versions if versions is not None
                      else _current_versions(cert.project))
    if now is None:
        return f"{cert.source} has no labels in the project any more."
    if now != cert.source_version:
        changed = sorted(k for k in {*now, *cert.source_version}
                         if now.get(k) != cert.source_version.get(k))
        return (f"{cert.source} changed since it was sampled ({', '.join(changed)}): "
                f"{_short(cert.source_version)} → {_short(now)}.")
    return ""


def _short(version: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(version.items())) or "no version"


def with_state(project, infos=None) -> list[Certification]:
    """The project's certifications, newest first, each with ``state`` (its status, or void
    when its source changed: checked now) and ``why``."""
    versions = _current_versions(project, infos)
    certs = list(Certification.objects.filter(project=project).select_related("started_by"))
    for cert in certs:
        cert.project = project
        cert.why = void_reason(cert, versions)
        cert.state = Certification.Status.VOID if cert.why else cert.status
    return certs


def current_certificates(project, specs) -> dict[str, list[dict]]:
    """{spec: [certificate, ...]} of the given sources' certificates that hold now."""
    out: dict[str, list[dict]] = {}
    for cert in with_state(project):
        if cert.source in specs and cert.state == Certification.Status.CERTIFIED:
            out.setdefault(cert.source, []).append(certificate(cert))
    return out


def certificate(cert: Certification) -> dict:
    """What a certification says, as exports and the API give it."""
    state = getattr(cert, "state", cert.status)
    return {
        "id": cert.pk, "project": cert.project_id, "source": cert.source, "status": state,
        "why_void": getattr(cert, "why", cert.void_reason) or "",
        "contract": {"max_error": cert.max_error, "confidence": cert.confidence,
                     "method": cert.method, "anticipated_error": cert.anticipated_error},
        "sample_size": cert.sample_size, "population": cert.population, "seed": cert.seed,
        "labeled": cert.labeled, "errors": cert.errors, "error_rate": cert.error_rate,
        "upper": cert.upper,
        "interval": (None if cert.interval_low is None
                     else [cert.interval_low, cert.interval_high]),
        "source_version": cert.source_version,
        "started_by": cert.started_by.username if cert.started_by_id else None,
        "created": cert.created.isoformat() if cert.created else None,
        "issued": cert.issued_at.isoformat() if cert.issued_at else None,
    }


# The blind queue (annotate.services.blind): filled in QualityConfig.ready().

def sampled_solutions(project):
    """Solutions of the project's certifications still sampling: served first."""
    return CertificationStep.objects.filter(
        certification__project=project,
        certification__status=Certification.Status.SAMPLING).values("solution_id")


def hidden_sources(solution_id: int):
    """The certifications (not void) that sampled this solution and whose hints are the outer
    PreAnnotation row's kind and source."""
    return Certification.objects.filter(
        steps__solution_id=solution_id, hint_kind=OuterRef("kind"),
    ).exclude(status=Certification.Status.VOID).filter(
        Q(hint_source="") | Q(hint_source=OuterRef("source")))


def evaluate_for_solution(solution_id: int) -> None:
    """Evaluate the certifications still sampling that drew a step of this solution: its
    progress, or the verdict once every sampled step has a human label. Called by the writes
    that change the solution's human labels (a task submitted, a reviewer's correction);
    pages and the API only read what it stored."""
    for cert in Certification.objects.filter(
            status=Certification.Status.SAMPLING,
            pk__in=CertificationStep.objects.filter(solution_id=solution_id)
            .values("certification_id")).select_related("project"):
        evaluate(cert)


def on_submitted(assignment) -> None:
    """``annotate.services.blind.SUBMITTED`` hook: a task of a sampled solution was submitted."""
    evaluate_for_solution(assignment.solution_id)


def machine_sources(project, infos=None) -> list:
    """The project's sources that can be certified (machine labels), with their versions."""
    return [info for info in (available_sources(project) if infos is None else infos)
            if info.family in RATED_KINDS or info.family in SCORED_KINDS]
