"""The ``label_report`` Run kind: the label-sources report of a big project (report_runs)."""

from __future__ import annotations

from workers.runs import RunContext, run_task


@run_task("label_report", soft_time_limit=3600)
def label_report_run(ctx: RunContext, reference: str | None = None,
                     consensus: list[str] | None = None, anchoring: str | None = None) -> dict:
    from .label_report import build_report

    ctx.log(f"label-sources report against {reference or 'the default reference'}")
    report = build_report(ctx.run.project, reference=reference, consensus=consensus,
                          anchoring=anchoring, progress=ctx.progress)
    ctx.progress(len(report["sources"]) + 1, len(report["sources"]) + 1)
    ctx.log(f"{report['solutions']} solutions, {report['steps']} steps, "
            f"{len(report['sources'])} sources")
    return report
