"""AgentProcessBench (hotpotqa): the trajectories, their human step labels and two LLM judges'
labels go in through the real import paths (``agent_trajectory``, then ``machine_labels`` with
``step_key="message_index"``); the label-sources report must give the figures computed here
independently, straight from the JSONL files: each judge's agreement with the humans (GPT-5.2
72.1% of the 734 steps, Qwen3-8B-Thinking 59.7%), kappa, pairwise kappa, and the agree rule over
the two judges (keeps 67.7% of the steps both label, at 77.3% agreement with the humans)."""

import json

import pytest
from sklearn.metrics import cohen_kappa_score

from annotate.services.imports import import_file
from quality.label_report import build_report

from .manage_factories import make_project

pytestmark = [pytest.mark.django_db]

JUDGES = {"gpt-5.2": "judge_gpt-5.2_hotpotqa.jsonl",
          "qwen3-8b-thinking": "judge_qwen3-8b-thinking_hotpotqa.jsonl"}
KEY = ("data_source", "query_index", "sample_index")


def _labels(path) -> dict[tuple, int | None]:
    """(record key, message index) -> label, straight from a file."""
    out = {}
    for line in path.read_text().splitlines():
        record = json.loads(line)
        for index, label in record["step_labels"].items():
            out[(tuple(record[k] for k in KEY), index)] = label
    return out


def _expected(human, judge) -> dict:
    pairs = [(judge.get(k), h) for k, h in human.items()]
    parsed = [(j, h) for j, h in pairs if j is not None]
    agree = sum(j == h for j, h in parsed)
    return {"reference_steps": len(human), "compared": len(parsed), "agree": agree,
            "agreement_on_reference": agree / len(human), "accuracy": agree / len(parsed),
            "kappa": cohen_kappa_score(*zip(*parsed), labels=[-1, 0, 1])}


def test_report_reproduces_agentprocessbench_figures(shared_data):
    base = shared_data / "agentprocessbench"
    project = make_project("apb-labels")
    traces = import_file(project, base / "hotpotqa.jsonl", "agent_trajectory")
    assert not traces.rejected and traces.created == 250
    for name, file in JUDGES.items():
        report = import_file(project, base / file, "machine_labels", {
            "source": name, "kind": "judge", "step_key": "message_index",
            "version": {"model": name, "prompt_version": "agentprocessbench-eval",
                        "sampling": {}}})
        assert not report.rejected and report.created == 250

    human = _labels(base / "hotpotqa.jsonl")
    judges = {name: _labels(base / file) for name, file in JUDGES.items()}
    gpt, qwen = (f"judge:{name}" for name in JUDGES)
    result = build_report(project, reference="human:consensus", consensus=[gpt, qwen])
    rows = {r["source"]: r for r in result["sources"]}

    assert len(human) == 734
    for name, labels in judges.items():
        row, want = rows[f"judge:{name}"], _expected(human, labels)
        for key in ("reference_steps", "compared", "agree", "agreement_on_reference", "accuracy"):
            assert row[key] == pytest.approx(want[key]), (name, key)
        assert row["kappa"] == pytest.approx(want["kappa"])
        assert row["labeled"] == len(labels) and row["unparsed"] == sum(
            v is None for v in labels.values())
    # The figures the issue quotes.
    assert round(rows[gpt]["agreement_on_reference"], 3) == 0.721
    assert round(rows[qwen]["agreement_on_reference"], 3) == 0.597
    # The imported human labels are a source of their own, equal to the consensus here.
    assert rows["human:agentprocessbench-human"]["accuracy"] == 1.0

    # Pairwise kappa between the two judges, on the steps both label.
    both = [(judges["gpt-5.2"][k], judges["qwen3-8b-thinking"][k]) for k in human
            if judges["gpt-5.2"].get(k) is not None and judges["qwen3-8b-thinking"].get(k) is not None]
    pair = next(p for p in result["pairs"] if {p["a"], p["b"]} == {gpt, qwen})
    assert pair["compared"] == len(both)
    assert pair["kappa"] == pytest.approx(cohen_kappa_score(*zip(*both), labels=[-1, 0, 1]))

    # The agree rule over the two judges.
    kept = [(g, human[k]) for k, (g, q) in zip(
        [k for k in human if judges["gpt-5.2"].get(k) is not None
         and judges["qwen3-8b-thinking"].get(k) is not None], both) if g == q]
    rule = result["consensus"]
    assert (rule["candidates"], rule["kept"]) == (len(both), len(kept))
    assert rule["kept_accuracy"] == pytest.approx(sum(g == h for g, h in kept) / len(kept))
    assert round(rule["kept_fraction"], 3) == 0.677 and round(rule["kept_accuracy"], 3) == 0.773
