"""The queue under 50 concurrent requests on PostgreSQL: overlap is never exceeded."""

import threading

import pytest
from django.db import connection

from annotate.models import Solution
from annotate.services.queue import next_task
from tests.labeling_factories import add_member, make_project, make_solution

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]


def test_fifty_concurrent_requests_never_exceed_overlap(make_user):
    if connection.vendor != "postgresql":
        pytest.fail("needs PostgreSQL row locks")
    project = make_project(overlap=2)
    for i in range(20):
        make_solution(project, [f"step {i}"])
    users = [add_member(project, make_user(f"c{i}")) for i in range(50)]
    barrier = threading.Barrier(50)
    results, errors = {}, []

    def worker(user):
        try:
            barrier.wait()
            task = next_task(project, user)
            results[user.pk] = task.solution_id if task else None
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    handed = [s for s in results.values() if s is not None]
    # 20 solutions x overlap 2: exactly 40 tasks handed out, none beyond the overlap.
    assert len(handed) == 40
    assert max(handed.count(s) for s in set(handed)) == 2
    counts = {s.pk: s.assignments.count() for s in Solution.objects.filter(project=project)}
    assert set(counts.values()) == {2}


def _together(n, fn):
    barrier = threading.Barrier(n)
    results, errors = [], []

    def run():
        try:
            barrier.wait()
            results.append(fn())
        except Exception as exc:  # noqa: BLE001 - reported by the caller
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results, errors


def test_one_user_asking_ten_times_at_once_gets_one_task(make_user):
    project = make_project("same-user", overlap=1)
    for i in range(5):
        make_solution(project, [f"s{i}"])
    user = add_member(project, make_user("eager"))
    results, errors = _together(10, lambda: next_task(project, user).pk)
    assert not errors and len(set(results)) == 1
    assert user.assignments.count() == 1


def test_concurrent_double_submit_stores_one_rating(make_user):
    from annotate.models import RatingChange, StepRating
    from annotate.services import labeling

    project = make_project("double", overlap=1)
    make_solution(project, ["the step"])
    user = add_member(project, make_user("clicker"))
    task = next_task(project, user)
    node = task.solution.last_step_id
    results, errors = _together(8, lambda: labeling.rate_step(task.pk, user, node_id=node, rating=-1))
    assert not errors and len(results) == 8
    assert StepRating.objects.filter(assignment=task).count() == 1
    assert RatingChange.objects.filter(rating__assignment=task).count() == 1


def test_two_annotators_writing_the_same_own_step_at_once_share_one_node(make_user):
    """The second insert waits on the first one's uncommitted row, then hits the unique
    constraint: it must read that node, not fail. The first writer commits only once the
    second is seen waiting on its lock, so the race happens on every run."""
    from django.db import transaction

    from annotate.models import StepNode
    from annotate.services import labeling

    project = make_project("same-step", overlap=2)
    solution = make_solution(project, ["Let x = 6.", "Then 7x = 41.", "# Answer\n\n41"])
    first, second = (add_member(project, make_user(name)) for name in ("first", "second"))
    tasks = {}
    for user in (first, second):
        task = tasks[user.pk] = next_task(project, user)
        root = solution.last_step.parent.parent_id
        labeling.rate_step(task.pk, user, node_id=root, rating=1)
        labeling.rate_step(task.pk, user, node_id=solution.last_step.parent_id, rating=-1)
    text = "Then 7x = 42."
    inserted, errors, states = threading.Event(), [], {}

    def write(user, hold: bool):
        try:
            if hold:
                with transaction.atomic():
                    states[user.pk] = labeling.write_step(tasks[user.pk].pk, user, position=1,
                                                          text=text)
                    inserted.set()
                    _wait_for_a_lock_waiter()
            else:
                inserted.wait(10)
                states[user.pk] = labeling.write_step(tasks[user.pk].pk, user, position=1,
                                                      text=text)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(repr(exc))
        finally:
            inserted.set()
            connection.close()

    threads = [threading.Thread(target=write, args=(first, True)),
               threading.Thread(target=write, args=(second, False))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    nodes = StepNode.objects.filter(problem=solution.problem, text=text)
    assert nodes.count() == 1 and nodes.get().author == StepNode.Author.HUMAN
    for user in (first, second):
        assert states[user.pk].presentation[1]["human"] == nodes.get().pk


def _wait_for_a_lock_waiter(timeout: float = 10.0) -> None:
    """Until another backend of this database waits on a lock (or the timeout passes)."""
    import time

    deadline = time.monotonic() + timeout
    with connection.cursor() as cur:
        while time.monotonic() < deadline:
            cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                        " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()")
            if cur.fetchone()[0]:
                return
            time.sleep(0.02)
