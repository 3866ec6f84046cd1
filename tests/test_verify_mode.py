"""Verify mode (docs/labeling.md, "Verify mode"): the source a task shows, its verdicts and
reasons on the page, provenance on every rating, accept-to-first-Bad in both modes, the blind
share and certification samples hiding the source, critiques from the page (offered machine
reason accepted, edited, replaced), the project form's check of the source, the keymap."""

import re

import pytest

from annotate.models import Critique, PreAnnotation, Project, StepNode, StepRating
from annotate.models.projects import merged_keymap, validate_keymap
from annotate.services import verify_draw
from annotate.services.queue import next_task
from console.forms import ProjectForm
from tests.labeling_factories import add_member, make_project, make_solution

pytestmark = [pytest.mark.django_db, pytest.mark.portable]

STEPS = ["Let $x = 6$.", "Then $7x = 42$.", "So it is $41$.", "# Answer\n\n41"]
#: The judge's verdicts on STEPS: right on the first two, wrong (Bad) on the third.
VERDICTS = [1, 1, -1, -1]
REASONS = ["$x = 6$ is given.", "$7 \\cdot 6 = 42$ holds.", "JUDGE-REASON-3: $42 \\ne 41$.",
           "the answer is wrong"]
VERSION = {"model": "judge-m", "prompt_version": "v3"}
SPEC = "judge:vj"


def _path(solution) -> list[int]:
    node, ids = solution.last_step, []
    while node:
        ids.append(node.pk)
        node = node.parent
    return ids[::-1]


def _judge(node_ids, verdicts=VERDICTS, reasons=REASONS, solution_id=0, agreement=1.0):
    for node, rating, reason in zip(node_ids, verdicts, reasons):
        PreAnnotation.objects.create(
            node_id=node, kind=PreAnnotation.Kind.JUDGE, source="vj", scope=solution_id,
            value=1.0 if rating > 0 else 0.0, rating=rating, reason=reason,
            provenance={"version": VERSION, "agreement": agreement})


@pytest.fixture
def verify(make_user, client):
    project = make_project("ver", verify_source=SPEC, candidates_per_position=2)
    solution = make_solution(project, STEPS, alternatives={2: ["So it is $42$."]})
    path = _path(solution)
    _judge(path)
    user = add_member(project, make_user("ann"))
    client.force_login(user)
    assignment = next_task(project, user)
    return project, solution, path, user, assignment


def _post(client, name, assignment, **data):
    return client.post(f"/task/{assignment.pk}/{name}/", data, HTTP_HX_REQUEST="true")


def test_a_verify_task_shows_the_source_and_records_provenance(verify, client):
    project, solution, path, user, assignment = verify
    assert assignment.shown_source == SPEC
    page = client.get(f"/task/{assignment.pk}/").content.decode()
    assert "Verify mode" in page and 'data-verdict="1"' in page
    # The preview: steps 2 and 3 (the machine's first Bad) after the current step 1.
    assert re.findall(r'data-preview="(\d+)"', page) == [str(n) for n in path[1:3]]
    assert "JUDGE-REASON-3" in page
    assert "rate-btn great-btn preselected" in page  # the verdict pre-selected on step 1
    assert "x = 6$ is given." in page  # its reason shown

    # Confirm step 1 (the verdict's own rating), change step 2.
    assert _post(client, "rate", assignment, node=path[0], rating=1).status_code == 200
    answer = _post(client, "rate", assignment, node=path[1], rating=0)
    assert answer.status_code == 200 and "you changed it" in answer.content.decode()
    r1, r2 = (StepRating.objects.get(assignment=assignment, node_id=n) for n in path[:2])
    assert r1.shown == {"source": SPEC, "version": VERSION, "rating": 1}
    assert r1.changed_from_shown is False
    assert r2.shown["rating"] == 1 and r2.rating == 0 and r2.changed_from_shown is True
    # Re-rating keeps what was first shown.
    _post(client, "rate", assignment, node=path[1], rating=1)
    r2.refresh_from_db()
    assert r2.shown["rating"] == 1 and r2.changed_from_shown is False


