"""Problems (JSONL/CSV), solutions, Math-Shepherd and PRMBench imports on the shared data."""

import json

import pytest
from django.core.management import CommandError, call_command

from annotate.models import GoldLabel, PreAnnotation, Problem, Project, Solution, StepNode, StepRating
from annotate.services.imports import (
    import_math_shepherd,
    import_prmbench,
    import_problems,
    import_problems_csv,
    import_solutions,
)
from annotate.services.imports.common import solution_path

pytestmark = [pytest.mark.portable, pytest.mark.django_db]


@pytest.fixture
def project():
    return Project.objects.create(name="Imports", slug="imports")


def lines_of(path):
    return path.read_text(encoding="utf-8").splitlines()


def test_math500_problems_with_field_map(project, shared_data):
    path = shared_data / "math500" / "test.jsonl"
    report = import_problems(project, lines_of(path), source_name="test.jsonl",
                             field_map={"statement": "question", "answer": "answer"})
    assert (report.created, report.duplicates, report.rejected) == (500, 0, [])
    first = json.loads(lines_of(path)[0])
    problem = Problem.objects.get(project=project, statement=first["question"])
    assert problem.ground_truth_answer == r"\left( 3, \frac{\pi}{2} \right)"
    assert problem.reference_solution == first["answer"]
    assert Problem.objects.filter(project=project, ground_truth_answer="").count() == 0
    again = import_problems(project, lines_of(path), source_name="test.jsonl",
                            field_map={"statement": "question", "answer": "answer"})
    assert (again.created, again.duplicates) == (0, 500)


def test_problems_csv_with_mapped_columns_and_line_numbers(project):
    rows = [
        "q,ans,topic,lvl,uid",
        '"What is 2+2?",4,Algebra,Level 1,p1',
        '"A two-line',
        'question?",7,Geometry,2,p2',
        'Bad level?,1,Algebra,high,p3',
        '"",1,Algebra,1,p4',
    ]
    report = import_problems_csv(
        project, [row + "\n" for row in rows], source_name="p.csv",
        field_map={"statement": "q", "answer": "ans", "subject": "topic", "level": "lvl",
                   "external_id": "uid"})
    assert report.created == 2
    assert report.rejected == [(5, "'level' is 'high'; expected a number like 3 or 'Level 3'"),
                               (6, "'statement' is empty")]
    two_line = Problem.objects.get(external_id="p2")
    assert two_line.statement == "A two-line\nquestion?" and two_line.level == 2
    assert Problem.objects.get(external_id="p1").subject == "Algebra"


def test_solutions_as_list_and_as_text_split_by_delimiter_or_regex(project):
    records = [
        {"problem": "What is 1+2?", "answer": "3", "steps": ["1+2 is 3.", "# Answer\n\n3"]},
        {"problem": "What is 1+2?", "solution": "One plus two.\n\nThat is 3.\n\nThe answer is: 3"},
        {"problem": "What is 1+2?", "steps": "not a list"},
        {"problem": "What is 1+2?"},
    ]
    report = import_solutions(project, [json.dumps(r) for r in records], source_name="s.jsonl")
    assert report.created == 2
    assert report.rejected == [(3, "'steps' must be a list, got str"),
                               (4, "missing the steps: give 'steps' (a list) or 'solution' "
                                   "(text to split)")]
    texts = sorted([n.text for n in solution_path(s)] for s in Solution.objects.all())
    assert texts == [["1+2 is 3.", "# Answer\n\n3"],
                     ["One plus two.", "That is 3.", "The answer is: 3"]]
    assert set(Solution.objects.values_list("is_correct", flat=True)) == {True}
    regex = import_solutions(project, [json.dumps({"problem": "P?", "response": "a. Step 2: b"})],
                             source_name="r.jsonl", delimiter=r"\s*Step \d+:\s*", regex=True)
    assert regex.created == 1
    assert [n.text for n in solution_path(Solution.objects.get(problem__statement="P?"))] == ["a.", "b"]


def test_math_shepherd_solutions_and_machine_labels(project, shared_data):
    path = shared_data / "sampled" / "qwen2.5-7b_math_n15_mc_labels.jsonl"
    report = import_math_shepherd(project, lines_of(path), source_name=path.name)
    assert (report.created, report.rejected) == (10, [])
    assert Problem.objects.filter(project=project).count() == 10
    first = json.loads(lines_of(path)[0])
    output = first["outputs"][0]
    steps = [s.strip() for s in output["response"].split("ки") if s.strip()]
    last = StepNode.objects.get(problem__statement=first["question"], text=steps[-1],
                                depth=len(steps) - 1)
    solution = Solution.objects.get(last_step=last)
    assert solution.final_answer == output["response_answer"] and solution.is_correct is False
    path_nodes = solution_path(solution)
    soft = PreAnnotation.objects.filter(node__in=path_nodes, kind="mc_soft", source=path.name)
    assert soft.count() == len(steps)
    assert solution.problem.ground_truth_answer == first["ground_truth"]
    # Machine labels are never human ratings.
    assert StepRating.objects.count() == 0
    assert set(PreAnnotation.objects.values_list("kind", flat=True)) == {"mc_hard", "mc_soft", "imported"}
    again = import_math_shepherd(project, lines_of(path), source_name=path.name)
    assert (again.created, again.duplicates) == (0, 10)


