"""The "Certify" part of the label-sources page: declare a contract for a machine source, see
how many steps it needs, and the project's certifications (docs/labels.md, "Certification")."""

from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from quality import certification as cert_service
from quality.certify_stats import ContractError
from quality.labels import available_sources

from .permissions import ADMIN, STAFF, project_role_required

FIELDS = ("max_error", "confidence", "anticipated_error")


class FormError(ValueError):
    pass


def read_contract(data) -> dict:
    """The form's contract as numbers; a missing or non-numeric field is a FormError."""
    out = {"method": data.get("method") or "exact"}
    for name in FIELDS:
        raw = (data.get(name) or "").strip()
        if not raw and name == "anticipated_error":
            out[name] = 0.0
            continue
        try:
            out[name] = float(raw)
        except ValueError:
            raise FormError(f"{name} must be a number; it is '{raw}'.") from None
    return out


def certify_context(project, data=None) -> dict:
    """What the page's Certify part shows: machine sources, certifications (as the writes
    that finish samples left them; void ones found now, without writing), and the steps the
    form's contract needs."""
    data = data or {}
    infos = available_sources(project)  # read once for both
    return {"machine_sources": cert_service.machine_sources(project, infos),
            "certifications": cert_service.with_state(project, infos),
            "cert_form": {"source": data.get("source", ""),
                          "max_error": data.get("max_error", "0.1"),
                          "confidence": data.get("confidence", "0.95"),
                          "method": data.get("method", "exact"),
                          "anticipated_error": data.get("anticipated_error", ""),
                          "seed": data.get("seed", "")},
            "needed": needed_text(data or {"max_error": "0.1", "confidence": "0.95"})}


def needed_text(data) -> str:
    try:
        contract = read_contract(data)
        n = cert_service.steps_needed(**contract)
    except (FormError, ContractError) as exc:
        return str(exc)
    errors = ("no error" if not contract["anticipated_error"]
              else f"{contract['anticipated_error']:g} of them wrong")
    return (f"This contract needs a sample of {n} steps: with {errors}, the upper bound of "
            f"the error rate at {contract['confidence']:g} confidence is at most "
            f"{contract['max_error']:g}.")


@project_role_required(*STAFF)
@require_GET
def certify_size(request, project):
    """The sample the contract in the query needs, as text (the form asks on every change)."""
    return HttpResponse(needed_text(request.GET), content_type="text/plain; charset=utf-8")


@project_role_required(ADMIN)
@require_POST
def certify(request, project):
    from .labels import render_label_sources

    try:
        contract = read_contract(request.POST)
        raw_seed = (request.POST.get("seed") or "").strip()
        seed = int(raw_seed) if raw_seed else None
    except (FormError, ValueError) as exc:
        return render_label_sources(request, project, cert_error=str(exc), status=400)
    try:
        cert_service.start_certification(project, request.user,
                                         source=request.POST.get("source", ""),
                                         seed=seed, **contract)
    except cert_service.CertificationError as exc:
        return render_label_sources(request, project, cert_error=str(exc), status=400)
    return redirect(reverse("manage:label_sources", args=[project.slug]) + "#certify")
