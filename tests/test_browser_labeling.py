"""Keyboard-only labeling in headless Chromium, checked against real PRM800K records.

A record is imported (its assignment belongs to the original labeler); a fresh
annotator labels the same solution by keyboard, rating as the original labeler did,
and the PRM800K export of the new assignment gives back the original ratings,
choices and finish reason.
"""

import json

import pytest

from annotate.models import Assignment, Membership, Project

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

KEY = {1: "1", 0: "2", -1: "3"}


def _import(shared_data, name: str, index: int, **project_fields):
    from annotate.services.imports import import_prm800k

    line = (shared_data / "prm800k" / name).read_text().splitlines()[index]
    project = Project.objects.create(name=name, slug=name.split("_")[0], overlap=2,
                                     candidates_per_position=8, **project_fields)
    report = import_prm800k(project, [line], source_name=name)
    assert report.created and not report.rejected, report
    return project, json.loads(line)


def _login_and_start(page, live_server, project, make_user):
    user = make_user("kb-annotator")
    Membership.objects.create(project=project, user=user)
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "kb-annotator")
    page.fill("input[name=password]", "pw-for-tests")
    page.keyboard.press("Enter")
    page.wait_for_selector("#project-list")
    page.goto(f"{live_server.url}/p/{project.slug}/next/")
    page.click("#start-task")  # taking a task is a POST
    page.wait_for_selector("#task .item.cursor")
    return user


def _rated(page) -> int:
    return page.locator('#task .item[data-node]:not([data-rating=""])').count()


def _press_and_wait(page, key: str, rated_after: int):
    page.keyboard.press(key)
    page.wait_for_function(
        "n => document.querySelectorAll('#task .item[data-node]:not([data-rating=\"\"])').length >= n"
        " && !document.querySelector('.htmx-request')", arg=rated_after)


def _export(user):
    from annotate.services.exports.prm800k import prm800k_record

    assignment = Assignment.objects.get(annotator=user)
    assert assignment.status == Assignment.Status.SUBMITTED
    return prm800k_record(assignment)


def _summary(steps):
    return [([c["rating"] for c in s["completions"]], s["chosen_completion"],
             (s["human_completion"] or {}).get("text")) for s in steps]


def test_phase2_record_keyboard_walk_round_trips(live_server, page, shared_data, make_user):
    project, record = _import(shared_data, "phase2_sample.jsonl", 0, mode="first_error")
    user = _login_and_start(page, live_server, project, make_user)
    assert "28800" in page.inner_text("#ground-truth")
    steps = record["label"]["steps"]
    rated = 0
    for step in steps:
        for completion in step["completions"]:
            rated += 1
            _press_and_wait(page, KEY[completion["rating"]], rated)
    # The walk ended at the first Bad; the alternatives were rated; Enter submits.
    assert page.get_attribute("#task", "data-reason") == "found_error"
    page.keyboard.press("Enter")
    page.wait_for_selector("#confirm[open]")
    page.keyboard.press("Enter")  # confirms
    page.wait_for_selector("#no-tasks")
    exported = _export(user)
    assert _summary(exported["label"]["steps"]) == _summary(steps)
    assert exported["label"]["finish_reason"] == record["label"]["finish_reason"] == "found_error"
    assignment = Assignment.objects.get(annotator=user)
    assert assignment.total_time_ms > 0
    assert all(r.time_spent_ms is not None for r in assignment.ratings.all())


def test_phase1_record_keyboard_walk_in_branch_mode_round_trips(live_server, page, shared_data,
                                                                make_user):
    project, record = _import(shared_data, "phase1_sample.jsonl", 0, mode="branch")
    user = _login_and_start(page, live_server, project, make_user)
    steps = record["label"]["steps"]
    rated = 0
    for i, step in enumerate(steps):
        page.wait_for_selector(f'#task .position[data-position="{i}"] .item[data-node]')
        for completion in step["completions"]:
            rated += 1
            _press_and_wait(page, KEY[completion["rating"]], rated)
        if step["chosen_completion"] is not None:
            # The cursor rests on the last candidate: move up to the chosen one, continue.
            for _ in range(len(step["completions"]) - 1 - step["chosen_completion"]):
                page.keyboard.press("k")
            page.keyboard.press("Enter")
        else:
            page.keyboard.press("w")
            page.keyboard.type(step["human_completion"]["text"])
            page.keyboard.press("Control+Enter")
        page.wait_for_selector(f'#task .position[data-position="{i}"] .chosen, '
                               f'#task .position[data-position="{i}"] .item.human')
    assert page.get_attribute("#task", "data-reason") == "solution"
    page.keyboard.press("Enter")
    page.wait_for_selector("#confirm[open]")
    page.keyboard.press("Enter")  # confirms
    page.wait_for_selector("#no-tasks")
    exported = _export(user)
    assert _summary(exported["label"]["steps"]) == _summary(steps)
    assert exported["label"]["finish_reason"] == "solution"


def test_bad_input_message_shows_on_the_page(live_server, page, shared_data, make_user):
    project, record = _import(shared_data, "phase2_sample.jsonl", 2, mode="first_error")
    user = _login_and_start(page, live_server, project, make_user)
    # Enter before the walk is done: a message, nothing submitted.
    page.keyboard.press("Enter")
    assert "Not ready to submit. Rate the highlighted step" in page.inner_text("#flash")
    _press_and_wait(page, "1", 1)
    page.keyboard.press("u")  # undo: the step is unrated again
    page.wait_for_function("() => document.querySelector('#task .item[data-node]').dataset.rating === ''")
    _press_and_wait(page, "1", 1)
    # The lease runs out while the page is open: the next rating is refused with a message.
    Assignment.objects.filter(annotator=user).update(lease_expires_at="2000-01-01T00:00:00Z")
    page.keyboard.press("1")
    page.wait_for_function("() => document.querySelector('#flash').textContent.includes('lease')")
    assignment = Assignment.objects.get(annotator=user)
    assert assignment.status == Assignment.Status.EXPIRED
    assert list(assignment.ratings.values_list("rating", flat=True)) == [1]  # kept


def test_a_server_error_page_is_never_shown_raw(live_server, page, make_user):
    from tests.labeling_factories import make_project, make_solution

    project = make_project("errors", overlap=1)
    make_solution(project, ["Let x = 6.", "# Answer\n\n42"])
    _login_and_start(page, live_server, project, make_user)
    html = "<!DOCTYPE html><html><head><title>Server Error (500)</title></head><body>" \
           "<h1>Server Error (500)</h1></body></html>"
    page.route("**/rate/", lambda route: route.fulfill(status=500, content_type="text/html",
                                                       body=html))
    page.keyboard.press("1")
    page.wait_for_function("() => document.querySelector('#flash').textContent !== ''")
    assert page.inner_text("#flash") == "The server could not save this (error 500); try again."
    page.unroute("**/rate/")
    page.route("**/rate/", lambda route: route.fulfill(
        status=503, content_type="application/json", body='{"detail": "Busy; try again soon."}'))
    page.keyboard.press("1")
    page.wait_for_function("() => document.querySelector('#flash').textContent.includes('Busy')")
    assert page.inner_text("#flash") == "Busy; try again soon."
    page.unroute("**/rate/")
    _press_and_wait(page, "1", 1)  # the real server saves it; the bar clears
    assert page.inner_text("#flash") == ""
