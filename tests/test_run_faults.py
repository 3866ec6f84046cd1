"""Faults production has, with real processes: the broker stops, a solo worker is killed.

Each test has a Redis of its own on a free port as the broker and starts its own workers,
so it can stop the broker or kill a worker without touching the rest of the suite.
"""

import os
import signal
import time
from contextlib import contextmanager

import pytest
from celery import current_app
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from annotate.services.queue import next_task
from tests.conftest import spawn_worker, stop_process, wait_for_run
from tests.labeling_factories import add_member, make_project, make_solution
from workers.models import Run
from workers.runs import RUN_KINDS, cancel_run, start_run

pytestmark = [pytest.mark.postgres_only, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@contextmanager
def this_process_publishes_to(url: str):
    """Point this process's Celery producer at ``url`` (the workers get it from their env)."""
    app = current_app

    def reset_pools():
        # Drop this app's references only: kombu keeps one pool per broker URL, and the
        # suite's own pool must stay open for the tests that follow.
        app._pool = None
        app.amqp._producer_pool = None

    keys = ("broker_url", "broker_write_url", "broker_read_url")
    old = {key: app.conf[key] for key in keys}
    app.conf.update({key: url for key in keys})
    reset_pools()
    try:
        yield
    finally:
        app.conf.update(old)
        reset_pools()


def wait_until(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def test_broker_down_keeps_work_in_the_outbox_and_sends_it_once_it_returns(
        redis_server, tmp_path, client, make_user):
    worker = spawn_worker(tmp_path / "outbox-worker.log", CELERY_BROKER_URL=redis_server.url())
    try:
        with this_process_publishes_to(redis_server.url()):
            redis_server.stop()

            began = time.monotonic()
            check = start_run("healthcheck", {"message": "outbox"})
            assert time.monotonic() - began < 5  # the caller is not held up
            check.refresh_from_db()
            assert check.status == Run.Status.QUEUED and check.published_at is None
            assert "work queue is unreachable" in check.notice

            # A Bad rating saves, and the page says why candidates have not started.
            project = make_project("outbox", generator={"model": "/nonexistent/model"})
            solution = make_solution(project, ["A wrong first step."])
            annotator = add_member(project, make_user("outbox-annotator"))
            client.force_login(annotator)
            task = next_task(project, annotator)
            rated = client.post(f"/task/{task.pk}/rate/", {"node": solution.last_step_id,
                                                            "rating": "-1"}, HTTP_HX_REQUEST="true")
            assert rated.status_code == 200
            assert "the work queue is unreachable" in rated.content.decode()
            candidates = Run.objects.get(kind="generate_candidates")
            assert candidates.published_at is None

            # The API answers with the run and the same notice, never a 500.
            admin = add_member(project, make_user("outbox-admin"), role="admin")
            client.force_login(admin)
            api = client.post("/api/runs/", {"kind": "generate_solutions", "project": project.pk,
                                             "params": {"n": 1}}, content_type="application/json")
            assert api.status_code == 201, api.content
            assert "work queue is unreachable" in api.json()["notice"]
            export = client.post("/api/exports/", {"spec": {"projects": [project.pk],
                                                            "format": "trl"}},
                                 content_type="application/json")
            assert export.status_code == 201, export.content
            assert "work queue is unreachable" in export.json()["run"]["notice"]

            # An import upload lands on its run page, which says the same.
            upload = client.post(reverse("manage:import", args=[project.slug]), {
                "file": SimpleUploadedFile("p.jsonl", b'{"problem": "1+1?", "answer": "2"}\n'),
                "fmt": "problems", "field_map": ""})
            assert upload.status_code == 302, upload.content
            assert "work queue is unreachable" in client.get(upload["Location"]).content.decode()

            redis_server.start()
            runs = [wait_for_run(r, 90) for r in Run.objects.order_by("pk")]
        assert [r.kind for r in runs] == ["healthcheck", "generate_candidates",
                                          "generate_solutions", "export", "import"]
        for run in runs:
            assert run.published_at is not None and run.attempts == 1 and run.dispatch == 1, run
        assert {r.kind for r in runs if r.status == Run.Status.SUCCEEDED} == {
            "healthcheck", "import"}
        # The export ran too: nothing was submitted yet, so it has no rows, and says so.
        assert runs[3].status == Run.Status.FAILED and "No labeled rows" in runs[3].reason
        # The generation runs ran (and failed on the missing model, which says so).
        assert {r.reason for r in runs[1:3]} == {"The generator model is not ready yet"}
    finally:
        stop_process(worker)


def test_a_killed_solo_worker_hands_its_run_back_and_the_old_message_does_nothing(
        redis_server, tmp_path):
    url = redis_server.url()
    first = spawn_worker(tmp_path / "doomed.log", CELERY_BROKER_URL=url)
    with this_process_publishes_to(url):
        run = start_run("healthcheck", {"message": "survivor", "steps": 30, "pause": 0.3})
        wait_until(lambda: Run.objects.filter(pk=run.pk, progress_done__gte=3).exists(), 60,
                   "the run to make progress")
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        killed_at = time.monotonic()
        second = spawn_worker(tmp_path / "successor.log", CELERY_BROKER_URL=url)
        try:
            wait_until(lambda: Run.objects.filter(pk=run.pk, dispatch=2).exists(), 60,
                       "the sweep to hand the run back")
            run = wait_for_run(run, 90)
            recovery = time.monotonic() - killed_at
            assert run.status == Run.Status.SUCCEEDED and run.attempts == 2
            assert run.result["message"] == "survivor"
            assert "stopped answering; queued again" in run.log
            assert recovery < 60

            # The dead worker's message, redelivered late, finds the run moved on.
            RUN_KINDS["healthcheck"].apply_async(args=[run.pk], kwargs={"dispatch": 1})
            time.sleep(3)
            run.refresh_from_db()
            assert run.status == Run.Status.SUCCEEDED and run.attempts == 2
        finally:
            stop_process(second)


def test_cancelling_a_run_whose_worker_is_gone_ends_it(redis_server, tmp_path):
    url = redis_server.url()
    doomed = spawn_worker(tmp_path / "doomed.log", CELERY_BROKER_URL=url)
    with this_process_publishes_to(url):
        run = start_run("healthcheck", {"steps": 100, "pause": 0.3})
        wait_until(lambda: Run.objects.filter(pk=run.pk, progress_done__gte=1).exists(), 60,
                   "the run to start")
        os.kill(doomed.pid, signal.SIGKILL)
        doomed.wait()
        # Asked at once, the beat is still fresh: the flag is set, and the sweep ends it.
        assert cancel_run(run).cancel_requested
        successor = spawn_worker(tmp_path / "successor.log", CELERY_BROKER_URL=url)
        try:
            run = wait_for_run(run, 60)
            assert run.status == Run.Status.CANCELLED and run.attempts == 1
            assert "had stopped answering" in run.log
        finally:
            stop_process(successor)


def _kill_and_replace(proc, url: str, log_path):
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return spawn_worker(log_path, CELERY_BROKER_URL=url)


def test_a_worker_killed_mid_generation_is_replaced_and_adds_no_duplicates(redis_server, tmp_path):
    from annotate.models import Project, Solution, StepNode
    from demo.seed import seed_demo_content
    from demo.testing import build_test_model
    from generation.services import request_solutions

    url = redis_server.url()
    project = Project.objects.create(name="g", slug="g", generator={
        "model": str(build_test_model()), "delimiter": "\n", "max_new_tokens": 64,
        "temperature": 0.8, "top_p": 0.95, "seed": 11, "batch_size": 2})
    seed_demo_content(project, n_problems=12, solutions_per_problem=0, seed=7)
    first = spawn_worker(tmp_path / "doomed.log", CELERY_BROKER_URL=url)
    with this_process_publishes_to(url):
        run = request_solutions(project=project, n=2)
        wait_until(lambda: Run.objects.filter(pk=run.pk, progress_done__gte=2).exists(), 120,
                   "generation to make progress")
        second = _kill_and_replace(first, url, tmp_path / "successor.log")
        try:
            run = wait_for_run(run, 180)
        finally:
            stop_process(second)
    assert run.status == Run.Status.SUCCEEDED and run.attempts == 2, run.error
    # Seeded sampling asks for the same samples again; the tree's identity keeps one copy.
    solutions = Solution.objects.filter(project=project)
    assert 0 < solutions.count() <= 12 * 2
    assert solutions.values("last_step").distinct().count() == solutions.count()
    paths = StepNode.objects.filter(problem__project=project)
    assert paths.values("problem", "parent", "text_hash").distinct().count() == paths.count()


def test_a_worker_killed_mid_training_resumes_from_its_checkpoint(redis_server, tmp_path, make_user,
                                                                  settings):
    from annotate.models import Membership, Project
    from tests.prm_factories import build_tiny_base, rule_examples, seed_project
    from training.models import PrmModel
    from training.services import start_training

    url = redis_server.url()
    admin = make_user("trainer-admin")
    project = Project.objects.create(name="T", slug="t")
    Membership.objects.create(project=project, user=admin, role=Membership.Role.ADMIN)
    seed_project(project, rule_examples(40, per_problem=2, seed=7), admin)
    base = build_tiny_base(tmp_path / "base")
    settings.STEPWISE_MODEL_REGISTRY = [str(tmp_path)]  # an operator-shared folder of bases
    first = spawn_worker(tmp_path / "doomed.log", CELERY_BROKER_URL=url)
    with this_process_publishes_to(url):
        model = start_training(project=project, user=admin, name="resumed prm",
                               base_model=str(base), hyperparameters={
                                   "epochs": 10, "batch_size": 8, "max_length": 96,
                                   "early_stopping_patience": 0})
        run = model.run
        wait_until(lambda: "epoch 2" in Run.objects.get(pk=run.pk).log, 180, "two epochs")
        second = _kill_and_replace(first, url, tmp_path / "successor.log")
        try:
            run = wait_for_run(run, 300)
        finally:
            stop_process(second)
    assert run.status == Run.Status.SUCCEEDED and run.attempts == 2, run.error + run.log
    assert "resumed from checkpoint" in run.log
    model = PrmModel.objects.get(pk=model.pk)
    assert model.status == PrmModel.Status.READY and model.metrics["training"]["resumed"]


def test_a_killed_prefork_child_is_redelivered_at_once_under_the_same_dispatch(redis_server, tmp_path):
    import subprocess

    url = redis_server.url()
    worker = spawn_worker(tmp_path / "prefork.log", pool="prefork", CELERY_BROKER_URL=url)
    try:
        with this_process_publishes_to(url):
            run = start_run("healthcheck", {"message": "child", "steps": 20, "pause": 0.2})
            wait_until(lambda: Run.objects.filter(pk=run.pk, progress_done__gte=2).exists(), 60,
                       "the run to make progress")
            child = subprocess.run(["pgrep", "-P", str(worker.pid)], capture_output=True,
                                   text=True).stdout.split()
            assert Run.objects.get(pk=run.pk).worker.endswith(f":{child[0]}")
            os.kill(int(child[0]), signal.SIGKILL)
            run = wait_for_run(run, 60)
        # The broker gave the message back at once and the new child took it: no sweep.
        assert run.status == Run.Status.SUCCEEDED and run.attempts == 2 and run.dispatch == 1
        assert "stopped answering" not in run.log
    finally:
        stop_process(worker)


def test_a_message_lost_with_a_restarted_broker_is_sent_again(redis_server, tmp_path):
    url = redis_server.url()
    with this_process_publishes_to(url):
        run = start_run("healthcheck", {"message": "lost and found"})
        assert Run.objects.get(pk=run.pk).published_at is not None
        redis_server.stop()  # no persistence: the queued message is gone
        redis_server.start()
        worker = spawn_worker(tmp_path / "late.log", CELERY_BROKER_URL=url)
        try:
            run = wait_for_run(run, 60)
        finally:
            stop_process(worker)
    assert run.status == Run.Status.SUCCEEDED and run.attempts == 1
    assert run.result["message"] == "lost and found"
