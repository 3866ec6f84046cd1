"""Generation with the demo model: full solutions and candidate branches, through a real
worker, idempotent under redelivery, cancellable, failures recorded on the Run."""

import pytest
from django.db import transaction

from annotate.models import Problem, Project, Solution, StepNode
from demo.seed import seed_demo_content
from demo.testing import build_test_model
from generation.services import request_candidates, request_solutions
from tests.conftest import redeliver, wait_for_run
from workers.models import Run
from workers.runs import cancel_run

pytestmark = [pytest.mark.worker, pytest.mark.portable, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="session")
def demo_model():
    return str(build_test_model())


def make_project(model_path, slug="gen", n_problems=3, solutions=0, **generator):
    project = Project.objects.create(
        name=slug, slug=slug,
        generator={"model": model_path, "delimiter": "\n", "max_new_tokens": 64,
                   "temperature": 0.8, "top_p": 0.95, **generator},
    )
    seed_demo_content(project, n_problems=n_problems, solutions_per_problem=solutions, seed=7)
    return project


def test_solutions_are_generated_stored_and_graded_and_redelivery_adds_nothing(
        celery_worker, demo_model):
    project = make_project(demo_model)
    run = request_solutions(project=project, n=4)
    run = wait_for_run(run, timeout=180)
    assert run.status == Run.Status.SUCCEEDED, run.error
    assert run.kind == "generate_solutions" and run.progress_done == run.progress_total == 3
    solutions = Solution.objects.filter(project=project)
    assert run.result["new_solutions"] == solutions.count() > 0
    assert run.result["tokens"] > 0
    nodes = StepNode.objects.filter(problem__project=project)
    assert set(nodes.values_list("author", flat=True)) == {"model"}
    node = nodes.first()
    assert node.generator["model"] == demo_model and node.generator["run"] == run.pk
    assert node.generator["temperature"] == 0.8 and node.generator["delimiter"] == "\n"
    for solution in solutions:
        assert solution.source == "model" and solution.metadata["run"] == run.pk
        if solution.metadata["finished"]:
            assert solution.last_step.text.startswith("# Answer")
            assert solution.is_correct == (solution.final_answer == solution.problem.ground_truth_answer)
    counts = (nodes.count(), solutions.count())

    run = redeliver(run)
    assert run.status == Run.Status.SUCCEEDED, run.error
    assert (nodes.count(), solutions.count()) == counts
    assert run.result["new_solutions"] == 0 and run.result["new_nodes"] == 0


def test_candidate_steps_are_new_siblings_and_a_retry_makes_no_duplicates(celery_worker, demo_model):
    project = make_project(demo_model, slug="cand", n_problems=1, solutions=1)
    problem = Problem.objects.get(project=project)
    first = StepNode.objects.get(problem=problem, parent__isnull=True)
    existing = set(first.children.values_list("text", flat=True))

    with transaction.atomic():
        run = request_candidates(project=project, problem=problem, parent=first, k=3)
        # A second request for the same position while one is pending reuses it.
        assert request_candidates(project=project, problem=problem, parent=first, k=3) == run
    run = wait_for_run(run, timeout=120)
    assert run.status == Run.Status.SUCCEEDED, run.error
    children = first.children.all()
    texts = list(children.values_list("text", flat=True))
    assert len(texts) == len(set(texts))  # the database holds no duplicate siblings
    new = children.exclude(text__in=existing)
    assert 1 <= new.count() <= 3 and new.count() == run.result["created"]
    for node in new:
        assert node.author == "model" and node.depth == 1 and "\n" not in node.text
        assert node.generator["run"] == run.pk

    before = StepNode.objects.filter(problem=problem).count()
    run = redeliver(run)
    assert run.status == Run.Status.SUCCEEDED, run.error
    assert StepNode.objects.filter(problem=problem).count() == before

    # First steps (parent None) work the same way.
    run = wait_for_run(request_candidates(project=project, problem=problem, parent=None, k=2), 120)
    assert run.status == Run.Status.SUCCEEDED, run.error
    assert StepNode.objects.filter(problem=problem, parent__isnull=True).count() >= 2


