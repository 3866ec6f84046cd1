"""The labeling queue: held tasks, overlap, leases, skip, strategies, gold, concurrency."""

from datetime import timedelta

import pytest
from django.utils import timezone

from annotate.models import Assignment
from annotate.services import labeling
from annotate.services.labeling import LabelingError
from annotate.services.queue import next_task, skip_task
from annotate.services.queue_strategies import STRATEGIES, get_strategy, register_strategy
from tests.labeling_factories import add_member, make_project, make_solution

pytestmark = [pytest.mark.django_db, pytest.mark.portable]


def _users(make_user, project, n, prefix="u"):
    return [add_member(project, make_user(f"{prefix}{i}")) for i in range(n)]


def test_reload_returns_the_held_task_and_overlap_caps_holders(make_user):
    project = make_project(overlap=2)
    sols = [make_solution(project, ["a", "b # Answer\n\n42"]) for _ in range(2)]
    users = _users(make_user, project, 5)
    first = next_task(project, users[0])
    assert next_task(project, users[0]).pk == first.pk  # reload
    got = [next_task(project, u) for u in users[1:]]
    # 2 solutions x overlap 2 = 4 slots: the fifth annotator is told there is nothing left.
    assert got[-1] is None and all(a is not None for a in got[:3])
    per_solution = {s.pk: Assignment.objects.filter(solution=s).count() for s in sols}
    assert per_solution == {sols[0].pk: 2, sols[1].pk: 2}
    assert first.solution_id == sols[0].pk  # sequential: oldest first


def test_expired_lease_goes_back_to_the_queue_and_keeps_ratings(make_user):
    project = make_project(overlap=1)
    make_solution(project, ["only step # Answer\n\n42"])
    alice, bob = _users(make_user, project, 2)
    task = next_task(project, alice)
    node = task.solution.last_step_id
    labeling.rate_step(task.pk, alice, node_id=node, rating=1)
    assert next_task(project, bob) is None  # held by alice
    Assignment.objects.filter(pk=task.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    bobs = next_task(project, bob)
    assert bobs is not None and bobs.solution_id == task.solution_id
    task.refresh_from_db()
    assert task.status == Assignment.Status.EXPIRED
    with pytest.raises(LabelingError) as exc:
        labeling.rate_step(task.pk, alice, node_id=node, rating=-1)
    assert exc.value.status == 409
    assert task.ratings.get().rating == 1  # nothing saved is lost


def test_own_expired_task_is_resumed_when_free(make_user):
    project = make_project(overlap=1)
    make_solution(project, ["s1", "s2"])
    alice = _users(make_user, project, 1)[0]
    task = next_task(project, alice)
    labeling.rate_step(task.pk, alice, node_id=task.solution.last_step.parent_id, rating=0)
    Assignment.objects.filter(pk=task.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    again = next_task(project, alice)
    assert again.pk == task.pk and again.status == Assignment.Status.ACTIVE
    assert again.ratings.get().rating == 0


def _lapse(*assignments):
    Assignment.objects.filter(pk__in=[a.pk for a in assignments]).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1))


def test_own_lapsed_task_comes_back_before_an_earlier_free_solution(make_user):
    project = make_project(overlap=1)
    s1, s2, _s3 = (make_solution(project, [f"e{i}"]) for i in range(3))
    alice, carol = _users(make_user, project, 2)
    assert next_task(project, carol).solution_id == s1.pk
    task = next_task(project, alice)
    assert task.solution_id == s2.pk
    labeling.rate_step(task.pk, alice, node_id=task.solution.last_step_id, rating=1)
    skip_task(Assignment.objects.get(annotator=carol))  # s1 is free again, and earlier
    _lapse(task)
    again = next_task(project, alice)
    assert (again.pk, again.solution_id, again.status) == (task.pk, s2.pk, Assignment.Status.ACTIVE)
    assert again.ratings.get().rating == 1


def test_own_lapsed_task_comes_back_after_another_user_marked_it_expired(make_user):
    project = make_project(overlap=1)
    s1, s2, _s3 = (make_solution(project, [f"x{i}"]) for i in range(3))
    alice, bob = _users(make_user, project, 2)
    bobs = next_task(project, bob)
    task = next_task(project, alice)
    assert (bobs.solution_id, task.solution_id) == (s1.pk, s2.pk)
    skip_task(bobs)  # s1 is free again; bob is not offered it twice
    _lapse(task)
    assert next_task(project, bob).solution_id == s2.pk  # bob's call expired alice's lease
    task.refresh_from_db()
    assert task.status == Assignment.Status.EXPIRED
    skip_task(Assignment.objects.get(annotator=bob, status=Assignment.Status.ACTIVE))
    again = next_task(project, alice)
    assert again.pk == task.pk and again.status == Assignment.Status.ACTIVE


