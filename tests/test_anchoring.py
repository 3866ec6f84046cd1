"""Anchoring in the label-sources report: agreement with the verify source on shown tasks
against blind ones, the rubber-stamp rate and the share of shown verdicts changed, on
hand-built data whose figures are counted here from the tables below."""

import csv
import io

import pytest

from annotate.models import Assignment, GoldLabel, Membership, PreAnnotation, StepRating
from quality.label_report import build_report, table_rows

from .manage_factories import add, make_project, make_solution, path_of, rate

pytestmark = [pytest.mark.django_db, pytest.mark.portable]

SPEC = "judge:demo"
# The judge's verdict per solution and step (None: an unparsed answer, no verdict).
JUDGE = [[1, 1, -1, 1], [1, -1, None, 1], [1, 1, 1, 1], [-1, 1, 1, 0]]
# The gold key (solution 2 has none).
GOLD = [[1, -1, -1, 1], [1, 1, 1, -1], None, [1, 1, -1, 0]]
# Each annotator's ratings (None: unrated) and the solutions whose tasks showed the judge.
RATINGS = {
    "ann-a": [[1, 1, -1, 1], [1, -1, 1, 1], [1, -1, 1, None], [1, 1, -1, 0]],
    "ann-b": [[1, -1, -1, 1], [1, 1, 1, -1], [1, 1, 1, 1], [-1, 1, 1, 1]],
}
SHOWN = {"ann-a": {0, 1}, "ann-b": {2, 3}}
# Steps whose rating records another source as shown (not counted as this source's).
OTHER_SHOWN = {("ann-b", 2, 0)}


def expected(names):
    """The section's counters, counted straight from the tables above."""
    out = {}
    for name in names:
        c = dict.fromkeys(("shown_steps", "shown_agree", "blind_steps", "blind_agree",
                           "shown_wrong", "shown_wrong_accepted", "blind_wrong",
                           "blind_wrong_accepted", "shown_verdicts", "shown_changed"), 0)
        for s, row in enumerate(RATINGS[name]):
            side = "shown" if s in SHOWN[name] else "blind"
            for pos, rating in enumerate(row):
                verdict = JUDGE[s][pos]
                if rating is None:
                    continue
                if side == "shown" and verdict is not None and (name, s, pos) not in OTHER_SHOWN:
                    c["shown_verdicts"] += 1
                    c["shown_changed"] += rating != verdict
                if verdict is None:
                    continue
                c[side + "_steps"] += 1
                c[side + "_agree"] += rating == verdict
                truth = GOLD[s][pos] if GOLD[s] else None
                if truth is not None and truth != verdict:
                    c[side + "_wrong"] += 1
                    c[side + "_wrong_accepted"] += rating == verdict
        out[name] = c
    return out


@pytest.fixture
def verified(make_user):
    project = make_project("anch", verify_source=SPEC, verify_blind_share=0.5)
    solutions = [make_solution(project, n_steps=4, tag=f"a{i}") for i in range(4)]
    for s, row in zip(solutions, JUDGE):
        for node, verdict in zip(path_of(s), row):
            PreAnnotation.objects.create(
                node=node, kind="judge", source="demo", rating=verdict,
                value=0.5 if verdict is None else (verdict + 1) / 2, reason="because",
                provenance={"unparsed": True} if verdict is None else {"version": {"model": "m"}})
    for s, row in zip(solutions, GOLD):
        for node, truth in zip(path_of(s), row or []):
            GoldLabel.objects.create(solution=s, node=node, rating=truth)
    users = {}
    for name, table in RATINGS.items():
        users[name] = user = make_user(name)
        add(project, user)
        for i, (s, row) in enumerate(zip(solutions, table)):
            assignment = rate(s, user, row)
            if i not in SHOWN[name]:
                continue
            Assignment.objects.filter(pk=assignment.pk).update(shown_source=SPEC)
            for pos, node in enumerate(path_of(s)):
                other = (name, i, pos) in OTHER_SHOWN
                StepRating.objects.filter(assignment=assignment, node=node).update(shown={
                    "source": "judge:other" if other else SPEC, "version": {"model": "m"},
                    "rating": JUDGE[i][pos]})
    # An unsubmitted task that showed the judge counts nowhere.
    late = make_user("ann-late")
    add(project, late)
    active = rate(solutions[0], late, [-1, -1, -1, -1], status=Assignment.Status.ACTIVE)
    Assignment.objects.filter(pk=active.pk).update(shown_source=SPEC)
    return project, solutions, users


def _ratio(a, b):
    return a / b if b else None


