"""The labeling page's fast path for plain steps (annotate/templatetags/position_html.py)
gives the markup ``_position.html`` gives for the same step: rated or not, flagged, the final
answer, a group's member, and in verify mode with the machine's verdict (sure or not, with a
reason, confirmed or changed, binary scale). Whitespace between tags is the only difference."""

import re

import pytest
from django.template.loader import render_to_string

from annotate.models import Assignment, Project, StepNode
from annotate.selectors.labeling import Item, Position, TaskState
from annotate.selectors.verdicts import Verdict
from annotate.templatetags import position_html

pytestmark = pytest.mark.portable

REASON = 'Since $7 \\cdot 6 = 42$, the step <b>"holds"</b> & *checks*.'


def _render(pos, state, monkeypatch, fast: bool) -> str:
    with monkeypatch.context() as m:
        if not fast:
            m.setattr(position_html, "plain_position", lambda *_a: "")
        html = render_to_string("annotate/_position.html", {
            "pos": pos, "state": state, "assignment": state.assignment, "project": state.project})
    return re.sub(r"\s+", " ", re.sub(r">\s+<", "><", html)).strip()


def _state(scale=Project.RatingScale.PRM800K, status="active", source="judge:vj"):
    project = Project(id=1, slug="p", mode=Project.Mode.FIRST_ERROR, rating_scale=scale)
    assignment = Assignment(id=7, project=project, status=status, shown_source=source)
    return TaskState(assignment, project, [], False, None, [])


CASES = {
    "unrated": dict(rating=None),
    "rated": dict(rating=1),
    "flagged bad": dict(rating=-1, flagged=True),
    "final answer": dict(rating=0, text="# Answer\n\n41"),
    "verdict sure, unrated": dict(rating=None, verdict=Verdict(1, REASON, 0.9)),
    "verdict confirmed": dict(rating=1, verdict=Verdict(1, REASON, 1.0)),
    "verdict changed": dict(rating=0, verdict=Verdict(-1, "", 0.5)),
    "verdict bad, unrated": dict(rating=None, verdict=Verdict(-1, REASON, 0.666)),
    "no usable verdict": dict(rating=None, verdict=Verdict(None, "unparsed", 0.0)),
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("scale", [Project.RatingScale.PRM800K, Project.RatingScale.BINARY])
@pytest.mark.parametrize("status", ["active", "submitted"])
def test_the_fast_path_gives_the_templates_markup(case, scale, status, monkeypatch):
    spec = dict(CASES[case])
    text = spec.pop("text", "Then $7x = 42$, so *x* is 6 & <not a tag>.")
    verdict = spec.pop("verdict", None)
    node = StepNode(id=31, problem_id=1, parent_id=30, depth=2, text=text)
    item = Item(node, spec.get("rating"), spec.get("flagged"), chosen=spec.get("rating") is not None)
    item.verdict = verdict
    pos = Position(2, 30, [item], chosen=0 if item.chosen else None)
    state = _state(scale, status)
    state.positions = [pos]
    fast, slow = _render(pos, state, monkeypatch, True), _render(pos, state, monkeypatch, False)
    assert position_html.plain_position(pos, state, str)  # the fast path took it
    assert fast == slow


def test_the_template_renders_what_the_fast_path_leaves(monkeypatch):
    node = StepNode(id=31, problem_id=1, parent_id=30, depth=2, text="a step")
    item = Item(node, None, None)
    item.critique = object()
    state = _state()
    assert position_html.plain_position(Position(0, None, [item]), state, str) == ""
