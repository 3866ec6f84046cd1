"""The authorization walk: every URL of the URL conf, as every kind of outsider, at one victim
project's objects.

Shared by tests/test_permissions_urlconf.py (Django test client) and bench/security.py (a live
gunicorn); the victim's world is built by tests/authz_world.py. ``RULES`` maps every URL name to its access rule per method and to the victim
objects its arguments name; a URL without a rule fails the walk ("no authorization rule for
<name>"), so a view added later cannot skip it.

Rules (who may use the URL on the victim's objects):
  public    anyone                        login     any signed-in user (user-scoped pages)
  member    any member of the project     reviewer  its reviewers and admins
  admin     its admins                    staff     Django staff (the Django admin)
  assignee  the assignment's annotator    owner     the token's own user
  secret    the path itself is the credential (a reward URL): a wrong key is refused
  session   any signed-in user, from a browser session only (a token must not mint tokens)
  session-admin  admins, from a browser session only (nor reward URLs)
  score     members, read tokens too (a POST that only computes: scoring writes nothing)
  none      nobody (methods a URL does not serve)

Actors, none of whom may read or change what the rule keeps from them:
  anonymous; annotator and reviewer (members of the victim project); outsider (admin of
  another project, browser session); read-token (the victim admin's read-scoped API token:
  scope must stop every write); write-token (the outsider's write-scoped API token).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from urllib.parse import urlencode

from tests.authz_world import (  # noqa: F401 (the walk's users read them from here too)
    ACTORS,
    BOGUS_KEY,
    GOLD_KEY,
    IDS,
    METHODS,
    OUTSIDERS,
    SAFE,
    SECRETS,
    SLUG,
    World,
    build_world,
    fingerprint,
)

# --- The table -------------------------------------------------------------------------------

P, S, M = IDS["project"], IDS["solution"], IDS["model"]


@dataclass(frozen=True)
class Rule:
    access: dict  # method -> rule; "*" for every method not named
    args: dict = field(default_factory=dict)  # URL argument -> IDS key, or a literal value
    body: dict | None = None  # what a write sends (victim ids in it)
    query: dict | None = None  # query string of a GET (victim ids in it)

    def for_method(self, method: str) -> str:
        return self.access.get(method, self.access.get("*", "none"))


def R(access, args=None, body=None, query=None) -> Rule:  # noqa: N802 (a table row)
    if isinstance(access, str):
        access = {"*": access}
    return Rule(access=access, args=args or {}, body=body, query=query)


SLUG_ARG = {"slug": "=" + SLUG}
TASK = {"pk": "assignment"}
MODEL = {"model_id": "model"}
RATE = {"node": IDS["node"], "rating": "1", "text": "SECRET-overwrite", "reason": "x"}

RULES: dict[str, Rule] = {
    # Signing in and the API's own description.
    "login": R("public", body={"username": "walk-insider", "password": "wrong"}),
    "logout": R("public"),
    "admin-login-redirect": R("public"),  # the Django admin signs in through /login/ (limits)
    "api:schema": R("public"),
    "api:docs": R("public"),
    # The admin pages (/manage/): one decorator, console/views/permissions.py.
    "manage:index": R("login"),
    "manage:create": R("login", body={"name": "x", "slug": SLUG}),
    "manage:settings": R("admin", SLUG_ARG, body={"name": "hijacked", "overlap": 9}),
    "manage:preview": R("reviewer", SLUG_ARG, body={"text": "x"}),
    "manage:archive": R("admin", SLUG_ARG, body={}),
    "manage:generator": R("admin", SLUG_ARG, body={"model": "/etc"}),
    "manage:test_connection": R("admin", SLUG_ARG, body={}),
    "manage:members": R("admin", SLUG_ARG, body={"username": "walk-outsider", "role": "admin"}),
    "manage:set_role": R("admin", {**SLUG_ARG, "pk": "membership"}, body={"role": "annotator"}),
    "manage:remove_member": R("admin", {**SLUG_ARG, "pk": "membership"}, body={}),
    "manage:import": R("admin", SLUG_ARG, body={"fmt": "jsonl"}),
    # Re-cutting imported long traces (console/views/traces.py).
    "manage:resegment_traces": R("admin", SLUG_ARG, body={"strategy": "sentence"}),
    "manage:run": R("admin", {**SLUG_ARG, "run_id": "run"}),
    "manage:gold": R("admin", SLUG_ARG, body={"solution": S}),
    "manage:promote": R("admin", {**SLUG_ARG, "assignment_id": "assignment"}, body={}),
    "manage:screening": R("admin", SLUG_ARG, body={"enabled": "on"}),
    "manage:agreement": R("reviewer", SLUG_ARG),
    "manage:audit": R("reviewer", SLUG_ARG),
    # Machine labels and every annotator's agreement: reviewers and admins.
    "manage:label_sources": R("reviewer", SLUG_ARG),
    "manage:label_sources_csv": R("reviewer", {**SLUG_ARG, "table": "=sources"}),
    "manage:label_sources_recompute": R({"POST": "reviewer"}, SLUG_ARG),
    "manage:certify": R({"POST": "admin"}, SLUG_ARG,
                        body={"source": "prm:SECRET-HINT-3f0d@0.5", "max_error": "0.5",
                              "confidence": "0.6"}),
    "manage:certify_size": R({"GET": "reviewer"}, SLUG_ARG,
                             query={"max_error": "0.1", "confidence": "0.95"}),
    "manage:review": R("reviewer", SLUG_ARG),
    "manage:review_detail": R("reviewer", {**SLUG_ARG, "assignment_id": "assignment"},
                              body={"action": "reject", "note": "x"}),
    "manage:review_critique": R({"POST": "reviewer"}, {**SLUG_ARG, "assignment_id": "assignment",
                                                      "critique_id": "critique"},
                                body={"text": "hijacked"}),
    "manage:dashboard": R("reviewer", SLUG_ARG),
    "manage:dashboard_part": R("reviewer", {**SLUG_ARG, "name": "=labels"}),
    "manage:table_csv": R("reviewer", {**SLUG_ARG, "table": "=labels"}),
    # The PRM service.
    "prm_api:models": R({"GET": "login"}),
    "prm_api:score": R({"POST": "score"}, MODEL, body={"items": [{"problem": "x", "steps": ["y"]}]}),
    "prm_api:openrlhf": R({"POST": "score"}, MODEL, body={"query": ["x"]}),
    "prm_api:reward-urls": R({"GET": "admin", "POST": "session-admin"}, MODEL, body={"name": "x"}),
    "prm_api:reward-url": R({"DELETE": "admin"}, {**MODEL, "url_id": "reward_url"}),
    "prm_api:reward": R({"POST": "secret"}, {"key": "=" + BOGUS_KEY}, body={"query": ["x"]}),
    "prm_api:classify": R({"POST": "score"}, MODEL, body={"input": ["x"]}),
    "prm_api:slime": R({"POST": "score"}, MODEL, body={"prompt": "x", "response": "y"}),
    "prm_api:reward-classify": R({"POST": "secret"}, {"key": "=" + BOGUS_KEY}, body={"input": ["x"]}),
    "prm_api:reward-classify-slash": R({"POST": "secret"}, {"key": "=" + BOGUS_KEY},
                                       body={"input": ["x"]}),
    "prm_api:reward-slime": R({"POST": "secret"}, {"key": "=" + BOGUS_KEY},
                              body={"prompt": "x", "response": "y"}),
    # The API: lists are scoped to the user, so a victim id in the query must find nothing.
    "api:tokens": R({"GET": "login", "POST": "session"}, body={"name": "x", "scope": "write"}),
    "api:token": R({"GET": "owner", "DELETE": "owner"}, {"pk": "token"}),
    "api:tokens-page": R("login"),
    "api:projects": R({"GET": "login"}, query={"project": P}),
    "api:project": R({"GET": "member"}, {"pk": "project"}, body={"name": "hijacked"}),
    "api:project-label-sources": R({"GET": "reviewer", "POST": "reviewer"}, {"pk": "project"}),
    "api:project-certifications": R({"GET": "reviewer", "POST": "admin"}, {"pk": "project"},
                                    body={"source": "prm:SECRET-HINT-3f0d@0.5",
                                          "max_error": 0.5, "confidence": 0.6}),
    "api:problems": R({"GET": "login"}, query={"project": P, "external_id": "SECRET-PROBLEM-7c1e"}),
    "api:problems-bulk": R({"POST": "admin"}, body={
        "project": P, "items": [{"statement": "x", "ground_truth_answer": "1"}]}),
    "api:problem": R({"GET": "member"}, {"pk": "problem"}, body={"statement": "hijacked"}),
    "api:problem-tree": R({"GET": "member"}, {"pk": "problem"}),
    "api:solutions": R({"GET": "login"}, query={"project": P, "problem": IDS["problem"]}),
    "api:solutions-bulk": R({"POST": "admin"}, body={
        "project": P, "items": [{"problem": IDS["problem"], "steps": ["x"]}]}),
    "api:solution": R({"GET": "member"}, {"pk": "solution"}, body={"is_gold": False}),
    # Long-trace ingest (api/views/traces.py): the project's admins, as the other bulk ingests.
    "api:traces-bulk": R({"POST": "admin"}, body={
        "project": P, "format": "trace", "items": [{"question": "x", "text": "y"}]}),
    "api:assignments": R({"GET": "login"}, query={"project": P, "solution": S}),
    "api:assignment": R({"GET": "reviewer"}, {"pk": "assignment"}, body={"status": "active"}),
    # Critiques: the task's annotator writes them; reviewers (and the annotator) read them;
    # reviewers correct a submitted task's critique.
    "api:assignment-critiques": R({"GET": "reviewer", "POST": "assignee", "PATCH": "assignee",
                                   "DELETE": "assignee"}, TASK,
                                  body={"node": IDS["node"], "id": IDS["critique"], "text": "x"}),
    "api:critique-review": R({"PATCH": "reviewer"}, {"pk": "critique"}, body={"text": "hijacked"}),
    "api:ratings": R({"GET": "login"}, query={"project": P}),
    "api:runs": R({"GET": "login", "POST": "admin"}, query={"project": P},
                  body={"project": P, "kind": "score_solutions", "params": {}}),
    "api:run": R({"GET": "reviewer"}, {"pk": "run"}, body={"status": "cancelled"}),
    "api:run-cancel": R({"POST": "admin"}, {"pk": "run"}, body={}),
    "api:exports": R({"GET": "login", "POST": "reviewer"},
                     body={"spec": {"projects": [P], "format": "trl"}}),
    "api:export-stream": R({"GET": "reviewer"}, query={"project": P, "format": "trl"}),
    "api:export": R({"GET": "reviewer"}, {"pk": "snapshot"}),
    "api:export-download": R({"GET": "reviewer"}, {"pk": "snapshot"}),
    "api:models": R({"GET": "login"}, query={"project": P}),
    # Models carry machine scores: reviewers and admins (annotators where hints are shown).
    "api:model": R({"GET": "reviewer"}, {"pk": "model"}, body={"name": "hijacked"}),
    "api:model-scaling": R({"GET": "reviewer"}, {"pk": "model"}),
    # Models and search pages: admins and reviewers of the model's project, and its annotators
    # only where it shows hints (training.selectors.models_for; the victim's are off, so
    # "reviewer" holds). Pages without a method check render the same read for every method:
    # their rule is for all of them.
    "training:list": R("login"),
    "training:create": R({"POST": "admin"}, body={"project": P, "name": "x", "base_model": "x"}),
    "training:register": R({"POST": "admin"}, body={"project": P, "name": "x", "path": "/etc"}),
    "training:detail": R("reviewer", MODEL),
    "training:progress": R("reviewer", MODEL),
    "training:score": R({"POST": "admin"}, MODEL, body={}),
    "search:scaling": R("reviewer", MODEL),
    "search:scaling-csv": R("reviewer", MODEL),
    "search:runs-part": R("reviewer", MODEL),
    "search:start": R({"POST": "admin"}, MODEL, body={"max_budget": "2"}),
    # Labeling: a project's members; a task only its annotator.
    "annotate:home": R("login"),  # answers any method with the user's own projects
    "annotate:start": R({"GET": "member", "POST": "member"}, SLUG_ARG, body={}),
    "annotate:task": R({"GET": "assignee"}, TASK),
    "annotate:rate": R({"POST": "assignee"}, TASK, body=RATE),
    "annotate:rate_group": R({"POST": "assignee"}, TASK, body=RATE),
    "annotate:flag": R({"POST": "assignee"}, TASK, body=RATE),
    "annotate:accept": R({"POST": "assignee"}, TASK, body=RATE),
    "annotate:critique": R({"POST": "assignee"}, TASK, body=RATE),
    "annotate:critique_delete": R({"POST": "assignee"}, TASK, body=RATE),
    "annotate:undo": R({"POST": "assignee"}, TASK, body=RATE),
    "annotate:choose": R({"POST": "assignee"}, TASK, body=RATE),
    "annotate:write": R({"POST": "assignee"}, TASK, body=RATE),
    "annotate:finish": R({"POST": "assignee"}, TASK, body=RATE),
    "annotate:skip": R({"POST": "assignee"}, TASK, body=RATE),
}
#: URLs whose GET writes by design (the next task is handed out): allowed GETs are not sent.
GET_WRITES = {"annotate:start"}
#: Django's own admin checks staff itself; its many model URLs share one rule.
PREFIX_RULES = {"admin:": R({"*": "staff"})}
#: Django admin pages anyone may open.
ADMIN_PUBLIC = {"admin:login", "admin:logout"}

# What each actor holds on the victim: the rules it passes (API: by the method's safety).
_SESSION_GRANTS = {
    "anonymous": {"public"},
    "annotator": {"public", "login", "session", "member", "score"},
    "reviewer": {"public", "login", "session", "member", "score", "reviewer"},
    "outsider": {"public", "login", "session"},
}
#: The victim admin's read token: everything the admin may read, no write at all.
_READ_TOKEN_SAFE = {"public", "login", "member", "reviewer", "admin", "assignee", "owner"}


def allowed(actor: str, rule: str, method: str, is_api: bool) -> bool:
    if rule == "public":
        return True
    if actor in _SESSION_GRANTS:
        return rule in _SESSION_GRANTS[actor]
    if not is_api:  # a token is no session: pages treat its holder as anonymous
        return False
    if actor == "read-token":
        return rule == "score" or (method in SAFE and rule in _READ_TOKEN_SAFE)
    return rule == "login"  # the outsider's write token


# --- The URL conf ----------------------------------------------------------------------------

def _walk(patterns, chain=(), namespace=None):
    from django.urls import URLPattern, URLResolver

    for p in patterns:
        if isinstance(p, URLResolver):
            full_ns = ":".join(x for x in (namespace, p.namespace) if x) or None
            yield from _walk(p.url_patterns, chain + (p.pattern,), full_ns)
        elif isinstance(p, URLPattern):
            name = p.name or f"<unnamed {p.pattern}>"
            yield chain + (p.pattern,), (f"{namespace}:{name}" if namespace else name), p


def rule_for(name: str) -> Rule | None:
    if name in RULES:
        return RULES[name]
    if name in ADMIN_PUBLIC:
        return R("public")
    return next((rule for prefix, rule in PREFIX_RULES.items() if name.startswith(prefix)), None)


def _fill_admin(chain) -> str | None:
    """The Django admin's regex routes, filled with a first value each pattern accepts."""
    from django.urls.resolvers import RegexPattern

    parts = []
    for pattern in chain:
        if isinstance(pattern, RegexPattern):
            text = pattern.regex.pattern
            text = re.sub(r"\(\?P<\w+>([\w|]+)\)", lambda m: m.group(1).split("|")[0], text)
            text = re.sub(r"\(\?P<\w+>\.\*\)", "x", text)
            text = text.lstrip("^").rstrip("$").replace("\\Z", "")
            if re.search(r"[()\[\]\\*+?|]", text):
                return None
            parts.append(text)
        else:
            parts.append(re.sub(r"<(?:(\w+):)?\w+>", str(IDS["project"]), str(pattern)))
    return "/" + "".join(parts)


