"""Branch walks in every export: the path the annotator walked, not the seeded solution's."""

import pytest

from exports.spec import normalize_spec
from exports.writers import iter_rows
from tests.walk_data import ALTERNATIVES, OWN_STEP, STATEMENT, WALK, label_walk, make_branch_project

pytestmark = [pytest.mark.django_db, pytest.mark.portable]

TEXTS = [t for t, _r in WALK]
GOOD = [True, True, True, True]  # Okay maps to positive by default; the own step is Great


@pytest.fixture
def walked(make_user):
    project = make_branch_project()
    label_walk(project, make_user("walker"))
    return project


def rows(project, **spec):
    spec = normalize_spec({"projects": [project.pk], **spec})
    return [row for _split, row, _steps in iter_rows(spec)]


@pytest.mark.parametrize("labels", ["per_annotator", "consensus"])
def test_trl_row_is_the_whole_walk(walked, labels):
    out = rows(walked, format="trl", labels=labels, machine_labels=True)
    assert [(r["completions"], r["labels"]) for r in out] == [(TEXTS, GOOD)]
    human = "human" if labels == "per_annotator" else "consensus"
    assert out[0]["label_sources"] == [human, human, "written", human]
    negative = rows(walked, format="parquet", labels=labels, neutral="negative")
    assert negative[0]["labels"] == [False, True, True, True]  # A1 was rated Okay


@pytest.mark.parametrize("labels", ["per_annotator", "consensus"])
def test_expand_alternatives_gives_each_rated_candidate_after_the_walk_before_it(walked, labels):
    out = rows(walked, format="trl", labels=labels, expand_alternatives=True)
    expected = [(TEXTS, GOOD)]
    for position, alternatives in sorted(ALTERNATIVES.items()):
        for text, rating in alternatives:
            expected.append((TEXTS[:position] + [text], GOOD[:position] + [rating >= 0]))
    assert [(r["completions"], r["labels"]) for r in out] == expected


@pytest.mark.parametrize("labels", ["per_annotator", "consensus"])
def test_openrlhf_rlhflow_and_processbench_follow_the_walk(walked, labels):
    (orl,) = rows(walked, format="openrlhf", labels=labels)
    assert orl["input"] == STATEMENT + "\n" + "\n".join(f"{t} ки" for t in TEXTS)
    assert orl["label"] == ["+", "+", "+", "+"]
    (soft,) = rows(walked, format="openrlhf", labels=labels, label_type="soft")
    assert soft["label"] == [0.5, 1.0, 1.0, 1.0]
    (chat,) = rows(walked, format="rlhflow", labels=labels)
    users = [t["content"] for t in chat["conversations"] if t["role"] == "user"]
    assert users == [f"{STATEMENT} {TEXTS[0]}", *TEXTS[1:]]
    (bench,) = rows(walked, format="processbench", labels=labels)
    # The walk reached 42, the right answer, though the seeded solution says 41.
    assert (bench["steps"], bench["label"], bench["final_answer_correct"]) == (TEXTS, -1, True)


def test_prm800k_record_has_the_whole_walk(walked):
    (record,) = rows(walked, format="prm800k")
    steps = record["label"]["steps"]
    chosen = [s["completions"][s["chosen_completion"]]["text"]
              if s["chosen_completion"] is not None else s["human_completion"]["text"]
              for s in steps]
    assert chosen == TEXTS and steps[2]["human_completion"]["text"] == OWN_STEP


def test_consensus_keeps_each_annotators_distinct_walk(make_user):
    """Two annotators of one solution: the second stops at B2; its walk is the start of
    the first one's and adds no record; labels are the consensus of both."""
    from annotate.services import labeling
    from annotate.services.queue import next_task
    from tests.walk_data import _rate_position

    project = make_branch_project(overlap=2)
    label_walk(project, make_user("walker"))
    other = make_user("stopper")
    from annotate.models import Membership

    Membership.objects.create(project=project, user=other)
    task = next_task(project, other)
    for position in range(2):
        shown = _rate_position(task, other, position)
        labeling.choose_candidate(task.pk, other, position=position,
                                  index=shown.index(WALK[position][0]))
        task.refresh_from_db()
    labeling.finish(task.pk, other, reason="give_up")
    out = rows(project, format="trl", labels="consensus")
    assert [(r["completions"], r["labels"]) for r in out] == [(TEXTS, GOOD)]
    assert len(rows(project, format="trl")) == 2  # one per annotator


def test_a_walk_whose_step_was_deleted_falls_back_to_the_solution_path(walked):
    from annotate.models import StepNode

    StepNode.objects.filter(text=WALK[3][0]).delete()  # the walk's last step, and its ratings
    (row,) = rows(walked, format="trl")
    assert row["completions"] == [TEXTS[0], ALTERNATIVES[1][0][0]]  # A1 Okay, B1 Bad
    assert row["labels"] == [True, False]
