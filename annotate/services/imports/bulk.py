"""The bulk writer: a batch of row plans written set-wise, in one transaction.

Per batch: problems, then the labelers, then step nodes level by level (a level's
parents are known once the level above is written), then solutions, machine labels,
gold labels, assignments and their ratings. Each table takes a few queries per batch
(a SELECT of what exists, a COPY + INSERT ... ON CONFLICT DO NOTHING of what does not),
whatever the batch's size. Rows under a problem or node this transaction created cannot
exist yet, so their lookups are skipped.

Who made what: every new row is credited to the first row of the batch that asked for
it, so a row that made nothing is a duplicate, as when rows were written one by one.
A check that needs the database (a labeler's conflicting relabel, an external id taken,
a different gold key) raises :class:`LateRejects`; the caller rolls the batch back and
writes it again without those rows, so a rejected row never leaves anything behind.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import replace

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db.models import BooleanField, ExpressionWrapper, Q

from annotate.models import (
    Assignment,
    Critique,
    GoldLabel,
    PreAnnotation,
    Problem,
    Solution,
    StepNode,
    StepRating,
)

from .common import grade
from .plan import ProblemSpec, RowPlan, fill_problem
from .stage import copy_new_rows, insert_ignoring_conflicts, insert_keyed, is_postgresql, select_ids
from .trace_rows import write_traces

LOOKUP_CHUNK = 2000


class LateRejects(Exception):  # noqa: N818 - a control-flow signal, not a failure
    """Rows (by position in the batch) that a database check refused, with the reasons."""

    def __init__(self, reasons: dict[int, str]):
        super().__init__(f"{len(reasons)} rows refused")
        self.reasons = reasons


def chunks(items: list, size: int = LOOKUP_CHUNK):
    for i in range(0, len(items), size):
        yield items[i:i + size]


class BatchWriter:
    def __init__(self, project, plans: list[RowPlan]):
        self.project = project
        self.plans = plans
        self.credits = [Counter() for _ in plans]
        self.problem_ids: list[list[int]] = [[] for _ in plans]
        self.node_ids: list[list[int | None]] = [[None] * len(p.nodes) for p in plans]
        self.solution_ids: list[list[int]] = [[] for _ in plans]
        self.new_problems: set[int] = set()
        self.new_nodes: set[int] = set()
        self.new_solutions: set[int] = set()
        self.problem_answer: dict[int, str] = {}
        self.problem_blanks: dict[int, tuple[bool, bool, bool, bool]] = {}  # what can be filled

    def write(self) -> list[Counter]:
        self.problems()
        users = self.users()
        self.nodes()
        self.solutions()
        write_traces(self)
        self.pre_annotations()
        self.gold_labels()
        self.assignments(users)
        return self.credits

    def _reject(self, reasons: dict[int, str]) -> None:
        if reasons:
            raise LateRejects(reasons)

    # --- problems ------------------------------------------------------------

    def problems(self) -> None:
        wanted: dict[str, ProblemSpec] = {}
        first: dict[str, int] = {}
        for r, plan in enumerate(self.plans):
            for spec in plan.problems:
                h = spec.statement_hash
                if h not in wanted and spec.pk is None:
                    wanted[h], first[h] = spec, r
        existing = self._existing_problems(list(wanted))
        fills: dict[int, ProblemSpec] = {}
        new: dict[str, ProblemSpec] = {}
        reasons: dict[int, str] = {}
        taken = dict(Problem.objects.filter(
            project=self.project,
            external_id__in=[s.external_id for s in wanted.values() if s.external_id],
        ).values_list("external_id", "statement_hash")) if any(
            s.external_id for s in wanted.values()) else {}
        for r, plan in enumerate(self.plans):
            for spec in plan.problems:
                h = spec.statement_hash
                if spec.pk is not None:
                    continue
                if h in existing:
                    fill_problem(fills.setdefault(existing[h], ProblemSpec("", h)), spec)
                elif h in new:
                    fill_problem(new[h], spec)
                elif spec.external_id and taken.get(spec.external_id, h) != h:
                    reasons[r] = (f"external id '{spec.external_id}' already names a problem "
                                  "with another statement")
                else:
                    new[h] = replace(spec, metadata=dict(spec.metadata))
                    if spec.external_id:
                        taken[spec.external_id] = h
        self._reject(reasons)
        created = insert_ignoring_conflicts(Problem, [
            {"project_id": self.project.pk, "statement": s.statement, "statement_hash": s.statement_hash,
             "external_id": s.external_id, "ground_truth_answer": s.ground_truth_answer,
             "reference_solution": s.reference_solution, "subject": s.subject, "level": s.level,
             "metadata": s.metadata} for s in new.values()], returning=("id", "statement_hash"))
        ids = {h: pk for pk, h in created}
        for h in ids:
            self.credits[first[h]]["problems"] += 1
            self.new_problems.add(ids[h])
            self.problem_answer[ids[h]] = new[h].ground_truth_answer
        missing = [h for h in new if h not in ids]
        if missing:  # another import wrote them first, or (not PostgreSQL) ids not returned
            again = self._existing_problems(missing)
            for h, pk in again.items():
                if is_postgresql():
                    existing[h] = pk
                    fill_problem(fills.setdefault(pk, ProblemSpec("", h)), new[h])
                else:
                    ids[h] = pk
                    self.credits[first[h]]["problems"] += 1
                    self.new_problems.add(pk)
        for h, pk in existing.items():
            ids[h] = pk
        for r, plan in enumerate(self.plans):
            for spec in plan.problems:
                if spec.pk is not None:
                    self.problem_ids[r].append(spec.pk)
                elif spec.statement_hash not in ids:
                    reasons[r] = (f"external id '{spec.external_id}' already names a problem "
                                  "with another statement")
                else:
                    self.problem_ids[r].append(ids[spec.statement_hash])
        self._reject(reasons)
        for pk, spec in fills.items():
            blank_answer, blank_reference, blank_subject, blank_level = self.problem_blanks[pk]
            if (blank_answer and spec.ground_truth_answer) or (
                    blank_reference and spec.reference_solution) or (
                    blank_subject and spec.subject) or (blank_level and spec.level is not None):
                self._fill_existing_problem(pk, spec)

    def _existing_problems(self, hashes: list[str]) -> dict[str, int]:
        found = {}
        has_reference = ExpressionWrapper(~Q(reference_solution=""), output_field=BooleanField())
        for part in chunks(hashes):
            for pk, h, answer, reference, subject, level in Problem.objects.filter(
                    project=self.project, statement_hash__in=part).annotate(
                    has_reference=has_reference).values_list(
                    "id", "statement_hash", "ground_truth_answer", "has_reference", "subject",
                    "level"):
                found[h] = pk
                self.problem_answer.setdefault(pk, answer)
                self.problem_blanks[pk] = (not answer, not reference, not subject, level is None)
        return found

    def _fill_existing_problem(self, pk: int, spec: ProblemSpec) -> None:
        problem = Problem.objects.get(pk=pk)
        have = ProblemSpec(statement=problem.statement, statement_hash=problem.statement_hash,
                           ground_truth_answer=problem.ground_truth_answer,
                           reference_solution=problem.reference_solution, subject=problem.subject,
                           level=problem.level, metadata=problem.metadata)
        changed = fill_problem(have, spec)
        if changed:
            for name in changed:
                setattr(problem, name, getattr(have, name))
            problem.save(update_fields=changed)
            self.problem_answer[pk] = problem.ground_truth_answer

    # --- labelers ------------------------------------------------------------

    def users(self) -> dict[str, int]:
        names = sorted({a.labeler for plan in self.plans for a in plan.assignments})
        if not names:
            return {}
        user_model = get_user_model()
        found = dict(user_model.objects.filter(username__in=names).values_list("username", "id"))
        missing = [n for n in names if n not in found]
        if missing:
            user_model.objects.bulk_create(
                [user_model(username=n, is_active=False, password=make_password(None))
                 for n in missing], ignore_conflicts=True)
            found.update(user_model.objects.filter(username__in=missing)
                         .values_list("username", "id"))
        return found

    # --- step nodes, level by level ---------------------------------------------

    def nodes(self) -> None:
        by_depth: dict[int, list[tuple[int, int]]] = defaultdict(list)
        for r, plan in enumerate(self.plans):
            for i, node in enumerate(plan.nodes):
                by_depth[node.depth].append((r, i))
        for depth in sorted(by_depth):
            self._level(by_depth[depth])

    def _level(self, members: list[tuple[int, int]]) -> None:
        wanted: dict[tuple, tuple[int, int]] = {}  # (problem, parent, hash) -> first (row, node)
        keys = []
        for r, i in members:
            spec = self.plans[r].nodes[i]
            parent = None if spec.parent is None else self.node_ids[r][spec.parent]
            key = (self.problem_ids[r][spec.problem], parent, spec.text_hash)
            keys.append(key)
            wanted.setdefault(key, (r, i))
        found: dict[tuple, int] = {}
        lookup = [k for k in wanted if not self._surely_new(k)]
        if lookup:
            found.update(self._existing_nodes(lookup))
        new = [k for k in wanted if k not in found]
        rows = []
        for key in new:
            r, i = wanted[key]
            spec = self.plans[r].nodes[i]
            rows.append({"problem_id": key[0], "parent_id": key[1], "text": spec.text,
                         "text_hash": key[2], "author": spec.author, "depth": spec.depth})
        created = insert_keyed(StepNode, rows, new, [self._surely_new(k) for k in new],
                               ("problem_id", "parent_id", "text_hash"))
        for key, pk in created.items():
            found[key] = pk
            self.new_nodes.add(pk)
            self.credits[wanted[key][0]]["nodes"] += 1
        missing = [k for k in new if k not in found]
        if missing:
            found.update(self._existing_nodes(missing))
            if not is_postgresql():  # ids are not returned: what was missing is new
                for key in missing:
                    if key in found:
                        self.new_nodes.add(found[key])
                        self.credits[wanted[key][0]]["nodes"] += 1
        for (r, i), key in zip(members, keys):
            self.node_ids[r][i] = found[key]

    def _surely_new(self, key: tuple) -> bool:
        """Under a problem or parent this transaction created, nothing exists yet."""
        problem, parent, _ = key
        return parent in self.new_nodes if parent is not None else problem in self.new_problems

    def _existing_nodes(self, keys: list[tuple]) -> dict[tuple, int]:
        found = {}
        wanted = set(keys)
        roots = [k for k in keys if k[1] is None]
        children = [k for k in keys if k[1] is not None]
        if is_postgresql():
            for pk, problem, h in select_ids(StepNode, ("problem_id", "text_hash"), ("bigint", "text"),
                                             [(k[0], k[2]) for k in roots], "t.parent_id IS NULL"):
                found[(problem, None, h)] = pk
            for pk, problem, parent, h in select_ids(
                    StepNode, ("problem_id", "parent_id", "text_hash"), ("bigint", "bigint", "text"),
                    children):
                found[(problem, parent, h)] = pk
            return found
        for part in chunks(roots):
            rows = StepNode.objects.filter(
                problem_id__in={k[0] for k in part}, parent__isnull=True,
                text_hash__in={k[2] for k in part}).values_list("id", "problem_id", "text_hash")
            for pk, problem, h in rows:
                if (problem, None, h) in wanted:
                    found[(problem, None, h)] = pk
        for part in chunks(children):
            rows = StepNode.objects.filter(
                parent_id__in={k[1] for k in part}, text_hash__in={k[2] for k in part},
            ).values_list("id", "problem_id", "parent_id", "text_hash")
            for pk, problem, parent, h in rows:
                if (problem, parent, h) in wanted:
                    found[(problem, parent, h)] = pk
        return found

    # --- solutions -------------------------------------------------------------

    def solutions(self) -> None:
        wanted: dict[int, list[tuple[int, int]]] = defaultdict(list)  # last node -> (row, spec)
        for r, plan in enumerate(self.plans):
            for j, spec in enumerate(plan.solutions):
                wanted[self.node_ids[r][spec.last]].append((r, j))
        existing = self._existing_solutions([n for n in wanted if n not in self.new_nodes])
        new: dict[int, dict] = {}
        for last, users in wanted.items():
            if last not in existing:
                r, j = users[0]
                spec = self.plans[r].solutions[j]
                pid = self.problem_ids[r][spec.problem]
                new[last] = {"project_id": self.project.pk, "problem_id": pid, "last_step_id": last,
                             "final_answer": "", "is_correct": None, "source": spec.source,
                             "external_id": spec.external_id, "is_gold": False, "metadata": {},
                             "trajectory": {}}
                for r, j in users:
                    self._fill_solution(new[last], self.plans[r].solutions[j], pid)
        ids = {key[0]: pk for key, pk in insert_keyed(
            Solution, list(new.values()), [(last,) for last in new],
            [last in self.new_nodes for last in new], ("last_step_id",)).items()}
        for last, pk in ids.items():
            self.credits[wanted[last][0][0]]["solutions"] += 1
            self.new_solutions.add(pk)
        missing = [last for last in new if last not in ids]
        if missing:
            again = self._existing_solutions(missing)
            for last, have in again.items():
                if is_postgresql():  # a concurrent import wrote it first
                    existing[last] = have
                else:
                    ids[last] = have["id"]
                    self.credits[wanted[last][0][0]]["solutions"] += 1
                    self.new_solutions.add(have["id"])
        for last, have in existing.items():
            ids[last] = have["id"]
            before = dict(have)
            for r, j in wanted[last]:
                spec = self.plans[r].solutions[j]
                self._fill_solution(have, spec, self.problem_ids[r][spec.problem])
            changed = {k: v for k, v in have.items() if before[k] != v}
            if changed:
                Solution.objects.filter(pk=have["id"]).update(**changed)
        for r, plan in enumerate(self.plans):
            self.solution_ids[r] = [ids[self.node_ids[r][spec.last]] for spec in plan.solutions]

    def _existing_solutions(self, lasts: list[int]) -> dict[int, dict]:
        found = {}
        for part in chunks(lasts):
            for row in Solution.objects.filter(last_step_id__in=part).values(
                    "id", "last_step_id", "is_gold", "final_answer", "is_correct", "metadata",
                    "trajectory"):
                found[row.pop("last_step_id")] = row
        return found

    def _fill_solution(self, have: dict, spec, problem_id: int) -> None:
        """What the spec adds to a solution: gold only turns on; blanks are filled."""
        if spec.is_gold:
            have["is_gold"] = True
        if spec.final_answer and not have["final_answer"]:
            have["final_answer"] = spec.final_answer
        if have["is_correct"] is None:
            correct = spec.is_correct
            if correct is None and spec.grade:
                correct = grade(spec.final_answer, self.problem_answer.get(problem_id))
            have["is_correct"] = correct
        if not have["metadata"]:
            have["metadata"] = dict(spec.metadata)
        elif spec.merge_metadata and any(k not in have["metadata"] for k in spec.metadata):
            have["metadata"] = {**spec.metadata, **have["metadata"]}
        if spec.trajectory and not have["trajectory"]:
            have["trajectory"] = spec.trajectory

    # --- machine labels and gold labels -----------------------------------------

    def pre_annotations(self) -> None:
        wanted: dict[tuple, tuple[int, object]] = {}
        for r, plan in enumerate(self.plans):
            for spec in plan.pre_annotations:
                key = (self.node_ids[r][spec.node], spec.kind, spec.source)
                wanted.setdefault(key, (r, spec))
        if not wanted:
            return
        lookup = [k for k in wanted if k[0] not in self.new_nodes]
        have = set()
        for part in chunks(lookup):
            have.update(PreAnnotation.objects.filter(
                node_id__in={k[0] for k in part}, source__in={k[2] for k in part},
            ).values_list("node_id", "kind", "source"))
        new = [k for k in wanted if k not in have]
        created = insert_keyed(PreAnnotation, [
            {"node_id": k[0], "kind": k[1], "source": k[2], "value": wanted[k][1].value,
             "provenance": wanted[k][1].provenance} for k in new], new,
            [k[0] in self.new_nodes for k in new], ("node_id", "kind", "source"))
        for key in (created if is_postgresql() else new):
            self.credits[wanted[key][0]]["pre_annotations"] += 1

    def gold_labels(self) -> None:
        wanted: dict[tuple, tuple[int, object]] = {}
        reasons: dict[int, str] = {}
        specs = []
        for r, plan in enumerate(self.plans):
            for spec in plan.gold_labels:
                key = (self.solution_ids[r][spec.solution], self.node_ids[r][spec.node])
                specs.append((r, key, spec))
        if not specs:
            return
        have: dict[tuple, int] = {}
        lookup = sorted({key[0] for _, key, _ in specs if key[0] not in self.new_solutions})
        for part in chunks(lookup):
            for sid, nid, rating in GoldLabel.objects.filter(solution_id__in=part).values_list(
                    "solution_id", "node_id", "rating"):
                have[(sid, nid)] = rating
        for r, key, spec in specs:
            known = have.get(key, wanted[key][1].rating if key in wanted else None)
            if known is not None:
                if known != spec.rating:
                    depth = self.plans[r].nodes[spec.node].depth
                    reasons[r] = (f"step {depth + 1} of {spec.name} already has gold label "
                                  f"{known:+d}, not {spec.rating:+d}")
                continue
            wanted[key] = (r, spec)
        self._reject(reasons)
        new = list(wanted)
        created = insert_keyed(GoldLabel, [
            {"solution_id": k[0], "node_id": k[1], "rating": s.rating, "source": s.source}
            for k, (_, s) in wanted.items()], new, [k[0] in self.new_solutions for k in new],
            ("solution_id", "node_id"))
        for key in (created if is_postgresql() else new):
            self.credits[wanted[key][0]]["gold_labels"] += 1

    # --- assignments and ratings -------------------------------------------------

    def assignments(self, users: dict[str, int]) -> None:
        specs = []
        for r, plan in enumerate(self.plans):
            for spec in plan.assignments:
                key = (self.solution_ids[r][spec.solution], users[spec.labeler])
                node_id = self.node_ids[r].__getitem__
                specs.append((r, key, spec, spec.presentation(node_id)))
        if not specs:
            return
        lookup = [key for _, key, _, _ in specs if key[0] not in self.new_solutions]
        have = self._existing_assignments(lookup)
        wanted: dict[tuple, tuple] = {}
        reasons: dict[int, str] = {}
        for r, key, spec, presentation in specs:
            known = have[key][1:] if key in have else (wanted[key][1:3] if key in wanted else None)
            if known is None:
                wanted[key] = (r, spec.fields.get("labeled_at"), presentation, spec)
            elif known != (spec.fields.get("labeled_at"), presentation):
                reasons[r] = spec.conflict_message(known[0])
        self._reject(reasons)
        new = list(wanted)
        ids = insert_keyed(Assignment, [
            {**spec.fields, "project_id": self.project.pk, "solution_id": k[0], "annotator_id": k[1],
             "presentation": presentation} for k, (_, _, presentation, spec) in wanted.items()],
            new, [k[0] in self.new_solutions for k in new], ("solution_id", "annotator_id"))
        missing = [k for k in wanted if k not in ids]
        if missing:
            again = self._existing_assignments(missing)
            for key, (pk, labeled_at, presentation) in again.items():
                if is_postgresql():  # a concurrent import wrote it first
                    r, mine_at, mine, spec = wanted.pop(key)
                    if (labeled_at, presentation) != (mine_at, mine):
                        reasons[r] = spec.conflict_message(labeled_at)
                else:
                    ids[key] = pk
            self._reject(reasons)
        ratings, critiques = [], []
        for key, pk in ids.items():
            r, _, _, spec = wanted[key]
            self.credits[r]["assignments"] += 1
            self.credits[r]["ratings"] += len(spec.ratings)
            ratings += [{"assignment_id": pk, "node_id": self.node_ids[r][i], "rating": rating,
                         "flagged": flagged} for i, rating, flagged in spec.ratings]
            self.credits[r]["critiques"] += len(spec.critiques)
            critiques += [{"assignment_id": pk, "node_id": self.node_ids[r][i], "text": text,
                           "author_id": key[1],
                           "correction_id": None if c is None else self.node_ids[r][c]}
                          for i, text, c in spec.critiques]
        copy_new_rows(StepRating, ratings)
        copy_new_rows(Critique, critiques)

    def _existing_assignments(self, keys: list[tuple]) -> dict[tuple, tuple]:
        found = {}
        wanted = set(keys)
        for part in chunks(sorted(wanted)):
            for pk, sid, uid, labeled_at, presentation in Assignment.objects.filter(
                    solution_id__in={k[0] for k in part}, annotator_id__in={k[1] for k in part},
            ).values_list("id", "solution_id", "annotator_id", "labeled_at", "presentation"):
                if (sid, uid) in wanted:
                    found[(sid, uid)] = (pk, labeled_at, presentation)
        return found
