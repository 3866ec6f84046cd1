"""The demo domain's exact checker and the model-free demo seed."""

import random

import pytest

from annotate.models import Problem, Project, Solution, StepNode
from annotate.services.tree import path_of
from demo import domain
from demo.labels import exact_labels_for_solution
from demo.seed import seed_demo_content

pytestmark = [pytest.mark.portable]


def test_correct_solutions_check_all_right_and_reach_the_answer():
    rng = random.Random(3)
    for _ in range(200):
        problem = domain.random_problem(rng)
        steps = domain.correct_steps(problem)
        assert domain.check_steps(problem, steps) == [True] * len(steps)
        assert domain.parse_answer(steps[-1]) == problem.answer
        assert domain.is_well_formed(steps)


def test_planted_error_is_the_first_error_the_checker_finds():
    rng = random.Random(4)
    for _ in range(300):
        problem = domain.random_problem(rng)
        steps, at = domain.flawed_steps(problem, rng)
        labels = domain.check_steps(problem, steps)
        assert domain.first_error(labels) == at, (problem.statement, steps)
        # The error is carried forward: later operations are locally right, the answer is wrong.
        assert all(labels[at + 1:])
        assert domain.parse_answer(steps[-1]) != problem.answer
        assert domain.prefix_labels(labels) == [i < at for i in range(len(steps))]


def test_checker_rejects_malformed_and_premature_answers():
    problem = domain.ArithProblem(start=10, ops=[("+", 5), ("-", 3)])
    assert domain.check_steps(problem, ["10 + 5 = 15", "# Answer: 15"]) == [True, False]
    assert domain.check_steps(problem, ["10 + 5 = 15", "15 - 3 = 12", "# Answer: 12"]) == [True] * 3
    assert domain.check_steps(problem, ["ten plus five", "15 - 3 = 12"]) == [False, False]
    assert domain.check_steps(problem, ["10 - 5 = 5", "5 - 3 = 2", "# Answer: 2"]) == [False, True, True]
    assert not domain.is_well_formed(["10 + 5 = 15"])


@pytest.mark.django_db
def test_seed_creates_problems_and_solutions_with_a_realistic_share_of_errors():
    project = Project.objects.create(name="Demo", slug="demo")
    stats = seed_demo_content(project, n_problems=30, solutions_per_problem=3)
    assert stats["problems"] == 30 and stats["solutions"] == 90
    assert 0.3 <= stats["wrong_solutions"] / stats["solutions"] <= 0.85
    assert Solution.objects.filter(project=project).count() == 90
    assert not StepNode.objects.filter(problem__project=project).exclude(author="model").exists()
    # Stored correctness comes from grading, and agrees with the exact checker.
    for solution in Solution.objects.filter(project=project).select_related("problem", "last_step"):
        labels = exact_labels_for_solution(solution)
        assert solution.is_correct is all(labels)
        assert solution.metadata["first_error"] == domain.first_error(labels)
        assert len(path_of(solution.last_step)) == len(labels)
    problem = Problem.objects.filter(project=project).first()
    assert problem.ground_truth_answer == str(domain.ArithProblem.from_metadata(problem.metadata["demo"]).answer)

    again = seed_demo_content(project, n_problems=30, solutions_per_problem=3)
    assert again["problems"] == 0 and again["solutions"] == 0
    assert Solution.objects.filter(project=project).count() == 90


def test_alternative_suffixes_go_on_right_and_wrong_to_an_answer():
    rng = random.Random(5)
    for _ in range(100):
        problem = domain.random_problem(rng)
        steps, _at = domain.flawed_steps(problem, rng)
        for at in range(len(steps)):
            right, wrong = domain.alternative_suffixes(problem, steps, at, rng)
            for suffix in (right, wrong):
                assert domain.is_well_formed(steps[:at] + suffix)
            # The right one is right where it starts; the wrong one is wrong there.
            assert domain.check_steps(problem, steps[:at] + right)[at]
            assert not domain.check_steps(problem, steps[:at] + wrong)[at]


@pytest.mark.django_db
def test_seed_with_alternatives_gives_every_position_candidates_and_no_extra_solutions():
    project = Project.objects.create(name="Demo", slug="demo", candidates_per_position=3)
    stats = seed_demo_content(project, n_problems=5, solutions_per_problem=2, alternatives=True)
    assert stats["candidate_steps"] > 0
    assert Solution.objects.filter(project=project).count() == stats["solutions"]
    for solution in Solution.objects.filter(project=project).select_related("last_step"):
        for node in path_of(solution.last_step):
            siblings = StepNode.objects.filter(problem=node.problem_id, parent=node.parent_id)
            assert siblings.count() >= 2, node.text  # a Bad step has candidates beside it
            if node.pk != solution.last_step_id:
                assert node.children.exists()  # and every step goes on to an answer
