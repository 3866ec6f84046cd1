"""Reading what an export contains, in chunks, so memory stays flat at any size.

Rows are read with ``values_list`` in keyset-paginated chunks (``id > last``), and each
chunk's ratings, step nodes and problems are fetched in a few batched queries.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from django.db.models import Exists, OuterRef, Q

from annotate.models import (
    Assignment,
    GoldLabel,
    PreAnnotation,
    Problem,
    Solution,
    StepNode,
    StepRating,
)

from .records import Record, Step, split_of
from .walks import branch_presentation, distinct_walks, walk_chain

# ~5k ratings per query keeps PostgreSQL on index plans; 2,000 assignments (20k ratings)
# made it hash-join the whole step-node table for every chunk.
CHUNK = 500
#: When several machine labels exist for a step, the most trustworthy kind wins.
MACHINE_KIND_ORDER = ("exact", "mc_hard", "binary_search", "mc_soft", "imported", "prm_score")


def _assignment_filter(spec: dict) -> Q:
    q = Q(project_id__in=spec["projects"], status=Assignment.Status.SUBMITTED)
    if spec["created_after"]:
        q &= Q(created__gte=spec["created_after"])
    if spec["created_before"]:
        q &= Q(created__lt=spec["created_before"])
    if spec["finish_reasons"]:
        q &= Q(finish_reason__in=spec["finish_reasons"])
    if spec.get("annotators"):
        q &= Q(annotator_id__in=spec["annotators"])
    if spec["gold"] == "exclude":
        q &= Q(solution__is_gold=False)
    elif spec["gold"] == "only":
        q &= Q(solution__is_gold=True)
    return q


def _chunks(queryset, fields: tuple[str, ...], chunk: int = CHUNK) -> Iterator[list[tuple]]:
    """Keyset pagination on id: each chunk is one indexed query, however deep we are."""
    last = 0
    while True:
        rows = list(queryset.filter(id__gt=last).order_by("id").values_list("id", *fields)[:chunk])
        if not rows:
            return
        yield rows
        last = rows[-1][0]


class _Nodes:
    """Step nodes of one chunk, fetched by id and then by missing parents, one query per level."""

    def __init__(self):
        self.nodes: dict[int, tuple[int | None, str]] = {}

    def load(self, ids) -> None:
        missing = {i for i in ids if i is not None and i not in self.nodes}
        while missing:
            rows = StepNode.objects.filter(id__in=missing).values_list("id", "parent_id", "text")
            parents = set()
            for node_id, parent_id, text in rows:
                self.nodes[node_id] = (parent_id, text)
                if parent_id is not None and parent_id not in self.nodes:
                    parents.add(parent_id)
            missing = parents

    def path(self, last_step_id: int) -> list[int]:
        path, node = [], last_step_id
        while node is not None:
            path.append(node)
            node = self.nodes[node][0]
        path.reverse()
        return path


PROBLEM_FIELDS = ("statement", "ground_truth_answer", "external_id", "statement_hash")


def _problems(ids) -> dict[int, tuple]:
    return {row[0]: row[1:] for row in Problem.objects.filter(id__in=set(ids)).values_list(
        "id", *PROBLEM_FIELDS)}


def _machine_labels(node_ids) -> dict[int, tuple[float, str]]:
    best: dict[int, tuple[int, float, str]] = {}
    rank = {kind: i for i, kind in enumerate(MACHINE_KIND_ORDER)}
    # Node-level labels only: a label given in one solution's context (scope) is not the node's.
    for node_id, kind, value in PreAnnotation.objects.filter(
            node_id__in=set(node_ids), scope=0).values_list("node_id", "kind", "value"):
        r = rank.get(kind, len(rank))
        if node_id not in best or r < best[node_id][0]:
            best[node_id] = (r, value, kind)
    return {node_id: (value, kind) for node_id, (_, value, kind) in best.items()}


def _machine_step(node_id: int, text: str, machine) -> Step:
    value, _kind = machine[node_id]
    return Step(node_id, text, 1 if value >= 0.5 else -1, source="machine", score=float(value))


SOLUTION_FIELDS = ("project_id", "problem_id", "last_step_id", "final_answer", "is_correct",
                   "external_id", "is_gold")


def _record(spec, kind, rec_id, sol, problem, nodes, steps, **extra) -> Record:
    statement, truth, problem_ext, statement_hash = problem
    return Record(
        id=rec_id, project_id=sol[0], problem_id=sol[1], problem_external_id=problem_ext,
        problem=statement, ground_truth_answer=truth, solution_id=sol[-1],
        solution_external_id=sol[5], steps=steps, final_answer=sol[3], is_correct=sol[4],
        is_gold=sol[6], label_source=kind,
        split=split_of(statement_hash, spec["test_fraction"], spec["split_seed"]), **extra)


def _written_step(node_id: int, text: str) -> Step:
    """The annotator's own step on a walk: written as the right continuation, and never
    rated (only candidates are), so it counts as Great, marked ``written``."""
    return Step(node_id, text, 1, source="written")


def iter_per_annotator(spec: dict) -> Iterator[Record]:
    fields = ("annotator_id", "finish_reason") + tuple(f"solution__{f}" for f in SOLUTION_FIELDS) \
        + ("solution_id",) + tuple(f"solution__problem__{f}" for f in PROBLEM_FIELDS) \
        + ("walk",)
    qs = Assignment.objects.filter(_assignment_filter(spec)).annotate(walk=branch_presentation())
    for rows in _chunks(qs, fields):
        ratings: dict[int, dict[int, tuple]] = {}
        nodes = _Nodes()
        texts = nodes.nodes
        # The chunk's ratings, joined with their nodes' parent and text so the paths need
        # no further query. (An id range joined to the assignment filter instead of this IN
        # list made PostgreSQL scan every assignment per chunk.)
        for a_id, node_id, rating, flagged, parent_id, text in StepRating.objects.filter(
                assignment_id__in=[r[0] for r in rows]).values_list(
                "assignment_id", "node_id", "rating", "flagged", "node__parent_id", "node__text"):
            by_node = ratings.get(a_id)
            if by_node is None:
                by_node = ratings[a_id] = {}
            by_node[node_id] = (rating, flagged)
            texts[node_id] = (parent_id, text)
        # A branch walk's own path (see walks.py); any other assignment walked its solution.
        walks = {}
        for r in rows:
            if r[-1]:
                walks[r[0]] = walk_chain(r[-1])
        rows = [r[:-1] for r in rows]
        ends = {r[5] for r in rows} | {chain[-1] for chain, _w in walks.values() if chain}
        nodes.load(ends | {p for p, _t in list(texts.values())})
        problems = {r[4]: r[-4:] for r in rows}
        rows = [r[:-4] for r in rows]
        paths = {r[0]: _walk_path(nodes, walks.get(r[0]), r[5]) for r in rows}
        machine = _machine_labels(n for p in paths.values() for n in p) \
            if spec["machine_labels"] else {}
        unrated = (None, None)
        for row in rows:
            a_id, annotator_id, finish_reason, *sol = row
            rated = ratings.get(a_id, {})
            path = paths[a_id]
            written = walks[a_id][1] if a_id in walks else ()
            steps = []
            for node_id in path:  # the hot loop of every export: keep it plain
                rating, flagged = rated.get(node_id, unrated)
                if rating is None and node_id in written:
                    steps.append(_written_step(node_id, texts[node_id][1]))
                elif rating is None and node_id in machine:
                    steps.append(_machine_step(node_id, texts[node_id][1], machine))
                else:
                    steps.append(Step(node_id, texts[node_id][1], rating, "human", None, None,
                                      flagged))
            # Only first-error or branch labeling rates nodes off the path.
            alternatives = {} if rated.keys() <= set(path) else _alternatives(
                path, rated, nodes, lambda n, r=rated, t=texts: Step(n, t[n][1], r[n][0],
                                                                      flagged=r[n][1]))
            sol = _walk_answer(sol, path, nodes, problems[sol[1]][1])
            yield _record(spec, "per_annotator", f"a{a_id}", sol, problems[sol[1]], nodes, steps,
                          assignment_id=a_id, annotator_id=annotator_id,
                          finish_reason=finish_reason, alternatives=alternatives)
    yield from _gold_keys_beside_humans(spec)
    if spec["machine_labels"]:
        yield from iter_machine_only(spec)


def _walk_answer(sol, path, nodes: _Nodes, truth: str):
    """``sol`` with the final answer and correctness of the walk when it left the
    solution: the solution's own answer is not the one the walk reached."""
    if not path or path[-1] == sol[2]:
        return sol
    from annotate.grading import extract_final_answer, grade_answer, is_answer_step

    last = nodes.nodes[path[-1]][1]
    answer = extract_final_answer(last) if is_answer_step(last) else None
    correct = grade_answer(answer, truth) if answer is not None and truth else None
    return (*sol[:3], answer or "", correct, *sol[5:])