def test_accept_takes_the_verdicts_up_to_the_first_bad(verify, client):
    project, solution, path, user, assignment = verify
    answer = _post(client, "accept", assignment)
    assert answer.status_code == 200, answer.content
    ratings = {r.node_id: r for r in StepRating.objects.filter(assignment=assignment)}
    # Steps 1-3 take the verdicts (the third is the machine's first Bad); the answer is not rated.
    assert [ratings[n].rating for n in path[:3]] == [1, 1, -1]
    assert path[3] not in ratings
    assert all(ratings[n].shown == {"source": SPEC, "version": VERSION, "rating": v}
               for n, v in zip(path[:3], VERDICTS))
    # The walk stopped at the Bad step: its alternative is shown, and has no verdict to accept.
    page = client.get(f"/task/{assignment.pk}/").content.decode()
    assert "So it is $42$." in page
    # The machine's Bad flags its step, for the "next flagged" key and the rail.
    assert re.search(rf'machine-flag[^"]*"\s+data-node="{path[2]}"', page)
    assert not re.search(rf'machine-flag[^"]*"\s+data-node="{path[1]}"', page)
    again = _post(client, "accept", assignment)
    assert again.status_code == 409 and "no verdict" in again.content.decode()
    _post(client, "rate", assignment, node=StepNode.objects.get(text="So it is $42$.").pk, rating=1)
    done = _post(client, "accept", assignment)
    assert done.status_code == 409 and "nothing is left to accept" in done.content.decode()
    _post(client, "undo", assignment)
    # The PRM800K record keeps its schema and carries the provenance under its "stepwise" key.
    from annotate.services.exports.prm800k import prm800k_record

    record = prm800k_record(assignment)
    assert record["stepwise"]["shown_source"] == SPEC
    assert record["stepwise"]["shown"] == {
        str(n): {"source": SPEC, "version": VERSION, "rating": v} for n, v in zip(path[:3], VERDICTS)}
    assert set(record["label"]["steps"][0]["completions"][0]) == {"text", "rating", "flagged"}
    # One undo press takes the whole accept back; the next has nothing left.
    assert _post(client, "undo", assignment).status_code == 200
    assert list(StepRating.objects.filter(assignment=assignment, rating__isnull=False)) == []
    assert _post(client, "undo", assignment).status_code == 409
    # A confirm after it is undone on its own.
    _post(client, "rate", assignment, node=path[0], rating=1)
    _post(client, "accept", assignment)
    _post(client, "undo", assignment)
    assert dict(StepRating.objects.filter(assignment=assignment, rating__isnull=False)
                .values_list("node_id", "rating")) == {path[0]: 1}


def test_accept_stops_before_a_step_without_a_verdict(make_user, client):
    project = make_project("gap", verify_source=SPEC)
    solution = make_solution(project, STEPS)
    path = _path(solution)
    _judge(path[:1])  # only the first step judged
    user = add_member(project, make_user("ann2"))
    client.force_login(user)
    assignment = next_task(project, user)
    assert _post(client, "accept", assignment).status_code == 200
    assert list(StepRating.objects.filter(assignment=assignment).values_list("node_id", "rating")) \
        == [(path[0], 1)]
    # A judge's unparsed answer (no rating) is no verdict either: nothing more to accept.
    PreAnnotation.objects.create(node_id=path[1], kind=PreAnnotation.Kind.JUDGE, source="vj",
                                 value=0.5, rating=None, provenance={"unparsed": True})
    refused = _post(client, "accept", assignment)
    assert refused.status_code == 409
    page = client.get(f"/task/{assignment.pk}/").content.decode()
    assert "machine: no verdict" in page and "machine-unsure" in page


def test_branch_mode_accepts_the_current_candidates(make_user, client):
    project = make_project("vbr", verify_source=SPEC, mode=Project.Mode.BRANCH,
                           candidates_per_position=3)
    solution = make_solution(project, STEPS, alternatives={0: ["Let $x = 7$.", "Let $y = 6$."]})
    first = list(StepNode.objects.filter(problem=solution.problem, depth=0).order_by("id"))
    _judge([n.pk for n in first], verdicts=[1, -1, 1], reasons=["ok", "BR-BAD", "ok too"])
    user = add_member(project, make_user("ann3"))
    client.force_login(user)
    assignment = next_task(project, user)
    assert _post(client, "accept", assignment).status_code == 200
    rated = dict(StepRating.objects.filter(assignment=assignment).values_list("node_id", "rating"))
    # In order, stopping after the first Bad: the third candidate stays unrated.
    assert rated == {first[0].pk: 1, first[1].pk: -1}
    assert StepRating.objects.get(node_id=first[1].pk).shown["rating"] == -1


