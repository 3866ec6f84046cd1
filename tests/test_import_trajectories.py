"""Agent trajectories: AgentProcessBench (OpenAI chat) from the shared data, Anthropic
messages, the malformed rows each refused with its reason, and the AgentProcessBench
export's field-for-field round trip."""

import json

import pytest

from annotate.models import Assignment, Problem, Project, Solution, StepRating
from annotate.services.imports import import_trajectories
from annotate.services.imports.common import solution_path
from annotate.services.imports.trajectory import LABELER
from exports.models import ExportSnapshot
from exports.services import build_snapshot, snapshot_file
from exports.spec import normalize_spec
from exports.writers import iter_rows

pytestmark = [pytest.mark.portable, pytest.mark.django_db]

KEY = ("data_source", "query_index", "sample_index")


@pytest.fixture
def project():
    return Project.objects.create(name="Agents", slug="agents")


@pytest.fixture(scope="module")
def apb_lines(shared_data):
    return (shared_data / "agentprocessbench" / "hotpotqa.jsonl").read_text(encoding="utf-8").splitlines()


def test_every_agentprocessbench_trajectory_imports(project, apb_lines):
    report = import_trajectories(project, apb_lines, source_name="hotpotqa.jsonl")
    assert (report.created, report.duplicates, report.rejected) == (250, 0, [])
    records = [json.loads(line) for line in apb_lines]
    assert Solution.objects.filter(project=project).count() == 250
    assert Problem.objects.filter(project=project).count() == len({r["question"] for r in records})
    assignments = Assignment.objects.filter(project=project)
    assert assignments.count() == 250
    assert set(assignments.values_list("source", "status", "annotator__username")) == {
        ("import", "submitted", LABELER)}
    labels = sum(len(r["step_labels"]) for r in records)
    assert StepRating.objects.filter(assignment__project=project).count() == labels

    first = records[0]
    solution = Solution.objects.get(project=project, external_id="searchR1_hotpotqa:0:0")
    path = solution_path(solution)
    assistant = [i for i, m in enumerate(first["messages"]) if m["role"] == "assistant"]
    assert len(path) == len(assistant) == solution.trajectory["steps"].__len__()
    assert solution.trajectory["steps"] == assistant
    call = first["messages"][2]["tool_calls"][0]["function"]
    assert path[0].text == ("<tool_call>\n" + json.dumps(
        {"name": call["name"], "arguments": json.loads(call["arguments"])}, ensure_ascii=False)
        + "\n</tool_call>")
    assert path[-1].text == first["messages"][assistant[-1]]["content"]
    assert solution.problem.statement == first["question"]
    assert solution.problem.ground_truth_answer == "Marion, South Australia"
    assert solution.final_answer == first["answer_text"]
    ratings = dict(StepRating.objects.filter(assignment__solution=solution).values_list(
        "node_id", "rating"))
    assert ratings == {path[assistant.index(int(k))].pk: v for k, v in first["step_labels"].items()}

    again = import_trajectories(project, apb_lines, source_name="hotpotqa.jsonl")
    assert (again.created, again.duplicates, again.rejected) == (0, 250, [])


def test_agentprocessbench_round_trip_is_field_for_field(project, apb_lines, tmp_path, settings):
    """Import the file, build an export snapshot, read its JSONL: every record is its source
    line, field for field."""
    import_trajectories(project, apb_lines, source_name="hotpotqa.jsonl")
    settings.EXPORTS_DIR = tmp_path / "exports"
    spec = normalize_spec({"format": "agentprocessbench", "projects": [project.pk]})
    snap = ExportSnapshot.objects.create(name="apb", version=1, format=spec["format"], filters=spec)
    build_snapshot(snap.pk)
    snap.refresh_from_db()
    assert snap.status == "ready", snap.error
    assert snap.row_count == 250
    lines = snapshot_file(snap, None).read_text(encoding="utf-8").splitlines()
    source = sorted((json.loads(line) for line in apb_lines), key=lambda r: [r[k] for k in KEY])
    exported = sorted((json.loads(line) for line in lines), key=lambda r: [r[k] for k in KEY])
    assert len(exported) == len(source) == 250
    for mine, theirs in zip(exported, source):
        assert list(mine) == list(theirs)  # the same keys in the same order
        assert json.dumps(mine, sort_keys=True) == json.dumps(theirs, sort_keys=True)


