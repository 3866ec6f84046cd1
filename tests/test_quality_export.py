"""A reviewer's correction, made in the review page, shows up in the consensus export."""

import pytest
from django.urls import reverse

from annotate.models import Membership

from .manage_factories import add, make_project, make_solution, path_of, rate

pytestmark = [pytest.mark.django_db, pytest.mark.portable]


def _consensus_rows(project):
    from exports.spec import normalize_spec
    from exports.writers import iter_rows

    spec = normalize_spec({"projects": [project.pk], "format": "trl", "labels": "consensus"})
    return [row for _split, row, _steps in iter_rows(spec)]


def test_review_correction_reaches_the_consensus_export(client, make_user):
    reviewer = make_user("reviewer")
    a, b = make_user("a1"), make_user("b1")
    project = make_project("export-review", admin=make_user("adm"), overlap=2)
    add(project, reviewer, Membership.Role.REVIEWER)
    add(project, a)
    add(project, b)
    s = make_solution(project, n_steps=2, tag="exp")
    rate(s, a, [1, 1])
    disputed = rate(s, b, [1, -1])

    before = _consensus_rows(project)
    # Step 2 is a tie: no consensus label, so only step 1 is exported.
    assert [r["labels"] for r in before] == [[True]]

    client.force_login(reviewer)
    second = path_of(s)[1]
    r = client.post(reverse("manage:review_detail", args=[project.slug, disputed.pk]),
                    {"action": "correct", f"label-{second.pk}": "-1"})
    assert r.status_code == 302
    after = _consensus_rows(project)
    assert [r["completions"] for r in after] == [["exp step 1", "exp step 2"]]
    assert [r["labels"] for r in after] == [[True, False]]