def test_own_lapsed_task_taken_by_another_gives_the_next_free_one(make_user):
    project = make_project(overlap=1)
    s1, s2 = (make_solution(project, [f"t{i}"]) for i in range(2))
    alice, bob = _users(make_user, project, 2)
    task = next_task(project, alice)
    _lapse(task)
    assert next_task(project, bob).solution_id == s1.pk  # alice's lapsed slot went to bob
    assert next_task(project, alice).solution_id == s2.pk
    task.refresh_from_db()
    assert task.status == Assignment.Status.EXPIRED


def test_a_task_sent_back_by_review_is_not_put_first(make_user):
    from annotate.models import Membership
    from quality.services import reject_assignment

    project = make_project(overlap=1)
    s1, s2 = (make_solution(project, [f"r{i} # Answer\n\n42"]) for i in range(2))
    alice, carol = _users(make_user, project, 2)
    reviewer = add_member(project, make_user("reviewer"), role=Membership.Role.REVIEWER)
    assert next_task(project, carol).solution_id == s1.pk
    task = next_task(project, alice)
    labeling.rate_step(task.pk, alice, node_id=task.solution.last_step_id, rating=1)
    labeling.finish(task.pk, alice, reason="solution")
    skip_task(Assignment.objects.get(annotator=carol))
    reject_assignment(Assignment.objects.get(pk=task.pk), reviewer, "rushed")  # expired, finished
    assert next_task(project, alice).solution_id == s1.pk  # the queue's order, as before


def test_skip_frees_the_slot_and_is_not_offered_again(make_user):
    project = make_project(overlap=1)
    s1 = make_solution(project, ["x"])
    s2 = make_solution(project, ["y"])
    alice, bob = _users(make_user, project, 2)
    task = next_task(project, alice)
    assert task.solution_id == s1.pk
    skip_task(task)
    assert next_task(project, alice).solution_id == s2.pk
    assert next_task(project, bob).solution_id == s1.pk  # the skipped slot is free again
    with pytest.raises(Exception, match="no longer active"):
        skip_task(task)


def test_finished_tasks_count_against_overlap(make_user):
    project = make_project(overlap=1)
    make_solution(project, ["one # Answer\n\n42"])
    alice, bob = _users(make_user, project, 2)
    task = next_task(project, alice)
    labeling.rate_step(task.pk, alice, node_id=task.solution.last_step_id, rating=1)
    labeling.finish(task.pk, alice, reason="solution")
    assert next_task(project, alice) is None
    assert next_task(project, bob) is None


def test_random_strategy_reaches_every_solution_and_strategies_are_swappable(make_user):
    project = make_project(overlap=1, queue_strategy="random")
    sols = {make_solution(project, [f"s{i}"]).pk for i in range(6)}
    user = _users(make_user, project, 1)[0]
    seen = set()
    for _ in range(6):
        task = next_task(project, user)
        seen.add(task.solution_id)
        skip_task(task)
    assert seen == sols and next_task(project, user) is None

    @register_strategy("newest_first_test")
    def newest(candidates, project, user):
        return candidates.order_by("-id")

    try:
        project2 = make_project("p2", queue_strategy="newest_first_test")
        ids = [make_solution(project2, [f"t{i}"]).pk for i in range(3)]
        other = add_member(project2, make_user("other"))
        assert next_task(project2, other).solution_id == max(ids)
    finally:
        STRATEGIES.pop("newest_first_test")
    with pytest.raises(ValueError, match="Unknown queue strategy"):
        get_strategy("nope")


def test_screening_serves_only_gold_then_mixes(make_user):
    project = make_project(overlap=1, screening_items=1, gold_rate=0.0)
    regular = make_solution(project, ["r"])
    gold = make_solution(project, ["g"], gold=True)
    user = _users(make_user, project, 1)[0]
    task = next_task(project, user)
    assert task.solution_id == gold.pk  # looks like any task, but is the gold one
    skip_task(task)
    # Not screened yet and no gold left: nothing, never regular work.
    assert next_task(project, user) is None
    project.screening_items = 0
    project.save()
    assert next_task(project, user).solution_id == regular.pk


def test_low_water_mark_keeps_order_when_slots_free_and_never_hides_work(make_user):
    from django.core.cache import cache

    from annotate.services.queue import _mark_key

    project = make_project("mark", overlap=1)
    s1, s2, s3 = (make_solution(project, [f"m{i}"]) for i in range(3))
    alice, bob, carol, dave = _users(make_user, project, 4)
    assert next_task(project, alice).solution_id == s1.pk
    assert next_task(project, bob).solution_id == s2.pk
    lapsed = timezone.now() - timedelta(seconds=1)
    Assignment.objects.filter(annotator=alice).update(lease_expires_at=lapsed)
    # Alice's lapsed slot is the oldest open one again: the mark moved back to reach it.
    assert next_task(project, carol).solution_id == s1.pk
    # A stale mark past open work is only a hint: the queue looks again from the start.
    Assignment.objects.filter(annotator=carol).delete()
    cache.set(_mark_key(project, False), s3.pk + 100, 60)
    assert next_task(project, dave).solution_id == s1.pk