def test_unlabeled_turns_stay_unrated_and_later_ratings_export(project, apb_lines):
    record = json.loads(apb_lines[0])
    del record["step_labels"]["8"]
    report = import_trajectories(project, [json.dumps(record)], source_name="one.jsonl")
    assert report.created == 1
    solution = Solution.objects.get(project=project)
    last = solution_path(solution)[-1]
    assert not StepRating.objects.filter(node=last).exists()
    spec = normalize_spec({"format": "agentprocessbench", "projects": [project.pk]})
    [(_s, row, _n)] = list(iter_rows(spec))
    assert row["step_labels"] == {"2": 1, "4": 1, "6": 1}
    StepRating.objects.filter(node=solution_path(solution)[0]).update(rating=-1)
    [(_s, row, _n)] = list(iter_rows(spec))
    assert row["step_labels"] == {"2": -1, "4": 1, "6": 1}
    assert row["final_label"] == -1


ANTHROPIC = {
    "id": "t-1",
    "system": "You are a careful agent.",
    "messages": [
        {"role": "user", "content": "What is the capital of Australia?"},
        {"role": "assistant", "content": [
            {"type": "text", "text": "I will search."},
            {"type": "tool_use", "id": "tu_1", "name": "search", "input": {"query": "capital of Australia"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "tu_1", "content": [{"type": "text", "text": "Canberra"}]}]},
        {"role": "assistant", "content": [{"type": "text", "text": "The capital is Canberra."}]},
    ],
    "ground_truth": "Canberra",
    "step_labels": {"1": 1, "3": 1},
    "final_label": 1,
}


def test_anthropic_messages_import_and_export_back(project):
    report = import_trajectories(project, [json.dumps(ANTHROPIC)], source_name="a.jsonl")
    assert (report.created, report.rejected) == (1, [])
    solution = Solution.objects.get(project=project)
    assert solution.external_id == "t-1"
    assert solution.trajectory["shape"] == "anthropic"
    path = solution_path(solution)
    assert [n.text for n in path] == [
        'I will search.\n\n<tool_call>\n{"name": "search", "arguments": {"query": "capital of '
        'Australia"}}\n</tool_call>', "The capital is Canberra."]
    assert solution.problem.statement == "What is the capital of Australia?"
    spec = normalize_spec({"format": "agentprocessbench", "projects": [project.pk]})
    [(_s, row, _n)] = list(iter_rows(spec))
    assert row == ANTHROPIC


def _bad(**change):
    record = json.loads(json.dumps(ANTHROPIC))
    record.update(change)
    return json.dumps(record)


OPENAI_MESSAGES = [
    {"role": "user", "content": "Q?"},
    {"role": "assistant", "content": None, "tool_calls": {"id": "c1"}},
]


@pytest.mark.parametrize("line, reason", [
    (_bad(messages=[{"role": "user", "content": "Q?"}]),
     "the trajectory has no assistant turn, so it has no step to rate"),
    (_bad(messages=OPENAI_MESSAGES, step_labels={}),
     "'messages[1].tool_calls' must be a list, got dict"),
    (_bad(step_labels={"2": 1}),
     "'step_labels' key '2' is messages[2], a user message; labels rate assistant turns"),
    (_bad(step_labels={"9": 1}),
     "'step_labels' key '9' names no message (the trajectory has 4 messages, 0-3)"),
    (_bad(step_labels={"1": 2}), "'step_labels[1]' is 2; expected -1, 0 or 1"),
    (_bad(step_labels=[1, 1]), "'step_labels' must be an object {assistant message index: -1, 0 or 1}"),
    (_bad(final_label="yes"), "'final_label' is 'yes'; expected -1, 0, 1 or null"),
    (_bad(messages=[{"role": "user", "content": "Q?"}, {"role": "assistant", "content": ""}]),
     "'messages[1]' is an assistant turn with no text and no tool calls"),
    (_bad(messages=[{"role": "user", "content": "Q?"},
                    {"role": "assistant", "content": [{"type": "image", "source": {}}]}]),
     "'messages[1].content[0]' is 'image'; only text parts ({\"type\": \"text\", \"text\": ...}) "
     "are read"),
    (_bad(messages=[{"role": "user", "content": [{"type": "tool_use", "name": "x", "input": {}}]},
                    {"role": "assistant", "content": "A"}]),
     "'messages[0].content[0]' is 'tool_use'; user messages hold text and tool_result blocks"),
    (_bad(messages=[{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "x"}]},
                    {"role": "assistant", "content": "A", "tool_calls": []}]),
     "the messages mix OpenAI tool calls (messages[1]) and Anthropic tool blocks (messages[0])"),
    (_bad(messages="hi"), "'messages' must be a list, got str"),
    (json.dumps({"question": "Q"}), "missing field 'messages'"),
])
def test_malformed_trajectories_are_refused_with_their_reason(project, line, reason):
    report = import_trajectories(project, [line], source_name="bad.jsonl")
    assert report.rejected == [(1, reason)]
    assert not Solution.objects.filter(project=project).exists()


