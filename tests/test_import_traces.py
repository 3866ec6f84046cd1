"""Long-trace import (``trace``): a <think> block then the answer, a reasoning field, a bare
text; segmentation options; field maps; Parquet; the command and the browser form; malformed
records and options refused with their reasons."""

import json

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from annotate.models import Membership, Project, Solution
from annotate.services.imports import check_options, import_file, import_traces
from annotate.services.imports.common import solution_path

pytestmark = [pytest.mark.portable, pytest.mark.django_db]

THINK = ("<think>\nLet me compute 2+3*4.\n\nFirst 3*4 = 12. Wait, order of operations: "
         "$3*4$ first. Yes.\n\nSo 2+12 = 14.\n</think>\n\nThe answer is \\boxed{14}.")


@pytest.fixture
def project():
    return Project.objects.create(name="Traces", slug="traces")


def only_solution(project):
    solution = Solution.objects.get(project=project)
    return solution, solution.trace, [n.text for n in solution_path(solution)]


def test_a_think_block_is_cut_and_the_answer_is_the_last_step(project):
    report = import_traces(project, [json.dumps({"question": "2+3*4?", "text": THINK,
                                                 "ground_truth": "14", "id": "t1"})],
                           source_name="t.jsonl")
    assert (report.created, report.rejected) == (1, [])
    solution, trace, steps = only_solution(project)
    assert trace.text == THINK
    assert steps == ["Let me compute 2+3*4.",
                     "First 3*4 = 12. Wait, order of operations: $3*4$ first. Yes.",
                     "So 2+12 = 14.", "The answer is \\boxed{14}."]
    assert [THINK[s:e] for s, e in trace.spans] == steps
    assert trace.segmentation == {"strategy": "blank_line", "mode": "think", "field": "text"}
    assert solution.final_answer == "14" and solution.is_correct is True
    assert solution.external_id == "t1"
    assert trace.metadata["fields"] == {"question": "2+3*4?", "ground_truth": "14", "id": "t1"}


def test_markers_segmentation_and_a_reasoning_field_with_a_field_map(project):
    record = {"prompt": "2+3*4?", "reasoning_content": "First 3*4 = 12. Wait, $x. Wait$ is "
              "fine. Alternatively add first: 20. Let me check: 14.", "content": "14"}
    report = import_traces(project, [json.dumps(record)], source_name="r.jsonl",
                           field_map={"question": "prompt", "reasoning": "reasoning_content",
                                      "answer": "content"},
                           segmentation={"strategy": "markers"})
    assert report.rejected == []
    solution, trace, steps = only_solution(project)
    assert trace.text == record["reasoning_content"]
    assert steps == ["First 3*4 = 12.", "Wait, $x. Wait$ is fine.", "Alternatively add first: 20.",
                     "Let me check: 14."]
    assert solution.final_answer == "14"
    assert trace.segmentation["mode"] == "reasoning"


