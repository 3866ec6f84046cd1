"""The "convincing_wrong" queue strategy: wrong-answer, high-scoring solutions first."""

import pytest

from annotate.models import Membership, PreAnnotation, Project
from annotate.services.queue import next_task
from annotate.services.queue_strategies import STRATEGIES
from tests.prm_factories import ready_model, rule_examples, seed_project, trained_tiny_prm
from training.data import StepExample
from training.models import SolutionScore
from training.scoring import score_project_solutions
from training.strategies import convincing_wrong_order, interleave

pytestmark = pytest.mark.portable


def test_interleave_keeps_an_80_20_mix():
    wrong, rest = list(range(100)), list(range(100, 200))
    merged = interleave(wrong, rest)
    first = merged[:50]
    assert sum(x < 100 for x in first) == 40  # 80% from the wrong-answer ranking
    assert [x for x in merged if x < 100] == wrong and [x for x in merged if x >= 100] == rest
    assert interleave([1, 2], []) == [1, 2] and interleave([], [3]) == [3]


@pytest.fixture
def scored_project(db, make_user):
    admin = make_user("boss")
    project = Project.objects.create(name="A", slug="a", queue_strategy="convincing_wrong")
    Membership.objects.create(project=project, user=admin, role=Membership.Role.ADMIN)
    ex = [StepExample(group=f"g{i}", prompt="problem", steps=[f"step {i}"], labels=[1],
                      is_correct=i % 2 == 0) for i in range(10)]
    solutions = seed_project(project, ex, admin, labeled=False)
    return project, solutions


def test_wrong_answers_the_prm_likes_come_first(scored_project, tmp_path):
    project, solutions = scored_project
    model = ready_model(project, tmp_path)
    # Scores rise with the index: the best-scored wrong answer is solution 9.
    for i, s in enumerate(solutions):
        SolutionScore.objects.create(prm_model=model, solution=s, step_scores=[i / 10],
                                     min_score=i / 10, product_score=i / 10, last_score=i / 10)
    ordered = list(convincing_wrong_order(project.solutions.all(), project).values_list("pk", flat=True))
    pk = [s.pk for s in solutions]
    wrong_by_score = [pk[9], pk[7], pk[5], pk[3], pk[1]]
    right_by_score = [pk[8], pk[6], pk[4], pk[2], pk[0]]
    assert ordered[:4] == wrong_by_score[:4]
    assert ordered[4] == right_by_score[0]  # every fifth pick is the most convincing of the rest
    assert STRATEGIES["convincing_wrong"] is convincing_wrong_order


def test_no_ready_model_falls_back_to_id_order(scored_project):
    project, solutions = scored_project
    ordered = list(convincing_wrong_order(project.solutions.all(), project).values_list("pk", flat=True))
    assert ordered == sorted(s.pk for s in solutions)


def test_score_then_queue_hands_out_a_convincing_wrong_answer(db, make_user, tmp_path, client):
    annotator = make_user("ann")
    project = Project.objects.create(name="Q", slug="q", queue_strategy="convincing_wrong")
    Membership.objects.create(project=project, user=annotator, role=Membership.Role.ANNOTATOR)
    examples = rule_examples(8, per_problem=2, seed=5)
    for ex in examples:  # a "wrong final answer" here: the solution has a bad step
        ex.is_correct = 0 not in ex.labels
    solutions = seed_project(project, examples, annotator, labeled=False)
    model = ready_model(project, trained_tiny_prm(tmp_path))

    assert score_project_solutions(model) == len(solutions)
    scores = {s.solution_id: s for s in SolutionScore.objects.filter(prm_model=model)}
    assert set(scores) == {s.pk for s in solutions}
    first = solutions[0]
    hints = PreAnnotation.objects.filter(node__problem=first.problem, kind="prm_score",
                                         source="tiny")
    assert hints.count() >= len(examples[0].steps)
    assert scores[first.pk].step_scores[-1] == pytest.approx(
        hints.get(node=first.last_step).value, abs=1e-6)

    wrong = [s for s in solutions if s.is_correct is False]
    best_wrong = max(wrong, key=lambda s: (scores[s.pk].min_score, -s.pk))
    task = next_task(project, annotator)
    assert task is not None and task.solution_id == best_wrong.pk

    # The labeling page shows the scores as hints only when the project allows it.
    client.force_login(annotator)
    hint = "machine hint · PRM score"
    assert hint not in client.get(f"/task/{task.pk}/").content.decode()
    Project.objects.filter(pk=project.pk).update(show_hints=True)
    html = client.get(f"/task/{task.pk}/").content.decode()
    assert hint in html and 'title="tiny"' in html
