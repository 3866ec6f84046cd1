"""Exports of gold answer keys, reduced ground truths, text the OpenRLHF placeholder would
collide with, and downloads that must name their split."""

import itertools
import json

import pytest
from rest_framework.test import APIClient

from annotate.models import GoldLabel, PreAnnotation, Problem, Project
from annotate.services.imports import import_prmbench, import_problems
from api.services import issue_token
from exports.models import ExportSnapshot
from exports.records import split_of
from exports.services import build_snapshot
from exports.spec import SpecError, normalize_spec
from exports.writers import iter_rows
from tests.exports_data import build, path, submit
from tests.test_import_cases import GSM8K, prmbench_row

pytestmark = [pytest.mark.portable, pytest.mark.django_db]

_names = itertools.count()


def rows(project, **spec):
    spec = normalize_spec({"projects": [project.pk], **spec})
    return [row for _split, row, _steps in iter_rows(spec)]


@pytest.fixture
def gold_project():
    project = Project.objects.create(name="Bench", slug="bench")
    for name, errors in (("circular", (3,)), ("multi_solutions", ())):
        import_prmbench(project, [json.dumps(prmbench_row(name, errors=errors))],
                        source_name=f"{name}.jsonl")
    return project


def test_imported_gold_keys_export_with_their_label_source(gold_project):
    trl = rows(gold_project, format="trl")
    assert len(trl) == 3  # original, circular and multi_solutions processes
    assert {r["label_source"] for r in trl} == {"gold"}
    by_length = sorted((len(r["labels"]), r["labels"]) for r in trl)
    # the circular copy: two good steps, then the planted error
    assert [True, True, False] in [labels for _n, labels in by_length]
    assert [True, True, True, True] in [labels for _n, labels in by_length]
    bench = rows(gold_project, format="processbench")
    labels = sorted((r["label"], r["final_answer_correct"], r["label_source"]) for r in bench)
    assert labels == [(-1, True, "gold"), (-1, True, "gold"), (2, True, "gold")]
    assert len(rows(gold_project, format="trl", labels="gold")) == 3
    assert rows(gold_project, format="trl", gold_keys="none") == []
    assert rows(gold_project, format="trl", gold="exclude") == []
    # a machine label on a keyed solution does not add a second, machine-only row
    node = GoldLabel.objects.filter(rating=-1).first().node
    PreAnnotation.objects.create(node=node, kind="mc_soft", source="t", value=0.9)
    assert len(rows(gold_project, format="trl", machine_labels=True)) == 3


def test_gold_keys_beside_human_ratings(make_user):
    lab = build(make_user)
    project, s2 = lab["project"], lab["solutions"]["s2"]
    d, e = lab["nodes"]["d"], lab["nodes"]["e"]
    GoldLabel.objects.create(solution=s2, node=d, rating=1, source="t")
    GoldLabel.objects.create(solution=s2, node=e, rating=-1, source="t")
    default = rows(project, format="trl")
    # s2 was labeled by a human: by default its key is not exported beside that label
    assert len(default) == 3 and "gold" not in {r["label_source"] for r in default}
    every = rows(project, format="trl", gold_keys="all")
    assert [r["labels"] for r in every if r["label_source"] == "gold"] == [[True, False]]
    only = rows(project, format="processbench", labels="gold")
    assert [(r["label"], r["label_source"]) for r in only] == [(1, "gold")]
    # consensus exports carry the keys of unlabeled gold items too
    unlabeled = path(Problem.objects.get(external_id="p3"), ["10/4 = 5/2."])
    from annotate.models import Solution

    gold = Solution.objects.create(problem=unlabeled[0].problem, last_step=unlabeled[0],
                                   final_answer="5/2", is_correct=True, is_gold=True)
    GoldLabel.objects.create(solution=gold, node=unlabeled[0], rating=1, source="t")
    consensus = rows(project, format="trl", labels="consensus")
    assert {r["label_source"] for r in consensus} == {"consensus", "gold"}
    with pytest.raises(SpecError) as err:
        normalize_spec({"projects": [1], "labels": "gold", "gold": "exclude",
                        "gold_keys": "sometimes"})
    assert set(err.value.errors) == {"gold", "gold_keys"}
    with pytest.raises(SpecError):
        normalize_spec({"projects": [1], "format": "prm800k", "gold_keys": "all"})


def test_rl_prompts_hand_the_reduced_ground_truth(make_user):
    project = Project.objects.create(name="GSM", slug="gsm")
    import_problems(project, [json.dumps({"question": "How many clips?", "answer": GSM8K}),
                              json.dumps({"question": "Solve x+1=0.",
                                          "answer": "The answer is: -1"})],
                    source_name="gsm8k.jsonl")
    out = rows(project, format="rl_prompts")
    assert sorted(r["ground_truth"] for r in out) == ["-1", "72"]
    assert sorted(r["reward_model"]["ground_truth"] for r in out) == ["-1", "72"]