def _walk_path(nodes: _Nodes, walk, last_step_id: int) -> list[int]:
    if walk is None:
        return nodes.path(last_step_id)
    chain = walk[0]
    if chain and chain[-1] not in nodes.nodes:  # a step deleted since: the solution's path
        return nodes.path(last_step_id)
    return nodes.path(chain[-1]) if chain else []


def _alternatives(path, node_ids, nodes, make) -> dict[int, list[Step]]:
    """Rated siblings of path steps: the other candidates shown at that position, and
    those shown after the walk's last step (the position where it ended)."""
    on_path = set(path)
    position = {(nodes.nodes[n][0]): i for i, n in enumerate(path)}
    position.setdefault(path[-1] if path else None, len(path))
    alternatives: dict[int, list[Step]] = {}
    for node_id in node_ids:
        if node_id in on_path:
            continue
        i = position.get(nodes.nodes[node_id][0])
        if i is None:
            continue
        step = make(node_id)
        if step.rating is not None:
            alternatives.setdefault(i, []).append(step)
    for steps in alternatives.values():
        steps.sort(key=lambda s: s.node_id)
    return alternatives


def _solutions(spec: dict, labeled: bool):
    submitted = Assignment.objects.filter(_assignment_filter(spec), solution_id=OuterRef("pk"))
    qs = Solution.objects.filter(project_id__in=spec["projects"])
    if spec["gold"] == "exclude":
        qs = qs.filter(is_gold=False)
    elif spec["gold"] == "only":
        qs = qs.filter(is_gold=True)
    if labeled:
        return qs.filter(Exists(submitted))
    qs = qs.exclude(Exists(Assignment.objects.filter(
        solution_id=OuterRef("pk"), status=Assignment.Status.SUBMITTED)))
    if spec["created_after"]:
        qs = qs.filter(created__gte=spec["created_after"])
    if spec["created_before"]:
        qs = qs.filter(created__lt=spec["created_before"])
    return qs


