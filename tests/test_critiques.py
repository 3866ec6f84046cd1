"""Critiques: the services (write, edit, delete, machine reasons offered, required on Bad
steps), the API (4xx cases, foreign ids, reviewer correction) and ``critiques_for``."""

import itertools

import pytest
from rest_framework.test import APIClient

from annotate.models import Critique, Membership, PreAnnotation, StepNode
from annotate.services import critiques, labeling
from annotate.services.labeling import LabelingError
from annotate.services.queue import next_task
from api.services import issue_token
from quality.critiques import critiques_for
from tests.labeling_factories import add_member, make_project, make_solution

pytestmark = [pytest.mark.django_db, pytest.mark.portable]

STEPS = ["Let $x = 6$.", "Then $7x = 42$.", "So it is 41.", "# Answer\n\n41"]
_names = itertools.count()


def _path(solution):
    node, ids = solution.last_step, []
    while node:
        ids.append(node.pk)
        node = node.parent
    return ids[::-1]


def _client(user, scope="write"):
    _, key = issue_token(user=user, name=f"c-{next(_names)}", scope=scope)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


@pytest.fixture
def task(make_user):
    project = make_project("crit", overlap=2, candidates_per_position=3)
    solution = make_solution(project, STEPS, alternatives={2: ["So it is 42."]})
    user = add_member(project, make_user("ann"))
    return project, solution, user, next_task(project, user)


def _walk_to_bad(task):
    project, solution, user, assignment = task
    path = _path(solution)
    labeling.rate_step(assignment.pk, user, node_id=path[0], rating=1)
    labeling.rate_step(assignment.pk, user, node_id=path[1], rating=1)
    state = labeling.rate_step(assignment.pk, user, node_id=path[2], rating=-1)
    for item in state.positions[-1].items[1:]:
        labeling.rate_step(assignment.pk, user, node_id=item.node.pk, rating=1)
    return path


def test_write_edit_delete_with_a_corrected_step(task):
    project, solution, user, assignment = task
    path = _walk_to_bad(task)
    c = critiques.write(assignment.pk, user, node_id=path[2], text="  $7 \\cdot 6 = 42$, not 41. ",
                        correction="So it is 42, since $7 \\cdot 6 = 42$.")
    assert c.text == "$7 \\cdot 6 = 42$, not 41." and c.origin == "written" and c.author == user
    fixed = c.correction
    assert fixed.author == StepNode.Author.HUMAN and fixed.parent_id == path[1]
    assert fixed.author_user == user and fixed.depth == 2
    with pytest.raises(LabelingError, match="already has your critique") as exc:
        critiques.write(assignment.pk, user, node_id=path[2], text="again")
    assert exc.value.status == 409
    c = critiques.edit(assignment.pk, user, critique_id=c.pk, text="Off by one.", correction="")
    assert (c.text, c.correction) == ("Off by one.", None)
    critiques.delete(assignment.pk, user, critique_id=c.pk)
    assert not Critique.objects.exists()


@pytest.mark.parametrize("kwargs, message", [
    ({"node_id": "x", "text": "t"}, "The step id must be a whole number"),
    ({"node_id": 0, "text": ""}, "Write the critique"),
    ({"node_id": 0, "text": "x" * 4001}, "at most 4000 characters; this one has 4001"),
    ({"node_id": 0, "text": "a\x00b"}, "NUL byte"),
    ({"node_id": 0, "text": "ok", "correction": "y" * 5001}, "corrected step is at most 5000"),
    ({"node_id": 0, "text": "ok", "correction": STEPS[0]}, "corrected step is the step itself"),
    ({"node_id": 3, "text": "ok"}, "not part of this task"),
    ({"node_id": 0, "text": "ok", "origin": "edited"}, "needs the machine reason"),
    ({"node_id": 0, "text": "ok", "shown_source": "prm:x"}, "no machine critique source"),
    ({"node_id": 0, "text": "ok", "shown_source": "judge:none"}, "gave no reason"),
    ({"node_id": 0, "text": "ok", "origin": ["accepted"]}, "'origin' is one of"),
    ({"node_id": 0, "text": ["ok"]}, "The critique must be text"),
    ({"node_id": [1], "text": "ok"}, "The step id must be a whole number"),
])
def test_bad_input_gets_a_specific_message(task, kwargs, message):
    project, solution, user, assignment = task
    path = _path(solution)
    labeling.rate_step(assignment.pk, user, node_id=path[0], rating=1)
    if isinstance(kwargs["node_id"], int):
        kwargs = {**kwargs, "node_id": path[kwargs["node_id"]]}
    with pytest.raises(LabelingError, match=message) as exc:
        critiques.write(assignment.pk, user, **kwargs)
    assert 400 <= exc.value.status < 500


