"""Training from a label rule: the examples come through the rule module, and the model card
records the rule, the sources' versions and the fraction of steps kept."""

import json

import pytest

from annotate.models import Membership, Project
from annotate.services.imports import import_machine_labels
from tests.prm_factories import build_tiny_base, rule_examples, seed_project
from training.data import examples_from_rule
from training.services import TrainingError, start_training

pytestmark = [pytest.mark.django_db]

RULE = {"rule": "agree", "sources": ["judge:j1", "judge:j2"]}


@pytest.fixture
def judged(make_user):
    """Unlabeled solutions; judge j1 gives the true labels, j2 too except at every third
    solution's first step, where it disagrees."""
    project = Project.objects.create(name="R", slug="train-rules")
    examples = rule_examples(20, per_problem=2, seed=3)
    solutions = seed_project(project, examples, make_user("seeder"), labeled=False)
    truth = {}
    for s, ex in zip(solutions, examples):
        truth[s.pk] = [1 if v == 1 else -1 for v in ex.labels]
    for name in ("j1", "j2"):
        rows = []
        for i, (sid, labels) in enumerate(truth.items()):
            labels = list(labels)
            if name == "j2" and i % 3 == 0:
                labels[0] = -labels[0]
            rows.append(json.dumps({"solution_id": sid, "step_labels": labels}))
        assert not import_machine_labels(project, rows, source=name, kind="judge",
                                         version={"model": name}).rejected
    return project, truth


def test_examples_from_a_rule(judged):
    project, truth = judged
    examples, tally = examples_from_rule(project, RULE, after_first_error="keep")
    steps = sum(len(v) for v in truth.values())
    disagree = len(range(0, len(truth), 3))
    assert (tally.candidates, tally.kept) == (steps, steps - disagree)
    by_id = {ex.solution_id: ex for ex in examples}
    for i, (sid, labels) in enumerate(truth.items()):
        want = [1 if v == 1 else 0 for v in labels]
        if i % 3 == 0:
            want[0] = None  # dropped: the judges disagree
        if any(v is not None for v in want):
            assert by_id[sid].labels == want
            assert by_id[sid].meta["label_sources"][1:] == [
                "agree:judge:j1+judge:j2"] * (len(want) - 1)


def test_training_from_a_rule_records_it_on_the_card(judged, tmp_path, settings):
    from training.pipeline import train_and_evaluate

    project, _truth = judged
    settings.MODELS_DIR = tmp_path / "models"
    settings.STEPWISE_MODEL_REGISTRY = [str(tmp_path)]
    base = build_tiny_base(tmp_path / "base")
    model = start_training(project=project, name="ruled", base_model=str(base), labels=RULE,
                           hyperparameters={"epochs": 1, "batch_size": 16, "max_length": 96,
                                            "learning_rate": 0.003,
                                            "early_stopping_patience": 0})
    assert model.data_source == {"kind": "project", "labels": RULE}
    train_and_evaluate(model)
    model.refresh_from_db()
    labels = model.model_card["data"]["labels"]
    _examples, tally = examples_from_rule(project, RULE)
    assert labels["rule"] == "agree" and labels["sources"] == RULE["sources"]
    assert labels["kept_fraction"] == tally.fraction and labels["kept"] == tally.kept
    assert labels["versions"] == {"judge:j1": {"model": "j1"}, "judge:j2": {"model": "j2"}}
    assert model.status == "ready"


def test_bad_rules_are_refused(judged, client, make_user):
    project, _truth = judged
    with pytest.raises(TrainingError, match="labels: A 'agree' rule needs at least 2 sources"):
        start_training(project=project, name="x", labels={"rule": "agree", "sources": ["gold"]})
    admin = make_user("rule-admin")
    Membership.objects.create(project=project, user=admin, role=Membership.Role.ADMIN)
    client.force_login(admin)
    for labels, message in (({"rule": "mean", "sources": ["gold"]}, "Unknown label rule 'mean'"),
                            ({"rule": "source", "source": "gpt"}, "Unknown label source"),
                            ("agree", "Expected dict")):
        r = client.post("/api/runs/", {"kind": "train_prm", "project": project.pk,
                                       "params": {"name": "x", "labels": labels}},
                        content_type="application/json")
        assert r.status_code == 400 and message in json.dumps(r.json()), r.content


def test_the_training_form_takes_a_rule(judged, client, make_user):
    from django.urls import reverse

    from training.models import PrmModel

    project, _truth = judged
    admin = make_user("form-admin")
    Membership.objects.create(project=project, user=admin, role=Membership.Role.ADMIN)
    client.force_login(admin)
    assert 'name="labels"' in client.get(reverse("training:list")).content.decode()
    for raw, message in (("{agree", "the label rule is JSON"),
                         ('["agree"]', "a label rule is a JSON object"),
                         ('{"rule": "agree", "sources": ["judge:j1"]}', "at least 2 sources")):
        r = client.post(reverse("training:create"), {"project": project.pk, "name": "f",
                                                     "labels": raw})
        assert r.status_code == 400 and message in r.content.decode(), raw
    r = client.post(reverse("training:create"), {"project": project.pk, "name": "f",
                                                 "labels": json.dumps(RULE)})
    assert r.status_code == 302
    assert PrmModel.objects.get(project=project, name="f").data_source["labels"] == RULE
