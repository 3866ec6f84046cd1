"""Batch readers of solutions (training data, best-of-N, judging) load them through one
selector, ``annotate.selectors.solutions.solutions_for_batch``: with the problem, never the
trajectory record (an agent trajectory's whole JSON)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotate.models import Solution
from annotate.selectors.solutions import solutions_for_batch

from .manage_factories import make_project, make_solution, rate

pytestmark = [pytest.mark.django_db, pytest.mark.portable]

BIG = {"messages": [{"role": "user", "content": "SECRET-TRAJECTORY " * 200}]}


def _reads_trajectory(queries) -> list[str]:
    table = Solution._meta.db_table
    return [q["sql"] for q in queries
            if f'"{table}"."trajectory"' in q["sql"] and q["sql"].lstrip().upper().startswith("SELECT")]


@pytest.fixture
def graded(make_user):
    project = make_project("readers")
    human = make_user("readers-h")
    sols = []
    for i in range(2):
        s = make_solution(project, n_steps=3, tag=f"rd{i}")
        s.trajectory, s.is_correct = BIG, bool(i)
        s.save()
        rate(s, human, [1, 1, -1])
        sols.append(s)
    return project, sols


def test_the_selector_leaves_the_trajectory_and_brings_the_problem(graded,
                                                                  django_assert_num_queries):
    project, sols = graded
    with django_assert_num_queries(1):
        loaded = list(solutions_for_batch(project=project).order_by("pk"))
        assert [s.problem.statement for s in loaded] == [s.problem.statement for s in sols]
    assert all("trajectory" not in s.__dict__ for s in loaded)


def test_training_examples_read_no_trajectory(graded):
    from training.data import examples_from_project

    project, sols = graded
    with CaptureQueriesContext(connection) as ctx:
        examples = examples_from_project(project)
    assert examples and not _reads_trajectory(ctx.captured_queries)