@dataclass
class Target:
    name: str
    path: str
    rule: Rule
    is_api: bool
    methods: tuple = METHODS


def api_methods(view) -> tuple:
    """An API view's own methods and one it lacks: DRF answers the others with the same 405
    after the same authentication and permission checks."""
    own = [m for m in METHODS if hasattr(view, m.lower())]
    return tuple(own + [m for m in METHODS if m not in own][:1])


def targets() -> tuple[list[Target], list[str]]:
    """Every URL of the URL conf with the victim's arguments; the second list holds the
    problems (a URL without a rule, a rule whose arguments do not fit its URL)."""
    from django.urls import get_resolver, reverse
    from rest_framework.views import APIView

    found, problems, seen = [], [], set()
    for chain, name, pattern in _walk(get_resolver().url_patterns):
        seen.add(name)
        rule = rule_for(name)
        if rule is None:
            problems.append(f"no authorization rule for {name}")
            continue
        view = getattr(pattern.callback, "cls", None)
        is_api = isinstance(view, type) and issubclass(view, APIView)
        if name.startswith("admin:") or "<unnamed" in name:
            path = _fill_admin(chain)
            if path is None:
                continue  # a regex route the filler cannot build; staff-only anyway
        else:
            wanted = set(pattern.pattern.converters) if hasattr(pattern.pattern, "converters") else set()
            for part in chain[:-1]:
                wanted |= set(getattr(part, "converters", {}))
            if wanted != set(rule.args):
                problems.append(f"{name}: the rule builds {sorted(rule.args)}, the URL takes "
                                f"{sorted(wanted)}")
                continue
            kwargs = {k: (v[1:] if isinstance(v, str) and v.startswith("=") else
                          IDS[v] if isinstance(v, str) else v) for k, v in rule.args.items()}
            path = reverse(name, kwargs=kwargs)
        if rule.query:
            path += "?" + urlencode(rule.query)
        found.append(Target(name, path, rule, is_api, api_methods(view) if is_api else METHODS))
    problems += [f"a rule for {name}, which is no URL name" for name in RULES if name not in seen]
    return found, problems


