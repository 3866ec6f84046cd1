"""Import cases the public sets contain that the shared samples miss: a PRM800K phase-2
record whose first step is the error, PRMBench's multi_solutions rows and repeated idx
across category files, and ground-truth answers written in GSM8K/MATH conventions."""

import json

import pytest

from annotate.grading import extract_final_answer
from annotate.models import Assignment, GoldLabel, Problem, Project, Solution, StepNode, StepRating
from annotate.services.exports.prm800k import prm800k_records
from annotate.services.imports import (
    import_math_shepherd,
    import_prm800k,
    import_prmbench,
    import_problems,
    import_solutions,
)
from annotate.services.imports.common import solution_path

pytestmark = [pytest.mark.portable, pytest.mark.django_db]


@pytest.fixture
def project():
    return Project.objects.create(name="Cases", slug="cases")


def counts():
    return {m.__name__: m.objects.count() for m in (Problem, StepNode, Solution, Assignment,
                                                     StepRating, GoldLabel)}


def phase2_first_step_error(pre_generated: bool) -> dict:
    """PRM800K phase 2, found_error at step index 0: the pre-generated step rated -1, then
    the alternatives the labeler rated at that position."""
    question = {"problem": "How many positive divisors does 36 have?",
                "ground_truth_solution": "36 = 2^2 3^2, so it has (2+1)(2+1) = 9 divisors.\n\n"
                                         "# Answer\n\n9",
                "ground_truth_answer": "9"}
    if pre_generated:
        question.update({
            "problem": "How many positive divisors does 100 have?",
            "ground_truth_answer": "9",
            "pre_generated_steps": ["100 = 2 * 50, so it has 2 * 2 = 4 divisors.",
                                    "# Answer\n\n4"],
            "pre_generated_answer": "4", "pre_generated_verifier_score": 0.0123})
        first = "100 = 2 * 50, so it has 2 * 2 = 4 divisors."
    else:
        first = "36 = 6^2, so it has 2 divisors."
    return {
        "labeler": "340d89bc-f5b7-45e9-b272-909ba68ee363", "timestamp": "2022-07-17T16:56:51.212346",
        "generation": 8, "is_quality_control_question": False,
        "is_initial_screening_question": False, "question": question,
        "label": {"steps": [{"completions": [
            {"text": first, "rating": -1, "flagged": False},
            {"text": "Write 36 = 2^2 * 3^2 first.", "rating": 1, "flagged": None},
            {"text": "A divisor of 36 is any number that divides it.", "rating": 0, "flagged": None},
        ], "human_completion": None, "chosen_completion": None}],
            "total_time": 41093, "finish_reason": "found_error"},
    }


def test_phase2_record_whose_first_step_is_the_error_round_trips(project):
    records = [phase2_first_step_error(False), phase2_first_step_error(True)]
    lines = [json.dumps(r) for r in records]
    report = import_prm800k(project, lines, source_name="phase2.jsonl")
    assert (report.created, report.rejected) == (2, [])
    bare = Solution.objects.get(problem__statement__contains="36 have")
    # the labeled path is the one rated step; the others are its alternatives
    assert [n.text for n in solution_path(bare)] == ["36 = 6^2, so it has 2 divisors."]
    a = Assignment.objects.get(solution=bare)
    assert a.finish_reason == "found_error"
    assert sorted(a.ratings.values_list("rating", flat=True)) == [-1, 0, 1]
    out = list(prm800k_records(Assignment.objects.all()))
    for row in out:
        row.pop("stepwise")
    key = lambda r: r["question"]["problem"]  # noqa: E731
    assert sorted(out, key=key) == sorted(records, key=key)
    before = counts()
    again = import_prm800k(project, lines, source_name="phase2.jsonl")
    assert (again.created, again.duplicates, again.rejected) == (0, 2, [])
    assert counts() == before
    # What Stepwise exports imports again into another project, record for record.
    other = Project.objects.create(name="Other", slug="other")
    assert import_prm800k(other, [json.dumps(r) for r in out], source_name="x").created == 2
    back = list(prm800k_records(Assignment.objects.filter(project=other)))
    for row in back:
        row.pop("stepwise")
    assert sorted(back, key=key) == sorted(records, key=key)


def test_first_position_without_an_error_is_still_rejected_by_line(project):
    record = phase2_first_step_error(False)
    record["label"]["finish_reason"] = "give_up"
    report = import_prm800k(project, ["", json.dumps(record)], source_name="p.jsonl")
    assert report.rejected == [(2, "the record continues from no step (no chosen or human "
                                   "completion at the first position), so it has no solution path")]
    assert counts() == dict.fromkeys(counts(), 0)


def prmbench_row(classification, idx="prm_test_p2_87", errors=(3,), kind=None):
    original = ["Let the two numbers be $x$ and $y$, with $x+y=10$ and $x-y=2$.",
                "Adding the equations gives $2x=12$, so $x=6$.",
                "Then $y=10-6=4$.", "The answer is: 4"]
    modified = {
        "circular": original[:2] + ["Since $y=4$, we know $x-4=2$, so $y=4$.", "The answer is: 4"],
        "counterfactual": original[:2] + ["Then $y=10-6=5$.", "The answer is: 5"],
        "multi_solutions": ["Subtracting the equations gives $2y=8$.", "So $y=4$.",
                            "The answer is: 4"],
    }[kind or classification]
    row = {"original_question": "Two numbers add to 10 and differ by 2. What is the smaller?",
           "modified_question": "Two numbers add to 10 and differ by 2. What is the smaller?",
           "original_process": original, "modified_process": modified,
           "modified_steps": list(errors), "error_steps": list(errors),
           "reason": "planted" if errors else "another correct solution",
           "idx": idx, "question": "Two numbers add to 10 and differ by 2. What is the smaller?"}
    if classification:
        row["classification"] = classification
    return row


