"""From the keyboard to the trainer: an annotator labels in headless Chromium, by keys only,
in first-error mode and in branch mode (a walk that continues from a chosen candidate
off the seeded solution, an own step, rated alternatives); every export format is then
built by the real ``export`` Run on a real worker and read as a trainer reads it
(``datasets.load_dataset``): each rated step arrives with its rating, in the order walked.

The page is driven by its keyboard model (docs/labeling.md) and stable ids only.
"""

import pytest

from annotate.models import Assignment, Membership, Solution, StepNode
from annotate.services import critiques
from exports.services import create_snapshot, snapshot_file
from exports.spec import FORMATS
from tests.conftest import wait_for_run
from tests.labeling_factories import make_project, make_solution
from tests.walk_data import (
    ALTERNATIVES,
    KEYS,
    OWN_STEP,
    STATEMENT,
    WALK,
    final_candidates,
    make_branch_project,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FE_STEPS = ["Let $x = 6$.", "Then $7x = 43$.", "So it is 43.", "# Answer\n\n43"]
FE_ALTERNATIVE = "Then $7x = 42$."
FE_CRITIQUE = "$7 \\cdot 6 = 42$, not 43."
FE_STATEMENT = "Problem FE: what is 7*6?"
BRANCH = [t for t, _r in WALK]


def _login(page, live_server, username):
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "pw-for-tests")
    page.keyboard.press("Enter")
    page.wait_for_selector("#project-list")


def _start(page, live_server, project):
    page.goto(f"{live_server.url}/p/{project.slug}/next/")
    page.click("#start-task")  # taking a task is a POST
    page.wait_for_selector("#task .item.cursor")


def _rated(page) -> int:
    return page.locator('#task .item[data-node]:not([data-rating=""])').count()


def _press_and_wait(page, key: str):
    after = _rated(page) + 1
    page.keyboard.press(key)
    page.wait_for_function(
        "n => document.querySelectorAll('#task .item[data-node]:not([data-rating=\"\"])')"
        ".length >= n && !document.querySelector('.htmx-request')", arg=after)


def _shown(page, position: int) -> list[str]:
    """The texts of the candidates at a position, in the order shown (by their node ids)."""
    selector = f'#task .position[data-position="{position}"] .item[data-node]'
    page.wait_for_selector(selector)
    ids = page.locator(selector).evaluate_all("els => els.map(e => Number(e.dataset.node))")
    texts = dict(StepNode.objects.filter(pk__in=ids).values_list("pk", "text"))
    return [texts[i] for i in ids]


def _rate_shown(page, position: int, ratings: dict[str, int]) -> list[str]:
    """Rate each candidate at the position by key, in the order shown; the cursor moves to
    the next unrated one after each key."""
    order = _shown(page, position)
    for text in order:
        _press_and_wait(page, KEYS[ratings[text]])
    return order


def _walk_first_error(page, annotator):
    _press_and_wait(page, KEYS[1])   # "Let x = 6": Great
    _press_and_wait(page, KEYS[-1])  # "Then 7x = 43": Bad, which ends the walk
    _press_and_wait(page, KEYS[1])   # its alternative "Then 7x = 42": Great
    assert page.get_attribute("#task", "data-reason") == "found_error"
    # The critique of the Bad step, as a labeling client writes it (the critique API's service)
    held = Assignment.objects.get(annotator=annotator, status="active")
    bad = StepNode.objects.get(problem=held.solution.problem, text=FE_STEPS[1])
    critiques.write(held.pk, annotator, node_id=bad.pk, text=FE_CRITIQUE)
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")  # confirms the submit
    page.wait_for_selector("#no-tasks")


def _walk_branch(page, project):
    for position in range(4):
        ratings = dict([(t, r) for t, r in [WALK[position]] if r is not None]
                       + ALTERNATIVES[position])
        order = _rate_shown(page, position, ratings)
        if WALK[position][1] is None:
            page.keyboard.press("w")
            page.keyboard.type(OWN_STEP)
            page.keyboard.press("Control+Enter")
            page.wait_for_selector(f'#task .position[data-position="{position}"] .item.human')
            final_candidates(project)  # what a generator adds under the own step
            page.reload()
            page.wait_for_selector('#task .position[data-position="3"] .item[data-node]')
            continue
        # The cursor rests on the last candidate: move up to the one to continue from.
        for _ in range(len(order) - 1 - order.index(WALK[position][0])):
            page.keyboard.press("k")
        page.keyboard.press("Enter")
        page.wait_for_selector(f'#task .position[data-position="{position}"] .chosen')
    assert page.get_attribute("#task", "data-reason") == "solution"
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")  # confirms the submit
    page.wait_for_selector("#no-tasks")


def _load(snapshot, tmp_path):
    import datasets

    path = snapshot_file(snapshot, "all")
    kind = "parquet" if snapshot.format == "parquet" else "json"
    return datasets.load_dataset(kind, data_files=str(path), split="train",
                                 cache_dir=str(tmp_path / "hf" / snapshot.format)).to_list()


