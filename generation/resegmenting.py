"""Re-segmentation Runs: re-cut a project's imported long traces in the worker.

``start_resegment`` checks everything first (strategy, options, the ``llm`` strategy's
generator settings by the project's rules, as a judge's are; the solutions: all traced ones
of the project, or ids of the project's, foreign ids refused) and queues a ``resegment`` Run.
The Run re-cuts trace by trace (each its own transaction, ``annotate.services.resegment``)
with progress, and reports traces re-cut, labels (ratings and gold labels) carried and
dropped, and every refused trace with its reason (a model answer that cannot be mapped onto
the text among them: refused, never guessed). Each re-cut trace records the Run and its
report, so a redelivered message re-cuts nothing twice and counts it as before.
"""

from __future__ import annotations

from annotate.segmentation import STRATEGIES, SegmentationError, segment

#: The strategies a Run takes: the rule strategies and ``llm`` (a generation model).
RUN_STRATEGIES = (*STRATEGIES, "llm")
LLM_OPTIONS = ("max_new_tokens", "max_steps", "max_step_chars")
#: Refused traces listed in a Run's report (all are counted).
MAX_REFUSED_LISTED = 1000


def check_strategy(strategy, options) -> dict:
    """The options, checked for ``strategy``; ValueError with the reason."""
    if strategy not in RUN_STRATEGIES:
        raise ValueError(f"Unknown strategy '{strategy}'; one of {', '.join(RUN_STRATEGIES)}.")
    if options is None:
        options = {}
    if not isinstance(options, dict):
        raise ValueError("'options' must be an object of the strategy's options.")
    if strategy == "llm":
        unknown = set(options) - set(LLM_OPTIONS)
        if unknown:
            raise ValueError(f"The llm strategy takes no option(s) {', '.join(sorted(unknown))}; "
                             f"it takes {', '.join(LLM_OPTIONS)}.")
        for name, value in options.items():
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 10**6:
                raise ValueError(f"'{name}' must be a whole number from 1 to 1000000.")
        if options.get("max_new_tokens", 1) > 32768:
            raise ValueError("max_new_tokens must be at most 32768.")
        return options
    try:  # a one-word text: only the options can be wrong
        segment("x", strategy, **options)
    except (SegmentationError, TypeError) as exc:
        raise ValueError(f"Options of '{strategy}': {exc}.") from None
    return options


def start_resegment(*, project, strategy, options=None, generator=None, solution_ids=None,
                    user=None):
    """Queue a ``resegment`` Run of ``project``'s traced solutions (or of ``solution_ids``)."""
    from annotate.models import Solution
    from workers.runs import start_run

    from .judging.services import check_judge_reach, judge_settings
    from .selection import project_ids

    options = check_strategy(strategy, options)
    if generator is not None and not isinstance(generator, dict):
        raise ValueError("'generator' must be an object of generator settings.")
    if strategy == "llm":
        settings = judge_settings(project.generator, generator or {}, project.pk)
        check_judge_reach(settings, generator or {})
    elif generator:
        raise ValueError("'generator' is for the llm strategy only.")
    ids = project_ids(Solution.objects.filter(project=project, trace__isnull=False),
                      solution_ids, foreign="Some solutions are not traced solutions of this "
                      "project (only imported long traces can be re-cut).",
                      empty="This project has no imported long traces to re-cut.")
    return start_run("resegment", {"strategy": strategy, "options": options,
                                   "generator": generator or {}, "solution_ids": ids},
                     project=project, user=user)


def resegment_solutions(ctx, solution_ids: list[int], strategy: str, options: dict,
                        generator: dict) -> dict:
    """The Run's work: re-cut each trace; the report."""
    from annotate.models import Solution
    from annotate.services.resegment import ResegmentError, done_by_run, resegment

    from .judging.services import judge_settings
    from .segmenting import resegment_with_model

    settings = None
    if strategy == "llm":
        project = ctx.run.project
        settings = judge_settings(project.generator if project else {}, generator, ctx.run.project_id)
    by_id = Solution.objects.filter(project_id=ctx.run.project_id, pk__in=solution_ids).in_bulk()
    report = {"strategy": strategy, "traces": len(solution_ids), "recut": 0,
              "labels_carried": 0, "labels_dropped": 0, "refused_count": 0, "refused": []}
    ctx.progress(0, len(solution_ids))
    ctx.log(f"re-cutting {len(solution_ids)} trace(s) by {strategy}"
            + (f" with {settings.model_name}" if settings else ""))

    def refuse(pk: int, why: str) -> None:
        report["refused_count"] += 1
        if len(report["refused"]) < MAX_REFUSED_LISTED:
            report["refused"].append([pk, why])

    for done, pk in enumerate(solution_ids, 1):
        solution = by_id.get(pk)
        if solution is None:
            refuse(pk, "the solution is no longer in this project")
        else:
            try:
                cut = done_by_run(solution, ctx.run_id)  # a redelivered message
                if cut is None and settings is not None:
                    cut = resegment_with_model(solution, settings, run_id=ctx.run_id, **options)
                elif cut is None:
                    cut = resegment(solution, strategy=strategy, options=options,
                                    run_id=ctx.run_id)
            except ResegmentError as exc:
                refuse(pk, str(exc))
            else:
                report["recut"] += 1
                report["labels_carried"] += cut.ratings_carried + cut.gold_carried
                report["labels_dropped"] += cut.ratings_dropped + cut.gold_dropped
        ctx.progress(done)
    ctx.log(f"{report['recut']} re-cut, {report['labels_carried']} label(s) carried, "
            f"{report['labels_dropped']} dropped, {report['refused_count']} refused")
    return report