def test_the_blind_share_hides_the_source_everywhere(make_user, client):
    project = make_project("blind", verify_source=SPEC, verify_blind_share=1.0)
    solution = make_solution(project, STEPS)
    path = _path(solution)
    _judge(path)
    user = add_member(project, make_user("ann4"))
    client.force_login(user)
    assignment = next_task(project, user)
    assert assignment.shown_source == ""
    page = client.get(f"/task/{assignment.pk}/").content.decode()
    assert "JUDGE-REASON-3" not in page and "data-verdict" not in page and "Verify mode" not in page
    assert _post(client, "accept", assignment).status_code == 409
    _post(client, "rate", assignment, node=path[0], rating=1)
    assert StepRating.objects.get(assignment=assignment, node_id=path[0]).shown is None
    # The API shows the annotator nothing of it either.
    from api.services import issue_token

    _, key = issue_token(user=user, name="blind", scope="read")
    for url in ("/api/ratings/", f"/api/assignments/{assignment.pk}/critiques/",
                f"/api/projects/{project.pk}/"):
        body = client.get(url, HTTP_AUTHORIZATION=f"Bearer {key}").content.decode()
        assert "JUDGE-REASON-3" not in body


def test_the_blind_draw_is_a_stable_share():
    draws = [verify_draw.blind_fraction(s, 7) for s in range(2000)]
    assert draws == [verify_draw.blind_fraction(s, 7) for s in range(2000)]
    share = sum(d < 0.25 for d in draws) / len(draws)
    assert 0.22 < share < 0.28


