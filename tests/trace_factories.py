"""A long trace for the long-trace labeling tests and benches: the first DeltaBench record's
chain of thought, one step per paragraph (362), with its 34 sections as StepGroups.

Built with the tree services (``store_path``), independent of any importer."""

import json
from functools import lru_cache
from pathlib import Path

from django.conf import settings

from annotate.models import Problem, Solution, SolutionTrace, StepGroup
from annotate.services.tree import store_path


def examples_path() -> Path:
    """The shared data's DeltaBench sample (STEPWISE_SHARED_DATA, as the ``shared_data``
    fixture reads it)."""
    for root in (Path(settings.SHARED_DATA_DIR), Path("/work/shared/data")):
        path = root / "deltabench" / "examples.jsonl"
        if path.exists():
            return path
    raise FileNotFoundError("deltabench/examples.jsonl not found; set STEPWISE_SHARED_DATA.")


@lru_cache(maxsize=1)
def deltabench_record() -> dict:
    with examples_path().open(encoding="utf-8") as fh:
        return json.loads(fh.readline())


def paragraphs(limit: int | None = None) -> list[str]:
    """The record's long CoT split on blank lines (362 paragraphs); ``limit`` takes the first
    ones, or repeats the text (numbered) to reach more."""
    paras = deltabench_record()["long_cot"].split("\n\n")
    if limit is None:
        return paras
    out = list(paras[:limit])
    round_ = 1
    while len(out) < limit:
        out += [f"({round_}) {p}" for p in paras[: limit - len(out)]]
        round_ += 1
    return out


def sections() -> list[dict]:
    """The record's sections as [start, end) step positions with their descriptions."""
    return [{"start": s["start"] - 1, "end": s["end"], "title": s.get("description", ""),
             "metadata": {"section_type": s.get("section_type", "")}}
            for s in deltabench_record()["sections"]]


def make_trace_solution(project, steps: int | None = None, *, groups: bool = True,
                        trace: bool = True, statement: str | None = None) -> Solution:
    """A problem, its StepNode chain, the Solution, and (optionally) its SolutionTrace and the
    sections that fit in ``steps`` as StepGroups."""
    record = deltabench_record()
    texts = paragraphs(steps)
    statement = statement or record["question"]
    if Problem.objects.filter(project=project, statement=statement).exists():
        statement += f" (copy {Problem.objects.filter(project=project).count() + 1})"
    problem = Problem.objects.create(project=project, statement=statement,
                                     ground_truth_answer=str(record.get("answer", "")))
    last, _ = store_path(problem, texts)
    solution = Solution.objects.create(project=project, problem=problem, last_step=last)
    if trace:
        text, spans, at = "\n\n".join(texts), [], 0
        for t in texts:
            spans.append([at, at + len(t)])
            at += len(t) + 2
        SolutionTrace.objects.create(solution=solution, text=text, spans=spans,
                                     segmentation={"strategy": "paragraphs"})
    if groups:
        StepGroup.objects.bulk_create(
            StepGroup(solution=solution, index=i, start=g["start"], end=min(g["end"], len(texts)),
                      title=g["title"][:500], metadata=g["metadata"])
            for i, g in enumerate(g for g in sections() if g["start"] < len(texts)))
    return solution
