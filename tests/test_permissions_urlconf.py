"""Every URL refuses an anonymous user and a non-member.

The test walks the whole URL conf (django.urls.get_resolver), so a view added later by any
app (annotate, manage, api, exports, training, ...) without a permission check fails here.
URL arguments are filled with the ids of one fully populated "secret" project (every core
row gets the same primary key), so a view that forgot its check finds a real object instead
of hiding behind a 404.

* anonymous: must get a redirect to a login page, 401 or 403;
* a logged-in user who is admin of *another* project: must get 401/403/404 or a login
  redirect, or a page that shows none of the secret project's contents (user-scoped lists).
"""

import re
import uuid

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.exceptions import Resolver404
from django.urls.resolvers import RegexPattern, RoutePattern

from annotate.models import (
    Assignment,
    GoldLabel,
    Membership,
    PreAnnotation,
    Problem,
    Project,
    RatingChange,
    Solution,
    StepNode,
    StepRating,
)
from workers.models import Run

pytestmark = [pytest.mark.django_db, pytest.mark.portable]

#: URL names anyone may open. Keep this list short and explicit.
PUBLIC = {"login", "logout", "api:schema", "api:docs", "admin:login", "admin:logout"}
FIXED = 424242
SLUG = "secret-project-zeta"
GOLD_KEY = "SECRET-GOLD-KEY"
SECRETS = ["Secret Project Zeta", "SECRET-PROBLEM-7c1e", "SECRET-STEP-51ab", GOLD_KEY,
           "SECRET-ANSWER-99", "SECRET-HINT-3f0d"]
METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture
def secret(make_user):
    insider = make_user("insider", id=FIXED)
    project = Project.objects.create(id=FIXED, name="Secret Project Zeta", slug=SLUG,
                                     overlap=2, description=SECRETS[0])
    Membership.objects.create(id=FIXED, project=project, user=insider, role="admin")
    problem = Problem.objects.create(id=FIXED, project=project, statement="SECRET-PROBLEM-7c1e",
                                     ground_truth_answer="SECRET-ANSWER-99",
                                     external_id="SECRET-PROBLEM-7c1e")
    node = StepNode.objects.create(id=FIXED, problem=problem, parent=None, depth=0,
                                   text="SECRET-STEP-51ab")
    solution = Solution.objects.create(id=FIXED, project=project, problem=problem,
                                       last_step=node, is_gold=True,
                                       final_answer="SECRET-ANSWER-99")
    GoldLabel.objects.create(id=FIXED, solution=solution, node=node, rating=-1, source=GOLD_KEY)
    assignment = Assignment.objects.create(id=FIXED, project=project, solution=solution,
                                           annotator=insider, status="submitted")
    rating = StepRating.objects.create(id=FIXED, assignment=assignment, node=node, rating=1)
    RatingChange.objects.create(id=FIXED, rating=rating, changed_by=insider, new_rating=1)
    PreAnnotation.objects.create(id=FIXED, node=node, kind="prm_score", source="SECRET-HINT-3f0d",
                                 value=0.5)
    Run.objects.create(id=FIXED, kind="import", project=project, created_by=insider,
                       result={"note": "SECRET-PROBLEM-7c1e"}, log="SECRET-PROBLEM-7c1e")
    return project


def _walk(patterns, chain=(), namespace=None):
    for p in patterns:
        if isinstance(p, URLResolver):
            ns = p.namespace
            full_ns = ":".join(x for x in (namespace, ns) if x) or None
            yield from _walk(p.url_patterns, chain + (p.pattern,), full_ns)
        elif isinstance(p, URLPattern):
            name = f"{namespace}:{p.name}" if namespace and p.name else p.name
            yield chain + (p.pattern,), name


CANDIDATES = [str(FIXED), SLUG, "json", "auth", "labels", str(uuid.UUID(int=FIXED)), "x"]


def _fill_regex(regex: str) -> str | None:
    def group(m):
        inner = m.group(2)
        for value in CANDIDATES:
            if re.fullmatch(inner, value):
                return value
        raise ValueError(inner)

    try:
        text = re.sub(r"\(\?P<(\w+)>((?:[^()]|\([^()]*\))*)\)", group, regex)
    except ValueError:
        return None
    text = text.lstrip("^").rstrip("$").replace("\\Z", "").replace("/?", "/")
    text = text.replace("\\.", ".").replace("\\-", "-")
    return None if re.search(r"[()\[\]\\*+?|]", text) else text