def test_a_certification_sample_is_labeled_blind(make_user, client):
    from quality.certification import start_certification

    admin = make_user("vadmin")
    project = make_project("vcert", verify_source=SPEC)
    solutions = [make_solution(project, STEPS) for _ in range(2)]
    for solution in solutions:
        _judge(_path(solution))
    add_member(project, admin, role="admin")
    # 7 of the 8 judged steps: both solutions are sampled.
    start_certification(project, admin, source=SPEC, max_error=0.3, confidence=0.9, seed=1)
    user = add_member(project, make_user("ann5"))
    assignment = next_task(project, user)
    assert assignment.solution_id in {s.pk for s in solutions} and assignment.shown_source == ""
    client.force_login(user)
    page = client.get(f"/task/{assignment.pk}/").content.decode()
    assert "JUDGE-REASON-3" not in page and "data-verdict" not in page
    # Nor can the annotator have the hidden source's reason offered through the critiques API:
    # it answers as for a source with no reason, and writes nothing.
    from api.services import issue_token

    path = _path(assignment.solution)
    _post(client, "rate", assignment, node=path[0], rating=1)
    _post(client, "rate", assignment, node=path[1], rating=1)
    _post(client, "rate", assignment, node=path[2], rating=-1)
    _, key = issue_token(user=user, name="blind-api", scope="write")
    answer = client.post(f"/api/assignments/{assignment.pk}/critiques/",
                         {"node": path[2], "text": "x", "shown_source": SPEC},
                         content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert answer.status_code == 400 and "gave no reason" in answer.content.decode()
    assert "JUDGE-REASON-3" not in answer.content.decode()
    assert not Critique.objects.filter(assignment=assignment).exists()


def test_critiques_from_the_page(verify, client):
    project, solution, path, user, assignment = verify
    _post(client, "accept", assignment)
    # The machine's reason offered and saved as it is: accepted.
    ok = _post(client, "critique", assignment, node=path[2], text=REASONS[2], offered="1")
    assert ok.status_code == 200, ok.content
    c = Critique.objects.get(assignment=assignment, node_id=path[2])
    assert (c.origin, c.machine_source, c.shown_text) == ("accepted", SPEC, REASONS[2])
    assert "Your critique" in ok.content.decode() and "machine reason accepted" in ok.content.decode()
    # Edited, then with a corrected step.
    _post(client, "critique", assignment, node=path[2], text=REASONS[2] + " Also $6 \\cdot 7$.",
          correction="So it is $42$, as $7x = 42$.")
    c.refresh_from_db()
    assert c.origin == "edited" and c.correction.text == "So it is $42$, as $7x = 42$."
    assert c.correction.author == StepNode.Author.HUMAN and c.correction.parent_id == path[1]
    # Replaced: the person's own words instead of the machine's.
    _post(client, "critique", assignment, node=path[2], text="41 is off by one.", origin="replaced")
    c.refresh_from_db()
    assert (c.origin, c.text, c.correction) == ("replaced", "41 is off by one.", None)
    # Bad input: a specific 4xx, nothing changed.
    for bad, words in (({"text": ""}, "Write the critique"), ({"text": "x" * 4001}, "at most 4000"),
                       ({"text": "a\x00b"}, "NUL"), ({"node": "abc", "text": "t"}, "whole number"),
                       ({"node": "9" * 40, "text": "t"}, "out of range")):
        data = {"node": path[2], **bad}
        answer = _post(client, "critique", assignment, **data)
        assert answer.status_code == 400 and words in answer.content.decode()
    assert Critique.objects.get(pk=c.pk).text == "41 is off by one."
    assert _post(client, "critique/delete", assignment, node=path[2]).status_code == 200
    assert not Critique.objects.filter(pk=c.pk).exists()
    assert _post(client, "critique/delete", assignment, node=path[2]).status_code == 404


def test_required_critique_refuses_to_finish(make_user, client):
    project = make_project("req", critique_required_on_bad=True, candidates_per_position=1)
    solution = make_solution(project, STEPS)
    path = _path(solution)
    user = add_member(project, make_user("ann6"))
    client.force_login(user)
    assignment = next_task(project, user)
    for node, rating in zip(path[:3], [1, 1, -1]):
        _post(client, "rate", assignment, node=node, rating=rating)
    refused = _post(client, "finish", assignment, reason="found_error")
    assert refused.status_code in (400, 409), refused.content
    assert "critique on every Bad step" in refused.content.decode(), refused.content
    assert "step 3" in refused.content.decode()
    _post(client, "critique", assignment, node=path[2], text="$7 \\cdot 6 = 42$")
    assert _post(client, "finish", assignment, reason="found_error").status_code in (200, 204, 302)


def test_the_project_form_checks_the_source():
    base = {"name": "F", "mode": "first_error", "rating_scale": "prm800k", "overlap": 1,
            "candidates_per_position": 5, "queue_strategy": "sequential", "lease_seconds": 3600,
            "gold_rate": 0, "screening_items": 0, "screening_threshold": 0.75,
            "verify_blind_share": 0.1}
    for spec, ok in (("judge:vj", True), ("mc_soft@0.7", True), ("prm:m@0.5", True),
                     ("human:bob", False), ("gold", False), ("nonsense", False), ("", True)):
        form = ProjectForm(data={**base, "verify_source": spec})
        assert form.is_valid() is ok, (spec, form.errors)
    form = ProjectForm(data={**base, "verify_source": "judge:vj", "verify_blind_share": 1.5})
    assert not form.is_valid() and "verify_blind_share" in form.errors


def test_the_new_keys_yield_to_a_project_that_took_them():
    merged = merged_keymap({"flag": "c"})
    assert merged["flag"] == "c" and "confirm" not in merged
    assert merged["accept"] == "a" and merged["critique"] == "e"
    validate_keymap({"flag": "c"})
    # A new action's default yields to a key the project chose; two chosen keys still collide.
    assert "accept" not in merged_keymap({"confirm": "a"})
    with pytest.raises(Exception, match="bound to both"):
        validate_keymap({"confirm": "f"})


def test_a_verify_save_reads_the_verdicts_once(make_user, client):
    """The verdicts are read once per save, for the state before it and reused after it: on
    PostgreSQL with the steps and ratings (no query more than a rating task's), elsewhere in
    one query more. Read with the steps, they are the ones the page shows."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = {}
    for slug, spec in (("plain-q", ""), ("verify-q", SPEC)):
        project = make_project(slug, verify_source=spec, candidates_per_position=1)
        solution = make_solution(project, STEPS)
        path = _path(solution)
        _judge(path)
        user = add_member(project, make_user(f"ann-{slug}"))
        client.force_login(user)
        assignment = next_task(project, user)
        _post(client, "rate", assignment, node=path[0], rating=1)
        with CaptureQueriesContext(connection) as ctx:
            answer = _post(client, "rate", assignment, node=path[1], rating=0)
        assert answer.status_code == 200
        counts[slug] = len(ctx.captured_queries)
        verdict_reads = [q["sql"] for q in ctx.captured_queries if "preannotation" in q["sql"]]
        assert len(verdict_reads) == (1 if spec else 0), verdict_reads
        if spec:
            page = answer.content.decode()
            # Step 2 changed against the machine's Great; step 3 shows the machine's Bad.
            assert "you changed it" in page and 'data-verdict="-1"' in page
            assert "JUDGE-REASON-3" in page
    extra = 0 if connection.vendor == "postgresql" else 1
    assert counts["verify-q"] == counts["plain-q"] + extra


def test_an_unknown_verify_source_is_said_not_a_500(make_user, client):
    """A spec the project form refuses, set another way (Django's admin): the page says so and
    the steps can be rated; accept has nothing to take."""
    project = make_project("badspec", verify_source="human:bob")
    solution = make_solution(project, STEPS)
    path = _path(solution)
    user = add_member(project, make_user("ann-bad"))
    client.force_login(user)
    assignment = next_task(project, user)
    page = client.get(f"/task/{assignment.pk}/")
    assert page.status_code == 200
    assert "shows no verdicts" in page.content.decode() and "human or gold source" in page.content.decode()
    assert _post(client, "rate", assignment, node=path[0], rating=1).status_code == 200
    assert _post(client, "accept", assignment).status_code == 409
