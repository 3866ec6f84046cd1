"""The ``critiques`` export (verification chains of thought for generative PRMs), the
agreement filter on a fixed case, critiques in PRM800K and ProcessBench rows, and the rows
loading with ``datasets`` and tokenized by TRL's ``SFTTrainer``."""

import json

import pytest

from annotate.models import Assignment, Critique, GoldLabel, PreAnnotation, StepRating
from exports.models import ExportSnapshot
from exports.services import build_snapshot, snapshot_file
from exports.spec import SpecError, normalize_spec
from exports.writers import iter_rows
from tests.labeling_factories import add_member, make_project, make_solution

pytestmark = [pytest.mark.django_db, pytest.mark.portable]

STEPS = ["Let $x = 6$.", "Then $7x = 41$.", "# Answer\n\n41"]


def _path(solution):
    node, ids = solution.last_step, []
    while node:
        ids.append(node.pk)
        node = node.parent
    return ids[::-1]


def _labeled(project, user, solution, ratings, critiques, reason):
    a = Assignment.objects.create(project=project, solution=solution, annotator=user,
                                  status="submitted", finish_reason=reason)
    path = _path(solution)
    for pos, rating in enumerate(ratings):
        StepRating.objects.create(assignment=a, node_id=path[pos], rating=rating)
    for pos, (text, origin) in critiques.items():
        Critique.objects.create(assignment=a, node_id=path[pos], author=user, text=text,
                                origin=origin,
                                machine_source="" if origin == "written" else "judge:j",
                                shown_text="" if origin == "written" else text)
    return a


@pytest.fixture
def case(make_user):
    """Three solutions labeled by one annotator, with critiques:

    A: +1, -1 (found_error), critiques on steps 0 and 1; gold +1, -1 (agrees)
    B: +1, +1, +1 (solution), a critique on step 0; gold +1, -1 (disagrees at step 1)
    C: -1 (found_error), a critique on step 0 (accepted machine reason); no gold
    Judge j labels every solution +1, -1 with reasons.
    """
    project = make_project("crx")
    user = add_member(project, make_user("ann"))
    a = make_solution(project, STEPS, statement="A: what is 6*7?")
    b = make_solution(project, STEPS, statement="B: what is 6*7?")
    c = make_solution(project, STEPS, statement="C: what is 6*7?")
    for s in (a, b, c):
        s.is_correct = False
        s.save()
    _labeled(project, user, a, [1, -1], {0: ("Setting $x = 6$ is fine.", "written"),
                                         1: ("$7 \\cdot 6 = 42$, not 41.", "written")},
             "found_error")
    _labeled(project, user, b, [1, 1, 1], {0: ("Fine.", "written")}, "solution")
    _labeled(project, user, c, [-1], {0: ("The judge: wrong start.", "accepted")}, "found_error")
    for s in (a, b):
        path = _path(s)
        GoldLabel.objects.create(solution=s, node_id=path[0], rating=1)
        GoldLabel.objects.create(solution=s, node_id=path[1], rating=-1)
    for s in (a, b, c):
        path = _path(s)
        PreAnnotation.objects.create(node_id=path[0], kind="judge", source="j", value=0.9,
                                     rating=1, reason="The first step is right.", scope=s.pk)
        PreAnnotation.objects.create(node_id=path[1], kind="judge", source="j", value=0.1,
                                     rating=-1, reason="41 is not 7 times 6.", scope=s.pk)
    return {"project": project, "a": a, "b": b, "c": c}


def rows(case, **spec):
    spec = normalize_spec({"projects": [case["project"].pk], "format": "critiques", **spec})
    refused = []
    out = [row for _split, row, _n in iter_rows(spec, refused)]
    return out, refused


