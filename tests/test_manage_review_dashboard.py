"""The review queue and the dashboard, through the views."""

import csv
import io

import pytest
from django.urls import reverse

from annotate.models import Assignment, GoldLabel, Membership, RatingChange
from quality.consensus import consensus_labels

from .manage_factories import add, make_project, make_solution, path_of, rate

pytestmark = [pytest.mark.django_db, pytest.mark.portable]


@pytest.fixture
def busy(make_user):
    admin, rev = make_user("admin"), make_user("rev")
    a, b = make_user("alice"), make_user("bob")
    project = make_project("busy", admin=admin, overlap=2)
    add(project, rev, Membership.Role.REVIEWER)
    add(project, a)
    add(project, b)
    agreed = make_solution(project, n_steps=2, tag="agreed")
    rate(agreed, a, [1, 1], times_ms=[2000, 4000])
    rate(agreed, b, [1, 1], times_ms=[4000, 8000])
    disputed = make_solution(project, n_steps=2, tag="disputed")
    rate(disputed, a, [1, -1])
    bob_disputed = rate(disputed, b, [1, 1])
    flagged = make_solution(project, n_steps=1, tag="flagged")
    rate(flagged, a, [0], flagged=[0])
    gold = make_solution(project, n_steps=2, tag="gold", gold=True)
    for node, value in zip(path_of(gold), [1, -1]):
        GoldLabel.objects.create(solution=gold, node=node, rating=value)
    rate(gold, b, [1, 1])
    return project, {"admin": admin, "rev": rev, "alice": a, "bob": b}, disputed, bob_disputed


def test_review_queue_order_and_correction(busy, client):
    project, users, disputed, bob_disputed = busy
    client.force_login(users["rev"])
    page = client.get(reverse("manage:review", args=[project.slug])).content.decode()
    reasons = [line.split(">")[1].split("<")[0] for line in page.split('class="reason"')[1:]]
    assert reasons[:2] == ["disputed", "disputed"] and "flagged" in reasons

    url = reverse("manage:review_detail", args=[project.slug, bob_disputed.pk])
    detail = client.get(url).content.decode()
    assert "disputed step 2" in detail and "needs review" in detail
    n1, n2 = path_of(disputed)
    r = client.post(url, {"action": "correct", f"label-{n2.pk}": "-1", f"label-{n1.pk}": "",
                          "note": "2 is wrong"})
    assert r.status_code == 302
    label = consensus_labels([disputed.pk])[disputed.pk][n2.pk]
    assert (label.rating, label.source, label.needs_review) == (-1, "review", False)
    assert RatingChange.objects.filter(reason="review", changed_by=users["rev"]).count() == 1
    page = client.get(reverse("manage:review", args=[project.slug])).content.decode()
    assert f'data-assignment="{bob_disputed.pk}"' not in page

    audit = client.get(reverse("manage:audit", args=[project.slug])).content.decode()
    assert "review" in audit and "rev" in audit

    r = client.post(url, {"action": "correct", f"label-{n2.pk}": "7"})
    assert r.status_code == 400
    r = client.post(url, {"action": "explode"})
    assert r.status_code == 400

    alice_flagged = Assignment.objects.get(solution__problem__statement__contains="flagged")
    r = client.post(reverse("manage:review_detail", args=[project.slug, alice_flagged.pk]),
                    {"action": "reject"})
    assert r.status_code == 302
    alice_flagged.refresh_from_db()
    assert alice_flagged.status == "expired"


def _csv(client, project, table):
    r = client.get(reverse("manage:table_csv", args=[project.slug, table]))
    assert r.status_code == 200 and r["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(r.content.decode())))


def test_dashboard_numbers_and_csv(busy, client):
    project, users, _, _ = busy
    client.force_login(users["admin"])
    page = client.get(reverse("manage:dashboard", args=[project.slug]))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="progress"' in html and 'id="queue-health"' in html
    svgs = 0
    for part in ("throughput", "labels", "time_per_step", "gold", "agreement"):
        url = reverse("manage:dashboard_part", args=[project.slug, part])
        assert f'hx-get="{url}"' in html
        body = client.get(url).content.decode()
        svgs += body.count("<svg")
    assert svgs == 6 and "Label distribution" in client.get(reverse(
        "manage:dashboard_part", args=[project.slug, "labels"])).content.decode()
    assert client.get(reverse("manage:dashboard_part", args=[project.slug, "nope"])).status_code == 404

    labels = {r["label"]: int(r["count"]) for r in _csv(client, project, "labels")}
    assert labels == {"great (+1)": 9, "okay (0)": 1, "bad (-1)": 1}
    progress = _csv(client, project, "progress")[0]
    assert (progress["solutions"], progress["gold_solutions"], progress["submitted"]) == ("4", "1", "5")
    assert progress["gold_submitted"] == "1"
    assert progress["target_assignments"] == "6"  # 3 production solutions x overlap 2
    through = {r["annotator"]: r for r in _csv(client, project, "throughput")}
    assert through["alice"]["submitted"] == "3" and through["bob"]["steps_rated"] == "6"
    times = {r["position"]: float(r["avg_seconds"]) for r in _csv(client, project, "time_per_step")}
    assert times["1"] == pytest.approx((2 + 4 + 1 + 1 + 1 + 1) / 6, abs=0.005)
    gold = {r["annotator"]: r for r in _csv(client, project, "gold")}
    assert gold["bob"]["accuracy"] == "0.5" and "alice" not in gold
    queue = _csv(client, project, "queue")[0]
    assert queue["open_solutions"] == "1"  # "flagged" has one of two annotators
    agreement = _csv(client, project, "agreement")
    assert agreement[0]["position"] == "all" and agreement[0]["units"] == "4"
    assert client.get(reverse("manage:table_csv", args=[project.slug, "nope"])).status_code == 404


def test_svg_bar_chart_escapes_and_draws_negative_values():
    from console.templatetags.manage_tags import bar_chart

    svg = bar_chart([{"k": "<b>a</b>", "v": -0.5}, {"k": "b", "v": 1.0}, {"k": "c", "v": None}],
                    "k", "v", "Alpha")
    assert svg.startswith("<svg") and svg.count("<rect") == 2
    assert 'class="bar neg"' in svg and "&lt;b&gt;a&lt;/b&gt;" in svg and "<b>" not in svg
    assert "No data yet." in bar_chart([], "k", "v")


def test_undone_ratings_are_not_counted_as_labels(make_user, client):
    from quality.dashboard import label_distribution

    admin, ann = make_user("dash-admin"), make_user("dash-ann")
    project = make_project("undone", admin=admin)
    add(project, ann)
    rate(make_solution(project, n_steps=3), ann, [1, None, None])  # two ratings undone
    rows = {r["label"]: r["count"] for r in label_distribution(project)}
    assert rows == {"great (+1)": 1, "okay (0)": 0, "bad (-1)": 0}
    client.login(username="dash-admin", password="pw-for-tests")
    body = client.get(reverse("manage:dashboard_part", args=[project.slug, "labels"])).content.decode()
    assert "unrated" not in body
