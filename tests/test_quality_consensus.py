"""Consensus labels, and a reviewer's correction winning while both labels are kept."""

import pytest
from django.core.exceptions import ValidationError

from annotate.models import Assignment, GoldLabel, Membership, RatingChange, StepRating
from quality import services
from quality.consensus import consensus_labels

from .manage_factories import add, make_project, make_solution, path_of, rate

pytestmark = [pytest.mark.django_db, pytest.mark.portable]


@pytest.fixture
def three(make_user):
    project = make_project("cons", overlap=3)
    users = [make_user(n) for n in ("u1", "u2", "u3")]
    for u in users:
        add(project, u)
    reviewer = make_user("rev")
    add(project, reviewer, Membership.Role.REVIEWER)
    return project, users, reviewer


def test_majority_ties_and_low_agreement(three, make_user):
    project, (u1, u2, u3), _ = three
    s = make_solution(project, n_steps=3)
    rate(s, u1, [1, 1, -1])
    rate(s, u2, [1, 0, 0])
    rate(s, u3, [1, -1, None])
    n1, n2, n3 = path_of(s)
    labels = consensus_labels([s.pk])[s.pk]
    assert labels[n1.pk].rating == 1 and labels[n1.pk].votes == 3
    assert labels[n1.pk].agreement == 1.0 and not labels[n1.pk].needs_review
    # Three different labels: a three-way tie, no label until reviewed.
    assert labels[n2.pk].rating is None and labels[n2.pk].needs_review
    # Two votes, one each: a tie as well.
    assert labels[n3.pk].votes == 2 and labels[n3.pk].needs_review
    assert all(label.source == "majority" for label in labels.values())
    # Active (unsubmitted) work does not vote.
    s2 = make_solution(project, n_steps=1, tag="q")
    rate(s2, u1, [1])
    rate(s2, u2, [-1], status=Assignment.Status.ACTIVE)
    label = consensus_labels([s2.pk])[s2.pk][path_of(s2)[0].pk]
    assert (label.rating, label.votes, label.needs_review) == (1, 1, False)


def test_low_agreement_needs_review(make_user):
    project = make_project("cons-low", overlap=5)
    s = make_solution(project, n_steps=1)
    for name, value in zip("abcde", [1, 1, 0, -1, 0]):
        rate(s, make_user(name), [value])
    label = consensus_labels([s.pk])[s.pk][path_of(s)[0].pk]
    assert label.rating is None  # 2-2-1: tie
    s2 = make_solution(project, n_steps=1, tag="x")
    for name, value in zip("fghij", [1, 1, 0, -1, 1]):
        rate(s2, make_user(name), [value])
    label = consensus_labels([s2.pk])[s2.pk][path_of(s2)[0].pk]
    assert label.rating == 1 and label.agreement == pytest.approx(0.6) and not label.needs_review
    s3 = make_solution(project, n_steps=1, tag="y")
    for name, value in zip("klmn", [1, 1, 0, -1]):
        rate(s3, make_user(name), [value])
    label = consensus_labels([s3.pk])[s3.pk][path_of(s3)[0].pk]
    assert label.rating == 1 and label.needs_review  # 2 of 4 is below the bar


def test_reviewer_correction_wins_and_keeps_both(three):
    project, (u1, u2, u3), reviewer = three
    s = make_solution(project, n_steps=2)
    a1 = rate(s, u1, [1, 1])
    rate(s, u2, [1, 1])
    rate(s, u3, [1, -1])
    n1, n2 = path_of(s)
    assert consensus_labels([s.pk])[s.pk][n2.pk].rating == 1
    services.correct_assignment(a1, reviewer, {n2.pk: -1}, note="step 2 divides by zero")
    label = consensus_labels([s.pk])[s.pk][n2.pk]
    assert (label.rating, label.source, label.original, label.votes) == (-1, "review", 1, 3)
    assert not label.needs_review
    # The annotator's own label is untouched, and the audit log has the change.
    assert StepRating.objects.get(assignment=a1, node=n2).rating == 1
    change = RatingChange.objects.get(rating__assignment=a1, rating__node=n2)
    assert (change.old_rating, change.new_rating, change.reason, change.changed_by) == (
        1, -1, "review", reviewer)
    assert consensus_labels([s.pk])[s.pk][n1.pk].source == "majority"


def test_review_permissions_and_validation(three, make_user):
    project, (u1, u2, _), reviewer = three
    s = make_solution(project, n_steps=2)
    a1 = rate(s, u1, [1, 1])
    with pytest.raises(ValidationError):
        services.accept_assignment(a1, u2)  # an annotator cannot review
    with pytest.raises(ValidationError):
        services.correct_assignment(a1, reviewer, {path_of(s)[0].pk: 5})
    other = make_solution(project, n_steps=1, tag="other")
    with pytest.raises(ValidationError):
        services.correct_assignment(a1, reviewer, {path_of(other)[0].pk: 1})
    services.reject_assignment(a1, reviewer, "rushed")
    a1.refresh_from_db()
    assert a1.status == Assignment.Status.EXPIRED
    assert a1.review_decisions.get().action == "reject"
    # Rejected work leaves the vote and cannot be reviewed again.
    assert consensus_labels([s.pk]) == {}
    with pytest.raises(ValidationError):
        services.accept_assignment(a1, reviewer)


def test_promote_to_gold(make_user):
    admin, annot = make_user("boss"), make_user("worker")
    project = make_project("gold", admin=admin)
    add(project, annot)
    s = make_solution(project, n_steps=3)
    mine = rate(s, admin, [1, 0, -1])
    theirs = rate(make_solution(project, n_steps=1, tag="t"), annot, [1])
    with pytest.raises(ValidationError):
        services.promote_to_gold(theirs, admin)  # not admin-labeled
    with pytest.raises(ValidationError):
        services.promote_to_gold(mine, annot)  # annotators cannot promote
    assert services.promote_to_gold(mine, admin) == 3
    s.refresh_from_db()
    assert s.is_gold
    assert list(GoldLabel.objects.filter(solution=s).order_by("node__depth")
                .values_list("rating", flat=True)) == [1, 0, -1]
    with pytest.raises(ValidationError):
        services.promote_to_gold(mine, admin)  # never silently replaces a key