def iter_consensus(spec: dict) -> Iterator[Record]:
    """One record per solution and distinct walk: the solution's path when an annotator
    walked it (first-error, imports), and each branch walk that left it; every step
    carries the consensus of all annotators of the solution who rated it."""
    from quality.consensus import consensus_labels

    qs = _solutions(spec, labeled=True)
    for rows in _chunks(qs, SOLUTION_FIELDS):
        rows = [r[1:] + (r[0],) for r in rows]  # id last, as _record expects
        labels = consensus_labels([r[-1] for r in rows])
        reasons: dict[int, Counter] = {}
        walked: dict[int, list] = {}
        written: dict[int, set] = {}
        for sol_id, reason, presentation in Assignment.objects.filter(
                _assignment_filter(spec), solution_id__in=[r[-1] for r in rows]).annotate(
                walk=branch_presentation()).order_by("id").values_list(
                "solution_id", "finish_reason", "walk"):
            reasons.setdefault(sol_id, Counter())[reason] += 1
            chain, own = walk_chain(presentation) if presentation else (None, ())
            walked.setdefault(sol_id, []).append(chain)  # None: the solution's path
            written.setdefault(sol_id, set()).update(own)
        nodes = _Nodes()
        nodes.load({r[2] for r in rows} | {c[-1] for ws in walked.values() for c in ws if c})
        if spec["expand_alternatives"]:
            nodes.load({n for by_node in labels.values() for n in by_node})
        problems = _problems(r[1] for r in rows)
        walks = {}
        for sol in rows:
            walks[sol[-1]] = distinct_walks([
                tuple(_walk_path(nodes, None if chain is None else (chain, ()), sol[2]))
                for chain in walked.get(sol[-1], [None])])
        machine = _machine_labels(n for ws in walks.values() for w in ws for n in w) \
            if spec["machine_labels"] else {}
        for sol in rows:
            by_node = labels.get(sol[-1], {})
            own = written.get(sol[-1], ())
            reason = reasons.get(sol[-1], Counter()).most_common(1)
            for k, path in enumerate(walks[sol[-1]]):
                steps, low = [], False
                for node_id in path:
                    label = by_node.get(node_id)
                    if label is not None and spec["min_agreement"] is not None \
                            and label.source != "review" \
                            and label.agreement < spec["min_agreement"]:
                        low = True  # ties count: their agreement is low too
                    if label is not None and label.rating is not None:
                        steps.append(_consensus_step(node_id, nodes, label))
                    elif node_id in own:
                        steps.append(_written_step(node_id, nodes.nodes[node_id][1]))
                    elif node_id in machine:
                        steps.append(_machine_step(node_id, nodes.nodes[node_id][1], machine))
                    else:
                        steps.append(Step(node_id, nodes.nodes[node_id][1], None))
                if low:
                    continue  # a walk whose labels annotators disagreed on stays out
                alternatives = _alternatives(
                    list(path), by_node, nodes,
                    lambda n, b=by_node, ns=nodes: _consensus_step(n, ns, b[n])) \
                    if spec["expand_alternatives"] else {}
                # The first walk keeps the solution's id; another walk adds its last step's.
                rec_id = f"s{sol[-1]}" if k == 0 else f"s{sol[-1]}-n{path[-1]}"
                yield _record(spec, "consensus", rec_id,
                              _walk_answer(sol, path, nodes, problems[sol[1]][1]),
                              problems[sol[1]], nodes, steps,
                              finish_reason=reason[0][0] if reason else "",
                              alternatives=alternatives)
    yield from _gold_keys_beside_humans(spec)
    if spec["machine_labels"]:
        yield from iter_machine_only(spec)