# --- The walk --------------------------------------------------------------------------------

@dataclass
class Probe:
    actor: str
    method: str
    path: str
    body: bytes
    content_type: str
    target: Target
    check: str  # "refused": must be refused; "no-leak": may answer, must not show secrets


@dataclass
class Answer:
    status: int
    location: str
    body: bytes


def probes(target: Target) -> list[Probe]:
    out = []
    for actor in ACTORS:
        # A page ignores a token (anonymous covers the rest): a read and a write will do.
        methods = target.methods if target.is_api or "token" not in actor else ("GET", "POST")
        for method in methods:
            rule = target.rule.for_method(method)
            ok = allowed(actor, rule, method, target.is_api)
            reads = method == "GET" and (rule == "login" or actor == "annotator")
            if ok and (not reads or target.name in GET_WRITES):
                continue  # allowed: nothing to check, and its writes would change data
            body, ctype = b"", ""
            if method != "GET":
                data = target.rule.body or {}
                if target.is_api:
                    body, ctype = json.dumps(data).encode(), "application/json"
                else:
                    body = urlencode(data).encode()
                    ctype = "application/x-www-form-urlencoded"
            # Non-members' user-scoped lists show nothing of the victim's; an annotator's
            # reads never show a gold item's key.
            check = ("refused" if not ok else "no-gold" if actor == "annotator"
                     else "no-leak" if actor in OUTSIDERS else None)
            if check is None:
                continue
            out.append(Probe(actor, method, target.path, body, ctype, target, check))
    return out


