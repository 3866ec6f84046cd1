"""What a search writes for one problem, on the fixed tiny tree: nodes with provenance, graded
solutions, PRM hints, sibling margins and results; writing it again adds nothing."""

import pytest

from annotate.models import PreAnnotation, Problem, Project, Solution, StepNode
from generation.config import GeneratorSettings
from search.models import SearchedSolution, SearchResult
from search.strategies import SearchSettings, sweep
from search.sweep import _ProblemStore
from tests.prm_factories import ready_model
from tests.search_fakes import STATEMENT, StepSetScorer, TreeGenerator
from workers.models import Run

pytestmark = [pytest.mark.portable, pytest.mark.django_db]


def test_one_problem_is_stored_with_hints_margins_and_results_and_again_adds_nothing():
    project = Project.objects.create(name="S", slug="s")
    problem = Problem.objects.create(project=project, statement=STATEMENT, ground_truth_answer="4")
    prm = ready_model(project, "/models/prm", name="fixed prm")
    run = Run.objects.create(kind="search", project=project)
    settings = GeneratorSettings(model="tree", delimiter="\n", max_new_tokens=64, max_step_tokens=16,
                                 max_steps=8)

    def store():
        outcomes, samples = sweep(TreeGenerator(), StepSetScorer(), STATEMENT,
                                  SearchSettings.from_generator(settings), 2, seed=0)
        writer = _ProblemStore(problem, prm, settings, run)
        writer.save(outcomes, samples, "min")
        return writer

    first = store()
    nodes = StepNode.objects.filter(problem=problem)
    # Both first steps, both second steps under "2 + 3 = 5", the wrong path, two answers.
    assert first.new_nodes == nodes.count() == 7
    assert {n.generator["search"]["strategy"] for n in nodes} == {"sample", "beam"}
    assert all(n.generator["run"] == run.pk and n.generator["model"] == "tree" for n in nodes)
    hints = dict(PreAnnotation.objects.filter(node__problem=problem, kind="prm_score",
                                              source="fixed prm").values_list("node__text", "value"))
    assert hints == {"2 + 3 = 6": 0.1, "6 - 1 = 5": 0.1, "# Answer: 5": 0.1, "2 + 3 = 5": 0.9,
                     "5 - 1 = 3": 0.1, "5 - 1 = 4": 0.9, "# Answer: 4": 0.9}
    solutions = {s.final_answer: s for s in Solution.objects.filter(problem=problem)}
    assert set(solutions) == {"4", "5"} and solutions["4"].is_correct and not solutions["5"].is_correct
    searched = {s.solution.final_answer: s for s in SearchedSolution.objects.filter(run=run)}
    assert searched["4"].score == 0.9 and searched["5"].score == 0.1
    # Each path's first step was chosen over a sibling scored 0.8 apart.
    assert searched["4"].margin == pytest.approx(0.8) and searched["5"].margin == pytest.approx(0.8)
    results = {(r.strategy, r.budget): r for r in SearchResult.objects.filter(run=run)}
    correct = {key for key, r in results.items() if r.is_correct}
    assert correct == {("best_of_n_min", 2), ("best_of_n_product", 2), ("best_of_n_last", 2),
                       ("weighted_majority", 2), ("beam", 2)}
    assert results[("beam", 2)].solution == solutions["4"]
    assert results[("beam", 2)].generated_tokens == 26 and results[("majority", 2)].prm_tokens == 0
    counts = (nodes.count(), Solution.objects.count(), PreAnnotation.objects.count(),
              SearchedSolution.objects.count(), SearchResult.objects.count())

    again = store()
    assert again.new_nodes == 0
    assert (nodes.count(), Solution.objects.count(), PreAnnotation.objects.count(),
            SearchedSolution.objects.count(), SearchResult.objects.count()) == counts
