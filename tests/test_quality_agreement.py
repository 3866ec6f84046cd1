"""Agreement numbers against a hand-computed case.

Two annotators rate five steps (five single-step solutions):
    A: +1 +1  0 -1 +1
    B: +1  0  0 -1 +1
Cohen's kappa: p_o = 4/5, p_e = .6*.4 + .2*.4 + .2*.2 = .36, kappa = (.8-.36)/.64 = 0.6875.
Krippendorff's alpha, ordinal: coincidences o(1,1)=4, o(1,0)=o(0,1)=1, o(0,0)=2, o(-1,-1)=2;
n(1)=5, n(0)=3, n(-1)=2, n=10. Ordinal distances: d(0,1)=((3+5)/2)^2=16,
d(-1,0)=((2+3)/2)^2=6.25, d(-1,1)=(10-3.5)^2=42.25.
alpha = 1 - (n-1) * sum o*d / sum n_c n_k d = 1 - 9*32 / (2*(240+37.5+422.5)) = 1 - 288/1400.
"""

import pytest

from quality import agreement

from .manage_factories import make_project, make_solution, rate

pytestmark = [pytest.mark.django_db, pytest.mark.portable]

A = [1, 1, 0, -1, 1]
B = [1, 0, 0, -1, 1]


@pytest.fixture
def two_raters(make_user):
    project = make_project("agree", overlap=2)
    a, b = make_user("ann-a"), make_user("ann-b")
    for i, (ra, rb) in enumerate(zip(A, B)):
        solution = make_solution(project, n_steps=1, tag=f"s{i}")
        rate(solution, a, [ra])
        rate(solution, b, [rb])
    return project


def test_kappa_matches_hand_computation(two_raters):
    [pair] = agreement.pairwise_kappa(two_raters)
    assert (pair["annotator_a"], pair["annotator_b"]) == ("ann-a", "ann-b")
    assert pair["steps"] == 5
    assert pair["observed"] == pytest.approx(0.8)
    assert pair["kappa"] == pytest.approx(0.6875)


def test_ordinal_alpha_matches_hand_computation(two_raters):
    result = agreement.project_alpha(two_raters)
    assert result["units"] == 5
    assert result["alpha"] == pytest.approx(1 - 288 / 1400)


def test_alpha_by_position_and_unrated_steps(make_user):
    project = make_project("agree-pos", overlap=2)
    a, b, c = make_user("a"), make_user("b"), make_user("c")
    for i in range(3):
        s = make_solution(project, n_steps=2, tag=f"p{i}")
        rate(s, a, [1, -1])
        rate(s, b, [1, [1, 0, -1][i]])
        rate(s, c, [None, None])  # unrated is not a vote
    positions = agreement.alpha_by_position(project)
    assert [p["position"] for p in positions] == [1, 2]
    # Position 1: everyone says +1; no variation, so alpha is undefined rather than faked.
    assert positions[0]["units"] == 3 and positions[0]["alpha"] is None
    assert positions[1]["units"] == 3 and positions[1]["alpha"] < 0.5
    pairs = agreement.pairwise_kappa(project)
    assert [(p["annotator_a"], p["annotator_b"]) for p in pairs] == [("a", "b")]


def test_first_error_agreement(make_user):
    project = make_project("agree-fe", overlap=2)
    a, b = make_user("fa"), make_user("fb")
    same = make_solution(project, n_steps=3, tag="same")
    rate(same, a, [1, -1, None])
    rate(same, b, [0, -1, None])          # both: first error at step 2
    differ = make_solution(project, n_steps=3, tag="differ")
    rate(differ, a, [1, 1, 1])            # no error: index 3 (one past the end)
    rate(differ, b, [-1, None, None])     # error at step 1
    result = agreement.first_error_agreement(project)
    assert result["units"] == 2
    assert result["exact"] == pytest.approx(0.5)
    assert result["alpha"] is not None and result["alpha"] < 1
    # A project with no overlapping work has nothing to agree on.
    assert agreement.first_error_agreement(make_project("empty-fe"))["units"] == 0