def verdict(probe: Probe, answer: Answer) -> str | None:
    """Why the answer is an offence, or None. 5xx answers are counted apart."""
    if answer.status >= 500:
        return None
    if probe.check == "no-gold":
        return "shows the gold key" if GOLD_KEY.encode() in answer.body else None
    if probe.check == "no-leak" or probe.target.rule.for_method(probe.method) == "public":
        leaked = [s for s in SECRETS if s.encode() in answer.body]
        return f"shows {leaked}" if leaked else None
    if 200 <= answer.status < 300:
        return f"where the rule is {probe.target.rule.for_method(probe.method)}"
    return None


@dataclass
class Report:
    requests: int = 0
    server_errors: list = field(default_factory=list)
    offenders: list = field(default_factory=list)  # cross-tenant reads or changes
    problems: list = field(default_factory=list)

    def line(self, probe: Probe, answer: Answer, why: str) -> str:
        return f"{probe.actor} {probe.method} {probe.path} ({probe.target.name}) -> {answer.status} {why}"


def walk(send, report: Report | None = None, check_data=fingerprint) -> Report:
    """Send every probe through ``send(probe) -> Answer``; a change to the victim's data
    after a URL's probes makes each probe that was not refused an offender."""
    report = report or Report()
    found, problems = targets()
    report.problems += problems
    before = check_data()
    for target in found:
        answered = []
        for probe in probes(target):
            answer = send(probe)
            report.requests += 1
            if answer.status >= 500:
                report.server_errors.append(report.line(probe, answer, answer.body[:120]))
                continue
            why = verdict(probe, answer)
            if why:
                report.offenders.append(report.line(probe, answer, why))
            if answer.status < 400 and probe.method not in SAFE:
                answered.append((probe, answer))
        after = check_data()
        if after != before:
            who = "; ".join(f"{p.actor} {p.method} -> {a.status}" for p, a in answered)
            report.offenders.append(f"{target.name}: the victim's data changed ({who or 'by a read'})")
            before = after
    return report