def test_prmbench_multi_solutions_is_an_all_correct_gold_item(project):
    row = prmbench_row("multi_solutions", errors=())
    report = import_prmbench(project, [json.dumps(row)], source_name="multi_solutions.jsonl")
    assert (report.created, report.rejected) == (1, [])
    modified = Solution.objects.get(external_id="multi_solutions:prm_test_p2_87:modified")
    assert modified.is_gold and modified.is_correct is True
    keys = list(GoldLabel.objects.filter(solution=modified).order_by("node__depth")
                .values_list("rating", flat=True))
    assert keys == [1, 1, 1]
    assert modified.metadata["prmbench"]["first_error"] is None


def test_prmbench_idx_repeats_across_category_files(project):
    files = {name: [json.dumps(prmbench_row(name, errors=() if name == "multi_solutions"
                                            else (3,)))]
             for name in ("circular", "counterfactual", "multi_solutions")}
    for name, lines in files.items():
        assert import_prmbench(project, lines, source_name=f"prm800k_test_p2_{name}.jsonl").created == 1
    for name in files:
        modified = Solution.objects.get(external_id=f"{name}:prm_test_p2_87:modified")
        assert modified.metadata["prmbench"]["category"] == name
    # the original process is one solution, shared by the three rows
    assert Solution.objects.filter(external_id__endswith=":original").count() == 1
    counterfactual = Solution.objects.get(external_id="counterfactual:prm_test_p2_87:modified")
    assert counterfactual.is_correct is False  # graded against the original's answer
    before = counts()
    for name, lines in files.items():
        again = import_prmbench(project, lines, source_name=f"prm800k_test_p2_{name}.jsonl")
        assert (again.created, again.duplicates, again.rejected) == (0, 1, [])
    assert counts() == before
    # without a classification the file name tells rows apart
    bare = prmbench_row(None, idx="prm_test_p2_90", kind="circular")
    bare["modified_process"][-1] = "So the smaller number is 4."
    import_prmbench(project, [json.dumps(bare)], source_name="p2_circular.jsonl")
    assert Solution.objects.filter(external_id="p2_circular:prm_test_p2_90:modified").exists()


GSM8K = ("Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 "
         "clips altogether in April and May.\n#### 72")


def test_extract_final_answer_reads_gsm8k_hashes():
    assert extract_final_answer(GSM8K) == "72"
    assert extract_final_answer("So 1,000 in all.\n#### 1,000") == "1,000"
    assert extract_final_answer("The answer is: -1") == "-1"
    assert extract_final_answer("#### ") is None


def test_ground_truth_answers_are_reduced_and_the_raw_text_kept(project):
    rows = [
        {"question": "Natalia sold clips to 48 of her friends in April, and then half as many "
                     "in May. How many clips did she sell altogether?", "answer": GSM8K},
        {"question": "Solve x + 1 = 0.", "answer": "The answer is: -1"},
        {"question": "What is 2+3?", "answer": "\\boxed{5}"},
        {"question": "What is 3*6?", "answer": "3*6 = 18.\n\n# Answer\n\n18"},
        {"question": "What is 1/2 of 1?", "answer": "\\frac{1}{2}"},
    ]
    report = import_problems(project, [json.dumps(r) for r in rows], source_name="gsm8k.jsonl")
    assert (report.created, report.rejected) == (5, [])
    got = {p.statement[:12]: p for p in Problem.objects.all()}
    assert {k: p.ground_truth_answer for k, p in got.items()} == {
        "Natalia sold": "72", "Solve x + 1 ": "-1", "What is 2+3?": "5", "What is 3*6?": "18",
        "What is 1/2 ": "\\frac{1}{2}"}
    assert got["Natalia sold"].metadata["ground_truth_raw"] == GSM8K
    assert got["Natalia sold"].reference_solution == GSM8K  # a worked solution
    assert got["Solve x + 1 "].metadata["ground_truth_raw"] == "The answer is: -1"
    assert "ground_truth_raw" not in got["What is 1/2 "].metadata
    # solutions are graded against the reduced answer
    sols = import_solutions(project, [json.dumps({
        "question": "How many apples?", "answer": "2 + 3 = 5 apples.\n#### 5",
        "steps": ["2 + 3 = 5.", "The answer is 5"]})], source_name="s.jsonl")
    assert sols.created == 1
    solution = Solution.objects.get(problem__statement="How many apples?")
    assert solution.problem.ground_truth_answer == "5" and solution.is_correct is True
    shepherd = import_math_shepherd(project, [json.dumps({
        "question": "What is 10-11?", "ground_truth": "The answer is: -1",
        "outputs": [{"response": "10-11 = -1. ки The answer is: -1 ки", "label": True}]})],
        source_name="m.jsonl")
    assert shepherd.rejected == []
    assert Problem.objects.get(statement="What is 10-11?").ground_truth_answer == "-1"
