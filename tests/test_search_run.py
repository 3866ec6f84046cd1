"""A search Run with the demo generator and a tiny PRM, through a real worker: every
strategy at every budget graded and stored; explored steps in the step tree with their
generator provenance and PRM hints; a redelivered Run adds no duplicates."""

import pytest

from annotate.models import PreAnnotation, Project, Solution, StepNode, StepRating
from demo.seed import seed_demo_content
from demo.testing import build_test_model
from search.models import SearchedSolution, SearchResult
from search.selectors import scaling_points
from search.services import SearchError, start_search
from search.strategies import SAMPLING_STRATEGIES
from tests.conftest import redeliver, wait_for_run
from tests.prm_factories import ready_model, trained_tiny_prm
from workers.models import Run

pytestmark = [pytest.mark.worker, pytest.mark.portable, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="session")
def demo_model():
    return str(build_test_model())


@pytest.fixture(scope="session")
def tiny_prm(tmp_path_factory):
    return trained_tiny_prm(tmp_path_factory.mktemp("search-prm"))


def make_project(model_path, slug="search", n_problems=2):
    project = Project.objects.create(
        name=slug, slug=slug,
        generator={"model": model_path, "delimiter": "\n", "max_new_tokens": 64,
                   "max_step_tokens": 16, "max_steps": 8, "temperature": 0.8, "top_p": 0.95})
    seed_demo_content(project, n_problems=n_problems, solutions_per_problem=0, seed=11)
    return project


def test_search_run_grades_every_strategy_stores_the_tree_and_a_retry_adds_nothing(
        celery_worker, demo_model, tiny_prm):
    project = make_project(demo_model)
    prm = ready_model(project, tiny_prm, name="search prm")
    run = wait_for_run(start_search(prm_model=prm, max_budget=2), timeout=240)
    assert run.status == Run.Status.SUCCEEDED, run.error + run.log
    assert run.kind == "search" and run.progress_done == run.progress_total == 2

    results = SearchResult.objects.filter(run=run)
    # Per problem: greedy, then at N = 1 and 2 five sampling strategies and a beam search.
    assert results.count() == 2 * (1 + 2 * (len(SAMPLING_STRATEGIES) + 1)) == run.result["results"]
    for r in results.select_related("problem"):
        from annotate.grading import grade_answer

        assert r.is_correct == grade_answer(r.answer or None, r.problem.ground_truth_answer)
        assert r.generated_tokens > 0
        uses_prm = r.strategy not in ("greedy", "majority")
        assert (r.prm_tokens > 0) == uses_prm, r.strategy
    beam = results.get(strategy="beam", budget=2, problem=results[0].problem)
    assert beam.config["width"] == 1 and beam.config["per_beam"] == 2
    sampled_1 = results.filter(budget=1, strategy="majority")
    sampled_2 = results.filter(budget=2, strategy="majority")
    assert sum(r.generated_tokens for r in sampled_2) >= sum(r.generated_tokens for r in sampled_1)

    nodes = StepNode.objects.filter(problem__project=project)
    assert nodes.exists() and set(nodes.values_list("author", flat=True)) == {"model"}
    for node in nodes:
        assert node.generator["model"] == demo_model and node.generator["run"] == run.pk
        assert node.generator["search"]["prm_model"] == prm.pk
        assert node.generator["search"]["strategy"] in ("sample", "greedy", "beam")
    strategies = {n.generator["search"]["strategy"] for n in nodes}
    assert {"sample", "beam"} <= strategies
    hints = PreAnnotation.objects.filter(node__problem__project=project)
    assert hints.exists() and set(hints.values_list("kind", flat=True)) == {"prm_score"}
    assert set(hints.values_list("source", flat=True)) == {"search prm"}
    assert all(0.0 <= h.value <= 1.0 and h.run_id == run.pk for h in hints)
    assert not StepRating.objects.exists()  # a machine hint, never a rating
    searched = SearchedSolution.objects.filter(run=run)
    assert searched.count() == Solution.objects.filter(project=project).count() > 0
    assert searched.filter(score__isnull=False).exists()  # greedy's path alone is unscored

    points = scaling_points(prm)["points"]
    assert {(p["strategy"], p["budget"]) for p in points} == set(results.values_list("strategy", "budget"))
    counts = (nodes.count(), Solution.objects.filter(project=project).count(), hints.count(),
              results.count(), searched.count())
    answers = sorted(results.values_list("problem_id", "strategy", "budget", "answer"))

    run = redeliver(run, timeout=240)
    assert run.status == Run.Status.SUCCEEDED, run.error
    assert run.result["new_nodes"] == 0
    assert (nodes.count(), Solution.objects.filter(project=project).count(), hints.count(),
            results.count(), searched.count()) == counts
    assert sorted(results.values_list("problem_id", "strategy", "budget", "answer")) == answers


def test_bad_search_requests_are_refused_without_a_run(tiny_prm):
    project = make_project("/models/none", slug="bad-search", n_problems=1)
    prm = ready_model(project, tiny_prm, name="p")
    for kwargs, message in [({"max_budget": 0}, "largest budget"),
                            ({"max_budget": 65}, "largest budget"),
                            ({"aggregate": "mean"}, "Unknown aggregate"),
                            ({"limit": 0}, "number of problems"),
                            ({"problem_ids": [10**9]}, "No problems")]:
        with pytest.raises(SearchError, match=message):
            start_search(prm_model=prm, **kwargs)
    project.generator = {}
    project.save()
    with pytest.raises(SearchError, match="generator is not set up"):
        start_search(prm_model=prm)
    prm.status = "training"
    prm.save()
    with pytest.raises(SearchError, match="not ready"):
        start_search(prm_model=prm)
    assert not Run.objects.exists()