# --- Foreign ids: the victim's objects named from the outsider's own project -----------------

@dataclass
class Foreign:
    what: str
    method: str
    path: str
    body: bytes = b""
    refused: str = ""  # text of a 2xx that refuses every row (the bulk endpoints answer so)


def foreign_requests(ids: dict) -> list[Foreign]:
    """Requests of the outsider (as its write token) that name the victim's objects inside a
    body or a filter of its own project's request: indirect paths to another tenant."""
    own, P = ids["own"], ids["project"]

    def js(obj) -> bytes:
        return json.dumps(obj).encode()

    def run(kind: str, **params) -> bytes:
        return js({"project": own, "kind": kind, "params": params})

    return [
        Foreign("solution under a victim problem", "POST", "/api/solutions/bulk/",
                js({"project": own, "items": [{"problem_id": ids["problem"], "steps": ["x"]}]}),
                refused='"created":0'),
        Foreign("export of two projects", "POST", "/api/exports/",
                js({"spec": {"projects": [own, P], "format": "trl"}})),
        Foreign("score victim solutions", "POST", "/api/runs/",
                run("score_solutions", prm_model_id=ids["model"], solution_ids=[ids["solution"]])),
        Foreign("search with the victim's model", "POST", "/api/runs/",
                run("search", prm_model_id=ids["model"])),
        Foreign("train on the victim's snapshot", "POST", "/api/runs/",
                run("train_prm", name="x", snapshot_id=ids["snapshot"])),
        Foreign("autolabel victim solutions", "POST", "/api/runs/",
                run("autolabel", solution_ids=[ids["solution"]])),
        Foreign("generate for victim problems", "POST", "/api/runs/",
                run("generate_solutions", problem_ids=[ids["problem"]])),
        Foreign("candidates under a victim problem", "POST", "/api/runs/",
                run("generate_candidates", problem_id=ids["problem"], parent_id=ids["node"])),
        Foreign("assignments by victim ids", "GET",
                f"/api/assignments/?solution={ids['solution']}&annotator={ids['insider']}"),
        Foreign("ratings of the victim", "GET", f"/api/ratings/?project={P}"),
        Foreign("stream two projects", "GET", f"/api/exports/stream/?project={own}&project={P}"),
        Foreign("runs of the victim", "GET", f"/api/runs/?project={P}"),
    ]


def foreign_offence(request, status: int, body: bytes) -> bool:
    """A foreign-id request crossed over: a write accepted (not every row refused), or the
    victim's text in the answer."""
    if not 200 <= status < 300:
        return False
    if any(s.encode() in body for s in SECRETS):
        return True
    return request.method not in SAFE and not (request.refused and request.refused.encode() in body)
