"""The last places a user could name a model or see machine scores outside their role: the
generator model a worker loads (every backend), the model and search pages for annotators,
a ready model whose files are gone, and import Runs without a file path."""

import itertools
import json
import shutil
import uuid
from pathlib import Path

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from annotate.models import Membership, Project
from generation.backends import backend_for
from generation.config import GeneratorSettings
from generation.loader import ModelNotFound, model_location
from generation.modeldirs import NOT_AVAILABLE
from training.models import PrmModel
from workers.models import Run

_names = itertools.count()


def model_dir(path: Path, model_type: str = "gpt2") -> Path:
    """Enough of a model folder for the rule (a config.json): nothing here loads it."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps({"model_type": model_type}))
    return path


@pytest.fixture
def no_loading(monkeypatch):
    """Any model, tokenizer or hub file the worker would load fails the test: refusals come first."""
    import huggingface_hub
    import transformers

    def refuse(*args, **kwargs):
        raise AssertionError(f"the worker loaded {args[1:2] or kwargs}")

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", refuse)
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", refuse)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", refuse)
    monkeypatch.setattr(huggingface_hub.file_download, "hf_hub_download", refuse)


@pytest.fixture
def model_roots(settings, tmp_path):
    settings.MODELS_DIR = tmp_path / "models"
    settings.STEPWISE_MODEL_DIRS = []
    settings.STEPWISE_MODEL_REGISTRY = []
    return settings.MODELS_DIR


def located(model: str, project_id: int | None = 7) -> str:
    return model_location(GeneratorSettings.from_dict({"model": model}, project_id=project_id))


@pytest.mark.portable
def test_no_backend_loads_a_model_the_project_may_not_name(model_roots, tmp_path, no_loading):
    theirs = model_dir(model_roots / "prm" / "8-3-theirs")
    outside = model_dir(tmp_path / "elsewhere" / "gpt")
    model_dir(model_roots / "shared")
    (model_roots / "escape").symlink_to(outside)
    refused = [str(theirs), "prm/8-3-theirs", str(model_roots / "shared" / ".." / "prm" / "8-3-theirs"),
               str(model_roots / "prm"), str(outside), str(model_roots / "escape"),
               str(tmp_path / "missing"), str(model_roots / "missing"), "gpt2",
               "openai-community/gpt2", "/etc", "~", "~nosuchuser/model", "x" * 900 + "/y"]
    messages = set()
    for model in refused:
        for backend in ("transformers", "vllm", "openai"):
            generator = GeneratorSettings.from_dict(
                {"model": model, "backend": backend, "base_url": "http://127.0.0.1:9/v1"},
                project_id=7)
            with pytest.raises(ModelNotFound) as info:
                assert backend_for(generator).tokenizer is None  # openai: loaded on first use
            assert info.value.reason == "The generator model is not ready yet"
            messages.add(str(info.value).replace(model, "<model>", 1))
    # Missing and forbidden read the same: a Run error tells nothing about the worker's files.
    assert len(messages) == 1, messages
    assert NOT_AVAILABLE in messages.pop()


@pytest.mark.portable
def test_the_worker_loads_its_projects_own_and_the_operators_models(model_roots, settings, tmp_path):
    own = model_dir(model_roots / "prm" / "7-1-mine")
    shared = model_dir(model_roots / "qwen")
    extra = model_dir(tmp_path / "extra" / "llama")
    listed = model_dir(tmp_path / "listed" / "phi")
    (model_roots / "inside").symlink_to(shared)
    settings.STEPWISE_MODEL_DIRS = [str(tmp_path / "extra")]
    settings.STEPWISE_MODEL_REGISTRY = ["qwen-hub=Qwen/Qwen2.5-Math-1.5B", f"phi={listed}"]
    assert located(str(own)) == str(own.resolve())
    assert located("qwen") == located(str(shared)) == located(str(model_roots / "inside")) \
        == str(shared.resolve())
    assert located(str(extra)) == located("llama") == str(extra.resolve())
    assert located("phi") == str(listed.resolve())
    # A hub id only as the operator named it, by its name or the id itself.
    assert located("qwen-hub") == located("Qwen/Qwen2.5-Math-1.5B") == "Qwen/Qwen2.5-Math-1.5B"
    with pytest.raises(ModelNotFound):
        located("Qwen/Qwen2.5-Math-7B")
    with pytest.raises(ModelNotFound):  # settings without a project own no trained model
        located(str(own), project_id=None)
    with pytest.raises(ModelNotFound):  # a folder of the listed one's directory is not shared
        located(str(tmp_path / "listed" / "phi" / ".."))


@pytest.mark.portable
def test_training_takes_the_same_shared_folders(model_roots, settings, tmp_path, db):
    from training.errors import TrainingError
    from training.locations import resolve_model

    project = Project.objects.create(name="t", slug=f"t-{uuid.uuid4().hex[:6]}")
    extra = model_dir(tmp_path / "extra" / "llama")
    with pytest.raises(TrainingError):
        resolve_model(project, str(extra))
    settings.STEPWISE_MODEL_DIRS = [str(tmp_path / "extra")]
    assert resolve_model(project, "llama") == str(extra.resolve())
    theirs = model_dir(model_roots / "prm" / f"{project.pk + 1}-3-theirs")
    with pytest.raises(TrainingError):
        resolve_model(project, str(theirs))


@pytest.mark.django_db(transaction=True)
def test_a_run_on_a_forbidden_generator_fails_like_a_missing_one(celery_worker, settings):
    from demo.seed import seed_demo_content
    from generation.services import request_solutions
    from tests.conftest import wait_for_run

    other = Project.objects.create(name="other", slug=f"other-{uuid.uuid4().hex[:6]}")
    theirs = model_dir(Path(settings.MODELS_DIR) / "prm" / f"{other.pk}-1-theirs-{uuid.uuid4().hex[:6]}")
    try:
        errors = []
        for model in (str(theirs), str(theirs) + "-missing"):
            project = Project.objects.create(name=f"p{next(_names)}", slug=f"gen-{uuid.uuid4().hex[:8]}",
                                             generator={"model": model})
            seed_demo_content(project, n_problems=1, solutions_per_problem=0)
            run = wait_for_run(request_solutions(project=project, n=1), timeout=90)
            assert run.status == Run.Status.FAILED
            assert run.reason == "The generator model is not ready yet"
            assert NOT_AVAILABLE in run.error, run.error
            errors.append(run.error.split("\n")[0].replace(model, "<model>"))
        assert errors[0] == errors[1]
    finally:
        shutil.rmtree(theirs, ignore_errors=True)


# --- Model and search pages: annotators only where the project shows hints ---------------

def _member(make_user, project, role):
    user = make_user(f"{role}-{next(_names)}")
    Membership.objects.create(project=project, user=user, role=role)
    return user


MODEL_PAGES = ("training:detail", "training:progress", "search:scaling", "search:scaling-csv")


@pytest.mark.django_db
def test_annotators_see_model_pages_only_where_hints_are_shown(client, make_user):
    project = Project.objects.create(name="hints", slug="hints")
    model = PrmModel.objects.create(project=project, name="scorer-xyz", base_model="b",
                                    status=PrmModel.Status.READY, metrics={"f1": 0.5})
    annotator = _member(make_user, project, "annotator")
    reviewer = _member(make_user, project, "reviewer")
    elsewhere = Project.objects.create(name="other", slug="other-hints", show_hints=True)
    stranger = _member(make_user, elsewhere, "annotator")  # hints on, but not in this project

    def codes(user):
        client.force_login(user)
        listed = "scorer-xyz" in client.get(reverse("training:list")).content.decode()
        return listed, [client.get(reverse(name, args=[model.pk])).status_code for name in MODEL_PAGES]

    assert codes(annotator) == (False, [404] * 4)
    assert codes(reviewer) == (True, [200] * 4)
    project.show_hints = True
    project.save(update_fields=["show_hints"])
    assert codes(annotator) == (True, [200] * 4)
    assert codes(stranger) == (False, [404] * 4)
    client.force_login(annotator)  # still no admin action
    assert client.post(reverse("training:score", args=[model.pk])).status_code in (403, 404)


# --- A ready model whose files are gone ---------------------------------------------------

@pytest.mark.django_db
def test_scoring_a_model_without_its_files_is_a_409_not_a_500(make_user, tmp_path):
    from api.services import issue_token

    project = Project.objects.create(name="gone", slug="gone")
    admin = _member(make_user, project, "admin")
    _, key = issue_token(user=admin, name="t", scope="write")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    empty = tmp_path / "empty"
    empty.mkdir()
    for i, path in enumerate(("", str(empty), str(tmp_path / "deleted"))):
        model = PrmModel.objects.create(project=project, name=f"m{i}", base_model="b",
                                        status=PrmModel.Status.READY, artifact_path=path)
        score = api.post(f"/api/prm/{model.pk}/score/",
                         {"items": [{"problem": "1+1?", "steps": ["2"]}]}, format="json")
        rlhf = api.post(f"/api/prm/{model.pk}/openrlhf/", {"query": ["1+1? 2"]}, format="json")
        for answer in (score, rlhf):
            assert answer.status_code == 409, answer.content
            detail = answer.json()["detail"]
            assert "The model's files are missing" in detail and str(tmp_path) not in detail


# --- Import Runs without a path ------------------------------------------------------------

@pytest.mark.django_db
def test_the_import_page_lists_runs_whatever_their_params(client, make_user):
    project = Project.objects.create(name="imp", slug="imp")
    admin = _member(make_user, project, "admin")
    for params in ({}, {"path": None}, {"fmt": "problems"}, {"path": 3}, [], {"source_name": None},
                   {"path": "/srv/uploads/secret-dir/file.jsonl"}):
        Run.objects.create(project=project, kind="import", params=params)
    client.force_login(admin)
    page = client.get(reverse("manage:import", args=[project.slug]))
    assert page.status_code == 200
    text = page.content.decode()
    assert "file.jsonl" in text and "secret-dir" not in text