def cyrillic(make_user):
    user = make_user("annotator-ru")
    project = Project.objects.create(name="Кино", slug="kino")
    problem = Problem.objects.create(project=project, statement="Сколько билетов в кино продали?",
                                     ground_truth_answer="5")
    a, b = path(problem, ["В кино продали 2 и 3 билета.", "Всего 5."])
    from annotate.models import Solution

    solution = Solution.objects.create(problem=problem, last_step=b, final_answer="5",
                                       is_correct=True)
    submit(project, solution, user, {a: 1, b: 1})
    other = Problem.objects.create(project=project, statement="Сколько будет два плюс три?",
                                   ground_truth_answer="5")
    c, = path(other, ["Два плюс три равно пять."])
    submit(project, Solution.objects.create(problem=other, last_step=c, final_answer="5"), user,
           {c: 1})
    return project


def test_openrlhf_never_alters_cyrillic_text(make_user, tmp_path, settings):
    project = cyrillic(make_user)
    out = rows(project, format="openrlhf")
    # the row whose texts contain "ки" (кино) is refused, not cut to "но"
    assert [r["input"] for r in out] == ["Сколько будет два плюс три?\nДва плюс три равно пять. ки"]
    tagged = rows(project, format="openrlhf", placeholder="<step>")
    assert "Сколько билетов в кино продали?\nВ кино продали 2 и 3 билета. <step>\nВсего 5. <step>" \
        in [r["input"] for r in tagged]
    settings.EXPORTS_DIR = tmp_path / "exports"
    spec = normalize_spec({"projects": [project.pk], "format": "openrlhf"})
    snap = ExportSnapshot.objects.create(name="ru", version=1, format="openrlhf", filters=spec)
    build_snapshot(snap.pk)
    snap.refresh_from_db()
    info = snap.files["all"]
    assert snap.row_count == 1 and info["refused"] == 1
    assert info["refused_rows"][0]["reason"] == (
        "the problem contains the placeholder 'ки'; choose another placeholder")
    with pytest.raises(SpecError) as err:
        normalize_spec({"projects": [1], "placeholder": "a b"})
    assert "placeholder" in err.value.errors


def api(user):
    _, key = issue_token(user=user, name=f"t-{next(_names)}", scope="read")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def ready_snapshot(lab, settings, tmp_path, **spec):
    settings.EXPORTS_DIR = tmp_path / "exports"
    spec = normalize_spec({"projects": [lab["project"].pk], "format": "trl", **spec})
    snap = ExportSnapshot.objects.create(name=f"s-{next(_names)}", version=1, format="trl",
                                         filters=spec)
    snap.projects.set([lab["project"]])
    build_snapshot(snap.pk)
    snap.refresh_from_db()
    return snap


def test_download_without_split_names_the_splits(make_user, settings, tmp_path):
    lab = build(make_user, slug="dl")
    client = api(lab["users"]["reviewer"])
    hashes = [p.statement_hash for p in Problem.objects.filter(project=lab["project"])]
    seed = next(s for s in map(str, range(100))
                if len({split_of(h, 0.5, s) for h in hashes}) == 2)
    split = ready_snapshot(lab, settings, tmp_path, test_fraction=0.5, split_seed=seed)
    assert sorted(split.files) == ["test", "train"]
    resp = client.get(f"/api/exports/{split.pk}/download/")
    assert resp.status_code == 400
    assert resp.json() == {"split": "This export has 2 splits (test, train): name one with "
                                    "?split=."}
    assert client.get(f"/api/exports/{split.pk}/download/", {"split": "test"}).status_code == 200
    whole = ready_snapshot(lab, settings, tmp_path)
    resp = client.get(f"/api/exports/{whole.pk}/download/")
    assert resp.status_code == 200
    assert len(b"".join(resp.streaming_content).decode().splitlines()) == whole.row_count


def test_training_on_a_split_export_names_its_split(make_user, settings, tmp_path):
    from training.models import PrmModel

    lab = build(make_user, slug="tr")
    _, key = issue_token(user=lab["users"]["admin"], name="trainer", scope="write")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    hashes = [p.statement_hash for p in Problem.objects.filter(project=lab["project"])]
    seed = next(s for s in map(str, range(100))
                if len({split_of(h, 0.5, s) for h in hashes}) == 2)
    split = ready_snapshot(lab, settings, tmp_path, test_fraction=0.5, split_seed=seed)

    def train(name, **params):
        return client.post("/api/runs/", {"kind": "train_prm", "project": lab["project"].pk,
                                          "params": {"name": name, **params}}, format="json")

    resp = train("a", snapshot_id=split.pk)
    assert resp.status_code == 400
    assert resp.json() == {"params": "This export has 2 splits (test, train): name the one to "
                                     "train on with snapshot_split."}
    resp = train("b", snapshot_id=split.pk, snapshot_split="validation")
    assert resp.status_code == 400 and "no split 'validation'" in resp.json()["params"]
    assert train("c", snapshot_split="train").status_code == 400  # a split of no snapshot
    assert not PrmModel.objects.filter(project=lab["project"]).exists()
    resp = train("d", snapshot_id=split.pk, snapshot_split="test")
    assert resp.status_code == 201, resp.content
    model = PrmModel.objects.get(project=lab["project"], name="d")
    assert model.data_source["path"].endswith(split.files["test"]["path"])