def test_a_row_is_the_problem_steps_and_the_verification_chain(case):
    out, refused = rows(case)
    assert len(out) == 3 and not refused
    first = next(r for r in out if r["stepwise"]["solution_id"] == case["a"].pk)
    user, assistant = first["messages"]
    assert user["role"] == "user" and assistant["role"] == "assistant"
    assert user["content"].startswith("Problem:\nA: what is 6*7?\n\nSolution (steps numbered "
                                      "from 0):\nStep 0: Let $x = 6$.\n\nStep 1: Then $7x = 41$.")
    assert "Step 2: # Answer\n\n41" in user["content"] and "\\boxed{k}" in user["content"]
    assert assistant["content"] == (
        "Step 0: Setting $x = 6$ is fine.\nThe step is correct.\n\n"
        "Step 1: $7 \\cdot 6 = 42$, not 41.\nThe step is incorrect.\n\n"
        "The first wrong step is \\boxed{1}.")
    meta = first["stepwise"]
    assert (meta["first_error"], meta["verdicts"], meta["label_source"]) == (1, [True, False],
                                                                             "per_annotator")
    assert [(c["position"], c["origin"], c["source"]) for c in meta["critiques"]] == [
        (0, "written", "human:ann"), (1, "written", "human:ann")]
    solved = next(r for r in out if r["stepwise"]["solution_id"] == case["b"].pk)
    assert solved["messages"][1]["content"] == (
        "Step 0: Fine.\nThe step is correct.\n\nStep 1:\nThe step is correct.\n\n"
        "Step 2:\nThe step is correct.\n\nThe first wrong step is \\boxed{-1}.")


def test_agreement_with_gold_keeps_exactly_the_agreeing_rows(case):
    out, refused = rows(case, agree_with="gold")
    assert [r["stepwise"]["solution_id"] for r in out] == [case["a"].pk]
    why = {rid: reason for _split, rid, reason in refused}
    assert len(why) == 2
    assert "step 1's verdict disagrees with the reference (gold)" in why.values()
    assert "the reference has no labels for this solution (gold)" in why.values()


def test_machine_critiques_with_judge_verdicts_filtered_by_human_consensus(case):
    """ThinkPRM's filter: the judge's critiques kept where its verdicts match the humans'."""
    out, refused = rows(case, labels={"rule": "source", "source": "judge:j"},
                        critique_source="machine", critique_machine_source="judge:j",
                        agree_with="human:consensus")
    assert [r["stepwise"]["solution_id"] for r in out] == [case["a"].pk]
    assert out[0]["messages"][1]["content"] == (
        "Step 0: The first step is right.\nThe step is correct.\n\n"
        "Step 1: 41 is not 7 times 6.\nThe step is incorrect.\n\n"
        "The first wrong step is \\boxed{1}.")
    assert out[0]["stepwise"]["critiques"][0]["source"] == "judge:j"
    assert len(refused) == 2  # B: the humans say step 1 is right; C: they stop at step 0


def test_accepted_machine_critiques_only(case):
    out, refused = rows(case, critique_source="accepted_machine")
    assert [r["stepwise"]["solution_id"] for r in out] == [case["c"].pk]
    assert out[0]["messages"][1]["content"] == (
        "Step 0: The judge: wrong start.\nThe step is incorrect.\n\n"
        "The first wrong step is \\boxed{0}.")
    assert all("no accepted_machine critique" in why for _s, _r, why in refused)


@pytest.mark.parametrize("spec, field", [
    ({"format": "trl", "critique_source": "human"}, "critique_source"),
    ({"format": "critiques", "critique_source": "robot"}, "critique_source"),
    ({"format": "critiques", "critique_source": "machine"}, "critique_machine_source"),
    ({"format": "critiques", "critique_source": "machine",
      "critique_machine_source": "prm:x"}, "critique_machine_source"),
    ({"format": "critiques", "critique_machine_source": "judge:j"}, "critique_machine_source"),
    ({"format": "critiques", "agree_with": "judge:j"}, "agree_with"),
    ({"format": "processbench", "agree_with": "gold"}, "agree_with"),
])
def test_bad_options_name_the_field(spec, field):
    with pytest.raises(SpecError) as err:
        normalize_spec({"projects": [1], **spec})
    assert field in err.value.errors


