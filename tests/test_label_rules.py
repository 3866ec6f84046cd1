"""Label rules (source, agree, prefer, vote): each rule's kept steps and labels on a small case
computed by hand, exports with each rule that load with ``datasets`` and record the rule, the
sources' versions and the kept fraction (equal to the label-sources report's), and the 400s."""

import json

import pytest

from annotate.models import GoldLabel, Membership
from annotate.services.imports import import_machine_labels
from exports.models import ExportSnapshot
from exports.services import build_snapshot, snapshot_file
from exports.spec import SpecError, normalize_spec
from quality.label_report import build_report
from quality.label_rules import RuleError, apply_rule, parse_rule

from .manage_factories import add, make_project, make_solution, path_of

pytestmark = [pytest.mark.django_db]

#: Judge labels per solution (position -> label; None: an unparsed answer).
JUDGES = {
    "a": [{0: 1, 1: 1, 2: -1, 3: None}, {0: 1, 1: 1, 2: 1, 3: 1}, {3: None}],
    "b": [{0: 1, 1: -1, 2: -1, 3: 1}, {0: 1, 1: 1, 2: None}, {0: 0, 1: 0, 2: 0}],
    "c": [{0: 1, 1: -1, 2: 0, 3: 1}, {}, {0: 0, 1: 1}],
}
A, B, C = "judge:a", "judge:b", "judge:c"


@pytest.fixture
def case():
    project = make_project("rules")
    sols = []
    for i in range(3):
        s = make_solution(project, n_steps=4, tag=f"r{i}")
        s.external_id = f"sol-{i}"
        s.save()
        sols.append(s)
    for name, table in JUDGES.items():
        rows = [json.dumps({"solution": f"sol-{i}", "step_labels": {str(k): v for k, v in row.items()}})
                for i, row in enumerate(table) if row]
        report = import_machine_labels(project, rows, source=name, kind="judge",
                                       version={"model": f"model-{name}"})
        assert not report.rejected
    n = path_of(sols[0])
    GoldLabel.objects.create(solution=sols[0], node=n[0], rating=1)
    GoldLabel.objects.create(solution=sols[0], node=n[3], rating=-1)
    return project, [s.pk for s in sols]


def test_each_rule_by_hand(case):
    _project, (s0, s1, s2) = case
    labels, tally = apply_rule({"rule": "agree", "sources": [A, B]}, [s0, s1, s2])
    agree = f"agree:{A}+{B}"
    assert labels == {s0: {0: (1, agree), 2: (-1, agree)}, s1: {0: (1, agree), 1: (1, agree)}}
    assert (tally.candidates, tally.kept, tally.fraction) == (5, 4, 0.8)

    labels, tally = apply_rule({"rule": "prefer", "sources": ["gold", A, B]}, [s0, s1, s2])
    assert labels == {s0: {0: (1, "gold"), 1: (1, A), 2: (-1, A), 3: (-1, "gold")},
                      s1: {p: (1, A) for p in range(4)},
                      s2: {0: (0, B), 1: (0, B), 2: (0, B)}}
    assert (tally.candidates, tally.kept) == (12, 11)
    assert tally.by_source == {"gold": 2, A: 6, B: 3}

    labels, tally = apply_rule({"rule": "vote", "sources": [A, B, C]}, [s0, s1, s2])
    assert labels == {s0: {0: (1, "vote"), 1: (-1, "vote"), 2: (-1, "vote"), 3: (1, "vote")},
                      s1: {p: (1, "vote") for p in range(4)}, s2: {0: (0, "vote"), 2: (0, "vote")}}
    assert (tally.candidates, tally.kept) == (12, 10)  # s2: a tie at 1, nothing parsed at 3
    labels, tally = apply_rule({"rule": "vote", "sources": [A, B, C], "min_votes": 2},
                               [s0, s1, s2])
    assert labels[s1] == {0: (1, "vote"), 1: (1, "vote")} and labels[s2] == {0: (0, "vote")}
    assert (tally.candidates, tally.kept) == (12, 7)

    labels, tally = apply_rule({"rule": "source", "source": A}, [s0, s1, s2])
    assert labels == {s0: {0: (1, A), 1: (1, A), 2: (-1, A)}, s1: {p: (1, A) for p in range(4)}}
    assert (tally.candidates, tally.kept) == (9, 7)  # two unparsed answers


