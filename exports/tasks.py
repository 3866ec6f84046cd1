"""The ``export`` run kind: builds one snapshot (torch-free, so the default queue)."""

from workers.runs import RunContext, run_task


@run_task("export")
def export(ctx: RunContext, snapshot_id: int) -> dict:
    from .services import build_snapshot

    ctx.log(f"building export snapshot {snapshot_id}")
    result = build_snapshot(snapshot_id, progress=lambda rows: ctx.progress(rows))
    ctx.log(f"wrote {sum(f['rows'] for f in result['files'].values())} rows")
    return result
