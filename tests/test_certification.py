"""Certification of a machine label source (docs/labels.md, "Certification"): the intervals and
the sample-size rule against hand computations, a seeded sample's steps, counts, interval and
verdict, the blind queue and labeling page, voiding by a changed prompt, exports carrying the
certificate, and the API's 400s."""

import json
import math
import random

import pytest

from annotate.models import Assignment, Membership
from annotate.services.imports import import_machine_labels
from annotate.services.queue import next_task
from exports.models import ExportSnapshot
from exports.services import build_snapshot
from exports.spec import normalize_spec
from quality import certify_stats as stats
from quality.certification import evaluate, start_certification, with_state
from quality.models import Certification

from .manage_factories import add, make_project, make_solution, rate

pytestmark = [pytest.mark.django_db]

CERT, OTHER = "judge:cert-judge", "judge:other-judge"
V1 = {"model": "qwen3-8b", "prompt_version": "v1"}


def _bisect(f, lo=0.0, hi=1.0) -> float:
    """The root of a decreasing f on [lo, hi]: by halving, no library."""
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if f(mid) > 0 else (lo, mid)
    return (lo + hi) / 2


def _binom_cdf(k: int, n: int, p: float) -> float:
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k + 1))


# --- the statistics, by hand ----------------------------------------------------------------

def test_clopper_pearson_by_hand():
    # 0 errors: the upper bound solves (1 - p)^n = 1 - confidence.
    assert stats.clopper_pearson_upper(0, 29, 0.95) == pytest.approx(1 - 0.05 ** (1 / 29))
    # k errors: P(X <= k | p) = 1 - confidence.
    for k, n, c in ((1, 7, 0.9), (3, 40, 0.95), (10, 50, 0.99)):
        hand = _bisect(lambda p, k=k, n=n, c=c: _binom_cdf(k, n, p) - (1 - c))
        assert stats.clopper_pearson_upper(k, n, c) == pytest.approx(hand, abs=1e-9)
        low = _bisect(lambda p, k=k, n=n, c=c: (1 - c) - (1 - _binom_cdf(k - 1, n, p)))
        assert stats.clopper_pearson_lower(k, n, c) == pytest.approx(low, abs=1e-9)
    assert stats.clopper_pearson_upper(5, 5, 0.95) == 1.0
    assert stats.clopper_pearson_lower(0, 5, 0.95) == 0.0