@pytest.mark.parametrize("raw, message", [
    ("agree", "is an object"),
    ({"rule": "majority", "sources": [A, B]}, "Unknown label rule 'majority'"),
    ({"rule": "agree", "sources": [A]}, "at least 2 sources; it has 1"),
    ({"rule": "vote", "sources": [A]}, "at least 2 sources"),
    ({"rule": "prefer", "sources": []}, "at least 1 source; it has 0"),
    ({"rule": "agree", "sources": [A, "llm:x"]}, "Unknown label source: 'llm:x' names no"),
    ({"rule": "source", "source": "prm@0.5"}, "Unknown label source"),
    ({"rule": "source"}, "names its source"),
    ({"rule": "agree", "sources": A}, "lists its sources"),
    ({"rule": "agree", "sources": [A, A]}, "each source once"),
    ({"rule": "source", "source": "judge:\x00"}, "NUL byte"),
    ({"rule": "vote", "sources": [A, B], "min_votes": 3}, "min_votes"),
    ({"rule": "agree", "sources": [A, B], "min_votes": 1}, "Unknown field of a 'agree' rule"),
])
def test_bad_rules_are_named(raw, message):
    with pytest.raises(RuleError, match=message):
        parse_rule(raw)


def test_spec_takes_a_rule_only_where_rows_can_carry_it():
    rule = {"rule": "agree", "sources": [A, B]}
    spec = normalize_spec({"projects": [1], "labels": rule})
    assert spec["labels"] == rule and spec["gold_keys"] == "none"
    for fmt in ("prm800k", "rl_prompts", "agentprocessbench"):
        with pytest.raises(SpecError) as err:
            normalize_spec({"projects": [1], "format": fmt, "labels": rule})
        assert "cannot carry them" in err.value.errors["labels"]
    with pytest.raises(SpecError) as err:
        normalize_spec({"projects": [1], "labels": rule, "machine_labels": True,
                        "finish_reasons": ["solution"]})
    assert set(err.value.errors) == {"machine_labels", "finish_reasons"}
    with pytest.raises(SpecError) as err:
        normalize_spec({"projects": [1], "labels": {"rule": "agree", "sources": [A]}})
    assert "at least 2 sources" in err.value.errors["labels"]


def _snapshot(project, settings, tmp_path, fmt, rule):
    settings.EXPORTS_DIR = tmp_path / "exports"
    spec = normalize_spec({"projects": [project.pk], "format": fmt, "labels": rule})
    snap = ExportSnapshot.objects.create(name=f"rule-{fmt}-{rule['rule']}", version=1,
                                         format=fmt, filters=spec)
    build_snapshot(snap.pk)
    snap.refresh_from_db()
    assert snap.status == "ready", snap.error
    return snap


RULES = [{"rule": "source", "source": A}, {"rule": "agree", "sources": [A, B]},
         {"rule": "prefer", "sources": ["gold", A, B]},
         {"rule": "vote", "sources": [A, B, C], "min_votes": 1}]


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r["rule"])
def test_exports_with_each_rule_load_with_datasets(case, settings, tmp_path, rule):
    import datasets

    project, ids = case
    snap = _snapshot(project, settings, tmp_path, "trl", rule)
    _labels, tally = apply_rule(rule, ids)
    meta = snap.options["labels"]
    assert {k: meta[k] for k in ("candidates", "kept", "kept_fraction")} == {
        "candidates": tally.candidates, "kept": tally.kept, "kept_fraction": tally.fraction}
    assert meta["rule"] == rule["rule"] and meta["versions"][A] == {"model": "model-a"}
    from api.serializers import ExportSerializer

    assert ExportSerializer(snap).data["metadata"]["labels"] == meta
    ds = datasets.load_dataset("json", data_files=str(snapshot_file(snap, None)), split="train",
                               cache_dir=str(tmp_path / "hf"))
    assert len(ds) == snap.row_count > 0
    assert ds.features["labels"].feature.dtype == "bool"
    name = parse_rule(rule).name
    assert set(ds["label_source"]) == {name}
    for row in ds:
        assert len(row["label_sources"]) == len(row["labels"])
    if rule["rule"] == "agree":
        # The agree rule's kept fraction is the label-sources report's for the same sources.
        report = build_report(project, reference="gold", consensus=[A, B])["consensus"]
        assert meta["kept_fraction"] == report["kept_fraction"] == 0.8
        assert (meta["candidates"], meta["kept"]) == (report["candidates"], report["kept"])
        # A dropped step ends the TRL row's labeled prefix: s0 keeps step 1 only.
        assert sorted(len(r) for r in ds["labels"]) == [1, 2]
    if rule["rule"] == "prefer":
        first = next(r for r in ds if r["completions"][0] == "r0 step 1")
        assert first["labels"] == [True, True, False, False]
        assert first["label_sources"] == ["gold", A, A, "gold"]


