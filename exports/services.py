"""Creating and building export snapshots.

``create_snapshot`` validates the spec, checks the role in every project, numbers the
version and starts the ``export`` run; the run calls ``build_snapshot``, which streams
rows into files under ``EXPORTS_DIR`` and records counts and hashes.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from annotate.models import Project
from workers.failures import DISK_FULL_REASON, is_disk_full, public_reason
from workers.runs import RunFailure

from .models import ExportSnapshot
from .spec import SpecError, is_rule, normalize_spec
from .writers import file_kind, iter_rows

EXPORT_ROLES = ("admin", "reviewer")
PROGRESS_EVERY = 5000
REFUSED_KEPT = 100  # refused rows listed per split; the count covers them all


class ExportPermissionError(PermissionError):
    pass


def check_export_access(user, project_ids: list[int]) -> list[Project]:
    """Every project must exist and the user must be its admin or reviewer."""
    from annotate.selectors.projects import role_in

    projects = list(Project.objects.filter(pk__in=project_ids))
    found = {p.pk for p in projects}
    missing = [pk for pk in project_ids if pk not in found]
    if missing:
        raise SpecError({"projects": f"No such project: {', '.join(map(str, missing))}."})
    for project in projects:
        if role_in(project, user) not in EXPORT_ROLES:
            raise ExportPermissionError(
                f"Exporting project {project.pk} needs the admin or reviewer role.")
    return projects


def default_name(spec: dict, projects: list[Project]) -> str:
    return f"{'+'.join(sorted(p.slug for p in projects))}-{spec['format']}"[:200]


def create_snapshot(*, user, raw_spec: dict, name: str = "") -> ExportSnapshot:
    from workers.runs import start_run

    spec = normalize_spec(raw_spec)
    projects = check_export_access(user, spec["projects"])
    if is_rule(spec["labels"]):
        from quality.label_rules import RuleError, check_sources, parse_rule

        try:
            check_sources(parse_rule(spec["labels"]), spec["projects"])
        except RuleError as exc:
            raise SpecError({"labels": str(exc)}) from None
    if spec.get("tokenizer"):
        from .token_budget import tokenizer_folder

        folder = tokenizer_folder(spec["tokenizer"], spec["projects"])  # SpecError if not allowed
        if spec["format"] == "critiques":
            from .chat_budget import check_chat_template

            check_chat_template(folder, spec["tokenizer"])
    name = (name or "").strip()[:200] or default_name(spec, projects)
    for attempt in range(5):
        try:
            with transaction.atomic():
                # Two concurrent exports of one name may pick the same version: the unique
                # (name, version) constraint turns that into a retry with the next number.
                current = ExportSnapshot.objects.filter(name=name).aggregate(
                    v=Max("version"))["v"] or 0
                snapshot = ExportSnapshot.objects.create(
                    name=name, version=current + 1, format=spec["format"], filters=spec,
                    created_by=user if user.is_authenticated else None,
                )
                snapshot.projects.set(projects)
                run = start_run("export", {"snapshot_id": snapshot.pk}, project=projects[0],
                                user=user)
                ExportSnapshot.objects.filter(pk=snapshot.pk).update(run=run)
                snapshot.run = run
            break
        except IntegrityError:
            if attempt == 4:
                raise
    return snapshot


def snapshot_dir(snapshot: ExportSnapshot) -> Path:
    return Path(settings.EXPORTS_DIR) / f"{snapshot.pk:06d}-v{snapshot.version}"


def build_snapshot(snapshot_id: int, progress=None) -> dict:
    """Write the snapshot's files. Memory stays flat: rows stream from chunked queries."""
    snapshot = ExportSnapshot.objects.get(pk=snapshot_id)
    if snapshot.status == ExportSnapshot.Status.READY:
        return {"files": snapshot.files}  # a redelivered task: already built
    ExportSnapshot.objects.filter(pk=snapshot_id).update(status=ExportSnapshot.Status.BUILDING)
    directory = snapshot_dir(snapshot)
    spec = snapshot.filters
    kind = file_kind(snapshot.format)
    sinks: dict = {}
    refused: list[tuple[str, str, str]] = []
    rows = 0
    tally = rule_tally(spec)
    budget = None
    try:
        from .sinks import make_sink
        from .token_budget import TokenBudget

        budget = TokenBudget.from_spec(spec)

        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        for split, row, steps in iter_rows(spec, refused, tally):
            if budget is not None:
                budget.mark(row)
            sink = sinks.get(split)
            if sink is None:
                sink = sinks[split] = make_sink(kind, directory, split)
            sink.add(row, steps)
            rows += 1
            if progress and rows % PROGRESS_EVERY == 0:
                progress(rows)
        for split, _record_id, _reason in refused:
            if split not in sinks:  # a split of refused rows only is still a file
                sinks[split] = make_sink(kind, directory, split)
        if not sinks:
            sinks["all"] = make_sink(kind, directory, "all")
        check_rows(sinks, refused)
        files = {}
        for split in sorted(sinks):
            info = sinks[split].close()
            info["path"] = str(sinks[split].file.path.relative_to(settings.EXPORTS_DIR))
            mine = [(rid, why) for side, rid, why in refused if side == split]
            if mine:
                info["refused"] = len(mine)
                info["refused_rows"] = [{"id": rid, "reason": why}
                                        for rid, why in mine[:REFUSED_KEPT]]
            files[split] = info
    except BaseException as exc:
        # Each step of the clean-up survives the last one failing (a full disk fails the
        # close again): the partial files go and the snapshot ends failed, whatever happens.
        for sink in sinks.values():
            sink.discard()
        shutil.rmtree(directory, ignore_errors=True)
        ExportSnapshot.objects.filter(pk=snapshot_id).update(
            status=ExportSnapshot.Status.FAILED, error=public_reason(exc)[:2000],
            finished_at=timezone.now())
        if is_disk_full(exc):
            raise RunFailure(f"{type(exc).__name__}: {exc}", reason=DISK_FULL_REASON) from exc
        raise
    content = hashlib.sha256(
        "".join(f"{split}:{files[split]['sha256']}\n" for split in sorted(files)).encode()
    ).hexdigest()
    options = dict(snapshot.options or {})
    if tally is not None:
        options["labels"] = rule_summary(snapshot, spec, tally)
    if budget is not None:
        options["token_budget"] = budget.summary()
    ExportSnapshot.objects.filter(pk=snapshot_id).update(
        status=ExportSnapshot.Status.READY, files=files, content_hash=content, options=options,
        row_count=sum(f["rows"] for f in files.values()),
        step_count=sum(f["steps"] for f in files.values()), finished_at=timezone.now())
    return {"files": files, "content_hash": content}


