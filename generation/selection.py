"""Resolving "these objects of this project" for the services that start runs."""

from django.db.models import QuerySet


def project_ids(qs: QuerySet, given, *, foreign: str, empty: str) -> list[int]:
    """Ids of ``qs`` (already scoped to a project), or of ``given`` objects/ids within it.

    Raises ValueError with ``foreign`` when some given ids are not in ``qs``, and with
    ``empty`` when nothing is left.
    """
    if given is not None:
        ids = [g.pk if hasattr(g, "pk") else int(g) for g in given]
        qs = qs.filter(pk__in=ids)
        if qs.count() != len(set(ids)):
            raise ValueError(foreign)
    ids = list(qs.order_by("pk").values_list("pk", flat=True))
    if not ids:
        raise ValueError(empty)
    return ids
