"""Inter-annotator agreement where overlap > 1.

Krippendorff's alpha (ordinal) comes from the ``krippendorff`` package, fed per-unit value
counts that the database aggregates; Cohen's kappa per annotator pair comes from scikit-learn,
fed the pair's confusion counts (a self-join GROUP BY), so neither loops over raw ratings.
A unit is a step as rated within one solution: (solution, node).
"""

from __future__ import annotations

import warnings
from collections import defaultdict

import numpy as np
from django.db import connection

from annotate.models import Assignment, Solution, StepNode, StepRating

from .sql import analytic_session

VALUES = (-1, 0, 1)


def _alpha(value_counts, level: str = "ordinal", domain=VALUES) -> float | None:
    """Alpha from a units x values count matrix; None where it is undefined."""
    import krippendorff

    matrix = np.asarray(value_counts, dtype=float).reshape(-1, len(domain))
    matrix = matrix[matrix.sum(axis=1) >= 2]  # units rated once carry no agreement
    if len(matrix) == 0 or np.count_nonzero(matrix.sum(axis=0)) < 2:
        return None
    try:
        value = krippendorff.alpha(value_counts=matrix, value_domain=list(domain),
                                   level_of_measurement=level)
    except (ValueError, ZeroDivisionError):
        return None
    return None if np.isnan(value) else float(value)


def undefined_reason(value_counts, domain=VALUES) -> str:
    """Why ``_alpha`` gave None for these counts, in words for the agreement pages."""
    matrix = np.asarray(value_counts, dtype=float).reshape(-1, len(domain))
    matrix = matrix[matrix.sum(axis=1) >= 2]
    if len(matrix) == 0:
        return "no step rated by two annotators"
    if np.count_nonzero(matrix.sum(axis=0)) < 2:
        return "all ratings the same (no variation)"
    return "could not be computed"


def _row(alpha: float | None, units, **fields) -> dict:
    """alpha, the unit count and why alpha is undefined ("" where it is defined): the same
    keys on every row, since the dashboard's CSV takes its columns from the first row."""
    return {**fields, "alpha": alpha, "units": len(units),
            "reason": "" if alpha is not None else undefined_reason(units)}


def _unit_rows(project) -> np.ndarray:
    """(depth, bad, okay, great) per unit rated at least twice, as a units x 4 array.

    The database groups twice: ratings into units, then units into their (few) distinct count
    vectors with a multiplicity, so only a few hundred rows leave PostgreSQL."""
    sr, asg, node = StepRating._meta.db_table, Assignment._meta.db_table, StepNode._meta.db_table
    sql = f"""
        WITH u AS (
            SELECT r.node_id,
                   SUM(CASE WHEN r.rating = -1 THEN 1 ELSE 0 END) AS bad,
                   SUM(CASE WHEN r.rating = 0 THEN 1 ELSE 0 END) AS okay,
                   SUM(CASE WHEN r.rating = 1 THEN 1 ELSE 0 END) AS great
            FROM {sr} r JOIN {asg} a ON a.id = r.assignment_id
            WHERE a.project_id = %s AND a.status = %s AND r.rating IS NOT NULL
            GROUP BY a.solution_id, r.node_id
            HAVING COUNT(*) >= 2
        )
        SELECT n.depth, u.bad, u.okay, u.great, COUNT(*)
        FROM u JOIN {node} n ON n.id = u.node_id
        GROUP BY n.depth, u.bad, u.okay, u.great
    """
    with analytic_session(), connection.cursor() as cursor:
        cursor.execute(sql, [project.pk, Assignment.Status.SUBMITTED])
        rows = cursor.fetchall()
    if not rows:
        return np.zeros((0, 4))
    table = np.asarray(rows, dtype=float)
    return np.repeat(table[:, :4], table[:, 4].astype(int), axis=0)


def project_alpha(project, rows=None) -> dict:
    rows = _unit_rows(project) if rows is None else rows
    return _row(_alpha(rows[:, 1:]), rows[:, 1:])


def alpha_by_position(project, rows=None) -> list[dict]:
    """Alpha per step position (node depth, 1-based in the output)."""
    rows = _unit_rows(project) if rows is None else rows
    out = []
    for depth in sorted(set(rows[:, 0].astype(int))):
        units = rows[rows[:, 0] == depth, 1:]
        out.append(_row(_alpha(units), units, position=depth + 1))
    return out


def alpha_table(project) -> list[dict]:
    """The whole project and each position, from one query."""
    rows = _unit_rows(project)
    return [{"position": "all", **project_alpha(project, rows)}] + alpha_by_position(project, rows)