def test_field_map_reads_renamed_keys_and_the_export_gives_them_back(project):
    record = {"uid": 7, "prompt": "What is the capital of Australia?",
              "conversation": ANTHROPIC["messages"], "labels": {"1": -1}, "answer": "Canberra"}
    report = import_trajectories(project, [json.dumps(record)], source_name="m.jsonl", field_map={
        "messages": "conversation", "question": "prompt", "step_labels": "labels",
        "ground_truth": "answer", "id": "uid"})
    assert (report.created, report.rejected) == (1, [])
    solution = Solution.objects.get(project=project)
    assert (solution.external_id, solution.problem.ground_truth_answer) == ("7", "Canberra")
    spec = normalize_spec({"format": "agentprocessbench", "projects": [project.pk]})
    [(_s, row, _n)] = list(iter_rows(spec))
    assert row == record and list(row) == list(record)


def test_unknown_field_map_names_are_refused(project):
    with pytest.raises(ValueError, match="Unknown field.s. steps; mappable fields are messages"):
        import_trajectories(project, [], source_name="m.jsonl", field_map={"steps": "x"})


def test_the_command_imports_a_file_of_trajectories(shared_data, capsys):
    from django.core.management import call_command

    path = shared_data / "agentprocessbench" / "hotpotqa.jsonl"
    call_command("import_data", str(path), "--project", "cmd-agents", "--create-project",
                 "--format", "agent_trajectory")
    assert "250 rows created, 0 duplicates, 0 rejected" in capsys.readouterr().out
    assert Solution.objects.filter(project__slug="cmd-agents").count() == 250


def test_a_solution_that_is_no_trajectory_is_refused_with_the_reason(make_user):
    from tests.exports_data import build

    lab = build(make_user)
    spec = normalize_spec({"format": "agentprocessbench", "projects": [lab["project"].pk]})
    refused = []
    assert list(iter_rows(spec, refused)) == []
    assert refused and all(reason.endswith("is no imported agent trajectory (it has no "
                                           "messages to give back)") for _s, _id, reason in refused)


def test_the_labeling_page_shows_an_anthropic_trajectorys_context(client, make_user):
    from annotate.models import Membership
    from annotate.services.queue import next_task

    project = Project.objects.create(name="Claude", slug="claude", overlap=2)
    import_trajectories(project, [json.dumps(ANTHROPIC)], source_name="a.jsonl")
    user = make_user("ann")
    Membership.objects.create(project=project, user=user, role="annotator")
    task = next_task(project, user)
    client.force_login(user)
    page = client.get(f"/task/{task.pk}/").content.decode()
    assert "the record's system field" in page and "You are a careful agent." in page
    assert 'data-message="0"' in page and "What is the capital of Australia?" in page
    assert '<summary>Tool call · <code>search</code></summary>' in page
    assert '&quot;query&quot;: &quot;capital of Australia&quot;' in page  # indented, escaped
    first = solution_path(task.solution)[0]
    resp = client.post(f"/task/{task.pk}/rate/", {"node": first.pk, "rating": 1}, HTTP_HX_REQUEST="true")
    panel = resp.content.decode()
    assert resp.status_code == 200
    assert 'data-before="1"' in panel and '<summary>Tool result · <code>search</code></summary>' in panel
    assert "Canberra" in panel


def test_the_format_and_its_options_are_checked_before_a_run_is_queued():
    from annotate.services.imports import FORMATS, check_options

    assert "agent_trajectory" in FORMATS
    assert check_options("agent_trajectory", {"field_map": {"messages": "conversation"}}) == {
        "field_map": {"messages": "conversation"}}
    with pytest.raises(ValueError, match="Format 'agent_trajectory' takes no option.s. delimiter"):
        check_options("agent_trajectory", {"delimiter": "\n"})