def test_math_shepherd_label_count_mismatch_is_rejected(project):
    record = {"question": "Q?", "outputs": [{"response": "a ки b ки", "step_s_label": [0.5]}]}
    report = import_math_shepherd(project, [json.dumps(record)], source_name="m.jsonl")
    assert report.rejected == [(1, "'outputs[0].step_s_label' has 1 labels for 2 steps")]
    assert Problem.objects.count() == 0


def test_prmbench_gold_items_with_first_error_keys(project, shared_data):
    path = shared_data / "prmbench" / "prm800k_test_p2_circular.jsonl"
    lines = lines_of(path)
    records = [json.loads(line) for line in lines]
    # Rows whose error_steps point past the modified process are rejected by line.
    beyond = [i + 1 for i, r in enumerate(records)
              if max(r["error_steps"]) > len(r["modified_process"])]
    # The first 20 rows and the bad ones, blanking the rest keeps the file's line numbers.
    kept = [line if i < 20 or i + 1 in beyond else "" for i, line in enumerate(lines)]
    report = import_prmbench(project, kept, source_name=path.name)
    assert beyond and [line for line, _ in report.rejected] == beyond
    assert "beyond the" in report.rejected[0][1]
    assert report.created == 20
    record = records[0]
    modified = Solution.objects.get(external_id=f"circular:{record['idx']}:modified")
    original = Solution.objects.get(external_id=f"circular:{record['idx']}:original")
    assert modified.is_gold and original.is_gold
    keys = dict(GoldLabel.objects.filter(solution=modified).values_list("node__depth", "rating"))
    first = min(record["error_steps"])
    expected = {i - 1: 1 for i in range(1, first)} | {i - 1: -1 for i in record["error_steps"]}
    assert keys == expected
    assert set(GoldLabel.objects.filter(solution=original).values_list("rating", flat=True)) == {1}
    assert GoldLabel.objects.filter(solution=original).count() == len(record["original_process"])
    assert [n.text for n in solution_path(modified)] == record["modified_process"]


@pytest.mark.parametrize("relative,fmt,options", [
    ("prm800k/phase1_sample.jsonl", "prm800k", []),
    ("prm800k/phase2_sample.jsonl", "prm800k", []),
    ("math500/test.jsonl", "problems", ["--field", "statement=question", "--field", "answer=answer"]),
    ("sampled/qwen2.5-7b_math_n15_mc_labels.jsonl", "math_shepherd", []),
    ("sampled/llama3-8b_math_n15_mc_labels.jsonl", "math_shepherd", []),
    ("prmbench/prm800k_test_p2_circular.jsonl", "prmbench", []),
    ("prmbench/prm800k_test_p2_counterfactual.jsonl", "prmbench", []),
])
def test_every_shared_file_imports_through_the_command(shared_data, relative, fmt, options, capsys):
    path = shared_data / relative
    call_command("import_data", str(path), "--project", "cmd", "--create-project", "--format", fmt,
                 *options)
    out, err = capsys.readouterr()
    rows = sum(1 for line in lines_of(path) if line.strip())
    created = int(out.split(f"({fmt}): ")[1].split(" rows created")[0])
    rejected = err.count(f"{path.name} line ")
    assert created > 0 and created + rejected == rows
    assert Problem.objects.filter(project__slug="cmd").exists()


def test_command_errors(project, tmp_path):
    with pytest.raises(CommandError, match="No project 'nope'"):
        call_command("import_data", "x.jsonl", project="nope", fmt="prm800k")
    with pytest.raises(CommandError, match="No such file"):
        call_command("import_data", str(tmp_path / "missing.jsonl"), project="imports", fmt="prm800k")
    with pytest.raises(CommandError, match="FIELD=COLUMN"):
        call_command("import_data", "x.jsonl", "--field", "oops", project="imports", fmt="problems")
    with pytest.raises(ValueError, match="Unknown field"):
        import_problems(project, [], source_name="x", field_map={"colour": "c"})


def test_file_with_bom_bad_bytes_and_csv_through_import_file(project, tmp_path):
    from annotate.services.imports import import_file

    path = tmp_path / "problems.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"problem": "First?", "answer": "1"}\n'
                     b'{"problem": "Bad \xff byte?"}\n{"problem": "Third?", "answer": "3"}\n')
    report = import_file(project, path, "problems")
    assert report.created == 2
    assert report.rejected == [(2, "not UTF-8 (invalid start byte at byte 17)")]
    csv_path = tmp_path / "problems.csv"
    csv_path.write_text("question,answer\nFourth?,4\n", encoding="utf-8-sig")
    assert import_file(project, csv_path, "problems", {"field_map": {"statement": "question"}}).created == 1
    assert set(Problem.objects.values_list("ground_truth_answer", flat=True)) == {"1", "3", "4"}