def test_wilson_by_hand():
    # 2 of 40 at z = 1.959964 (two-sided 95%): the score interval written out.
    z, p, n = 1.959963984540054, 2 / 40, 40
    centre, half = p + z * z / (2 * n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    lo, hi = (centre - half) / (1 + z * z / n), (centre + half) / (1 + z * z / n)
    assert stats.interval(2, 40, 0.95, "wilson") == pytest.approx((lo, hi))
    assert (round(lo, 4), round(hi, 4)) == (0.0138, 0.1650)
    # One-sided at 95%: z = 1.644854; 0 errors give z² / (n + z²).
    z1 = 1.6448536269514722
    assert stats.upper_bound(0, 25, 0.95, "wilson") == pytest.approx(z1 * z1 / (25 + z1 * z1))


def test_sample_size_rule():
    # "At most 10% wrong at 95%": ln(0.05) / ln(0.9) = 28.4, so 29 steps with no error.
    assert stats.sample_size(stats.Contract(0.1, 0.95)) == 29
    assert stats.clopper_pearson_upper(0, 28, 0.95) > 0.1 >= stats.clopper_pearson_upper(0, 29, 0.95)
    # Wilson, 0 errors: n >= z²(1 - p) / p = 2.7055 * 9 = 24.3.
    assert stats.sample_size(stats.Contract(0.1, 0.95, "wilson")) == 25
    # "At most 30% at 90%": ln(0.1) / ln(0.7) = 6.46.
    assert stats.sample_size(stats.Contract(0.3, 0.9)) == 7
    # Anticipating 5% errors: the smallest n whose ceil(0.05 n) errors pass, checked by walking.
    n = stats.sample_size(stats.Contract(0.1, 0.95), anticipated=0.05)
    passes = [m for m in range(1, n + 1)
              if stats.clopper_pearson_upper(math.ceil(0.05 * m - 1e-9), m, 0.95) <= 0.1]
    assert passes == [n] and n == 116
    with pytest.raises(stats.ContractError, match="below max_error"):
        stats.sample_size(stats.Contract(0.1, 0.95), anticipated=0.1)


@pytest.mark.parametrize("max_error, confidence, method, field", [
    (0, 0.95, "exact", "max_error"), (1, 0.95, "exact", "max_error"),
    (0.1, 0.5, "exact", "confidence"), (0.1, 1, "exact", "confidence"),
    (0.1, 0.95, "normal", "method"), (float("nan"), 0.95, "exact", "max_error"),
])
def test_bad_contracts(max_error, confidence, method, field):
    with pytest.raises(stats.ContractError) as err:
        stats.Contract(max_error, confidence, method)
    assert err.value.field == field


# --- the certification ----------------------------------------------------------------------

#: Per solution: the humans' labels, and where the certified judge says otherwise.
HUMAN = [1, 1, -1, 1]
N_SOL = 6


def _import(project, name, labels_by_solution, version):
    rows = [json.dumps({"solution": f"c-{i}", "step_labels": {str(p): v for p, v in row.items()}})
            for i, row in enumerate(labels_by_solution)]
    report = import_machine_labels(project, rows, source=name, kind="judge", version=version)
    assert not report.rejected, report.rejected


@pytest.fixture
def case(make_user):
    admin = make_user("cert-admin")
    project = make_project("cert", admin=admin, show_hints=True, overlap=1)
    sols = []
    for i in range(N_SOL):
        s = make_solution(project, n_steps=4, tag=f"c{i}")
        s.external_id = f"c-{i}"
        s.save()
        sols.append(s)
    # The judge is wrong on every step of solution 1 and on step 2 of solution 4; 24 steps.
    judged = [dict(enumerate(HUMAN)) for _ in sols]
    judged[1] = {p: -v for p, v in judged[1].items()}
    judged[4][2] = 1
    _import(project, "cert-judge", judged, V1)
    _import(project, "other-judge", [dict(enumerate(HUMAN)) for _ in sols], {"model": "o"})
    return project, admin, sols


def _label_all(project, sols, make_user):
    human = make_user("cert-human")
    add(project, human)
    for s in sols:
        rate(s, human, HUMAN)


def test_seeded_sample_counts_interval_and_verdict(case, make_user):
    project, admin, sols = case
    cert = start_certification(project, admin, source=CERT, max_error=0.3, confidence=0.9,
                               seed=11)
    index = {s.pk: i for i, s in enumerate(sols)}
    # ln(0.1) / ln(0.7) = 6.46: 7 steps, drawn uniformly from the 24 labeled ones.
    assert (cert.sample_size, cert.population) == (7, 24)
    population = [(s.pk, p) for s in sols for p in range(4)]
    assert [tuple(x) for x in cert.sample] == sorted(random.Random(11).sample(population, 7))
    drawn = [(index[sid], pos) for sid, pos in cert.sample]
    assert drawn == [(1, 2), (3, 2), (4, 0), (4, 1), (4, 2), (5, 1), (5, 3)]
    assert cert.source_version == V1 and cert.status == "sampling"

    # Not labeled yet: progress only.
    progress = evaluate(cert)
    assert (progress.labeled, progress.needed) == (0, 7)
    _label_all(project, sols, make_user)
    cert = evaluate(cert)
    # Wrong on (1, 2) and (4, 2): 2 of 7.
    assert (cert.errors, cert.labeled, cert.error_rate) == (2, 7, 2 / 7)
    hand_upper = _bisect(lambda p: _binom_cdf(2, 7, p) - 0.1)  # one-sided 90%
    assert cert.upper == pytest.approx(hand_upper, abs=1e-9)
    assert round(cert.upper, 4) == 0.5962
    low = _bisect(lambda p: 0.05 - (1 - _binom_cdf(1, 7, p)))  # two-sided 90%: 5% each side
    high = _bisect(lambda p: _binom_cdf(2, 7, p) - 0.05)
    assert (cert.interval_low, cert.interval_high) == (pytest.approx(low), pytest.approx(high))
    assert cert.status == "refused" and cert.issued_at is not None

    # The other judge agrees everywhere: 0 of 7, upper 1 - 0.1^(1/7) = 0.2803 <= 0.3.
    good = start_certification(project, admin, source=OTHER, max_error=0.3, confidence=0.9,
                               seed=11)
    good = evaluate(good)
    assert (good.errors, good.status) == (0, "certified")
    assert good.upper == pytest.approx(1 - 0.1 ** (1 / 7))


def test_changed_prompt_voids_the_certificate(case, make_user, client):
    project, admin, sols = case
    _label_all(project, sols, make_user)
    cert = evaluate(start_certification(project, admin, source=OTHER, max_error=0.3,
                                        confidence=0.9, seed=3))
    assert cert.status == "certified"
    assert [c.state for c in with_state(project)] == ["certified"]
    # The same judge run again with a new prompt (its labels replaced, the same verdicts):
    # available_sources reads the version off its newest label row.
    _import(project, "other-judge", [dict(enumerate(HUMAN)) for _ in sols],
            {"model": "o", "prompt_version": "v2"})
    (now,) = with_state(project)
    assert now.state == "void" and "prompt_version" in now.why and "v2" in now.why
    client.force_login(admin)
    (listed,) = client.get(f"/api/projects/{project.pk}/certifications/").json()
    assert listed["status"] == "void" and "prompt_version" in listed["why_void"]


def test_queue_serves_the_sample_first_blind_to_the_source(case, client, make_user):
    project, admin, sols = case
    cert = start_certification(project, admin, source=CERT, max_error=0.3, confidence=0.9,
                               seed=11)
    sampled = {sid for sid, _ in cert.sample}
    annotator = make_user("cert-annotator")
    add(project, annotator)
    task = next_task(project, annotator)
    assert task.solution_id in sampled and task.solution_id == min(sampled)
    assert sols[0].pk not in sampled  # the strategy (sequential) would have offered it

    client.force_login(annotator)
    html = client.get(f"/task/{task.pk}/").content.decode()
    assert 'title="other-judge"' in html  # the project shows hints: other sources still show
    assert "cert-judge" not in html
    # Nothing the annotator may read over the API names the source's labels.
    for url in (f"/api/projects/{project.pk}/certifications/",
                f"/api/projects/{project.pk}/label-sources/"):
        assert client.get(url).status_code == 403
    resp = client.get(f"/api/solutions/{task.solution_id}/")
    assert resp.status_code == 200 and "cert-judge" not in resp.content.decode()

    # An admin labeling the same solution still sees it.
    other_admin = make_user("cert-admin2")
    add(project, other_admin, Membership.Role.ADMIN)
    mine = next_task(project, other_admin)
    assert mine.solution_id in sampled
    client.force_login(other_admin)
    html = client.get(f"/task/{mine.pk}/").content.decode()
    assert 'title="cert-judge"' in html

    # A solution outside the sample shows the source's hints to annotators.
    outside = next(s for s in sols if s.pk not in sampled)
    task.status = Assignment.Status.SUBMITTED
    task.save(update_fields=["status"])
    plain = Assignment.objects.create(project=project, solution=outside, annotator=annotator,
                                      status=Assignment.Status.ACTIVE,
                                      lease_expires_at=task.lease_expires_at)
    client.force_login(annotator)
    assert 'title="cert-judge"' in client.get(f"/task/{plain.pk}/").content.decode()


def test_a_void_certification_stops_hiding_its_hints(case, client, make_user):
    """The project says whether any hint may be hidden (read with every labeling action):
    set when a certification starts, cleared when the last one that hides is void."""
    project, admin, sols = case
    project.refresh_from_db()
    assert project.hints_may_be_hidden is False
    cert = start_certification(project, admin, source=CERT, max_error=0.3, confidence=0.9,
                               seed=11)
    other = start_certification(project, admin, source=OTHER, max_error=0.3, confidence=0.9,
                                seed=12)
    project.refresh_from_db()
    assert project.hints_may_be_hidden is True
    annotator = make_user("void-annotator")
    add(project, annotator)
    task = next_task(project, annotator)
    assert task.solution_id in {sid for sid, _ in cert.sample}
    client.force_login(annotator)
    assert "cert-judge" not in client.get(f"/task/{task.pk}/").content.decode()

    # The judge's prompt changes: its certification is void on its next evaluation.
    _import(project, "cert-judge", [dict(enumerate(HUMAN)) for _ in sols],
            {**V1, "prompt_version": "v9"})
    assert evaluate(cert).status == "void"
    project.refresh_from_db()
    assert project.hints_may_be_hidden is True  # the other one still hides its own source
    page = client.get(f"/task/{task.pk}/").content.decode()
    assert 'title="cert-judge"' in page
    if task.solution_id in {sid for sid, _ in other.sample}:
        assert 'title="other-judge"' not in page
    _import(project, "other-judge", [dict(enumerate(HUMAN)) for _ in sols],
            {"model": "o", "prompt_version": "v9"})
    assert evaluate(other).status == "void"
    project.refresh_from_db()
    assert project.hints_may_be_hidden is False
    page = client.get(f"/task/{task.pk}/").content.decode()
    assert 'title="cert-judge"' in page and 'title="other-judge"' in page


def test_export_carries_the_certificate(case, make_user, settings, tmp_path):
    project, admin, sols = case
    _label_all(project, sols, make_user)
    cert = evaluate(start_certification(project, admin, source=OTHER, max_error=0.3,
                                        confidence=0.9, seed=5))
    settings.EXPORTS_DIR = tmp_path / "exports"
    for rule in ({"rule": "source", "source": OTHER}, {"rule": "prefer", "sources": [CERT, OTHER]}):
        spec = normalize_spec({"projects": [project.pk], "format": "trl", "labels": rule})
        snap = ExportSnapshot.objects.create(name=f"cert-{rule['rule']}", version=1,
                                             format="trl", filters=spec)
        build_snapshot(snap.pk)
        snap.refresh_from_db()
        assert snap.status == "ready", snap.error
        certs = snap.options["labels"]["certificates"]
        assert list(certs) == [OTHER]  # the refused or uncertified source carries none
        (carried,) = certs[OTHER]
        assert carried["id"] == cert.pk and carried["status"] == "certified"
        assert carried["contract"] == {"max_error": 0.3, "confidence": 0.9, "method": "exact",
                                       "anticipated_error": 0.0}
        assert (carried["errors"], carried["sample_size"]) == (0, 7)
        assert carried["upper"] == pytest.approx(1 - 0.1 ** (1 / 7))
        assert carried["source_version"] == {"model": "o"} and carried["issued"]
        assert len(carried["interval"]) == 2


def test_api_starts_and_refuses(case, client, make_user):
    project, admin, _sols = case
    url = f"/api/projects/{project.pk}/certifications/"
    reviewer = make_user("cert-reviewer")
    add(project, reviewer, Membership.Role.REVIEWER)
    client.force_login(reviewer)
    assert client.get(url).status_code == 200
    assert client.post(url, {"source": CERT, "max_error": 0.3, "confidence": 0.9},
                       content_type="application/json").status_code == 403
    client.force_login(admin)
    for body, field, message in (
            ({"max_error": 0}, "max_error", "between 0 and 1"),
            ({"max_error": 1.5}, "max_error", "between 0 and 1"),
            ({"confidence": 0.5}, "confidence", "between 0.5 and 1"),
            ({"confidence": 1}, "confidence", "between 0.5 and 1"),
            ({"source": "judge:nobody"}, "source", "no labels in this project"),
            ({"source": "llm:x"}, "source", "names no label source"),
            ({"source": "human:consensus"}, "source", "not a machine source"),
            # ln(0.1) / ln(0.99) = 229.1 steps, and the judge labels 24.
            ({"max_error": 0.01}, "source", "labels 24 steps with a parsed label; the contract "
                                            "needs a sample of 230")):
        resp = client.post(url, {"source": CERT, "max_error": 0.3, "confidence": 0.9, **body},
                           content_type="application/json")
        assert resp.status_code == 400, (body, resp.content)
        assert message in str(resp.json()[field]), resp.json()
    resp = client.post(url, {"source": CERT, "max_error": 0.3, "confidence": 0.9, "seed": 11,
                             "method": "wilson"}, content_type="application/json")
    assert resp.status_code == 201, resp.content
    body = resp.json()
    assert (body["status"], body["sample_size"], body["contract"]["method"]) == (
        "sampling", stats.sample_size(stats.Contract(0.3, 0.9, "wilson")), "wilson")
    assert Certification.objects.get(pk=body["id"]).started_by == admin
    client.force_login(reviewer)
    (listed,) = client.get(url).json()
    assert listed["id"] == body["id"] and listed["labeled"] == 0
