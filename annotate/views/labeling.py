"""The labeling page and its htmx actions. Thin: parse, call a service, render.

A rating, flag or undo answers with only what it changed (htmx out-of-band swaps of the
changed positions, rail cells and group headers, the progress and hint lines:
``_changes.html``, planned by ``selectors.label_changes``), so the answer's size does not
grow with the number of steps. Other actions, and any change too wide for parts, answer
with the re-rendered task panel. Errors are a 4xx plain-text message that the page shows in
its message bar (label.js); nothing already saved is touched then.
"""

from __future__ import annotations

from functools import lru_cache

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.urls import get_script_prefix, reverse
from django.views.decorators.http import require_POST

from annotate.models import Assignment, Project
from annotate.selectors.label_changes import changes_of
from annotate.selectors.labeling import task_state
from annotate.selectors.long_trace import attach_layout
from annotate.selectors.progress import held_task, tasks_done
from annotate.selectors.projects import active_project_and_role
from annotate.selectors.trajectories import attach_context
from annotate.services import critiques, group_rating, labeling, verify
from annotate.services.labeling import LabelingError
from annotate.services.queue import QueueError, next_task, skip_task
from annotate.templatetags.labeling_tags import reason_words


def _error(message: str, status: int) -> HttpResponse:
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")


def _member_project(request, slug: str) -> Project:
    project, role = active_project_and_role(slug, request.user)
    if project is None:
        raise Http404("No such project.")
    if role is None:
        raise LabelingError("You are not a member of this project.", 403)
    return project


_PANEL_ACTIONS = ("rate", "flag", "undo", "choose", "finish", "rate_group", "accept", "critique",
                  "critique_delete")
_PLACEHOLDER = 987654321


@lru_cache(maxsize=8)
def _panel_url_patterns(script_prefix: str) -> dict[str, str]:
    # The panel is re-rendered on every key press; reverse() walked the URL resolver five
    # times per render. Resolve once with a placeholder id, fill in the task's id after.
    return {name: reverse(f"annotate:{name}", args=[_PLACEHOLDER]) for name in _PANEL_ACTIONS}


def _panel_urls(pk: int) -> dict[str, str]:
    patterns = _panel_url_patterns(get_script_prefix())
    return {name: url.replace(str(_PLACEHOLDER), str(pk)) for name, url in patterns.items()}


def _panel(request, state, status: int = 200):
    attach_context(state)
    attach_layout(state)
    ctx = {"state": state, "assignment": state.assignment, "project": state.project,
           "urls": _panel_urls(state.assignment.pk)}
    return render(request, "annotate/_task.html", ctx, status=status)


def _answer(request, state):
    """Only what the action changed where that is known and narrow; else the whole panel."""
    attach_layout(state, all_hints=False)
    changes = changes_of(state)
    if changes is None:
        return _panel(request, state)
    attach_context(state)
    ctx = {"state": state, "assignment": state.assignment, "project": state.project,
           "changes": changes}
    response = render(request, "annotate/_changes.html", ctx)
    response["HX-Reswap"] = "none"  # the parts carry their own targets (hx-swap-oob)
    return response


@login_required
def start(request, slug: str):
    """GET shows where the annotator is (the held task, or a Start button) and assigns
    nothing; POST (CSRF-checked) takes the held or next task, or says none is left."""
    if request.method not in ("GET", "POST"):
        return HttpResponseNotAllowed(["GET", "POST"])
    try:
        project = _member_project(request, slug)
    except LabelingError as exc:
        return _error(str(exc), exc.status)
    if request.method == "GET":
        held = held_task(project, request.user)
        if held is not None:
            return _to(request, reverse("annotate:task", args=[held.pk]))
        ctx = {"project": project, "done": tasks_done(project, request.user)}
        if request.GET.get("empty") == "1":  # said by the finish that found the queue empty
            return render(request, "annotate/no_tasks.html", ctx)
        return render(request, "annotate/start.html", ctx)
    assignment = next_task(project, request.user)
    if assignment is None:
        return render(request, "annotate/no_tasks.html",
                      {"project": project, "done": tasks_done(project, request.user)})
    labeling.carry_over_for_task(assignment, request.user)
    return _to(request, reverse("annotate:task", args=[assignment.pk]))


def _to(request, url: str) -> HttpResponse:
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