def test_processbench_and_prm800k_rows_carry_critiques(case):
    spec = normalize_spec({"projects": [case["project"].pk], "format": "processbench"})
    by_solution = {}
    for _s, row, _n in iter_rows(spec):
        by_solution[row["id"]] = row
    labeled = {row["label"]: row for row in by_solution.values()}
    assert labeled[1]["critique"] == "$7 \\cdot 6 = 42$, not 41."
    assert labeled[0]["critique"] == "The judge: wrong start."
    assert "critique" not in labeled[-1]
    spec = normalize_spec({"projects": [case["project"].pk], "format": "prm800k"})
    records = {r["stepwise"]["solution_id"]: r for _s, r, _n in iter_rows(spec)}
    mine = records[case["a"].pk]["stepwise"]["critiques"]
    path = _path(case["a"])
    assert [(c["node_id"], c["text"], c["origin"]) for c in mine] == [
        (path[0], "Setting $x = 6$ is fine.", "written"),
        (path[1], "$7 \\cdot 6 = 42$, not 41.", "written")]


def test_export_loads_with_datasets_and_sft_trainer_tokenizes_every_row(case, tmp_path, settings):
    import datasets
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from demo.testing import build_test_model

    settings.EXPORTS_DIR = tmp_path / "exports"
    spec = normalize_spec({"projects": [case["project"].pk], "format": "critiques"})
    snap = ExportSnapshot.objects.create(name="t-critiques", version=1, format="critiques",
                                         filters=spec)
    build_snapshot(snap.pk)
    snap.refresh_from_db()
    assert snap.status == "ready", snap.error
    path = snapshot_file(snap, None)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    ds = datasets.load_dataset("json", data_files=str(path), split="train")
    assert ds.num_rows == len(lines) == 3
    assert ds[0]["messages"] == lines[0]["messages"]

    model_dir = build_test_model()
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    if not tokenizer.chat_template:
        tokenizer.chat_template = (
            "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
            "{% if add_generation_prompt %}assistant: {% endif %}")
    model = AutoModelForCausalLM.from_pretrained(str(model_dir))
    args = SFTConfig(output_dir=str(tmp_path / "sft"), max_steps=0, report_to=[],
                     max_length=128, dataset_num_proc=None, use_cpu=True)
    trainer = SFTTrainer(model=model, args=args, train_dataset=ds, processing_class=tokenizer)
    tokenized = trainer.train_dataset
    assert tokenized.num_rows == 3
    for i, row in enumerate(tokenized):
        assert 0 < len(row["input_ids"]) <= 128
        full = tokenizer.apply_chat_template(lines[i]["messages"], tokenize=False)
        assert tokenizer.decode(row["input_ids"][:20]) == tokenizer.decode(
            tokenizer(full)["input_ids"][:20])


def test_streaming_endpoint_takes_the_options(case, make_user):
    from rest_framework.test import APIClient

    from annotate.models import Membership
    from api.services import issue_token

    reviewer = add_member(case["project"], make_user("rev"), Membership.Role.REVIEWER)
    _, key = issue_token(user=reviewer, name="stream", scope="read")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    base = f"/api/exports/stream/?project={case['project'].pk}&format=critiques"
    r = client.get(base + "&agree_with=gold")
    lines = [json.loads(x) for x in b"".join(r.streaming_content).decode().splitlines()]
    assert r.status_code == 200 and [x["stepwise"]["solution_id"] for x in lines] == [
        case["a"].pk]
    r = client.get(base + "&agree_with=judge:j")
    assert r.status_code == 400 and "agree_with" in r.json()


def test_a_critique_that_argues_against_the_verdict_is_not_used(case):
    """Human verdicts, the judge's critiques: where the judge labeled a step the other way,
    its reason is left out of that step (B's step 1), and a row left without any is refused
    (C: the judge calls the first step right, the human wrong)."""
    out, refused = rows(case, labels={"rule": "source", "source": "human:consensus"},
                        critique_source="machine", critique_machine_source="judge:j")
    by_solution = {r["stepwise"]["solution_id"]: r for r in out}
    assert set(by_solution) == {case["a"].pk, case["b"].pk}
    assert by_solution[case["b"].pk]["messages"][1]["content"] == (
        "Step 0: The first step is right.\nThe step is correct.\n\n"
        "Step 1:\nThe step is correct.\n\nStep 2:\nThe step is correct.\n\n"
        "The first wrong step is \\boxed{-1}.")
    assert [why for _s, _r, why in refused] == [
        "no machine critique of its verified steps"]
