"""Read side of labeling: the state of one task, derived from the tree and the ratings.

The state is never cached: every request rebuilds it from the database (a handful of
small indexed queries), so a reload resumes exactly where the annotator was.

* First-error mode walks the solution's path: steps up to the first unrated one are
  shown; a Bad ends the walk, and the position's alternatives (siblings of the bad
  step) are shown next to it.
* Branch mode follows ``Assignment.presentation``: each position lists the candidates
  shown (children of the step continued from) and which one was chosen, or the
  human step written instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from django.db import connection
from django.db.models.base import ModelState

from annotate.models import (
    Assignment,
    Critique,
    Membership,
    PreAnnotation,
    Project,
    Solution,
    SolutionTrace,
    StepGroup,
    StepNode,
    StepRating,
)
from annotate.services import blind

from .verdicts import verdict_rows

ANSWER_MARK = "# Answer"


def is_final(node: StepNode | None) -> bool:
    return node is not None and ANSWER_MARK in node.text


def _walk_up(table: str) -> str:
    """The recursive term of a walk from a step up its parent links (one parameter: the
    step's id). On PostgreSQL each level is one primary-key lookup: the parent is read in a
    LATERAL subquery kept apart by OFFSET 0. Written as a plain join, PostgreSQL estimates
    the walk's working table at 10 rows and, on a table of a few thousand steps, hash-joins
    it with a scan of the whole table at every level: a 362-step path cost ~30 ms instead of
    1. SQLite has no LATERAL and looks the parent up by key anyway."""
    if connection.vendor != "postgresql":
        return (f"SELECT id, parent_id FROM {table} WHERE id = %s UNION ALL "
                f"SELECT n.id, n.parent_id FROM {table} n JOIN up ON n.id = up.parent_id")
    return (f"SELECT id, parent_id FROM {table} WHERE id = %s UNION ALL "
            f"SELECT p.id, p.parent_id FROM up CROSS JOIN LATERAL (SELECT s.id, s.parent_id "
            f"FROM {table} s WHERE s.id = up.parent_id OFFSET 0) p")


def solution_path(solution) -> list[StepNode]:
    """Root-to-leaf steps of a solution: one recursive query up the parent links, so the
    cost is the path's length, not the size of the problem's tree."""
    table = StepNode._meta.db_table
    nodes = list(StepNode.objects.raw(
        f"""WITH RECURSIVE up(id, parent_id) AS ({_walk_up(table)})
            SELECT n.* FROM {table} n WHERE n.id IN (SELECT id FROM up)""",
        [solution.last_step_id]))
    return sorted(nodes, key=lambda n: n.depth)


def candidate_nodes(problem_id: int, parent_id: int | None, *, limit: int,
                    exclude: tuple[int, ...] = ()) -> list[StepNode]:
    """Machine or imported steps at a position, oldest first (humans' own steps are not
    candidates: they are recorded as the position's human step)."""
    qs = (StepNode.objects.filter(problem_id=problem_id, parent_id=parent_id)
          .exclude(author=StepNode.Author.HUMAN).exclude(pk__in=exclude).order_by("id"))
    return list(qs[:limit])


@dataclass(slots=True)
class Item:
    node: StepNode
    rating: int | None = None
    flagged: bool | None = None
    # Empty tuples, not a list per item: a long trace builds 362 items per derivation, and
    # these are replaced, never appended to.
    hints: list | tuple = ()
    role: str = "step"  # "step" (on the walked path), "candidate", "human"
    chosen: bool = False
    verdict: object = None  # verify mode: the shown source's Verdict (selectors.verdicts)
    critique: object = None  # the annotator's Critique of the step


@dataclass(slots=True)
class Position:
    index: int
    parent_id: int | None
    items: list[Item]
    chosen: int | None = None
    human: Item | None = None
    bad: bool = False  # first-error mode: the walk ended here
    waiting: bool = False  # no candidates yet; a generation run may add some
    run: object = None  # the generation Run asked for, while waiting
    run_requested: bool = False  # a request was made (run None then: no generator)
    run_error: str = ""  # why candidates could not be requested (bad generator settings)
    # An agent trajectory's messages around the step (selectors.trajectories): the turns
    # before it, the step's own turn (its text and tool calls), and the turns after the last
    context: list | tuple = ()
    turn: object = None
    after: list | tuple = ()

    @property
    def rateable(self) -> list[Item]:
        return [i for i in self.items if i.role != "human"]

    @property
    def all_rated(self) -> bool:
        return all(i.rating is not None for i in self.rateable)

    @property
    def settled(self) -> bool:
        return self.chosen is not None or self.human is not None


@dataclass
class TaskState:
    assignment: Assignment
    project: Project
    positions: list[Position]
    walk_done: bool  # nothing more to rate along the walk: submit is possible
    suggested_reason: str | None  # the finish reason Enter would submit
    presentation: list[dict]
    path: list | None = None  # first-error mode: the solution's steps (reused within a request)
    # What an action changed, for an answer with only the changed parts
    # (selectors.label_changes): node ids whose rating or flag changed, and the presentation
    # shown before the action. None: not an action (a page load), or not known.
    changed: set | None = None
    shown_before: list | None = None
    layout: object = None  # selectors.long_trace.Layout: the rail and groups of a long solution
    # Verify mode (selectors.verify_state): the steps after the current one whose verdicts
    # accept would take, and the verdicts read in this request (reused by its later states).
    preview: list = field(default_factory=list)
    verdicts: object = None
    verdict_error: str = ""  # why the task's source gives no verdicts (an unknown spec)
    # Positions before this index were kept from the state before the action, unchanged.
    kept_until: int = 0

    @property
    def items(self) -> list[Item]:
        # ``Position.rateable``, inlined: this runs several times per request over every
        # shown position (362 on a long trace).
        return [item for p in self.positions for item in p.items if item.role != "human"]

    @property
    def focus_id(self) -> int | None:
        for item in self.items:
            if item.rating is None:
                return item.node.pk
        return None

    @property
    def current(self) -> Position | None:
        return self.positions[-1] if self.positions else None


# What actions and the task panel read of an assignment, its project and its solution; any
# other field loads on first access (one query; tests/test_labeling_queries.py pins the hot
# paths' counts). Raw SQL because building this three-table SELECT with the ORM cost more
# CPU, on every key press, than PostgreSQL spent running it.
_ACTION_FIELDS = {
    Assignment: ("id", "project_id", "solution_id", "annotator_id", "status", "lease_expires_at",
                 "started_at", "finish_reason", "presentation", "shown_source"),
    Project: ("id", "slug", "mode", "rating_scale", "overlap", "candidates_per_position",
              "lease_seconds", "show_hints", "critique_required_on_bad", "verify_source",
              "hints_may_be_hidden"),
    Solution: ("id", "problem_id", "last_step_id"),
}


def _in_model_order(model, names) -> list[str]:
    """``Model.from_db`` takes a subset of fields in the model's own field order."""
    return [f.attname for f in model._meta.concrete_fields if f.attname in names]


@lru_cache(maxsize=8)
def _action_sql(lock: bool, vendor: str) -> str:
    cols = [f"a.{Assignment._meta.get_field(f).column}" for f in _ACTION_FIELDS[Assignment]]
    for model, alias in ((Project, "p"), (Solution, "s")):
        cols += [f"{alias}.{model._meta.get_field(f).column} AS _{alias}_{f}"
                 for f in _in_model_order(model, _ACTION_FIELDS[model])]
    # Whether the annotator is still a member: a removed member's writes stop at once.
    cols.append(f"EXISTS (SELECT 1 FROM {Membership._meta.db_table} m WHERE m.project_id ="
                " a.project_id AND m.user_id = a.annotator_id) AS _is_member")
    # Whether the task has critiques (they load only then).
    cols.append(f"EXISTS (SELECT 1 FROM {Critique._meta.db_table} c WHERE c.assignment_id ="
                " a.id) AS _has_critiques")
    # Whether the solution is an agent trajectory (its messages load only then).
    cols.append(f"s.{Solution._meta.get_field('trajectory').column} <> '{{}}' AS _has_trajectory")
    # Whether it has a source trace or step groups (the long-trace page loads them only then).
    cols.append(f"(EXISTS (SELECT 1 FROM {SolutionTrace._meta.db_table} t WHERE t.solution_id ="
                f" s.id) OR EXISTS (SELECT 1 FROM {StepGroup._meta.db_table} g WHERE"
                " g.solution_id = s.id)) AS _has_trace")
    sql = (f"SELECT {', '.join(cols)} FROM {Assignment._meta.db_table} a"
           f" JOIN {Project._meta.db_table} p ON p.id = a.project_id"
           f" JOIN {Solution._meta.db_table} s ON s.id = a.solution_id WHERE a.id = %s")
    if lock and connection.features.has_select_for_update_of:
        sql += " FOR UPDATE OF a"  # the assignment row alone, as select_for_update(of=("self",))
    return sql


def assignment_for_action(assignment_id: int, *, lock: bool = False) -> Assignment | None:
    """The assignment with the project and solution fields actions read; ``lock`` takes its
    row lock (inside the caller's transaction) where the database has row locks.
    ``is_member``: whether its annotator is a member of its project now."""
    found = list(Assignment.objects.raw(_action_sql(lock, connection.vendor), [assignment_id]))
    if not found:
        return None
    assignment = found[0]
    for model, alias, attr in ((Project, "p", "project"), (Solution, "s", "solution")):
        names = _in_model_order(model, _ACTION_FIELDS[model])
        obj = model.from_db(connection.alias, names,
                            [getattr(assignment, f"_{alias}_{f}") for f in names])
        setattr(assignment, attr, obj)
    project = assignment.project  # SQLite gives 0/1
    project.show_hints, project.hints_may_be_hidden = (bool(project.show_hints),
                                                       bool(project.hints_may_be_hidden))
    assignment.is_member = bool(assignment._is_member)
    assignment.has_critiques = bool(assignment._has_critiques)
    assignment.solution.has_trajectory = bool(assignment._has_trajectory)
    assignment.solution.has_trace = bool(assignment._has_trace)
    return assignment


def load_ratings(assignment: Assignment) -> dict[int, StepRating]:
    return {r.node_id: r for r in StepRating.objects.filter(assignment=assignment)}


# The rating columns an action needs (the rest are deferred; a changed rating saves these),
# in the model's field order as ``from_db`` wants them.
_RATING_FIELDS = _in_model_order(StepRating,
                                 ("id", "node_id", "rating", "flagged", "time_spent_ms"))


# The node columns the page and actions read; the rest (text_hash, generator, created) load
# on first access. Rows become model instances without Model.__init__ (``_built``): for a
# 362-step trace, __init__ per row cost more than the query and the page's rendering.
_NODE_FIELDS = _in_model_order(StepNode, ("id", "problem_id", "parent_id", "depth", "text",
                                          "author", "author_user_id"))


def _built(model, names, values, alias: str):
    """A model instance from a row of ``names`` (the model's own attnames), as from_db would
    give, minus the per-field work of __init__; the fields not given are deferred.
    ``alias``: the connection's alias, read once per query by the caller (``connection`` is
    a thread-local proxy: reading it per row cost more than building the row)."""
    obj = model.__new__(model)
    obj.__dict__.update(zip(names, values))
    state = ModelState()
    state.adding, state.db = False, alias
    obj._state = state
    return obj


#: A first-error request reads its problem's whole step tree (one indexed scan) and walks the
#: solution's path in Python, when the tree has at most this many steps; a bigger tree (a
#: problem many generated solutions share) is walked up its parent links in the database.
PROBLEM_READ_CAP = 2000


def path_and_ratings(solution, assignment: Assignment
                     ) -> tuple[list[StepNode], dict[int, StepRating]]:
    """``solution_path`` and ``load_ratings`` in one round trip: every first-error request
    needs both. The rows are the problem's steps (at most ``PROBLEM_READ_CAP`` + 1 of them),
    each with this task's rating of it where there is one (every step a task rates is one of
    its problem's); the path is walked in Python. Reading them by problem cost a third of the
    walk up the parent links for a 362-step trace; past the cap the path is walked in a
    second query and the ratings read in a third.

    In verify mode, where nothing is hidden from this labeler, each step's verdict comes in
    the same rows (``verdicts.verdict_rows``), kept on the assignment as
    ``assignment.read_verdicts``: the columns by node id, the function that makes them a
    Verdict (called for the steps shown), and the node ids read (the problem's)."""
    rows_reader = _joined_verdicts(assignment)
    sql, n_node = _path_and_ratings_sql(connection.vendor, rows_reader and rows_reader.sql)
    params = [assignment.pk, solution.problem_id, PROBLEM_READ_CAP + 1]
    if rows_reader is not None:
        params = rows_reader.params + params
    with connection.cursor() as cur:
        cur.execute(sql, params)
        rows = cur.fetchall()
    alias, assignment_pk = connection.alias, assignment.pk
    n_rating = n_node + len(_RATING_FIELDS)
    by_id, ratings, verdicts = {}, {}, {}
    for row in rows:
        by_id[row[0]] = row
        if row[n_node + _RATING_ID] is not None:  # this task rated the step
            ratings[row[0]] = _rating_row(row[n_node:n_rating], alias, assignment_pk, assignment)
        if rows_reader is not None and row[n_rating] is not None:  # the source labels it
            verdicts[row[0]] = row[n_rating + 1:]
    parent_at = _NODE_FIELDS.index("parent_id")
    ids, at = [], solution.last_step_id
    while at is not None and at in by_id:
        ids.append(at)
        at = by_id[at][parent_at]
    if at is not None or len(by_id) > PROBLEM_READ_CAP:
        return solution_path(solution), load_ratings(assignment)
    if rows_reader is not None:
        assignment.read_verdicts = (verdicts, rows_reader.verdict, set(by_id))
    return [_built(StepNode, _NODE_FIELDS, by_id[pk][:n_node], alias) for pk in reversed(ids)], ratings


def _joined_verdicts(assignment: Assignment):
    """The verify source's subquery, where the verdicts may be read with the steps."""
    if (not assignment.shown_source or connection.vendor != "postgresql"
            or blind.hidden_hints(assignment) is not None):
        return None
    try:
        return verdict_rows(assignment.shown_source, assignment.solution_id)
    except ValueError:  # an unknown spec: the page's own read says so (verify_state)
        return None


_RATING_ID = _RATING_FIELDS.index("id")


@lru_cache(maxsize=16)
def _path_and_ratings_sql(vendor: str, verdict_sql: str | None) -> tuple[str, int]:
    node_cols = [StepNode._meta.get_field(f).column for f in _NODE_FIELDS]
    rating_cols = [StepRating._meta.get_field(f).column for f in _RATING_FIELDS]
    verdict_cols, verdict_join = "", ""
    if verdict_sql:
        # The subquery's parameters come first: the LATERAL join is written before the WHERE.
        verdict_cols = ", vr.*"
        verdict_join = f" LEFT JOIN LATERAL ({verdict_sql}) vr ON true"
    return (f"""SELECT {", ".join(f"n.{c}" for c in node_cols)},
                       {", ".join(f"r.{c}" for c in rating_cols)}{verdict_cols}
                  FROM {StepNode._meta.db_table} n{verdict_join}
                  LEFT JOIN {StepRating._meta.db_table} r
                    ON r.node_id = n.id AND r.assignment_id = %s
                 WHERE n.problem_id = %s ORDER BY n.id LIMIT %s""",
            len(node_cols))


def _rating_row(values, alias: str, assignment_pk: int, assignment) -> StepRating:
    """``_built`` for a rating of this task, with its assignment set (without the
    descriptors' per-row checks); SQLite gives 0/1 for ``flagged``."""
    rating = StepRating.__new__(StepRating)
    fields = dict(zip(_RATING_FIELDS, values))
    if fields["flagged"] is not None:
        fields["flagged"] = bool(fields["flagged"])
    fields["assignment_id"] = assignment_pk
    state = ModelState()
    state.adding, state.db, state.fields_cache = False, alias, {"assignment": assignment}
    fields["_state"] = state
    rating.__dict__ = fields
    return rating


def _item(node: StepNode, ratings: dict, role: str) -> Item:
    r = ratings.get(node.pk)
    return Item(node=node, rating=r.rating if r else None, flagged=r.flagged if r else None,
                role=role)


def _merge_candidates(stored: list[int], fresh: list[StepNode], limit: int) -> list[int]:
    """Keep what was already shown, in order; append newly arrived candidates up to the limit."""
    ids = list(stored)
    for node in fresh:
        if len(ids) >= limit:
            break
        if node.pk not in ids:
            ids.append(node.pk)
    return ids


def _first_error_state(assignment: Assignment, ratings: dict, path=None, *,
                       kept: TaskState | None = None, start: int = 0) -> TaskState:
    """``kept``/``start``: a state derived earlier in this request whose positions before
    ``start`` still hold (their ratings did not change); the walk resumes at ``start``."""
    project, solution = assignment.project, assignment.solution
    path = path if path is not None else solution_path(solution)
    stored = list(assignment.presentation or [])
    positions, presentation = [], []
    if kept is not None and start:
        positions, presentation = kept.positions[:start], kept.presentation[:start]
    walk_done, reason = False, None
    for i in range(len(positions), len(path)):
        node = path[i]
        # ``_item`` inlined, ``id`` for ``pk``: this loop runs over every shown step, twice per
        # action on a long trace.
        r = ratings.get(node.id)
        item = Item(node, r.rating if r else None, r.flagged if r else None)
        parent_id = node.parent_id
        if item.rating == -1:
            old = stored[i] if i < len(stored) else {}
            kept = old.get("candidates") or []
            if not kept or kept[0] != node.pk:
                kept = [node.pk]
            fresh = candidate_nodes(solution.problem_id, parent_id,
                                    limit=project.candidates_per_position, exclude=(node.pk,))
            ids = _merge_candidates(kept, fresh, max(project.candidates_per_position, 1))
            nodes = {n.pk: n for n in StepNode.objects.filter(pk__in=ids)}
            items = [item] + [_item(nodes[pk], ratings, "candidate") for pk in ids[1:] if pk in nodes]
            human = None
            if old.get("human") and (h := StepNode.objects.filter(pk=old["human"]).first()):
                human = Item(node=h, role="human")
            pos = Position(i, parent_id, items, bad=True, human=human, waiting=len(items) == 1)
            positions.append(pos)
            entry = {**{k: v for k, v in old.items() if k not in ("candidates", "chosen", "human")},
                     "candidates": [it.node.pk for it in items], "chosen": None,
                     "human": human.node.pk if human else None}
            presentation.append(entry)
            walk_done, reason = pos.all_rated, "found_error"
            break
        chosen = 0 if item.rating is not None else None
        item.chosen = chosen is not None
        positions.append(Position(i, parent_id, [item], chosen=chosen))
        presentation.append({"candidates": [node.id], "chosen": chosen, "human": None})
        if item.rating is None:
            break
    else:
        walk_done, reason = True, "solution"
    return TaskState(assignment, project, positions, walk_done, reason, presentation, path)


def _branch_state(assignment: Assignment, ratings: dict) -> TaskState:
    project, solution = assignment.project, assignment.solution
    stored = [dict(e) for e in (assignment.presentation or [])]
    limit = project.candidates_per_position
    if not stored:
        stored = [{"candidates": [], "chosen": None, "human": None}]
    positions, parent_id = [], None
    walk_done, reason = False, None
    # One query for every node already recorded, however long the walk.
    nodes = {n.pk: n for n in StepNode.objects.filter(pk__in=[
        pk for e in stored for pk in [*(e.get("candidates") or []), e.get("human")] if pk])}
    i = 0
    while i < len(stored):
        entry = stored[i]
        if entry.get("chosen") is None and entry.get("human") is None:
            fresh = candidate_nodes(solution.problem_id, parent_id, limit=limit)
            nodes.update((n.pk, n) for n in fresh)
            entry["candidates"] = _merge_candidates(entry.get("candidates") or [], fresh, limit)
        ids = list(entry.get("candidates") or [])
        items = [_item(nodes[pk], ratings, "candidate") for pk in ids if pk in nodes]
        chosen = entry.get("chosen")
        if chosen is not None and chosen < len(items):
            items[chosen].chosen = True
        human = Item(node=nodes[entry["human"]], role="human") if entry.get("human") in nodes else None
        positions.append(Position(i, parent_id, items, chosen=chosen, human=human, waiting=not items))
        nxt = items[chosen].node if chosen is not None and chosen < len(items) else (
            human.node if human else None)
        if nxt is None:
            break
        if is_final(nxt):
            walk_done, reason = True, "solution"
            break
        parent_id = nxt.pk
        if i == len(stored) - 1:
            stored.append({"candidates": [], "chosen": None, "human": None})
        i += 1
    stored = stored[: len(positions)]
    return TaskState(assignment, project, positions, walk_done, reason, stored)


def task_state(assignment: Assignment, *, path=None, ratings=None,
               before: TaskState | None = None, changed=None) -> TaskState:
    """The task as the annotator sees it. ``path``/``ratings``: already loaded in this request.

    ``before``/``changed``: the state this request derived before changing the ratings of the
    nodes ``changed``; in first-error mode the positions before the first changed one are
    kept as they are (a rating changes nothing before its own step), so a save at the end of
    a long walk derives only its tail."""
    if ratings is None and path is None:
        path, ratings = load_task_data(assignment)
    elif ratings is None:
        ratings = load_ratings(assignment)
    start = 0
    if assignment.project.mode == Project.Mode.BRANCH:
        state = _branch_state(assignment, ratings)
    else:
        if before is not None and changed:
            start = _first_changed(before, changed)
        state = _first_error_state(assignment, ratings, path, kept=before, start=start)
        state.kept_until = start
    if assignment.project.show_hints:
        _attach_hints(state, start)
    if assignment.shown_source:
        from .verify_state import attach_verdicts  # reads TaskState, defined here

        attach_verdicts(state, start, before)
    if getattr(assignment, "has_critiques", True):
        _attach_critiques(state, start)
    _attach_runs(state, start)
    return state


def _first_changed(before: TaskState, changed) -> int:
    """The first position of ``before`` with a changed node; 0 (derive it all) when none.
    A path step's position is its index on the path; any other shown node (a candidate) is
    at the last position, the Bad one."""
    last = len(before.positions) - 1
    if last < 0 or before.path is None:
        return 0
    at = {node.id: i for i, node in enumerate(before.path[:last + 1])}
    found = [at.get(pk, last) for pk in changed]
    return min(*found, last) if found else 0


def load_task_data(assignment: Assignment) -> tuple[list | None, dict[int, StepRating]]:
    """What ``task_state`` reads, for an action that looks at the ratings first."""
    if assignment.project.mode == Project.Mode.BRANCH:
        return None, load_ratings(assignment)
    return path_and_ratings(assignment.solution, assignment)


def _attach_hints(state: TaskState, start: int = 0) -> None:
    """Machine pre-annotations for the shown steps from position ``start`` on (the ones
    before it are kept from an earlier state, hints included); display only, never ratings."""
    by_node: dict[int, list] = {}
    positions = state.positions[start:]
    ids = [item.node.pk for p in positions for item in p.items]
    # A label given in another solution's context (a judge's, PreAnnotation.scope) is not shown.
    scopes = (0, state.assignment.solution_id)
    hints = PreAnnotation.objects.filter(node_id__in=ids, scope__in=scopes)
    hidden = blind.hidden_hints(state.assignment)  # a source under blind certification
    if hidden is not None:
        hints = hints.exclude(hidden)
    for hint in hints.order_by("kind", "source"):
        by_node.setdefault(hint.node_id, []).append(hint)
    for p in positions:
        for item in p.items:
            item.hints = by_node.get(item.node.pk, [])


def _attach_critiques(state: TaskState, start: int = 0) -> None:
    positions = state.positions[start:]
    ids = [item.node.pk for p in positions for item in p.items]
    if not ids:
        return
    found = {c.node_id: c for c in Critique.objects.filter(
        assignment_id=state.assignment.pk, node_id__in=ids).select_related("correction")}
    for p in positions:
        for item in p.items:
            item.critique = found.get(item.node.pk)


def _attach_runs(state: TaskState, start: int = 0) -> None:
    from workers.models import Run

    for pos in state.positions[start:]:
        if pos.waiting and pos.index < len(state.presentation):
            run_id = state.presentation[pos.index].get("run")
            if run_id is not None:
                pos.run_requested = True
                pos.run_error = state.presentation[pos.index].get("run_error", "")
                pos.run = Run.objects.filter(pk=run_id).first() if run_id else None


def rateable_node_ids(state: TaskState) -> set[int]:
    return {item.node.id for item in state.items}