@pytest.mark.parametrize("fmt", ["parquet", "openrlhf", "rlhflow"])
def test_other_formats_carry_a_rule(case, settings, tmp_path, fmt):
    import datasets

    project, _ids = case
    snap = _snapshot(project, settings, tmp_path, fmt, RULES[2])
    ds = datasets.load_dataset("parquet" if fmt == "parquet" else "json",
                               data_files=str(snapshot_file(snap, None)), split="train",
                               cache_dir=str(tmp_path / "hf"))
    assert len(ds) == snap.row_count == 3
    assert {s for row in ds["label_sources"] for s in row} == {"gold", A, B}
    assert snap.options["labels"]["kept"] == 11


def test_bad_rules_through_the_api(case, client, make_user):
    project, _ids = case
    reviewer = make_user("rule-reviewer")
    add(project, reviewer, Membership.Role.REVIEWER)
    client.force_login(reviewer)
    for rule, message in (
            ({"rule": "unanimous", "sources": [A, B]}, "Unknown label rule 'unanimous'"),
            ({"rule": "agree", "sources": [A]}, "at least 2 sources"),
            ({"rule": "vote", "sources": [A, "gpt"]}, "Unknown label source: 'gpt'"),
            ({"rule": "prefer", "sources": ["human:nobody", A]}, "no user 'nobody'")):
        resp = client.post("/api/exports/", {"spec": {"projects": [project.pk], "labels": rule}},
                           content_type="application/json")
        assert resp.status_code == 400, resp.content
        assert message in str(resp.json()["labels"])
    resp = client.post("/api/exports/", {"spec": {"projects": [project.pk], "format": "prm800k",
                                                  "labels": RULES[1]}},
                       content_type="application/json")
    assert resp.status_code == 400 and "cannot carry them" in str(resp.json()["labels"])


def test_agentprocessbench_agree_export(shared_data, settings, tmp_path):
    """The two AgentProcessBench judges through the real imports: an agree export keeps the
    report's 493 of 728 candidate steps (67.7%)."""
    import datasets

    from annotate.services.imports import import_file

    base = shared_data / "agentprocessbench"
    project = make_project("apb-rules")
    assert import_file(project, base / "hotpotqa.jsonl", "agent_trajectory").created == 250
    for name in ("gpt-5.2", "qwen3-8b-thinking"):
        report = import_file(project, base / f"judge_{name}_hotpotqa.jsonl", "machine_labels", {
            "source": name, "kind": "judge", "step_key": "message_index",
            "version": {"model": name}})
        assert not report.rejected
    rule = {"rule": "agree", "sources": ["judge:gpt-5.2", "judge:qwen3-8b-thinking"]}
    snap = _snapshot(project, settings, tmp_path, "trl", rule)
    meta = snap.options["labels"]
    report = build_report(project, reference="human:consensus", consensus=rule["sources"])
    assert (meta["candidates"], meta["kept"]) == (728, 493)
    assert meta["kept_fraction"] == report["consensus"]["kept_fraction"]
    assert round(meta["kept_fraction"], 3) == 0.677
    assert meta["versions"] == {"judge:gpt-5.2": {"model": "gpt-5.2"},
                                "judge:qwen3-8b-thinking": {"model": "qwen3-8b-thinking"}}
    ds = datasets.load_dataset("json", data_files=str(snapshot_file(snap, None)), split="train",
                               cache_dir=str(tmp_path / "hf"))
    assert len(ds) == snap.row_count > 0
    assert set(ds["label_source"]) == {"agree:judge:gpt-5.2+judge:qwen3-8b-thinking"}


@pytest.mark.django_db
def test_a_human_source_of_another_project_reads_as_one_that_does_not_exist(case, client,
                                                                             make_user):
    """A rule names annotators of its own projects only: another tenant's annotator, who
    labeled there, gets the message of a name nobody has."""
    from annotate.models import Assignment

    project, _ids = case
    other = make_project("rules-other")
    outsider = make_user("other-annotator")
    Assignment.objects.create(project=other, solution=make_solution(other, tag="o"),
                              annotator=outsider, status=Assignment.Status.SUBMITTED)
    reviewer = make_user("rule-reviewer-2")
    add(project, reviewer, Membership.Role.REVIEWER)
    client.force_login(reviewer)
    answers = []
    for name in ("other-annotator", "nobody-at-all"):
        resp = client.post("/api/exports/", {"spec": {"projects": [project.pk], "labels": {
            "rule": "prefer", "sources": [f"human:{name}", A]}}}, content_type="application/json")
        assert resp.status_code == 400, resp.content
        answers.append(str(resp.json()["labels"]).replace(name, "NAME"))
    assert answers[0] == answers[1] and "labels in this project" in answers[0]