@login_required
def task(request, pk: int):
    try:
        assignment = labeling.load_for_user(pk, request.user, with_problem=not request.htmx)
    except LabelingError as exc:
        return _error(str(exc), exc.status)
    state = task_state(assignment)
    if request.htmx:  # the panel alone (polling for candidates): no problem, no keymap
        return _panel(request, state)
    attach_context(state)
    attach_layout(state)
    ctx = {"state": state, "assignment": assignment, "project": assignment.project,
           "urls": _panel_urls(assignment.pk), "problem": assignment.solution.problem,
           "keymap": assignment.project.effective_keymap,
           "done": tasks_done(assignment.project, request.user)}
    return render(request, "annotate/label.html", ctx)


def _action(fn):
    """POST-only htmx action: run the service; render the panel or the error message."""

    @login_required
    @require_POST
    def view(request, pk: int):
        try:
            state = fn(request, pk)
        except LabelingError as exc:
            return _error(str(exc), exc.status)
        return _answer(request, state)

    view.__name__ = fn.__name__
    return view


@_action
def rate(request, pk):
    p = request.POST
    return labeling.rate_step(pk, request.user, node_id=p.get("node"), rating=p.get("rating"),
                              time_ms=p.get("ms"))


@_action
def rate_group(request, pk):
    p = request.POST
    return group_rating.rate_group(pk, request.user, group_id=p.get("group"),
                                   rating=p.get("rating"))


@_action
def flag(request, pk):
    return labeling.toggle_flag(pk, request.user, node_id=request.POST.get("node"))


@_action
def undo(request, pk):
    return labeling.undo(pk, request.user)


@_action
def choose(request, pk):
    p = request.POST
    return labeling.choose_candidate(pk, request.user, position=p.get("position"),
                                     index=p.get("index"))


@_action
def accept(request, pk):
    return verify.accept_verdicts(pk, request.user)


def _critique_answer(request, pk: int, node_id: int):
    """The step's position again (its critique shown), as a rating's answer is."""
    state = task_state(labeling.load_for_user(pk, request.user))
    state.changed, state.shown_before = {node_id}, state.presentation
    return state


@_action
def critique(request, pk):
    p = request.POST
    node_id = critiques.save_from_page(
        pk, request.user, node_id=p.get("node"), text=p.get("text", ""),
        correction=p.get("correction", ""), origin=p.get("origin", ""),
        offered=p.get("offered") == "1")
    return _critique_answer(request, pk, node_id)


@_action
def critique_delete(request, pk):
    node_id = critiques.delete_on_page(pk, request.user, node_id=request.POST.get("node"))
    return _critique_answer(request, pk, node_id)


@_action
def write(request, pk):
    p = request.POST
    return labeling.write_step(pk, request.user, position=p.get("position"), text=p.get("text", ""))


@login_required
@require_POST
def finish(request, pk: int):
    try:
        assignment = labeling.finish(pk, request.user, reason=request.POST.get("reason", ""),
                                     note=request.POST.get("note", ""))
    except LabelingError as exc:
        return _error(str(exc), exc.status)
    done = tasks_done(assignment.project, request.user)
    label = Assignment.FinishReason(assignment.finish_reason).value
    return _go_next(request, assignment.project,
                    f"Task submitted ({reason_words(label)}). Tasks done in this project: {done}.")


@login_required
@require_POST
def skip(request, pk: int):
    try:
        assignment = labeling.load_for_user(pk, request.user)
        skip_task(assignment)
    except (LabelingError, QueueError) as exc:
        return _error(str(exc), exc.status)
    return _go_next(request, assignment.project, "Task skipped; it will not be offered again.")


def _go_next(request, project, said: str):
    """After a finish or skip (a POST): take the next task at once and say what happened,
    so the next page never looks like the same task (it often shares the problem)."""
    # The action loaded a few project fields; the queue reads others: one full row, not
    # one deferred load per field.
    project = Project.objects.get(pk=project.pk)
    nxt = next_task(project, request.user)
    if nxt is None:
        messages.success(request, f"{said} There are no more tasks right now.")
        return _to(request, reverse("annotate:start", args=[project.slug]) + "?empty=1")
    labeling.carry_over_for_task(nxt, request.user)
    messages.success(request, f"{said} This is a new task: solution #{nxt.solution_id}.")
    return _to(request, reverse("annotate:task", args=[nxt.pk]))