def rule_tally(spec: dict):
    """A tally for the spec's label rule, or None without one."""
    if not is_rule(spec["labels"]):
        return None
    from quality.label_rules import Tally

    return Tally()


def rule_summary(snapshot: ExportSnapshot, spec: dict, tally) -> dict:
    """The snapshot's record of its label rule: the rule, each source's version, the
    fraction of candidate steps kept (docs/labels.md, "Rules") and the sources' current
    certificates."""
    from quality.certification import current_certificates
    from quality.label_rules import parse_rule, rule_metadata, source_versions

    projects = Project.objects.filter(pk__in=spec["projects"]).order_by("pk")
    rule = parse_rule(spec["labels"])
    meta = rule_metadata(rule, tally, source_versions(projects))
    # Every source of the rule with a certificate that holds now (docs/labels.md,
    # "Certification"): {spec: [certificate, ...]}, one per project that certified it.
    certificates: dict[str, list[dict]] = {}
    for project in projects:
        for source, certs in current_certificates(project, rule.sources).items():
            certificates.setdefault(source, []).extend(certs)
    meta["certificates"] = certificates
    return meta


class EmptyExport(RunFailure):
    """A file without rows, which ``datasets.load_dataset`` cannot load (a 0-byte JSONL,
    ``[]``, and a Parquet file of a schema and no rows all fail): the export fails and
    says why instead."""


def check_rows(sinks: dict, refused: list) -> None:
    for split in sorted(sinks):
        if sinks[split].file.rows:
            continue
        mine = [why for side, _rid, why in refused if side == split]
        if mine:
            message = (f"Every row of the '{split}' split was refused ({len(mine)}), so its "
                       f"file would be empty; the first reason: {mine[0]}.")
        elif len(sinks) == 1:
            message = "No labeled rows match these filters, so the file would be empty."
        else:
            message = f"The '{split}' split has no rows, so its file would be empty."
        raise EmptyExport(message, reason=message)


class SplitError(ValueError):
    """A split left out of a snapshot that has several, or one it does not have."""

    def __init__(self, splits: list[str], asked: str | None):
        super().__init__(f"splits {', '.join(splits)}; asked {asked!r}")
        self.splits, self.asked = splits, asked


def snapshot_split(snapshot: ExportSnapshot, split: str | None) -> str:
    """``split``, or the only file of a one-file snapshot; never a guess among several."""
    splits = sorted(snapshot.files)
    if split is None:
        if len(splits) != 1:
            raise SplitError(splits, None)
        return splits[0]
    if split not in snapshot.files:
        raise SplitError(splits, split)
    return split


def snapshot_file(snapshot: ExportSnapshot, split: str | None) -> Path | None:
    """The file of ``split`` (see ``snapshot_split``); None while the snapshot is not ready."""
    if snapshot.status != ExportSnapshot.Status.READY:
        return None
    return Path(settings.EXPORTS_DIR) / snapshot.files[snapshot_split(snapshot, split)]["path"]
