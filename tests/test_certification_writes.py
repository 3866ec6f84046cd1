"""A certification's verdict is written by the request that finishes its sample, never by a
page or API read (docs/labels.md, "Certification")."""

import json

import pytest
from django.utils import timezone

from annotate.models import Assignment
from annotate.services.imports import import_machine_labels
from annotate.services.labeling import finish
from quality.certification import start_certification
from quality.models import Certification

from .manage_factories import add, make_project, make_solution, rate

pytestmark = [pytest.mark.django_db]

HUMAN = [1, 1, -1, 1]


@pytest.fixture
def sampled(make_user):
    """A judge that agrees with the humans everywhere, its certification sampling 7 of the
    16 steps of 4 solutions."""
    admin, human = make_user("cw-admin"), make_user("cw-human")
    project = make_project("cw", admin=admin, overlap=1)
    add(project, human)
    sols = []
    for i in range(4):
        s = make_solution(project, n_steps=4, tag=f"cw{i}")
        s.external_id = f"cw-{i}"
        s.save()
        sols.append(s)
    import_machine_labels(project, [json.dumps({"solution": s.external_id, "step_labels": HUMAN})
                                    for s in sols], source="cw-judge", kind="judge",
                          version={"model": "m", "prompt_version": "v1"})
    cert = start_certification(project, admin, source="judge:cw-judge", max_error=0.3,
                               confidence=0.9, seed=4)
    assert cert.sample_size == 7
    return project, admin, human, sols, cert


def test_reading_the_page_and_api_writes_nothing(sampled, client):
    project, admin, human, sols, cert = sampled
    for s in sols:  # every sampled step labeled, outside the submit path
        rate(s, human, HUMAN)
    before = Certification.objects.values().get(pk=cert.pk)
    client.force_login(admin)
    assert client.get(f"/manage/{project.slug}/label-sources/").status_code == 200
    listed = client.get(f"/api/projects/{project.pk}/certifications/").json()
    assert [c["status"] for c in listed] == ["sampling"]
    assert Certification.objects.values().get(pk=cert.pk) == before  # nothing written


def test_submitting_the_last_sampled_task_issues_the_verdict(sampled, client,
                                                            django_capture_on_commit_callbacks):
    project, admin, human, sols, cert = sampled
    sampled_ids = sorted({sid for sid, _ in cert.sample})
    for s in sols:
        if s.pk not in sampled_ids:
            rate(s, human, HUMAN)
    by_id = {s.pk: s for s in sols}
    for i, sid in enumerate(sampled_ids):  # one task held at a time, finished by the service
        assignment = rate(by_id[sid], human, HUMAN, status=Assignment.Status.ACTIVE)
        Assignment.objects.filter(pk=assignment.pk).update(
            started_at=timezone.now(), lease_expires_at=timezone.now() + timezone.timedelta(hours=1))
        with django_capture_on_commit_callbacks(execute=True):
            finish(assignment.pk, human, reason="found_error")
        cert.refresh_from_db()
        assert cert.labeled == sum(1 for s, _ in cert.sample if s in sampled_ids[:i + 1])
        assert cert.status == ("certified" if i == len(sampled_ids) - 1 else "sampling")
    assert cert.errors == 0 and cert.issued_at is not None
    client.force_login(admin)
    listed = client.get(f"/api/projects/{project.pk}/certifications/").json()
    assert [c["status"] for c in listed] == ["certified"]


def test_queue_sees_a_sample_drawn_after_it_cached_none(make_user, monkeypatch):
    """The queue caches "nothing to serve first" with its low-water mark (no query per next
    task); drawing a sample clears it, so the very next task is a sampled one, however fresh
    the cached mark is."""
    from annotate.services import queue
    from annotate.services.queue import next_task

    monkeypatch.setattr(queue, "MARK_REFRESH", 3600.0)

    admin, early, late = make_user("cq-admin"), make_user("cq-early"), make_user("cq-late")
    project = make_project("cq", admin=admin, overlap=2)
    sols = [make_solution(project, n_steps=4, tag=f"cq{i}") for i in range(6)]
    for i, s in enumerate(sols):
        s.external_id = f"cq-{i}"
        s.save()
    add(project, early)
    add(project, late)
    # Judged on the last three only: the sample is there, the strategy would offer sols[0].
    import_machine_labels(project, [json.dumps({"solution": s.external_id, "step_labels": HUMAN})
                                    for s in sols[3:]], source="cq-judge", kind="judge",
                          version={"model": "m"})
    assert next_task(project, early).solution_id == sols[0].pk  # none to serve first: cached
    cert = start_certification(project, admin, source="judge:cq-judge", max_error=0.3,
                               confidence=0.9, seed=1)
    sampled = {sid for sid, _ in cert.sample}
    assert min(sampled) >= sols[3].pk
    task = next_task(project, late)
    assert task.solution_id == min(sampled)


def test_a_reviewers_correction_that_completes_the_sample_issues_the_verdict(
        sampled, make_user, django_capture_on_commit_callbacks):
    from annotate.models import Membership
    from quality.services import correct_assignment

    from .manage_factories import path_of

    project, admin, human, sols, cert = sampled
    sid, pos = cert.sample[0]
    by_id = {s.pk: s for s in sols}
    held_back = None
    for s in sols:  # every sampled step labeled but one, left unrated by the annotator
        labels = [None if (s.pk, p) == (sid, pos) else v for p, v in enumerate(HUMAN)]
        assignment = rate(s, human, labels)
        if s.pk == sid:
            held_back = assignment
    reviewer = make_user("cw-reviewer")
    add(project, reviewer, Membership.Role.REVIEWER)
    with django_capture_on_commit_callbacks(execute=True):
        correct_assignment(held_back, reviewer, {path_of(by_id[sid])[pos].pk: HUMAN[pos]},
                           note="settled")
    cert.refresh_from_db()
    assert (cert.status, cert.labeled, cert.errors) == ("certified", 7, 0)
