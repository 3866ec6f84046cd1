"""Critiques in the review queue: the queue counts them, the detail page shows each (step,
rendered text, origin, the machine reason and its source, the corrected step), and a reviewer
corrects one through the console (``quality.critique_review``); annotators cannot, and bad
input is a 400 with its message."""

import re

import pytest

from annotate.models import Assignment, Critique, Membership, StepNode

from .manage_factories import add, make_project, make_solution, path_of, rate

pytestmark = [pytest.mark.django_db, pytest.mark.portable]


@pytest.fixture
def reviewed(make_user):
    project = make_project("revcrit")
    solution = make_solution(project, n_steps=4, tag="rc")
    annotator, reviewer = make_user("rc-annotator"), make_user("rc-reviewer")
    add(project, annotator)
    add(project, reviewer, Membership.Role.REVIEWER)
    assignment = rate(solution, annotator, [1, 1, -1, None])
    path = path_of(solution)
    fixed = StepNode.objects.create(problem=path[2].problem, parent=path[1], depth=2,
                                    text="So $7 \\cdot 6 = 42$.", author=StepNode.Author.HUMAN)
    bad = Critique.objects.create(assignment=assignment, node=path[2], author=annotator,
                                  text="The **sum** is wrong: $2+2 \\neq 5$.", correction=fixed)
    machine = Critique.objects.create(
        assignment=assignment, node=path[0], author=annotator, text="Fine, as the judge says.",
        origin=Critique.Origin.EDITED, machine_source="judge:demo",
        shown_text="JUDGE-REASON: the setup is right.")
    return project, assignment, annotator, reviewer, bad, machine


def _url(project, assignment, critique):
    return f"/manage/{project.slug}/review/{assignment.pk}/critiques/{critique.pk}/"


def test_queue_counts_and_detail_shows_critiques(client, reviewed):
    project, assignment, _annotator, reviewer, bad, machine = reviewed
    client.force_login(reviewer)
    queue = client.get(f"/manage/{project.slug}/review/").content.decode()
    row = re.search(rf'<tr data-assignment="{assignment.pk}">.*?</tr>', queue, re.S).group(0)
    assert '<td class="critiques">2</td>' in row
    html = client.get(f"/manage/{project.slug}/review/{assignment.pk}/").content.decode()
    first = html.index(f'id="critique-{machine.pk}"')
    second = html.index(f'id="critique-{bad.pk}"')
    assert first < second  # in step order
    assert f'data-critique="{bad.pk}" data-step="3"' in html
    assert f'data-critique="{machine.pk}" data-step="1"' in html
    assert "<strong>sum</strong>" in html and "$2+2 \\neq 5$" in html  # Markdown and LaTeX
    assert "Machine reason edited" in html and "Machine reason shown (judge:demo)" in html
    assert "JUDGE-REASON: the setup is right." in html
    assert "So $7 \\cdot 6 = 42$." in html  # the corrected step
    assert f'action="{_url(project, assignment, bad)}"' in html


def test_reviewer_corrects_and_the_annotators_text_is_kept(client, reviewed):
    project, assignment, _annotator, reviewer, bad, _machine = reviewed
    client.force_login(reviewer)
    response = client.post(_url(project, assignment, bad), {"text": "  $7 \\cdot 6 = 42$, not 41. "})
    assert response.status_code == 302
    assert response["Location"] == f"/manage/{project.slug}/review/{assignment.pk}/"
    bad.refresh_from_db()
    assert (bad.text, bad.annotator_text, bad.reviewed_by) == (
        "$7 \\cdot 6 = 42$, not 41.", "The **sum** is wrong: $2+2 \\neq 5$.", reviewer)
    html = client.get(response["Location"]).content.decode()
    assert "corrected by rc-reviewer" in html and "Critique of step 3 corrected." in html
    # A second correction keeps the annotator's text, not the first correction.
    client.post(_url(project, assignment, bad), {"text": "Second pass."})
    bad.refresh_from_db()
    assert (bad.text, bad.annotator_text) == ("Second pass.", "The **sum** is wrong: $2+2 \\neq 5$.")


@pytest.mark.parametrize("text, message", [
    ("", "Give the corrected critique&#x27;s &#x27;text&#x27;."),
    ("   ", "Give the corrected critique&#x27;s &#x27;text&#x27;."),
    ("x" * 4001, "A critique is at most 4000 characters; this one has 4001."),
    ("a\x00b", "The corrected critique contains a NUL byte."),
])
def test_bad_input_is_a_400_with_its_message(client, reviewed, text, message):
    project, assignment, _annotator, reviewer, bad, _machine = reviewed
    client.force_login(reviewer)
    response = client.post(_url(project, assignment, bad), {"text": text})
    assert response.status_code == 400
    assert "Critique of step 3: " + message in response.content.decode()
    bad.refresh_from_db()
    assert bad.text == "The **sum** is wrong: $2+2 \\neq 5$." and bad.reviewed_by is None


def test_annotators_outsiders_and_foreign_ids_cannot(client, make_user, reviewed):
    project, assignment, annotator, reviewer, bad, _machine = reviewed
    client.force_login(annotator)
    assert client.post(_url(project, assignment, bad), {"text": "mine"}).status_code in (403, 404)
    client.force_login(make_user("rc-outsider"))
    assert client.post(_url(project, assignment, bad), {"text": "x"}).status_code in (403, 404)
    # A critique of another task, named under this one: 404.
    other_solution = make_solution(project, n_steps=2, tag="rc2")
    other = rate(other_solution, annotator, [1, -1])
    foreign = Critique.objects.create(assignment=other, node=path_of(other_solution)[1],
                                      author=annotator, text="theirs")
    client.force_login(reviewer)
    assert client.post(_url(project, assignment, foreign), {"text": "x"}).status_code == 404
    assert client.get(_url(project, assignment, bad)).status_code == 405
    bad.refresh_from_db()
    foreign.refresh_from_db()
    assert (bad.text, foreign.text) == ("The **sum** is wrong: $2+2 \\neq 5$.", "theirs")
    # Work not submitted is not reviewed.
    Assignment.objects.filter(pk=assignment.pk).update(status=Assignment.Status.ACTIVE)
    response = client.post(_url(project, assignment, bad), {"text": "x"})
    assert response.status_code == 400 and b"Only submitted assignments" in response.content
