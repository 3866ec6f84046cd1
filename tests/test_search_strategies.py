"""The search strategies on a fixed tiny case whose answer and costs are worked out by hand."""

import pytest

from search.strategies import (
    BeamConfig,
    Path,
    SearchSettings,
    beam_search,
    best_of_n,
    budgets,
    greedy,
    majority,
    sample_solutions,
    sampling_outcomes,
    score_paths,
    weighted_majority,
)
from tests.search_fakes import ANSWER, STATEMENT, StepSetScorer, TreeGenerator

pytestmark = pytest.mark.portable

SETTINGS = SearchSettings(delimiter="\n", max_step_tokens=16, max_new_tokens=64, max_steps=8)
S = len(STATEMENT.split())  # 6 words: what every PRM item reads before its steps


def test_beam_search_with_a_scorer_that_prefers_correct_steps_finds_the_answer_greedy_misses():
    gen = TreeGenerator()
    floor = greedy(gen, STATEMENT, SETTINGS)
    assert floor.answer == "5" and floor.answer != ANSWER
    assert floor.steps == ["2 + 3 = 6", "6 - 1 = 5", "# Answer: 5"]
    assert floor.generated_tokens == 13 and floor.prm_tokens == 0

    gen, scorer = TreeGenerator(), StepSetScorer()
    out = beam_search(gen, scorer, STATEMENT, SETTINGS, BeamConfig(width=1, per_beam=2, max_steps=8))
    assert out.answer == ANSWER
    assert out.steps == ["2 + 3 = 5", "5 - 1 = 4", "# Answer: 4"]
    # Generated: two 5-word steps at depth 0 and 1, then "# Answer: 4" twice (3 words each):
    # the duplicate is dropped but its tokens were spent.
    assert out.generated_tokens == 10 + 10 + 6 == gen.generated
    # PRM: 2 one-step prefixes (S+5+1), 2 two-step prefixes (S+10+2), 1 three-step (S+13+3).
    assert out.prm_tokens == 2 * (S + 6) + 2 * (S + 12) + (S + 16) == scorer.read
    assert [p.steps for p in out.explored][-1] == out.steps and len(out.explored) == 5
    assert out.config == {"width": 1, "per_beam": 2, "max_steps": 8, "aggregate": "min"}


def test_beam_search_stops_at_the_step_limit_and_a_scorer_that_prefers_wrong_steps_misleads_it():
    wrong = StepSetScorer(good={"2 + 3 = 6", "6 - 1 = 5", "# Answer: 5"})
    out = beam_search(TreeGenerator(), wrong, STATEMENT, SETTINGS, BeamConfig(width=1, per_beam=2))
    assert out.answer == "5"
    cut = beam_search(TreeGenerator(), StepSetScorer(), STATEMENT, SETTINGS,
                      BeamConfig(width=2, per_beam=2, max_steps=1))
    assert all(len(p.steps) == 1 for p in cut.explored) and cut.answer is None


def test_sampling_strategies_pick_from_the_same_samples_and_count_exactly():
    gen, scorer = TreeGenerator(), StepSetScorer()
    paths = sample_solutions(gen, STATEMENT, 4, SETTINGS, seed=1)
    # Sample i takes child i mod 2: wrong, right, wrong, right; 13 tokens each.
    assert [p.answer for p in paths] == ["5", "4", "5", "4"]
    assert [p.generated_tokens for p in paths] == [13] * 4 and gen.generated == 52
    score_paths(scorer, STATEMENT, paths)
    assert [p.prm_tokens for p in paths] == [S + 16] * 4

    vote = majority(paths, 3)
    assert vote.answer == "5" and vote.generated_tokens == 39 and vote.prm_tokens == 0
    assert majority(paths, 4).answer == "5"  # a 2-2 tie goes to the answer seen first
    for how in ("min", "product", "last"):
        pick = best_of_n(paths, 3, how)
        assert pick.answer == ANSWER and pick.strategy == f"best_of_n_{how}"
        assert (pick.generated_tokens, pick.prm_tokens) == (39, 3 * (S + 16))
    weighted = weighted_majority(paths, 3)
    assert weighted.answer == ANSWER  # 0.9 for "4" outweighs 0.1 + 0.1 for "5"
    assert best_of_n(paths, 1).answer == "5"  # budget 1 sees only the first sample
    assert [o.strategy for o in sampling_outcomes(paths, 2)] == [
        "majority", "best_of_n_min", "best_of_n_product", "best_of_n_last", "weighted_majority"]


def test_the_three_aggregations_choose_differently():
    def path(answer, scores):
        return Path(steps=["x", f"# Answer: {answer}"], finished=True, scores=scores,
                    generated_tokens=2)

    paths = [path("1", [0.55, 0.55]), path("2", [0.5, 0.8]), path("3", [0.3, 0.99])]
    assert best_of_n(paths, 3, "min").answer == "1"
    assert best_of_n(paths, 3, "product").answer == "2"
    assert best_of_n(paths, 3, "last").answer == "3"
    # Weighted voting sums scores per answer: two weak "3"s beat one strong "1".
    paths.append(path("3", [0.5, 0.5]))
    assert weighted_majority(paths, 4, "min").answer == "3"


def test_budgets_and_matching_beams():
    assert budgets(1) == [1] and budgets(16) == [1, 2, 4, 8, 16] and budgets(12) == [1, 2, 4, 8]
    shapes = [(b.width, b.per_beam) for b in map(BeamConfig.for_budget, budgets(16))]
    assert shapes == [(1, 1), (1, 2), (1, 4), (2, 4), (4, 4)]
    with pytest.raises(ValueError):
        budgets(0)
    with pytest.raises(ValueError):
        SearchSettings(aggregate="mean")