def _consensus_step(node_id: int, nodes: _Nodes, label) -> Step:
    return Step(node_id, nodes.nodes[node_id][1], label.rating,
                source="review" if label.source == "review" else "consensus",
                agreement=label.agreement)


def _keyed():
    return Exists(GoldLabel.objects.filter(solution_id=OuterRef("pk")))


def _gold_keys_beside_humans(spec: dict) -> Iterator[Record]:
    mode = spec.get("gold_keys", "none")
    if mode == "none" or spec["gold"] == "exclude" or spec["finish_reasons"] \
            or spec.get("annotators"):
        return  # those filters select human work only
    yield from iter_gold(spec, unlabeled_only=mode == "unlabeled")


def iter_gold(spec: dict, *, unlabeled_only: bool = False) -> Iterator[Record]:
    """Gold solutions as their answer keys (``GoldLabel``), one record each, steps marked
    ``gold``; a step without a key is unlabeled (or machine-labeled on request)."""
    if unlabeled_only:
        qs = _solutions(spec, labeled=False)
    else:
        qs = Solution.objects.filter(project_id__in=spec["projects"])
        if spec["created_after"]:
            qs = qs.filter(created__gte=spec["created_after"])
        if spec["created_before"]:
            qs = qs.filter(created__lt=spec["created_before"])
    qs = qs.filter(_keyed(), is_gold=True)
    for rows in _chunks(qs, SOLUTION_FIELDS):
        rows = [r[1:] + (r[0],) for r in rows]
        keys: dict[int, dict[int, int]] = {}
        for sol_id, node_id, rating in GoldLabel.objects.filter(
                solution_id__in=[r[-1] for r in rows]).values_list("solution_id", "node_id",
                                                                    "rating"):
            keys.setdefault(sol_id, {})[node_id] = rating
        nodes = _Nodes()
        nodes.load(r[2] for r in rows)
        paths = {r[-1]: nodes.path(r[2]) for r in rows}
        machine = _machine_labels(n for p in paths.values() for n in p) \
            if spec["machine_labels"] else {}
        problems = _problems(r[1] for r in rows)
        for sol in rows:
            key = keys.get(sol[-1], {})
            steps = []
            for n in paths[sol[-1]]:
                if n in key:
                    steps.append(Step(n, nodes.nodes[n][1], key[n], source="gold"))
                elif n in machine:
                    steps.append(_machine_step(n, nodes.nodes[n][1], machine))
                else:
                    steps.append(Step(n, nodes.nodes[n][1], None))
            yield _record(spec, "gold", f"g{sol[-1]}", sol, problems[sol[1]], nodes, steps)


