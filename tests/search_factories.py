"""A PRM with a finished search Run's results, written as a search Run writes them."""

from __future__ import annotations

from annotate.models import Membership, Problem, Project
from search.models import SearchResult
from training.models import PrmModel
from workers.models import Run

# (strategy, budget) -> (correct out of 4 problems, generated tokens per problem, PRM tokens)
POINTS = {("greedy", 1): (1, 20, 0), ("majority", 1): (1, 21, 0), ("majority", 2): (2, 42, 0),
          ("majority", 4): (2, 84, 0), ("best_of_n_min", 1): (1, 21, 30),
          ("best_of_n_min", 2): (2, 42, 60), ("best_of_n_min", 4): (3, 84, 120),
          ("beam", 1): (1, 22, 40), ("beam", 2): (3, 44, 80), ("beam", 4): (4, 90, 160)}


def searched_prm(admin, slug="scaling") -> tuple[PrmModel, Run]:
    project = Project.objects.create(name=f"Project {slug}", slug=slug)
    Membership.objects.create(project=project, user=admin, role=Membership.Role.ADMIN)
    prm = PrmModel.objects.create(project=project, name=f"prm {slug}", base_model="tiny",
                                  artifact_path="/models/prm", status=PrmModel.Status.READY)
    run = Run.objects.create(kind="search", project=project, status=Run.Status.SUCCEEDED,
                             params={"prm_model_id": prm.pk, "max_budget": 4})
    problems = [Problem.objects.create(project=project, statement=f"q{i}", ground_truth_answer=str(i))
                for i in range(4)]
    for (strategy, budget), (correct, gen, prm_tokens) in POINTS.items():
        for i, problem in enumerate(problems):
            SearchResult.objects.create(run=run, prm_model=prm, problem=problem, strategy=strategy,
                                        budget=budget, answer=str(i) if i < correct else "x",
                                        is_correct=i < correct, generated_tokens=gen,
                                        prm_tokens=prm_tokens)
    return prm, run