def _pair_confusions(project) -> dict[tuple[int, int], dict[tuple[int, int], int]]:
    sr, asg = StepRating._meta.db_table, Assignment._meta.db_table
    sql = f"""
        SELECT a1.annotator_id, a2.annotator_id, r1.rating, r2.rating, COUNT(*)
        FROM {sr} r1
        JOIN {asg} a1 ON a1.id = r1.assignment_id
        JOIN {sr} r2 ON r2.node_id = r1.node_id AND r2.assignment_id <> r1.assignment_id
        JOIN {asg} a2 ON a2.id = r2.assignment_id AND a2.solution_id = a1.solution_id
                      AND a2.annotator_id > a1.annotator_id
        WHERE a1.project_id = %s AND a1.status = %s AND a2.status = %s
          AND r1.rating IS NOT NULL AND r2.rating IS NOT NULL
        GROUP BY a1.annotator_id, a2.annotator_id, r1.rating, r2.rating
    """
    done = Assignment.Status.SUBMITTED
    pairs: dict[tuple[int, int], dict[tuple[int, int], int]] = defaultdict(dict)
    with analytic_session(), connection.cursor() as cursor:
        cursor.execute(sql, [project.pk, done, done])
        for a, b, ra, rb, n in cursor.fetchall():
            pairs[(a, b)][(ra, rb)] = n
    return pairs


def _kappa(confusion: dict[tuple[int, int], int], weights=None) -> float | None:
    import sklearn
    from sklearn.metrics import cohen_kappa_score

    y1 = [a for a, _ in confusion]
    y2 = [b for _, b in confusion]
    weight = list(confusion.values())
    # Inputs are built here, so scikit-learn's per-call validation is skipped (most of its cost).
    with warnings.catch_warnings(), sklearn.config_context(skip_parameter_validation=True,
                                                           assume_finite=True):
        warnings.simplefilter("ignore")
        try:
            value = cohen_kappa_score(y1, y2, labels=list(VALUES), weights=weights,
                                      sample_weight=weight)
        except (ValueError, ZeroDivisionError):
            return None
    return None if np.isnan(value) else float(value)


#: scikit-learn costs a few ms per call, so only the pairs with most common steps get kappa.
MAX_PAIRS = 100


def pairwise_kappa(project, limit: int = MAX_PAIRS) -> list[dict]:
    """Cohen's kappa (unweighted; alpha covers the ordinal view) for the ``limit`` pairs with
    the most steps in common, most first."""
    from django.contrib.auth import get_user_model

    confusions = _pair_confusions(project)
    top = sorted(confusions.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))[:limit]
    pairs = dict(top)
    users = dict(
        get_user_model().objects.filter(
            pk__in={u for pair in pairs for u in pair}
        ).values_list("pk", "username")
    )
    out = []
    for (a, b), confusion in top:
        common = sum(confusion.values())
        agree = sum(n for (ra, rb), n in confusion.items() if ra == rb)
        out.append({
            "annotator_a": users.get(a, a), "annotator_b": users.get(b, b), "steps": common,
            "observed": agree / common, "kappa": _kappa(confusion),
        })
    return out


def first_error_agreement(project) -> dict:
    """Agreement on where the first Bad step is (no Bad step = one past the last step)."""
    sr, asg, node = StepRating._meta.db_table, Assignment._meta.db_table, StepNode._meta.db_table
    sol = Solution._meta.db_table
    # Per assignment its code, then per (solution, code) how many annotators chose it.
    sql = f"""
        SELECT f.solution_id, f.code, COUNT(*) FROM (
            SELECT a.solution_id, COALESCE(MIN(n.depth), MAX(ls.depth) + 1) AS code
            FROM {asg} a
            JOIN {sol} s ON s.id = a.solution_id
            JOIN {node} ls ON ls.id = s.last_step_id
            LEFT JOIN {sr} r ON r.assignment_id = a.id AND r.rating = -1
            LEFT JOIN {node} n ON n.id = r.node_id
            WHERE a.project_id = %s AND a.status = %s
            GROUP BY a.id, a.solution_id
        ) f
        GROUP BY f.solution_id, f.code
    """
    with analytic_session(), connection.cursor() as cursor:
        cursor.execute(sql, [project.pk, Assignment.Status.SUBMITTED])
        rows = cursor.fetchall()
    by_solution: dict[int, dict[int, int]] = defaultdict(dict)
    for solution_id, code, n in rows:
        by_solution[solution_id][code] = n
    units = [codes for codes in by_solution.values() if sum(codes.values()) >= 2]
    if not units:
        return {"alpha": None, "units": 0, "exact": None}
    domain = sorted({c for codes in units for c in codes})
    index = {c: i for i, c in enumerate(domain)}
    matrix = np.zeros((len(units), len(domain)))
    agree = pairs = 0
    for row, codes in enumerate(units):
        for c, n in codes.items():
            matrix[row, index[c]] = n
            agree += n * (n - 1) // 2
        total = sum(codes.values())
        pairs += total * (total - 1) // 2
    return {"alpha": _alpha(matrix, domain=domain), "units": len(units), "exact": agree / pairs}


def agreement_summary(project) -> dict:
    rows = _unit_rows(project)
    return {
        "project": project_alpha(project, rows),
        "positions": alpha_by_position(project, rows),
        "pairs": pairwise_kappa(project),
        "first_error": first_error_agreement(project),
    }
