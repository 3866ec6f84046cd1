"""Every shared PRM800K record, relabeled through the labeling services as its labeler did,
exports back to the same ratings, choices, human steps and finish reason (the browser
tests walk one record of each phase by keyboard; this covers them all, fast)."""

import json

import pytest

from annotate.models import Membership, Project
from annotate.selectors.labeling import task_state
from annotate.services import labeling
from annotate.services.queue import next_task

pytestmark = [pytest.mark.django_db, pytest.mark.portable]


def _records(shared_data, name):
    return [json.loads(line) for line in (shared_data / "prm800k" / name).read_text().splitlines()]


def _unique(record):
    """The record as Stepwise shows it: a candidate text repeated among siblings (two PRM800K
    phase-2 records have one) is one node in the tree, so it is shown and rated once."""
    steps = []
    for step in record["label"]["steps"]:
        seen, completions = set(), []
        for c in step["completions"]:
            if c["text"] not in seen:
                seen.add(c["text"])
                completions.append(c)
        steps.append({**step, "completions": completions})
    return {**record, "label": {**record["label"], "steps": steps}}


def _summary(steps):
    return [([c["rating"] for c in s["completions"]], s["chosen_completion"],
             (s["human_completion"] or {}).get("text")) for s in steps]


def _relabel(project, record, user, original=None):
    from annotate.services.exports.prm800k import prm800k_record
    from annotate.services.imports import import_prm800k

    report = import_prm800k(project, [json.dumps(original or record)], source_name="roundtrip")
    assert not report.rejected, report.rejected
    task = next_task(project, user)

    def state():
        task.refresh_from_db()  # the services save the presentation; read what they wrote
        return task_state(task)

    for i, step in enumerate(record["label"]["steps"]):
        for j, completion in enumerate(step["completions"]):
            # Re-read after each rating: in first-error mode a Bad reveals the alternatives.
            item = state().positions[i].items[j]
            assert item.node.text == completion["text"]
            if completion["rating"] is not None:
                labeling.rate_step(task.pk, user, node_id=item.node.pk, rating=completion["rating"])
        assert len(state().positions[i].items) == len(step["completions"])
        if project.mode == "branch" and step["chosen_completion"] is not None:
            labeling.choose_candidate(task.pk, user, position=i, index=step["chosen_completion"])
        elif step["human_completion"] is not None:
            labeling.write_step(task.pk, user, position=i, text=step["human_completion"]["text"])
    kwargs = {"note": "bad"} if record["label"]["finish_reason"] == "bad_problem" else {}
    done = labeling.finish(task.pk, user, reason=record["label"]["finish_reason"], **kwargs)
    return prm800k_record(done)


@pytest.mark.parametrize("index", range(9))
def test_phase2_records_round_trip(shared_data, make_user, index):
    record = _unique(_records(shared_data, "phase2_sample.jsonl")[index])
    project = Project.objects.create(name="p2", slug="p2", overlap=2, candidates_per_position=64)
    user = make_user("relabeler")
    Membership.objects.create(project=project, user=user)
    exported = _relabel(project, record, user,
                        original=_records(shared_data, "phase2_sample.jsonl")[index])
    assert _summary(exported["label"]["steps"]) == _summary(record["label"]["steps"])
    assert exported["label"]["finish_reason"] == record["label"]["finish_reason"]
    assert exported["question"]["pre_generated_steps"] == record["question"]["pre_generated_steps"]


@pytest.mark.parametrize("index", range(3))
def test_phase1_records_round_trip_in_branch_mode(shared_data, make_user, index):
    record = _records(shared_data, "phase1_sample.jsonl")[index]
    project = Project.objects.create(name="p1", slug="p1", mode="branch", overlap=2,
                                     candidates_per_position=64)
    user = make_user("relabeler")
    Membership.objects.create(project=project, user=user)
    exported = _relabel(project, record, user)
    assert _summary(exported["label"]["steps"]) == _summary(record["label"]["steps"])
    assert exported["label"]["finish_reason"] == record["label"]["finish_reason"]