def test_keyboard_labels_reach_every_trainer_format(live_server, page, make_user, celery_worker,
                                                     tmp_path):
    fe = make_project("fe-kb", candidates_per_position=3)
    solution = make_solution(fe, FE_STEPS, statement=FE_STATEMENT,
                             alternatives={1: [FE_ALTERNATIVE]})
    Solution.objects.filter(pk=solution.pk).update(final_answer="43", is_correct=False)
    branch = make_branch_project("walk-kb")
    annotator = make_user("kb-walker")
    admin = make_user("kb-admin")
    for project in (fe, branch):
        Membership.objects.create(project=project, user=annotator)
        Membership.objects.create(project=project, user=admin, role=Membership.Role.ADMIN)

    _login(page, live_server, "kb-walker")
    _start(page, live_server, fe)
    _walk_first_error(page, annotator)
    _start(page, live_server, branch)
    _walk_branch(page, branch)
    done = Assignment.objects.filter(annotator=annotator, status="submitted")
    assert sorted(done.values_list("finish_reason", flat=True)) == ["found_error", "solution"]

    snapshots = {}
    # agentprocessbench gives imported agent trajectories back (tests/test_import_trajectories.py),
    # trace and deltabench imported long traces (tests/test_exports_traces.py); these are none.
    for fmt in (f for f in FORMATS if f not in ("agentprocessbench", "trace", "deltabench")):
        spec = {"projects": [fe.pk, branch.pk], "format": fmt}
        if fmt == "trl":
            spec["expand_alternatives"] = True
        snapshots[fmt] = create_snapshot(user=admin, raw_spec=spec)
    data = {}
    for fmt, snapshot in snapshots.items():
        run = wait_for_run(snapshot.run, timeout=180)
        assert run.status == "succeeded", run.error
        snapshot.refresh_from_db()
        data[fmt] = _load(snapshot, tmp_path)

    fe_walk = (FE_STEPS[:2], [True, False])
    branch_walk = (BRANCH, [True, True, True, True])
    by_prompt = {}
    for row in data["trl"]:
        by_prompt.setdefault(row["prompt"], []).append((row["completions"], row["labels"]))
    assert by_prompt[FE_STATEMENT] == [fe_walk, ([FE_STEPS[0], FE_ALTERNATIVE], [True, True])]
    expected = [branch_walk]
    for position, alternatives in sorted(ALTERNATIVES.items()):
        for text, rating in alternatives:
            expected.append((BRANCH[:position] + [text], [True] * position + [rating >= 0]))
    assert by_prompt[STATEMENT] == expected
    assert sorted((r["completions"], r["labels"]) for r in data["parquet"]) == sorted(
        [fe_walk, branch_walk])

    openrlhf = {r["input"].split("\n")[0]: r["label"] for r in data["openrlhf"]}
    assert openrlhf == {FE_STATEMENT: ["+", "-"], STATEMENT: ["+", "+", "+", "+"]}
    orl_branch = next(r for r in data["openrlhf"] if r["input"].startswith(STATEMENT))
    assert orl_branch["input"] == STATEMENT + "\n" + "\n".join(f"{t} ки" for t in BRANCH)

    chats = {r["conversations"][0]["content"]: r["conversations"] for r in data["rlhflow"]}
    fe_chat = chats[f"{FE_STATEMENT} {FE_STEPS[0]}"]
    assert [t["content"] for t in fe_chat] == [f"{FE_STATEMENT} {FE_STEPS[0]}", "+",
                                               FE_STEPS[1], "-"]
    br_chat = chats[f"{STATEMENT} {BRANCH[0]}"]
    assert [t["content"] for t in br_chat[2::2]] == BRANCH[1:]
    assert [t["content"] for t in br_chat[1::2]] == ["+", "+", "+", "+"]

    bench = {r["problem"]: (r["steps"], r["label"], r["final_answer_correct"])
             for r in data["processbench"]}
    fe_bench = next(r for r in data["processbench"] if r["problem"] == FE_STATEMENT)
    assert fe_bench["critique"] == FE_CRITIQUE  # the first error's critique

    # critiques: the walk with the Bad step's critique (the all-correct walk has none: refused)
    (chat,) = [r["messages"] for r in data["critiques"]]
    assert FE_STATEMENT in chat[0]["content"] and FE_STEPS[1] in chat[0]["content"]
    assert FE_CRITIQUE in chat[1]["content"]
    assert chat[1]["content"].rstrip().endswith("The first wrong step is \\boxed{1}.")
    assert bench == {FE_STATEMENT: (FE_STEPS, 1, False), STATEMENT: (BRANCH, -1, True)}

    prm = {r["question"]["problem"]: r["label"] for r in data["prm800k"]}
    fe_steps = prm[FE_STATEMENT]["steps"]
    assert [[(c["text"], c["rating"]) for c in s["completions"]] for s in fe_steps] == [
        [(FE_STEPS[0], 1)], [(FE_STEPS[1], -1), (FE_ALTERNATIVE, 1)]]
    assert prm[FE_STATEMENT]["finish_reason"] == "found_error"
    walked = []
    for step in prm[STATEMENT]["steps"]:
        ratings = {c["text"]: c["rating"] for c in step["completions"]}
        if step["chosen_completion"] is None:
            walked.append((step["human_completion"]["text"], None))
        else:
            chosen = step["completions"][step["chosen_completion"]]
            walked.append((chosen["text"], chosen["rating"]))
        others = sorted((t, r) for t, r in ratings.items() if t != walked[-1][0])
        assert others == sorted(ALTERNATIVES[len(walked) - 1])
    assert walked == [(t, r) for t, r in WALK]

    prompts = sorted((r["prompt"][0]["content"], r["ground_truth"]) for r in data["rl_prompts"])
    assert prompts == sorted([(FE_STATEMENT, "42"), (STATEMENT, "42")])