def test_parquet_source_with_the_budget_strategy(project, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    texts = [f"Problem {k}. " + " ".join(f"Step {i} adds {i}." for i in range(40)) for k in range(3)]
    pq.write_table(pa.table({"question": [f"Q{k}" for k in range(3)], "text": texts}),
                   tmp_path / "t.parquet")
    options = {"segmentation": {"strategy": "budget", "min_chars": 40, "max_chars": 120}}
    report = import_file(project, tmp_path / "t.parquet", "trace", options)
    assert (report.created, report.rejected) == (3, [])
    for solution in Solution.objects.filter(project=project):
        steps = [n.text for n in solution_path(solution)]
        assert all(len(s) <= 120 for s in steps) and len(steps) > 3
        assert solution.trace.text in texts


def test_malformed_records_are_refused_with_their_reasons(project):
    rows = [
        {"text": THINK},
        {"question": "q", "text": 5},
        {"question": "q"},
        {"question": "q", "text": "<think>  </think> 14"},
        {"question": "q", "text": "A. B. C.", "ground_truth": ["14"]},
        {"question": "q", "text": "\n\n  \n"},
    ]
    report = import_traces(project, [json.dumps(r) for r in rows], source_name="bad.jsonl")
    assert dict(report.rejected) == {
        1: "'question' must be a string, got null",
        2: "'text' must be a string, got int",
        3: "the record has neither 'text' nor 'reasoning'",
        4: "the <think> block of 'text' is empty",
        5: "'ground_truth' must be a string or a number",
        6: "'text' is empty",
    }
    capped = import_traces(project, [json.dumps({"question": "q", "text": "A. B. C."})],
                           source_name="cap.jsonl", segmentation={"strategy": "sentence",
                                                                  "max_steps": 2})
    assert capped.rejected == [(1, "segmentation (sentence): the text cuts into 3 steps; at most "
                                   "2 are allowed (max_steps)")]


def test_bad_options_are_refused_before_reading(project):
    for options, message in [
        ({"segmentation": "paragraphs"}, "unknown segmentation strategy 'paragraphs'"),
        ({"segmentation": {"strategy": "markers", "markers": "Wait"}}, "'markers' must be"),
        ({"segmentation": {"strategy": "sentence", "max_step_chars": -1}}, "'max_step_chars' must"),
        ({"segmentation": {"strategy": "llm"}}, "re-segment the traces with a model"),
        ({"segmentation": 3}, "'segmentation' must be a strategy name"),
        ({"delimiter": "\n"}, "takes no option(s) delimiter"),
    ]:
        with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
            check_options("trace", options)
    with pytest.raises(ValueError, match="Unknown field"):
        import_traces(project, [], source_name="x", field_map={"steps": "x"})


def test_command_line_import(project, tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps({"question": "2+3*4?", "text": THINK}) + "\n")
    call_command("import_data", str(path), "--project", "traces", "--format", "trace",
                 "--segmentation", '{"strategy": "sentence"}')
    _, trace, steps = only_solution(project)
    assert trace.segmentation["strategy"] == "sentence" and len(steps) == 6
    with pytest.raises(CommandError, match="--segmentation applies to the trace format"):
        call_command("import_data", str(path), "--project", "traces", "--format", "problems",
                     "--segmentation", "sentence")
    with pytest.raises(CommandError, match="unknown segmentation strategy"):
        call_command("import_data", str(path), "--project", "traces", "--format", "trace",
                     "--segmentation", "words")


def test_browser_form_refuses_bad_segmentation_with_a_400(project, client, make_user):
    from django.core.files.uploadedfile import SimpleUploadedFile

    admin = make_user("trace-admin")
    Membership.objects.create(project=project, user=admin, role=Membership.Role.ADMIN)
    client.force_login(admin)
    url = reverse("manage:import", args=[project.slug])

    def post(**data):
        upload = SimpleUploadedFile("t.jsonl", json.dumps({"question": "q", "text": THINK}).encode())
        return client.post(url, {"file": upload, **data})

    response = post(fmt="trace", segmentation="words")
    assert response.status_code == 400
    assert "unknown segmentation strategy &#x27;words&#x27;" in response.content.decode()
    response = post(fmt="trace", segmentation="{not json")
    assert response.status_code == 400 and "Not JSON" in response.content.decode()
    response = post(fmt="problems", segmentation="sentence")
    assert response.status_code == 400
    assert "Segmentation applies to long traces only." in response.content.decode()


def test_api_ingest_of_traces_and_deltabench(project, make_user, shared_data):
    from rest_framework.test import APIClient

    from api.services import issue_token

    admin, annotator = make_user("api-admin"), make_user("api-annotator")
    Membership.objects.create(project=project, user=admin, role=Membership.Role.ADMIN)
    Membership.objects.create(project=project, user=annotator, role=Membership.Role.ANNOTATOR)

    clients = {}

    def client(user, scope="write"):
        if (user.pk, scope) not in clients:
            _, key = issue_token(user=user, name=f"{user.username}-{scope}", scope=scope)
            clients[user.pk, scope] = APIClient()
            clients[user.pk, scope].credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        return clients[user.pk, scope]

    body = {"project": project.pk, "format": "trace", "options": {"segmentation": "sentence"},
            "items": [{"question": "2+3*4?", "text": THINK}, {"question": "q"}]}
    resp = client(admin).post("/api/traces/bulk/", body, format="json")
    assert resp.status_code == 201, resp.content
    out = resp.json()
    assert (out["created"], out["existing"], out["errors"]) == (1, 0, 1)
    assert out["results"][1]["errors"] == {
        "non_field_errors": ["the record has neither 'text' nor 'reasoning'"]}
    assert Solution.objects.get(project=project).trace.text == THINK
    again = client(admin).post("/api/traces/bulk/", body, format="json")
    assert again.status_code == 200 and again.json()["results"][0]["status"] == "existing"

    bad = client(admin).post("/api/traces/bulk/", {**body, "options": {"segmentation": "words"}},
                             format="json")
    assert bad.status_code == 400
    assert "unknown segmentation strategy 'words'" in bad.json()["options"][0]
    bad = client(admin).post("/api/traces/bulk/", {**body, "format": "prm800k"}, format="json")
    assert bad.status_code == 400 and "format" in bad.json()
    assert client(annotator).post("/api/traces/bulk/", body, format="json").status_code == 403
    assert client(admin, "read").post("/api/traces/bulk/", body, format="json").status_code == 403

    record = json.loads((shared_data / "deltabench" / "examples.jsonl").read_text().splitlines()[0])
    resp = client(admin).post("/api/traces/bulk/", {"project": project.pk, "format": "deltabench",
                                                    "items": [record]}, format="json")
    assert resp.status_code == 201 and resp.json()["created"] == 1



def test_resegmenting_a_think_trace_cuts_inside_the_block_and_carries_the_answers_label(project):
    from django.contrib.auth import get_user_model

    from annotate.models import Assignment, StepRating
    from annotate.services.resegment import resegment

    import_traces(project, [json.dumps({"question": "2+3*4?", "text": THINK})], source_name="t")
    solution = Solution.objects.get(project=project)
    rater = get_user_model().objects.create(username="think-rater")
    assignment = Assignment.objects.create(project=project, solution=solution, annotator=rater,
                                           status=Assignment.Status.SUBMITTED)
    path = solution_path(solution)
    StepRating.objects.create(assignment=assignment, node=path[-1], rating=1)  # the answer
    StepRating.objects.create(assignment=assignment, node=path[1], rating=-1)  # re-cut below
    report = resegment(solution, strategy="sentence")
    assert (report.ratings_carried, report.ratings_dropped) == (1, 1)
    solution, trace, steps = only_solution(project)
    assert steps == ["Let me compute 2+3*4.", "First 3*4 = 12.", "Wait, order of operations: "
                     "$3*4$ first.", "Yes.", "So 2+12 = 14.", "The answer is \\boxed{14}."]
    assert trace.segmentation["mode"] == "think" and trace.segmentation["strategy"] == "sentence"
    ratings = dict(StepRating.objects.filter(assignment=assignment).values_list("node_id", "rating"))
    assert ratings == {solution_path(solution)[-1].pk: 1}


def test_llm_segmentation_through_a_real_backend_refuses_an_answer_that_is_no_cut(project):
    """The demo model (in process, transformers) answers arithmetic, not a list of step
    openings: the re-cut is refused with the reason and the trace stays as it was."""
    from annotate.services.resegment import ResegmentError
    from demo.testing import build_test_model
    from generation.config import GeneratorSettings
    from generation.segmenting import resegment_with_model

    import_traces(project, [json.dumps({"question": "q", "text": "<think>A. B.</think> 3"})],
                  source_name="t")
    solution, trace, steps = only_solution(project)
    settings = GeneratorSettings.from_dict({"model": str(build_test_model()), "temperature": 0.0,
                                            "top_p": 1.0, "retries": 0, "timeout": 60})
    with pytest.raises(ResegmentError, match="LLM segmentation refused: the model's answer holds "
                                             "no JSON list of step openings"):
        resegment_with_model(solution, settings, max_new_tokens=16)
    _, after, after_steps = only_solution(project)
    assert (after.spans, after_steps) == (trace.spans, steps)