def test_machine_reason_offered_accepted_edited_replaced(task):
    project, solution, user, assignment = task
    path = _walk_to_bad(task)
    reason = "The product $7 \\cdot 6$ is 42, so 41 is wrong."
    PreAnnotation.objects.create(node_id=path[2], kind="judge", source="j1", value=0.1,
                                 rating=-1, reason=reason)
    PreAnnotation.objects.create(node_id=path[1], kind="judge", source="j1", value=0.9,
                                 rating=1, reason="Right.", scope=solution.pk)
    accepted = critiques.write(assignment.pk, user, node_id=path[2], text=reason,
                               shown_source="judge:j1")
    assert (accepted.origin, accepted.machine_source, accepted.shown_text) == (
        "accepted", "judge:j1", reason)
    edited = critiques.write(assignment.pk, user, node_id=path[1], text="Right: 7*6.",
                             shown_source="judge:j1")
    assert edited.origin == "edited" and edited.shown_text == "Right."
    replaced = critiques.edit(assignment.pk, user, critique_id=edited.pk,
                              text="Multiplying both sides by 7.", origin="replaced")
    assert replaced.origin == "replaced"
    with pytest.raises(LabelingError, match="kept as it was shown"):
        critiques.edit(assignment.pk, user, critique_id=edited.pk, text="x", origin="accepted")
    with pytest.raises(LabelingError, match="that is accepted, not replaced"):
        critiques.edit(assignment.pk, user, critique_id=edited.pk, text="Right.",
                       origin="replaced")


def test_required_on_bad_refuses_finish_naming_the_steps(task):
    project, solution, user, assignment = task
    project.critique_required_on_bad = True
    project.save()
    path = _walk_to_bad(task)
    with pytest.raises(LabelingError) as exc:
        labeling.finish(assignment.pk, user, reason="found_error")
    assert exc.value.status == 409
    assert str(exc.value) == ("This project asks for a critique on every Bad step: write one "
                              "for step 3 before submitting.")
    critiques.write(assignment.pk, user, node_id=path[2], text="41 is not 42.")
    assert labeling.finish(assignment.pk, user, reason="found_error").status == "submitted"
    assert _client(user).get(f"/api/projects/{project.pk}/").json()["critique_required_on_bad"]
    with pytest.raises(LabelingError, match="already submitted"):
        critiques.write(assignment.pk, user, node_id=path[0], text="late")


def test_not_required_finishes_without_critiques(task):
    project, solution, user, assignment = task
    _walk_to_bad(task)
    assert labeling.finish(assignment.pk, user, reason="found_error").status == "submitted"


def test_api_writes_and_refuses_with_4xx(task, make_user):
    project, solution, user, assignment = task
    path = _walk_to_bad(task)
    me = _client(user)
    url = f"/api/assignments/{assignment.pk}/critiques/"
    r = me.post(url, {"node": path[2], "text": "41 is wrong.", "correction": "So it is 42."},
                format="json")
    assert r.status_code == 201, r.content
    cid = r.json()["id"]
    assert r.json()["correction_text"] == "So it is 42." and r.json()["origin"] == "written"
    cases = [
        ("post", {"text": "x"}, 400, "Name the step"),
        ("post", {"node": "abc", "text": "x"}, 400, "The step id must be a whole number"),
        ("post", {"node": path[1], "text": "x" * 4001}, 400, "at most 4000 characters"),
        ("post", {"node": path[2], "text": "x"}, 409, "already has your critique"),
        ("post", {"node": path[3], "text": "x"}, 400, "not part of this task"),
        ("patch", {"text": "x"}, 400, "Name the critique"),
        ("patch", {"id": cid + 999, "text": "x"}, 404, "No such critique in this task"),
        ("patch", {"id": cid}, 400, "Give the new 'text' or 'correction'"),
        ("delete", {}, 400, "Name the critique"),
    ]
    for method, body, status, message in cases:
        r = getattr(me, method)(url, body, format="json")
        assert r.status_code == status and message in r.content.decode(), (method, body, r.content)
    r = me.patch(url, {"id": cid, "text": "Off by one: 42."}, format="json")
    assert r.status_code == 200 and r.json()["text"] == "Off by one: 42."
    assert me.get(url).json()[0]["id"] == cid
    # Another annotator of the project, a read token, a stranger, a missing task.
    other = add_member(project, make_user("ann2"))
    r = _client(other).post(url, {"node": path[0], "text": "x"}, format="json")
    assert r.status_code == 403 and "another annotator" in r.content.decode()
    assert _client(other).get(url).status_code == 403
    assert _client(user, "read").post(url, {"node": path[0], "text": "x"},
                                      format="json").status_code == 403
    stranger = make_user("stranger")
    assert _client(stranger).get(url).status_code == 404
    assert me.post("/api/assignments/99999999/critiques/", {"node": path[0], "text": "x"},
                   format="json").status_code == 404
    r = me.delete(url, {"id": cid}, format="json")
    assert r.status_code == 204 and not Critique.objects.exists()


