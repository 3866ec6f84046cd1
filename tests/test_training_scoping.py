"""Every file or model a project admin can name is one their project may see; training
settings are bounded; a training whose Run ends without finishing settles its model."""

import html
import itertools
import json
import os
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection, connections, transaction
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from annotate.models import Membership, Project
from api.services import issue_token
from exports.models import ExportSnapshot
from tests.exports_data import build
from training.models import PrmModel
from workers.models import Run

_names = itertools.count()


def api(user):
    _, key = issue_token(user=user, name=f"scoping-{next(_names)}", scope="write")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def model_dir(path: Path) -> Path:
    """Enough of a model folder for the checks (a config.json)."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text("{}")
    return path


def ready_snapshot(project, settings, root: Path) -> ExportSnapshot:
    """A ready one-file TRL snapshot of ``project`` (the builder has its own tests)."""
    settings.EXPORTS_DIR = root / "exports"
    rel = f"{project.slug}-v1/train.jsonl"
    (root / "exports" / rel).parent.mkdir(parents=True, exist_ok=True)
    rows = [{"prompt": f"p{i}", "completions": ["a", "b"], "labels": [True, False],
             "problem_id": i} for i in range(4)]
    (root / "exports" / rel).write_text("".join(json.dumps(r) + "\n" for r in rows))
    snap = ExportSnapshot.objects.create(name=f"snap-{project.slug}", version=1, format="trl",
                                         status=ExportSnapshot.Status.READY,
                                         files={"train": {"path": rel, "rows": 4}})
    snap.projects.set([project])
    return snap


@pytest.fixture
def two_labs(make_user, settings, tmp_path):
    """An attacker (admin of their own project) and a victim project with a PRM and a snapshot."""
    settings.MODELS_DIR = tmp_path / "models"
    settings.STEPWISE_MODEL_REGISTRY = []
    mine, theirs = build(make_user, slug="mine"), build(make_user, slug="theirs")
    victim_dir = model_dir(tmp_path / "models" / "prm" / f"{theirs['project'].pk}-1-secret")
    victim = PrmModel.objects.create(project=theirs["project"], name="secret prm",
                                     base_model="b", artifact_path=str(victim_dir),
                                     status=PrmModel.Status.READY)
    return {"mine": mine, "theirs": theirs, "victim": victim, "victim_dir": victim_dir,
            "snapshot": ready_snapshot(theirs["project"], settings, tmp_path),
            "admin": mine["users"]["admin"], "project": mine["project"], "root": tmp_path}


def _form(client, labs, **data):
    return client.post(reverse("training:create"), {"project": labs["project"].pk, **data})


def _api_train(labs, **params):
    return api(labs["admin"]).post("/api/runs/", {
        "kind": "train_prm", "project": labs["project"].pk, "params": params}, format="json")


NO_SNAPSHOT = "No ready export snapshot of this project with that id."


@pytest.mark.portable
@pytest.mark.django_db
def test_a_foreign_snapshot_is_refused_like_a_missing_one(client, two_labs):
    labs = two_labs
    client.force_login(labs["admin"])
    foreign = labs["snapshot"].pk
    for snapshot_id in (foreign, 987654):
        r = _form(client, labs, name="stolen", snapshot_id=str(snapshot_id))
        assert r.status_code == 400 and NO_SNAPSHOT in r.content.decode()
        r = _api_train(labs, name="stolen", snapshot_id=snapshot_id)
        assert r.status_code == 400 and r.json() == {"params": NO_SNAPSHOT}
    # The old path field is gone: naming the victim's file trains on nothing of theirs.
    victim_file = Path(labs["root"], "exports", labs["snapshot"].files["train"]["path"])
    r = _form(client, labs, name="by path", snapshot_path=str(victim_file))
    model = PrmModel.objects.get(project=labs["project"])
    assert r.status_code == 302 and model.data_source["kind"] == "project"
    assert str(victim_file) not in json.dumps(model.data_source)
    # The form offers the attacker's snapshots only.
    assert "snap-theirs" not in client.get(reverse("training:list")).content.decode()


@pytest.mark.portable
@pytest.mark.django_db
def test_a_snapshot_of_the_project_trains_by_id_and_shows_no_path(client, two_labs, settings):
    labs = two_labs
    own = ready_snapshot(labs["project"], settings, labs["root"])
    client.force_login(labs["admin"])
    assert "snap-mine" in client.get(reverse("training:list")).content.decode()
    r = _form(client, labs, name="from snapshot", snapshot_id=str(own.pk))
    model = PrmModel.objects.get(project=labs["project"], name="from snapshot")
    assert r.status_code == 302 and model.data_source["snapshot_id"] == own.pk
    assert Path(model.data_source["path"]).is_file()  # the worker reads it
    shown = api(labs["admin"]).get(f"/api/models/{model.pk}/").json()
    assert shown["data_source"] == {"kind": "snapshot", "snapshot_id": own.pk, "split": "train",
                                    "file": "train.jsonl"}
    page = client.get(reverse("training:detail", args=[model.pk])).content.decode()
    assert str(labs["root"]) not in page and "train.jsonl" in page


def refusal(response, ref: str) -> str:
    """The message with the name the user typed taken out, to compare refusals."""
    body = response.json()["params"] if response["Content-Type"] == "application/json" \
        else html.unescape(response.content.decode())
    return body.replace(ref, "<ref>")


@pytest.mark.portable
@pytest.mark.django_db
def test_models_of_another_project_are_refused_like_missing_ones(client, two_labs):
    labs = two_labs
    models_dir = labs["root"] / "models"
    model_dir(models_dir / "shared-base")
    os.symlink(labs["victim_dir"], models_dir / "innocent-link")
    outside = model_dir(labs["root"] / "elsewhere" / "base")
    os.symlink(outside, models_dir / "link-out")
    client.force_login(labs["admin"])
    victim = str(labs["victim_dir"])
    attempts = [
        victim,                                                       # absolute, foreign tree
        f"prm/{labs['victim_dir'].name}",                             # relative to MODELS_DIR
        str(models_dir / "shared-base" / ".." / "prm" / labs["victim_dir"].name),  # ..
        "../models/prm/" + labs["victim_dir"].name,
        "innocent-link",                                              # symlink into the tree
        "link-out",                                                   # symlink out of it
        str(outside),                                                 # outside every root
        f"prm:{labs['victim'].pk}",                                   # another project's id
    ]
    missing = [str(models_dir / "prm" / "no-such-model"), "prm:987654", "/etc"]
    messages = set()
    for ref in attempts + missing:
        r = _form(client, labs, name="stolen", base_model=ref)
        assert r.status_code == 400, ref
        messages.add(refusal(r, ref))
        r = _api_train(labs, name="stolen", base_model=ref)
        assert r.status_code == 400, ref
        messages.add(refusal(r, ref))
        r = client.post(reverse("training:register"),
                        {"project": labs["project"].pk, "name": "stolen", "path": ref})
        assert r.status_code == 400, ref
        messages.add(refusal(r, ref).replace("No model", "No base model"))
    assert not PrmModel.objects.filter(project=labs["project"]).exists()
    # one message for all: foreign, escaping and missing read the same (HTML page vs JSON)
    texts = {m.split("No base model", 1)[1].split(".", 1)[0] for m in messages}
    assert texts == {" '<ref>' that this project may use"}, messages
    assert "secret prm" not in client.get(reverse("training:list")).content.decode()


@pytest.mark.portable
@pytest.mark.django_db
def test_shared_bases_and_the_projects_own_models_are_accepted(client, two_labs, settings):
    labs = two_labs
    shared = model_dir(labs["root"] / "models" / "shared-base")
    operator = model_dir(labs["root"] / "operator" / "qwen-copy")
    settings.STEPWISE_MODEL_REGISTRY = [str(operator.parent), f"named={operator}"]
    own_dir = model_dir(labs["root"] / "models" / "prm" / f"{labs['project'].pk}-9-own")
    own = PrmModel.objects.create(project=labs["project"], name="own", artifact_path=str(own_dir),
                                  status=PrmModel.Status.READY)
    client.force_login(labs["admin"])
    form = client.get(reverse("training:list")).content.decode()
    assert 'value="shared-base"' in form and 'value="named"' in form
    assert f'value="prm:{own.pk}"' in form and 'value="qwen-copy"' in form
    for i, (ref, location) in enumerate([("shared-base", shared), (str(shared), shared),
                                         ("named", operator), ("qwen-copy", operator),
                                         (f"prm:{own.pk}", own_dir), (str(own_dir), own_dir)]):
        r = _form(client, labs, name=f"m{i}", base_model=ref)
        assert r.status_code == 302, (ref, r.content.decode()[-600:])
        assert PrmModel.objects.get(project=labs["project"], name=f"m{i}").base_model == \
            str(location.resolve())
    shown = api(labs["admin"]).get(f"/api/models/?project={labs['project'].pk}").json()
    assert str(labs["root"]) not in json.dumps(shown)


@pytest.mark.portable
@pytest.mark.django_db
def test_training_numbers_are_bounded_and_long_names_refused(client, two_labs):
    labs = two_labs
    client.force_login(labs["admin"])
    for field, value, message in [("epochs", "1000000000000", "epochs must be between 1 and 1000"),
                                  ("batch_size", "100000", "batch_size must be between 1 and 4096"),
                                  ("max_length", "99999999", "max_length must be between"),
                                  ("lora_rank", "100000", "lora_rank must be between 0 and 4096"),
                                  ("seed", "-1", "seed must be between"),
                                  ("processes", "5000", "processes must be between 0 and 1024"),
                                  ("learning_rate", "inf", "learning_rate must be in (0, 1)"),
                                  ("val_fraction", "nan", "val_fraction must be in")]:
        r = _form(client, labs, name="m", **{field: value})
        assert r.status_code == 400 and message in r.content.decode(), field
    for hp, message in [({"epochs": 10**12}, "epochs must be between 1 and 1000"),
                        ({"epochs": "3"}, "epochs must be a whole number"),
                        ({"lora_alpha": 10**9}, "lora_alpha must be between 1 and 65536"),
                        ({"weight_decay": 5}, "weight_decay must be between 0 and 1")]:
        r = _api_train(labs, name="m", hyperparameters=hp)
        assert r.status_code == 400 and message in r.json()["params"], hp
    long = "n" * 121
    limit = "The name is 121 characters long; the limit is 120."
    assert limit in _form(client, labs, name=long).content.decode()
    r = _api_train(labs, name=long)
    assert r.status_code == 400 and r.json() == {"params": limit}
    r = client.post(reverse("training:register"), {"project": labs["project"].pk, "name": long,
                                                   "path": "x"})
    assert r.status_code == 400 and limit in r.content.decode()
    assert not PrmModel.objects.filter(project=labs["project"]).exists()
    assert not Run.objects.filter(kind="train_prm").exists()


def _waiting_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                       "AND datname = current_database()")
        return cursor.fetchone()[0] > 0


@pytest.mark.django_db(transaction=True)
def test_two_train_prm_with_one_name_at_once_give_a_400_not_a_500(make_user, settings, tmp_path):
    """The second insert waits on the first's unique index entry, then conflicts: the
    check-then-insert race, made certain by holding the first transaction open."""
    settings.MODELS_DIR = tmp_path / "models"
    admin = make_user("racer")
    project = Project.objects.create(name="Race", slug="race")
    Membership.objects.create(project=project, user=admin, role=Membership.Role.ADMIN)
    client = api(admin)
    inserted, release, result = threading.Event(), threading.Event(), {}

    def first():
        try:
            with transaction.atomic():
                PrmModel.objects.create(project=project, name="same")
                inserted.set()
                release.wait(60)
        finally:
            connections.close_all()

    def second():
        try:
            result["response"] = client.post("/api/runs/", {
                "kind": "train_prm", "project": project.pk, "params": {"name": "same"}},
                format="json")
        except Exception as exc:  # a 500 raises in the test client
            result["response"] = exc
        finally:
            connections.close_all()

    holder = threading.Thread(target=first)
    holder.start()
    assert inserted.wait(60)
    racer = threading.Thread(target=second)
    racer.start()
    deadline = time.monotonic() + 60
    while not _waiting_on_a_lock() and racer.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    release.set()
    holder.join(60)
    racer.join(60)
    response = result["response"]
    assert not isinstance(response, Exception), response
    assert response.status_code == 400
    assert response.json() == {"params": "A model named 'same' already exists in this project."}
    assert PrmModel.objects.filter(project=project).count() == 1
    assert not Run.objects.filter(kind="train_prm").exists()


def _queued_training(project, admin, name):
    from training.services import start_training

    return start_training(project=project, name=name, user=admin,
                          hyperparameters={"epochs": 1})


@pytest.mark.portable
# Not transactional: a live worker of another test must not see these Runs and sweep them.
@pytest.mark.django_db
def test_cancelling_a_training_nobody_runs_settles_its_model(make_user, settings, tmp_path,
                                                             django_capture_on_commit_callbacks):
    from workers.dispatch import requeue_stale
    from workers.runs import cancel_run

    settings.MODELS_DIR = tmp_path / "models"
    admin = make_user("canceller")
    project = Project.objects.create(name="C", slug="c")
    Membership.objects.create(project=project, user=admin, role=Membership.Role.ADMIN)
    long_ago = timezone.now() - timedelta(hours=1)

    # queued, never picked up: cancel ends it at once
    queued = _queued_training(project, admin, "queued")
    with django_capture_on_commit_callbacks(execute=True):  # the settle hooks run on commit
        assert cancel_run(queued.run).status == Run.Status.CANCELLED
    assert PrmModel.objects.get(pk=queued.pk).status == PrmModel.Status.FAILED

    # "running" on a worker that died: the cancel over the API ends it
    dead = _queued_training(project, admin, "dead worker")
    Run.objects.filter(pk=dead.run_id).update(status=Run.Status.RUNNING, worker="gone:1",
                                              started_at=long_ago, heartbeat_at=long_ago)
    PrmModel.objects.filter(pk=dead.pk).update(status=PrmModel.Status.TRAINING)
    checkpoint = Path(dead.artifact_path) / "checkpoint-10" / "model.safetensors"
    checkpoint.parent.mkdir(parents=True)
    checkpoint.write_bytes(b"half written")
    with django_capture_on_commit_callbacks(execute=True):
        r = api(admin).post(f"/api/runs/{dead.run_id}/cancel/")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert PrmModel.objects.get(pk=dead.pk).status == PrmModel.Status.FAILED
    # What the dead training wrote is gone: nothing resumes it, and it would hold the disk.
    assert not Path(dead.artifact_path).exists()
    assert Path(dead.artifact_path).parent == Path(settings.MODELS_DIR) / "prm"

    # a cancel asked while its worker still beat, then the worker died: the sweep ends it
    swept = _queued_training(project, admin, "swept")
    Run.objects.filter(pk=swept.run_id).update(status=Run.Status.RUNNING, worker="gone:2",
                                               started_at=long_ago, heartbeat_at=long_ago,
                                               cancel_requested=True)
    PrmModel.objects.filter(pk=swept.pk).update(status=PrmModel.Status.TRAINING)
    with django_capture_on_commit_callbacks(execute=True):
        requeue_stale()
    assert Run.objects.get(pk=swept.run_id).status == Run.Status.CANCELLED
    assert PrmModel.objects.get(pk=swept.pk).status == PrmModel.Status.FAILED


@pytest.mark.portable
@pytest.mark.django_db
def test_runs_and_models_show_file_names_not_server_paths(client, two_labs):
    labs = two_labs
    admin, project = labs["admin"], labs["project"]
    upload = "/srv/stepwise/data/uploads/mine/0a1b2c3d4e5f-problems.jsonl"
    run = Run.objects.create(kind="import", project=project, created_by=admin,
                             params={"path": upload, "fmt": "problems", "project_id": project.pk})
    shown = api(admin).get(f"/api/runs/{run.pk}/").json()
    assert shown["params"]["path"] == "0a1b2c3d4e5f-problems.jsonl"
    assert "/srv" not in json.dumps(api(admin).get("/api/runs/").json())
    client.force_login(admin)
    page = client.get(reverse("manage:import", args=[project.slug])).content.decode()
    assert "0a1b2c3d4e5f-problems.jsonl" in page and "/srv/" not in page

    model = PrmModel.objects.create(
        project=project, name="trained", base_model="/opt/bases/minilm",
        artifact_path="/srv/models/prm/1-2-trained", status=PrmModel.Status.READY,
        data_source={"kind": "snapshot", "snapshot_id": 3, "path": "/srv/exports/x/train.jsonl"},
        model_card={"base_model": "/opt/bases/minilm",
                    "data": {"source": {"kind": "snapshot", "path": "/srv/exports/x/train.jsonl"}}})
    shown = json.dumps(api(admin).get(f"/api/models/{model.pk}/").json())
    assert "/srv" not in shown and "/opt" not in shown and "train.jsonl" in shown
    page = client.get(reverse("training:detail", args=[model.pk])).content.decode()
    assert "/srv" not in page and "/opt" not in page and "1-2-trained" in page


@pytest.mark.portable
@pytest.mark.django_db
def test_no_validation_split_is_said_before_and_after(client, two_labs):
    labs = two_labs
    r = _api_train(labs, name="no val", hyperparameters={"val_fraction": 0})
    assert r.status_code == 201
    assert r.json()["warnings"] == [
        "No validation split (val_fraction is 0): the held-out metrics will be empty."]
    one = Project.objects.create(name="One problem", slug="one")
    Membership.objects.create(project=one, user=labs["admin"], role=Membership.Role.ADMIN)
    from tests.prm_factories import rule_examples, seed_project

    seed_project(one, rule_examples(1, per_problem=4, seed=3), labs["admin"])
    client.force_login(labs["admin"])
    r = client.post(reverse("training:create"), {"project": one.pk, "name": "tiny data"})
    model = PrmModel.objects.get(project=one)
    assert r.status_code == 302
    page = client.get(reverse("training:detail", args=[model.pk])).content.decode()
    assert "No validation split: the data has 1 problem" in page
    shown = api(labs["admin"]).get(f"/api/models/{model.pk}/").json()
    assert shown["warning"].startswith("No validation split")
    # after the fact: a model whose training held nothing out says so too
    done = PrmModel.objects.create(project=one, name="done", status=PrmModel.Status.READY,
                                   metrics={"training": {"val_examples": 0}})
    page = client.get(reverse("training:detail", args=[done.pk])).content.decode()
    assert "No validation split: the held-out metrics are empty." in page