def _fill_route(route: str) -> str:
    def conv(m):
        kind = m.group(1) or "str"
        return {"int": str(FIXED), "uuid": str(uuid.UUID(int=FIXED)), "path": "x"}.get(kind, SLUG)

    return re.sub(r"<(?:(\w+):)?\w+>", conv, route)


def all_urls():
    """(url, name) for every pattern; the second list holds ones that could not be built."""
    urls, unbuilt = [], []
    for chain, name in _walk(get_resolver().url_patterns):
        parts = []
        for pattern in chain:
            if isinstance(pattern, RoutePattern):
                parts.append(_fill_route(str(pattern)))
            elif isinstance(pattern, RegexPattern):
                filled = _fill_regex(pattern.regex.pattern)
                if filled is None:
                    parts = None
                    break
                parts.append(filled)
        url = "/" + "".join(parts) if parts is not None else None
        try:
            if url is None:
                raise Resolver404
            resolve(url)
        except Resolver404:
            unbuilt.append((chain, name))
            continue
        urls.append((url, name))
    return urls, unbuilt


def _request(client, url):
    for method in METHODS:
        response = getattr(client, method)(url)
        if response.status_code != 405:
            return method, response
    return "delete", response


def _refused(response) -> bool:
    if response.status_code in (401, 403):
        return True
    return response.status_code in (301, 302) and "login" in response.get("Location", "")


def test_url_walk_covers_every_app():
    urls, unbuilt = all_urls()
    names = {name for _, name in urls}
    assert {"manage:settings", "manage:review_detail", "manage:table_csv", "annotate:home"} <= names
    # Only the Django admin's regex routes (their own staff check) may be unbuildable.
    assert all(str(chain[0]).startswith("django-admin/") for chain, _ in unbuilt), unbuilt


def test_anonymous_is_refused_everywhere(secret, client):
    client.raise_request_exception = False
    failures = []
    for url, name in all_urls()[0]:
        if name in PUBLIC:
            continue
        method, response = _request(client, url)
        if not _refused(response):
            failures.append(f"{method.upper()} {url} ({name}) -> {response.status_code}")
    assert not failures, "views without a permission check:\n" + "\n".join(failures)


def test_non_member_is_refused_or_sees_nothing(secret, client, make_user):
    outsider = make_user("outsider")
    Project.objects.create(name="Own", slug="own").memberships.create(user=outsider, role="admin")
    client.force_login(outsider)
    client.raise_request_exception = False
    failures, checked = [], 0
    for url, name in all_urls()[0]:
        if name in PUBLIC or url.startswith("/django-admin/"):
            continue  # the Django admin is for staff only; outsiders are not staff
        method, response = _request(client, url)
        checked += 1
        if _refused(response) or response.status_code == 404:
            continue
        if response.status_code >= 500:
            failures.append(f"{method.upper()} {url} ({name}) -> {response.status_code}")
            continue
        body = b"".join(response) if response.streaming else response.content
        leaked = [s for s in SECRETS if s.encode() in body]
        if leaked:
            failures.append(f"{method.upper()} {url} ({name}) -> {response.status_code} "
                            f"shows {leaked}")
    assert checked >= 20
    assert not failures, "non-member saw another project's data:\n" + "\n".join(failures)


def test_annotator_never_sees_the_gold_key(secret, client, make_user):
    """An annotator of the project itself may see its tasks, never a gold item's key."""
    annotator = make_user("member-annotator")
    secret.memberships.create(user=annotator, role="annotator")
    client.force_login(annotator)
    client.raise_request_exception = False
    failures = []
    for url, name in all_urls()[0]:
        if url.startswith("/django-admin/"):
            continue
        method, response = _request(client, url)
        if response.status_code >= 500:
            failures.append(f"{method.upper()} {url} ({name}) -> {response.status_code}")
            continue
        body = b"".join(response) if response.streaming else response.content
        if GOLD_KEY.encode() in body:
            failures.append(f"{method.upper()} {url} ({name}) shows the gold key")
    assert not failures, "\n".join(failures)


def test_django_admin_refuses_non_staff(secret, client, make_user):
    client.force_login(make_user("plain"))
    response = client.get(f"/django-admin/annotate/goldlabel/{FIXED}/change/")
    assert response.status_code == 302 and "login" in response["Location"]
