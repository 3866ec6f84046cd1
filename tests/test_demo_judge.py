"""The demo judge (``demo/judge_model.py``) judging demo solutions for real: a ``judge`` Run
with a real worker against ``transformers serve`` serving the judge on a loopback port (the
OpenAI-compatible chat completions, with the chat template saved in its tokenizer), and the
same judge in process. The stored verdicts and reasons are the judge's own: readable, in the
trained format, each reason of a step called right the step itself (the judge read the step it
names), and the verdicts' accuracy against the exact checker above a floor measured with margin.

The judge finds errors: its balanced accuracy on fixed seeded solutions is held to a floor
above the 0.50 of a judge that calls every step correct (docs/labels.md, "The demo judge")."""

import re

import pytest

from annotate.models import PreAnnotation, Project, Solution, StepNode
from demo.judge_model import TEMPLATE_KEY, evaluate_demo_judge, judge_messages
from demo.labels import exact_labels_for_solution
from demo.seed import seed_demo_content
from demo.testing import build_test_judge
from generation.judging.services import start_judge
from tests.conftest import stop_process, wait_for_run
from tests.inference_server import start_transformers_serve
from workers.models import Run

# Judging through `transformers serve` is one request at a time, on a shared 2-core machine.
pytestmark = [pytest.mark.timeout(1200)]
# Measured: accuracy 0.98 at build time, 1.00 on the Runs' seeded projects (balanced 1.00 on
# 58 and 52 steps, 10 wrong each); reasons of steps called right copied 0.99.
ACCURACY_FLOOR = 0.85
COPIED_FLOOR = 0.80
# Measured 0.94 (64 solutions of seed 2; 0.95 and 0.93 on seeds 1 and 3); calling every step
# correct scores 0.50.
BALANCED_FLOOR = 0.80
# On the judge Runs' seeded projects: a small sample, so a lower floor.
SEEDED_BALANCED_FLOOR = 0.70
STEP = r"-?\d+ [+-] \d+ = -?\d+"
REASON = re.compile(rf"^({STEP}|{STEP} is wrong: {STEP}|the answer is -?\d+|"
                    rf"the answer -?\d+ is wrong: the last value is -?\d+|{STEP} is wrong)$")


@pytest.fixture(scope="module")
def judge_server(tmp_path_factory):
    model_dir = build_test_judge()
    root = tmp_path_factory.mktemp("demo-judge")
    proc, base_url = start_transformers_serve(model_dir, root / "serve.log")
    try:
        yield str(model_dir), base_url
    finally:
        stop_process(proc)


def judged_project(slug: str, generator: dict, seed: int) -> Project:
    project = Project.objects.create(name=slug, slug=slug, generator={
        "model": generator["model"], "delimiter": "\n", "retries": 2, "timeout": 120})
    seed_demo_content(project, n_problems=8, solutions_per_problem=2, seed=seed)
    return project


def scored(source: str) -> dict:
    """The stored labels of ``judge:<source>`` against the exact checker."""
    truth = {s.pk: exact_labels_for_solution(s) for s in Solution.objects.select_related("problem")}
    hit = {True: [0, 0], False: [0, 0]}
    labels = list(PreAnnotation.objects.filter(kind=PreAnnotation.Kind.JUDGE, source=source))
    for label in labels:
        ok = truth[label.scope][label.provenance["position"]]
        hit[ok][1] += 1
        hit[ok][0] += label.rating is not None and (label.rating > 0) == ok
    total = hit[True][1] + hit[False][1]
    return {"labels": labels, "steps": total,
            "accuracy": (hit[True][0] + hit[False][0]) / total,
            "balanced": (hit[True][0] / max(hit[True][1], 1) + hit[False][0] / max(hit[False][1], 1)) / 2,
            "wrong_steps": hit[False][1]}


def check_judged(run: Run, source: str) -> dict:
    assert run.status == Run.Status.SUCCEEDED, run.error
    result = scored(source)
    labels = result["labels"]
    assert result["steps"] == run.result["steps"] == len(labels) > 30 and result["wrong_steps"] >= 5
    assert run.result["unparsed"] <= 0.05 * len(labels)
    assert result["accuracy"] >= ACCURACY_FLOOR, result
    assert result["balanced"] >= SEEDED_BALANCED_FLOOR, result
    read = [label for label in labels if label.rating is not None]
    assert all(REASON.match(label.reason) for label in read), [x.reason for x in read][:10]
    assert all(("is wrong" in label.reason) == (label.rating < 0) for label in read)
    texts = dict(StepNode.objects.filter(id__in=[x.node_id for x in read]).values_list("id", "text"))
    called_right = [x for x in read if x.rating > 0 and not x.reason.startswith("the answer")]
    copied = sum(x.reason == texts[x.node_id].strip() for x in called_right)
    assert called_right and copied >= COPIED_FLOOR * len(called_right), (copied, len(called_right))
    assert {label.provenance["version"]["prompt_version"] for label in labels} == {TEMPLATE_KEY}
    return result


@pytest.mark.django_db(transaction=True)
def test_a_judge_run_against_a_server_serving_the_demo_judge(judge_server, celery_worker):
    model_dir, base_url = judge_server
    project = judged_project("judged-served", {"model": model_dir}, seed=11)
    run = wait_for_run(start_judge(project=project, judge={
        "source": "demo-judge", "template": TEMPLATE_KEY, "max_new_tokens": 160,
        "generator": {"model": model_dir, "backend": "openai", "base_url": base_url,
                      "concurrency": 4}}),
        timeout=600)
    check_judged(run, "demo-judge")
    assert run.result["version"]["backend"] == "openai"


@pytest.mark.django_db(transaction=True)
def test_the_demo_judge_in_process_through_its_chat_template(judge_server, celery_worker):
    from generation.backends import backend_for
    from generation.config import GeneratorSettings

    model_dir, _ = judge_server
    backend = backend_for(GeneratorSettings.from_dict({"model": model_dir}))
    prompt = backend.chat_prompt(judge_messages("Ann has 5 apples.", ["5 + 3 = 9", "# Answer: 9"]))
    assert prompt.startswith("Problem: Ann has 5 apples.\nStep 1: 5 + 3 = 9") and \
        prompt.endswith("Judge all 2 steps.\nVerdicts:\n")
    project = judged_project("judged-local", {"model": model_dir}, seed=12)
    run = wait_for_run(start_judge(project=project, judge={
        "source": "demo-judge-local", "template": TEMPLATE_KEY, "max_new_tokens": 160,
        "generator": {"model": model_dir}}), timeout=600)
    check_judged(run, "demo-judge-local")
    assert run.result["version"]["backend"] != "openai"


def test_the_demo_judge_finds_errors_on_fixed_seeded_solutions():
    """Greedy verdicts on 64 fixed seeded solutions (a fifth of the steps wrong) against the
    exact checker: a judge that calls every step correct scores 0.50 and fails."""
    result = evaluate_demo_judge(build_test_judge(), n_solutions=64, seed=2)
    assert result["unreadable"] <= 0.05, result
    assert result["recall_wrong"] > 0.7 and result["recall_right"] > 0.9, result
    assert result["balanced_accuracy"] >= BALANCED_FLOOR, result