def test_foreign_critique_and_node_ids_are_refused(task, make_user):
    project, solution, user, assignment = task
    path = _walk_to_bad(task)
    other_project = make_project("other")
    other_solution = make_solution(other_project, ["Foreign step."])
    other_user = add_member(other_project, make_user("ann-other"))
    other_task = next_task(other_project, other_user)
    foreign_node = _path(other_solution)[0]
    labeling.rate_step(other_task.pk, other_user, node_id=foreign_node, rating=1)
    foreign = critiques.write(other_task.pk, other_user, node_id=foreign_node, text="theirs")
    url = f"/api/assignments/{assignment.pk}/critiques/"
    me = _client(user)
    r = me.patch(url, {"id": foreign.pk, "text": "mine now"}, format="json")
    assert r.status_code == 404
    r = me.delete(url, {"id": foreign.pk}, format="json")
    assert r.status_code == 404
    r = me.post(url, {"node": foreign_node, "text": "x"}, format="json")
    assert r.status_code == 400 and "not part of this task" in r.content.decode()
    foreign.refresh_from_db()
    assert foreign.text == "theirs"
    # The other project's task, through this user's token: not theirs.
    r = me.post(f"/api/assignments/{other_task.pk}/critiques/", {"node": foreign_node,
                                                                 "text": "x"}, format="json")
    assert r.status_code == 403
    assert path


def test_reviewer_corrects_a_submitted_critique(task, make_user):
    project, solution, user, assignment = task
    path = _walk_to_bad(task)
    c = critiques.write(assignment.pk, user, node_id=path[2], text="Wrong.")
    reviewer = add_member(project, make_user("rev"), Membership.Role.REVIEWER)
    url = f"/api/critiques/{c.pk}/review/"
    r = _client(reviewer).patch(url, {"text": "41 is not $7 \\cdot 6$."}, format="json")
    assert r.status_code == 400 and "Only submitted assignments" in r.content.decode()
    labeling.finish(assignment.pk, user, reason="found_error")
    assert _client(reviewer).patch(url, {"text": ""}, format="json").status_code == 400
    assert _client(reviewer).patch(url, {"text": "x" * 4001}, format="json").status_code == 400
    r = _client(user).patch(url, {"text": "mine"}, format="json")
    assert r.status_code == 403 and "reviewers and admins" in r.content.decode()
    assert _client(make_user("nobody")).patch(url, {"text": "x"}, format="json").status_code == 404
    r = _client(reviewer).patch(url, {"text": "41 is not $7 \\cdot 6$."}, format="json")
    assert r.status_code == 200, r.content
    c.refresh_from_db()
    assert (c.text, c.annotator_text, c.reviewed_by) == ("41 is not $7 \\cdot 6$.", "Wrong.",
                                                         reviewer)
    r = _client(reviewer).patch(url, {"text": "Second pass."}, format="json")
    c.refresh_from_db()
    assert (c.text, c.annotator_text) == ("Second pass.", "Wrong.")
    got = _client(reviewer).get(f"/api/assignments/{assignment.pk}/critiques/").json()
    assert got[0]["text"] == "Second pass."


def test_critiques_for_reads_human_and_machine_sources(task, make_user):
    project, solution, user, assignment = task
    path = _walk_to_bad(task)
    critiques.write(assignment.pk, user, node_id=path[2], text="41 is wrong.")
    assert critiques_for("human:ann", [solution.pk]) == {}  # not submitted yet
    labeling.finish(assignment.pk, user, reason="found_error")
    PreAnnotation.objects.create(node_id=path[2], kind="judge", source="j", value=0.1,
                                 rating=-1, reason="Unscoped reason.")
    PreAnnotation.objects.create(node_id=path[2], kind="judge", source="j", value=0.1,
                                 rating=-1, reason="In context.", scope=solution.pk)
    PreAnnotation.objects.create(node_id=path[0], kind="imported", source="f", value=0.9,
                                 rating=1, reason="Fine.")
    human = critiques_for("human:ANN", [solution.pk])
    assert list(human) == [solution.pk] and list(human[solution.pk]) == [2]
    assert (human[solution.pk][2].text, human[solution.pk][2].source) == ("41 is wrong.",
                                                                           "human:ann")
    assert critiques_for("human:any", [solution.pk])[solution.pk][2].origin == "written"
    assert critiques_for("human:any", [solution.pk], origins={"accepted"}) == {}
    assert critiques_for("judge:j", [solution.pk])[solution.pk][2].text == "In context."
    assert critiques_for("imported:f", [solution.pk])[solution.pk][0].text == "Fine."
    assert critiques_for("human:nobody", [solution.pk]) == {}
    from quality.labels import UnknownSource

    with pytest.raises(UnknownSource, match="gives no critiques"):
        critiques_for("gold", [solution.pk])
