"""Evaluation of a PRM: step-level ranking and calibration, first-error finding,
and best-of-N selection against majority voting and pass@N."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

from .data import StepExample
from .scoring import AGGREGATES, aggregate


def expected_calibration_error(y_good: list[int], p_good: list[float], bins: int = 10) -> float:
    """Mean |accuracy - confidence| over equal-width probability bins, weighted by size."""
    buckets: dict[int, list[tuple[int, float]]] = defaultdict(list)
    for y, p in zip(y_good, p_good):
        buckets[min(bins - 1, int(p * bins))].append((y, p))
    n = len(y_good)
    return sum(
        len(b) / n * abs(sum(y for y, _ in b) / len(b) - sum(p for _, p in b) / len(b))
        for b in buckets.values()
    ) if n else 0.0


def step_metrics(labels: list[list[int | None]], scores: list[list[float | None]]) -> dict:
    """AUROC (good vs bad), AUPRC of the Bad class, ECE, over labeled scored steps."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    y, p = [], []
    for lab_row, score_row in zip(labels, scores):
        for lab, score in zip(lab_row, score_row):
            if lab is not None and score is not None:
                y.append(int(lab))
                p.append(float(score))
    out = {"steps": len(y), "bad_steps": y.count(0)}
    if len(set(y)) < 2:
        out.update(auroc=None, auprc_bad=None, ece=expected_calibration_error(y, p) if y else None)
        return out
    out["auroc"] = round(float(roc_auc_score(y, p)), 4)
    out["auprc_bad"] = round(float(average_precision_score([1 - v for v in y], [1 - v for v in p])), 4)
    out["bad_rate"] = round(y.count(0) / len(y), 4)  # the AUPRC of a random ranker
    out["ece"] = round(expected_calibration_error(y, p), 4)
    return out


def first_error(values: list, bad) -> int | None:
    for i, v in enumerate(values):
        if v is not None and bad(v):
            return i
    return None


def first_error_metrics(labels: list[list[int | None]], scores: list[list[float | None]],
                        threshold: float = 0.5) -> dict:
    """First-error accuracy and the ProcessBench F1.

    Only fully labeled solutions count (every step up to the end or the first error
    has a label). The predicted first error is the first step scored below
    ``threshold``; ProcessBench F1 is the harmonic mean of accuracy on erroneous and
    on all-correct solutions.
    """
    err_hits = err_n = ok_hits = ok_n = 0
    for lab_row, score_row in zip(labels, scores):
        truth = first_error(lab_row, lambda v: v == 0)
        known = lab_row if truth is None else lab_row[: truth + 1]
        if not known or any(v is None for v in known):
            continue
        pred = first_error(score_row[: len(lab_row)], lambda s: s < threshold)
        if truth is None:
            ok_n += 1
            ok_hits += pred is None
        else:
            err_n += 1
            err_hits += pred == truth
    acc_err = err_hits / err_n if err_n else None
    acc_ok = ok_hits / ok_n if ok_n else None
    f1 = None
    if acc_err is not None and acc_ok is not None:
        f1 = 0.0 if acc_err + acc_ok == 0 else 2 * acc_err * acc_ok / (acc_err + acc_ok)
    total = err_n + ok_n
    return {
        "solutions": total,
        "first_error_accuracy": round((err_hits + ok_hits) / total, 4) if total else None,
        "accuracy_erroneous": None if acc_err is None else round(acc_err, 4),
        "accuracy_correct": None if acc_ok is None else round(acc_ok, 4),
        "processbench_f1": None if f1 is None else round(f1, 4),
    }


def best_of_n(groups: dict[str, list[dict]]) -> dict:
    """Best-of-N per aggregation vs majority vote and pass@N.

    ``groups`` maps a problem to its sampled solutions, each
    ``{"scores": [...], "answer": str, "correct": bool}``; problems with fewer than
    two graded solutions are left out.
    """
    usable = {k: v for k, v in groups.items()
              if len([s for s in v if s["correct"] is not None]) >= 2}
    if not usable:
        return {"problems": 0}
    hits = Counter()
    n_values = []
    for sols in usable.values():
        sols = [s for s in sols if s["correct"] is not None]
        n_values.append(len(sols))
        for how in AGGREGATES:
            scored = [(aggregate(s["scores"], how), i) for i, s in enumerate(sols)]
            scored = [(v, i) for v, i in scored if v is not None]
            if scored:
                hits[how] += bool(sols[max(scored)[1]]["correct"])
        answers = Counter(s["answer"] for s in sols if s["answer"])
        if answers:
            top = answers.most_common(1)[0][0]
            hits["majority"] += any(s["correct"] for s in sols if s["answer"] == top)
        hits["pass_at_n"] += any(s["correct"] for s in sols)
    n = len(usable)
    out = {"problems": n, "n_per_problem": round(sum(n_values) / n, 2)}
    for key in (*AGGREGATES, "majority", "pass_at_n"):
        out[f"best_of_n_{key}" if key in AGGREGATES else key] = round(hits[key] / n, 4)
    return out


def evaluate_examples(scorer, examples: list[StepExample]) -> dict:
    """Step and first-error metrics on held-out examples; best-of-N on their solutions."""
    if not examples:
        return {}
    scores = scorer.score([(ex.prompt, ex.steps) for ex in examples])
    labels = [ex.labels for ex in examples]
    metrics = {"step": step_metrics(labels, scores), "first_error": first_error_metrics(labels, scores)}
    return metrics


def project_best_of_n(scorer, project, problem_groups: set[str] | None = None) -> dict:
    """Best-of-N over a project's graded solutions (held-out problems if given)."""
    from annotate.selectors.solutions import solutions_for_batch

    from .data import solution_paths

    solutions = list(solutions_for_batch(project=project, is_correct__isnull=False))
    if problem_groups is not None:
        solutions = [s for s in solutions if f"problem:{s.problem_id}" in problem_groups]
    per_problem = Counter(s.problem_id for s in solutions)
    solutions = [s for s in solutions if per_problem[s.problem_id] >= 2]
    if not solutions:
        return {"problems": 0}
    paths = solution_paths(solutions)
    scores = scorer.score([(s.problem.statement, [t for _, t in paths[s.pk]]) for s in solutions])
    groups: dict[str, list[dict]] = defaultdict(list)
    for s, sc in zip(solutions, scores):
        groups[str(s.problem_id)].append(
            {"scores": sc, "answer": s.final_answer.strip(), "correct": s.is_correct})
    return best_of_n(groups)


def sampled_best_of_n(scorer, path: str | Path, delimiter: str = "ки") -> dict:
    """Best-of-N on a BiRM-style sampled file (``outputs[].response`` split by ``ки``)."""
    groups: dict[str, list[dict]] = defaultdict(list)
    items, keys = [], []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        for out in row["outputs"]:
            steps = [s.strip() for s in out["response"].split(delimiter) if s.strip()]
            correct = out.get("label")
            items.append((row["question"], steps))
            keys.append((str(row["idx"]), str(out.get("response_answer", "")),
                         correct is True))
    scores = scorer.score(items)
    for (key, answer, correct), sc in zip(keys, scores):
        groups[key].append({"scores": sc, "answer": answer if answer != "[invalid]" else "",
                            "correct": correct})
    return best_of_n(groups)