def test_failure_is_recorded_on_the_run(celery_worker):
    project = Project.objects.create(name="x", slug="x", generator={"model": "/nonexistent/model"})
    seed_demo_content(project, n_problems=1, solutions_per_problem=0)
    run = wait_for_run(request_solutions(project=project, n=1), timeout=60)
    assert run.status == Run.Status.FAILED
    assert "/nonexistent/model" in run.error  # the full error, for admins
    assert run.reason == "The generator model is not ready yet"  # for everyone else


def test_cancel_stops_a_running_generation(celery_worker, demo_model):
    project = make_project(demo_model, slug="cancel", n_problems=40, batch_size=2)
    run = request_solutions(project=project, n=2)
    import time

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.status == Run.Status.RUNNING and run.progress_done >= 1:
            break
        time.sleep(0.1)
    cancel_run(run)
    run = wait_for_run(run, timeout=60)
    assert run.status == Run.Status.CANCELLED
    assert run.progress_done < 40
    done = Problem.objects.filter(project=project, solutions__isnull=False).distinct().count()
    assert done < 40


def test_requests_without_a_generator_or_with_bad_input():
    project = Project.objects.create(name="p", slug="p")
    seed_demo_content(project, n_problems=1, solutions_per_problem=1)
    problem = Problem.objects.get(project=project)
    assert request_candidates(project=project, problem=problem, parent=None, k=3) is None
    assert request_solutions(project=project, n=2) is None

    project.generator = {"model": "some/model"}
    project.save()
    other = Project.objects.create(name="o", slug="o")
    seed_demo_content(other, n_problems=1, solutions_per_problem=1, seed=5)
    foreign = Problem.objects.get(project=other)
    with pytest.raises(ValueError, match="not in this project"):
        request_candidates(project=project, problem=foreign, parent=None, k=3)
    with pytest.raises(ValueError, match="another problem"):
        request_candidates(project=project, problem=problem,
                           parent=StepNode.objects.filter(problem=foreign).first(), k=3)
    with pytest.raises(ValueError, match="k must be"):
        request_candidates(project=project, problem=problem, parent=None, k=0)
    project.generator = {"model": "m", "temperature": "hot"}
    project.save()
    with pytest.raises(ValueError, match="Bad generator setting"):
        request_solutions(project=project, n=1)
    assert not Run.objects.exists()


def test_greedy_candidates_collapse_to_one_and_existing_siblings_are_dropped(demo_model):
    """In-process: identical samples are one candidate; a sibling already in the tree is
    never created again, so asking twice adds nothing the second time."""
    from generation.config import GeneratorSettings
    from generation.generate import generate_candidates

    project = make_project(demo_model, slug="greedy", n_problems=1, temperature=0)
    problem = Problem.objects.get(project=project)
    settings = GeneratorSettings.from_dict(project.generator)
    first = generate_candidates(problem, None, settings, k=3, seed=1)
    assert first["created"] == 1 and first["duplicates_dropped"] >= 2
    again = generate_candidates(problem, None, settings, k=3, seed=2)
    assert again["created"] == 0
    assert StepNode.objects.filter(problem=problem, parent__isnull=True).count() == 1


def test_generate_command_queues_runs_and_refuses_bad_input():
    from django.core.management import CommandError, call_command

    project = make_project("/models/some-model", slug="cmd", n_problems=2, solutions=1)
    call_command("generate", project="cmd", solutions=3, autolabel=True, rollouts=4)
    runs = {r.kind: r for r in Run.objects.filter(project=project)}
    assert runs["generate_solutions"].params["n"] == 3
    assert len(runs["generate_solutions"].params["problem_ids"]) == 2
    assert runs["autolabel"].params["rollouts"] == 4
    with pytest.raises(CommandError, match="No project"):
        call_command("generate", project="nope", solutions=1)
    with pytest.raises(CommandError, match="--problem"):
        call_command("generate", project="cmd", candidates=2)
    with pytest.raises(CommandError, match="n must be"):
        call_command("generate", project="cmd", solutions=999)