def test_section_matches_counts_by_hand(verified):
    project, _solutions, _users = verified
    report = build_report(project)
    assert report["reference"] == "gold"
    section = report["anchoring"]
    assert section["source"] == SPEC and section["reference"] == "gold" and section["message"] == ""
    want = expected(["ann-a", "ann-b"])
    got = {row["annotator"]: row for row in section["annotators"]}
    assert set(got) == {"ann-a", "ann-b"}
    for name, counts in want.items():
        row = got[name]
        assert {k: row[k] for k in counts} == counts, name
        assert row["shown_agreement"] == _ratio(counts["shown_agree"], counts["shown_steps"])
        assert row["blind_agreement"] == _ratio(counts["blind_agree"], counts["blind_steps"])
        assert row["shown_rubber_stamp"] == _ratio(counts["shown_wrong_accepted"],
                                                   counts["shown_wrong"])
        assert row["blind_rubber_stamp"] == _ratio(counts["blind_wrong_accepted"],
                                                   counts["blind_wrong"])
        assert row["changed_share"] == _ratio(counts["shown_changed"], counts["shown_verdicts"])
    # ann-a accepted every verdict shown; blind, ann-a agrees less (the anchoring signal).
    a = got["ann-a"]
    assert (a["shown_agree"], a["shown_steps"], a["shown_verdicts"], a["shown_changed"]) == (
        7, 7, 7, 0)
    assert (a["blind_agree"], a["blind_steps"]) == (4, 7)
    assert (a["shown_wrong"], a["shown_wrong_accepted"]) == (3, 3)  # every wrong verdict taken
    assert (a["blind_wrong"], a["blind_wrong_accepted"]) == (2, 0)
    overall = section["overall"]
    for key in want["ann-a"]:
        assert overall[key] == want["ann-a"][key] + want["ann-b"][key], key
    assert overall["agreement_gap"] == pytest.approx(
        overall["shown_agreement"] - overall["blind_agreement"])


def test_another_source_and_a_machine_reference(verified):
    project, solutions, _users = verified
    for s in solutions:
        for node in path_of(s):
            PreAnnotation.objects.create(node=node, kind="judge", source="other", rating=1, value=1)
    report = build_report(project, reference="judge:other", anchoring="judge:other")
    section = report["anchoring"]
    assert section["source"] == "judge:other"
    # No task showed judge:other, so every rated step is blind; a machine reference gives no
    # rubber-stamp rate and says why.
    rated = sum(v is not None for table in RATINGS.values() for row in table for v in row)
    assert section["overall"]["shown_steps"] == 0 and section["overall"]["blind_steps"] == rated
    assert section["overall"]["blind_agree"] == sum(
        v == 1 for table in RATINGS.values() for row in table for v in row)
    assert section["overall"]["blind_wrong"] == 0
    assert "needs a gold or human-consensus reference" in section["message"]
    consensus = build_report(project, reference="human:consensus")["anchoring"]
    assert consensus["reference"] == "human:consensus" and consensus["overall"]["shown_wrong"] >= 0


def test_no_verify_source_says_so(make_user):
    project = make_project("plain")
    s = make_solution(project, n_steps=2, tag="p")
    rate(s, make_user("solo"), [1, -1])
    section = build_report(project)["anchoring"]
    assert section["source"] is None and section["overall"] is None
    assert "no verify source" in section["message"]
    assert table_rows(build_report(project), "anchoring") == []
    empty = build_report(make_project("empty"))["anchoring"]
    assert empty["overall"] is None and "No step" in empty["message"]


def test_page_csv_and_api(client, make_user, verified):
    project, _solutions, users = verified
    boss = make_user("anch-boss")
    add(project, boss, Membership.Role.REVIEWER)
    client.force_login(boss)
    page = client.get(f"/manage/{project.slug}/label-sources/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="anchoring"' in html and 'data-annotator="ann-a"' in html and "7 of 7" in html
    assert 'id="anchoring-legend"' in html
    response = client.get(f"/manage/{project.slug}/label-sources/anchoring.csv")
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [r["annotator"] for r in rows] == ["ann-a", "ann-b", "(all)"]
    assert rows[0]["source"] == SPEC and rows[0]["shown_agree"] == "7"
    api = client.get(f"/api/projects/{project.pk}/label-sources/")
    assert api.status_code == 200
    body = api.json()["anchoring"]
    assert body["source"] == SPEC and body["annotators"][0]["blind_agree"] == 4
    for bad in ("human:ann-a", "gold", "nonsense"):
        page = client.get(f"/manage/{project.slug}/label-sources/?anchoring={bad}")
        assert page.status_code == 400
        assert (b"names no label source" if bad == "nonsense" else b"verify mode shows a machine"
                ) in page.content
        assert client.get(f"/api/projects/{project.pk}/label-sources/?anchoring={bad}"
                          ).status_code == 400
        assert client.get(f"/manage/{project.slug}/label-sources/anchoring.csv?anchoring={bad}"
                          ).status_code == 400
    client.force_login(users["ann-a"])
    assert client.get(f"/api/projects/{project.pk}/label-sources/").status_code == 403