def iter_machine_only(spec: dict) -> Iterator[Record]:
    """Solutions no human labeled, with machine labels on their steps (marked machine)."""
    if spec["finish_reasons"] or spec.get("annotators"):
        return  # those filters select human work only
    qs = _solutions(spec, labeled=False)
    if spec.get("gold_keys", "none") != "none" and spec["gold"] != "exclude":
        qs = qs.exclude(_keyed(), is_gold=True)  # their answer keys were exported already
    for rows in _chunks(qs, SOLUTION_FIELDS):
        rows = [r[1:] + (r[0],) for r in rows]
        nodes = _Nodes()
        nodes.load(r[2] for r in rows)
        paths = {r[-1]: nodes.path(r[2]) for r in rows}
        machine = _machine_labels(n for p in paths.values() for n in p)
        problems = _problems(r[1] for r in rows)
        for sol in rows:
            path = paths[sol[-1]]
            if not any(n in machine for n in path):
                continue
            steps = [_machine_step(n, nodes.nodes[n][1], machine) if n in machine
                     else Step(n, nodes.nodes[n][1], None) for n in path]
            yield _record(spec, "machine", f"m{sol[-1]}", sol, problems[sol[1]], nodes, steps)


def iter_rule(spec: dict, tally=None) -> Iterator[Record]:
    """One record per solution (its path) with a label rule's labels (docs/labels.md,
    "Rules"): each kept step is marked with the source it came from (``agree:a+b``, ``vote``
    for combined ones), a dropped step is unlabeled. The rule reads labels through
    ``quality.labels.labels_for`` a chunk of solutions at a time; ``tally`` (a
    ``quality.label_rules.Tally``) adds up its candidates and kept steps."""
    from quality.label_rules import apply_rule, parse_rule

    rule = parse_rule(spec["labels"])
    qs = Solution.objects.filter(project_id__in=spec["projects"])
    if spec["gold"] == "exclude":
        qs = qs.filter(is_gold=False)
    elif spec["gold"] == "only":
        qs = qs.filter(is_gold=True)
    if spec["created_after"]:
        qs = qs.filter(created__gte=spec["created_after"])
    if spec["created_before"]:
        qs = qs.filter(created__lt=spec["created_before"])
    for rows in _chunks(qs, SOLUTION_FIELDS):
        rows = [r[1:] + (r[0],) for r in rows]  # id last, as _record expects
        labels, counts = apply_rule(rule, [r[-1] for r in rows])
        if tally is not None:
            tally.add(counts)
        nodes = _Nodes()
        nodes.load(r[2] for r in rows)
        problems = _problems(r[1] for r in rows)
        for sol in rows:
            mine = labels.get(sol[-1])
            if not mine:
                continue
            steps = []
            for pos, node_id in enumerate(nodes.path(sol[2])):
                label, source = mine.get(pos, (None, ""))
                steps.append(Step(node_id, nodes.nodes[node_id][1], label,
                                  source=source if label is not None else ""))
            yield _record(spec, rule.name, f"s{sol[-1]}", sol, problems[sol[1]], nodes, steps)


def iter_records(spec: dict, tally=None) -> Iterator[Record]:
    if isinstance(spec["labels"], dict):
        return iter_rule(spec, tally)
    if spec["labels"] == "gold":
        return iter_gold(spec)
    if spec["labels"] == "consensus":
        return iter_consensus(spec)
    return iter_per_annotator(spec)


def iter_assignment_chunks(spec: dict) -> Iterator[list[int]]:
    for rows in _chunks(Assignment.objects.filter(_assignment_filter(spec)), ()):
        yield [r[0] for r in rows]


def iter_problem_chunks(spec: dict) -> Iterator[list[tuple]]:
    """Problems with a ground-truth answer, for RL prompt sets."""
    qs = Problem.objects.filter(project_id__in=spec["projects"]).exclude(ground_truth_answer="")
    if spec["created_after"]:
        qs = qs.filter(created__gte=spec["created_after"])
    if spec["created_before"]:
        qs = qs.filter(created__lt=spec["created_before"])
    yield from _chunks(qs, ("project_id", "project__slug", "statement", "ground_truth_answer",
                            "external_id", "statement_hash", "subject", "level"))
