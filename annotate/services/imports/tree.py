"""Writing step trees in few queries: plan a row's nodes in memory, then insert the new ones.

One SELECT finds the nodes that exist (by problem and text hash); new nodes get
their ids from the sequence in one query on PostgreSQL and go in one INSERT, so a
long path costs a handful of queries instead of two per step. Other backends
insert level by level. Node identity stays (problem, parent, text), enforced by
the database.
"""

from __future__ import annotations

from django.db import connection

from annotate.models import Problem, StepNode
from annotate.models.problems import content_hash

from .rows import RowContext


class TreeBuilder:
    def __init__(self, ctx: RowContext, problem: Problem, texts: list[str] = ()):
        """``texts``: every step text the row may use, so one query finds the existing nodes."""
        self.ctx = ctx
        self.problem = problem
        self.index: dict[tuple, StepNode] = {}
        self.new: list[StepNode] = []
        self.prefetched = hashes = {content_hash(t) for t in texts}
        if hashes:
            for node in StepNode.objects.filter(problem=problem, text_hash__in=hashes):
                self.index[(node.parent_id, node.text_hash)] = node

    def _key(self, parent: StepNode | None):
        if parent is None:
            return None
        return parent.pk if parent.pk is not None else ("new", id(parent))

    def child(self, parent: StepNode | None, text: str, *,
              author: str = StepNode.Author.IMPORT) -> StepNode:
        h = content_hash(text)
        key = (self._key(parent), h)
        node = self.index.get(key)
        if node is None:
            if h not in self.prefetched and (parent is None or parent.pk is not None):
                # A text the caller did not announce: ask the database.
                node = StepNode.objects.filter(problem=self.problem, parent=parent, text_hash=h).first()
            if node is None:
                node = StepNode(problem=self.problem, parent=parent, text=text, text_hash=h,
                                author=author, depth=0 if parent is None else parent.depth + 1)
                self.new.append(node)
            self.index[key] = node
        return node

    def path(self, texts: list[str], parent: StepNode | None = None) -> list[StepNode]:
        chain = []
        for text in texts:
            parent = self.child(parent, text)
            chain.append(parent)
        return chain

    def flush(self) -> None:
        """Insert the planned nodes; afterwards every node the builder returned has an id."""
        if not self.new:
            return
        new, self.new = self.new, []
        if connection.vendor == "postgresql":
            with connection.cursor() as cur:
                cur.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                            [StepNode._meta.db_table, len(new)])
                ids = [row[0] for row in cur.fetchall()]
            for node, pk in zip(new, ids):  # parents precede children in ``new``
                node.pk = pk
            for node in new:
                node.parent_id = node.parent.pk if node.parent is not None else None
            StepNode.objects.bulk_create(new)
        else:
            for depth in sorted({n.depth for n in new}):
                level = [n for n in new if n.depth == depth]
                for node in level:
                    node.parent_id = node.parent.pk if node.parent is not None else None
                StepNode.objects.bulk_create(level)
                if any(n.pk is None for n in level):  # no RETURNING: read the ids back
                    for node in level:
                        node.pk = StepNode.objects.get(problem=self.problem, parent_id=node.parent_id,
                                                       text_hash=node.text_hash).pk
        self.ctx.made("nodes", len(new))


def path_nodes(ctx: RowContext, problem: Problem, texts: list[str]) -> list[StepNode]:
    """A root-to-leaf chain of nodes for ``texts``, created where missing."""
    builder = TreeBuilder(ctx, problem, texts)
    chain = builder.path(texts)
    builder.flush()
    return chain
