"""Security benchmark: the authorization walk and a bad-input set against a live server.

gunicorn (gunicorn.conf.py, DEBUG off) with its own broker and cache Redis and one Celery
worker on 127.0.0.1, over a scratch PostgreSQL database that the script creates, migrates,
seeds and drops (bench/faults.py's stack). Two parts:

* the walk of tests/authz_walk.py: every URL name with a victim project's ids in its
  arguments, as anonymous, the victim's annotator and reviewer, an admin of another project
  and two API tokens, every method; a 2xx at what the URL's rule keeps from the actor, a
  victim object shown to an outsider, or a change to the victim's data is an offender;
* bad inputs, as the victim's own admin (so they get past the permission checks) or as the
  outsider for foreign ids: JSON nested 2,000 deep, lone surrogates, NUL bytes, bad cursors,
  over-long names, huge numbers, other projects' ids, path traversal. Any 5xx is counted;
  a 2xx to a foreign-id request is a cross-tenant offender.

    python bench/security.py --database-url postgres://postgres@127.0.0.1:5432/stepwise_security

Numbers are printed, never asserted (target: 0 5xx, 0 cross-tenant 2xx).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from faults import PROCS, Stack, create_database, free_port, stack_env, stop, tracebacks  # noqa: E402
from http_annotators import PASSWORD, Client, Stats  # noqa: E402

from tests import authz_walk as aw  # noqa: E402


@dataclass
class Bad:
    what: str
    actor: str  # "insider" (victim admin's write token), "admin" (its session), "outsider", ...
    method: str
    path: str
    body: bytes = b""
    content_type: str = ""
    foreign: bool = False  # names another project's objects: a 2xx is cross-tenant
    refused: str = ""  # text of a 2xx that refuses every row (the bulk endpoints answer so)


def deep(levels: int) -> str:
    return "[" * levels + "]" * levels


def bad_inputs(ids: dict) -> list[Bad]:
    """Each request names one fault; ids are the walk's victim ids (and the outsider's own)."""
    P, model, snap = ids["project"], ids["model"], ids["snapshot"]
    task, node = ids["assignment"], ids["node"]
    j = "application/json"
    form = "application/x-www-form-urlencoded"

    def js(obj) -> bytes:
        return json.dumps(obj).encode()

    surrogate = b'"\\ud800x\\udfff"'  # valid JSON text, no valid Unicode
    huge = "9" * 40
    long = "n" * 100_000
    slug = "victim-zeta"
    out = [
        # JSON nested 2,000 deep.
        Bad("deep json: bulk", "insider", "POST", "/api/problems/bulk/", deep(2000).encode(), j),
        Bad("deep json: items", "insider", "POST", "/api/problems/bulk/",
            b'{"project": %d, "items": [{"statement": "x", "metadata": ' % P
            + ('{"a":' * 2000).encode() + b"1" + b"}" * 2000 + b"}]}", j),
        Bad("deep json: export spec", "insider", "POST", "/api/exports/",
            b'{"spec": ' + deep(2000).encode() + b"}", j),
        Bad("deep json: run params", "insider", "POST", "/api/runs/",
            b'{"project": %d, "kind": "autolabel", "params": ' % P
            + ('{"a":' * 2000).encode() + b"1" + b"}" * 2000 + b"}", j),
        Bad("deep json: score", "insider", "POST", f"/api/prm/{model}/score/",
            b'{"items": ' + deep(2000).encode() + b"}", j),
        Bad("deep json: token", "admin", "POST", "/api/tokens/", deep(2000).encode(), j),
        # Lone surrogates.
        Bad("surrogate: statement", "insider", "POST", "/api/problems/bulk/",
            b'{"project": %d, "items": [{"statement": %s, "ground_truth_answer": "1"}]}'
            % (P, surrogate), j),
        Bad("surrogate: token name", "admin", "POST", "/api/tokens/",
            b'{"name": %s, "scope": "read"}' % surrogate, j),
        Bad("surrogate: export name", "insider", "POST", "/api/exports/",
            b'{"name": %s, "spec": {"projects": [%d], "format": "trl"}}' % (surrogate, P), j),
        Bad("surrogate: query", "insider", "GET", "/api/problems/?external_id=%ED%A0%80"),
        Bad("surrogate: form", "admin", "POST", f"/manage/{slug}/", b"name=%ED%A0%80&overlap=2", form),
        Bad("surrogate: score", "insider", "POST", f"/api/prm/{model}/score/",
            b'{"items": [{"problem": %s, "steps": [%s]}]}' % (surrogate, surrogate), j),
        # NUL bytes.
        Bad("nul: query", "insider", "GET", "/api/problems/?external_id=a%00b"),
        Bad("nul: statement", "insider", "POST", "/api/problems/bulk/",
            js({"project": P, "items": [{"statement": "a\x00b", "ground_truth_answer": "1"}]}), j),
        Bad("nul: project form", "admin", "POST", "/manage/new/", b"name=a%00b&slug=a%00b", form),
        Bad("nul: member", "admin", "POST", f"/manage/{slug}/members/",
            b"username=a%00b&role=admin", form),
        Bad("nul: login", "anonymous", "POST", "/login/", b"username=a%00b&password=x", form),
        Bad("nul: training form", "admin", "POST", "/training/register/",
            f"project={P}&name=a%00b&path=a%00b".encode(), form),
        Bad("nul: path", "insider", "GET", "/api/problems/%00/"),
        # Bad cursors.
        Bad("cursor: garbage", "insider", "GET", "/api/problems/?cursor=garbage"),
        Bad("cursor: base64 junk", "insider", "GET", "/api/solutions/?cursor=" + quote("cD0yMDI0LTEz")),
        Bad("cursor: nul", "insider", "GET", "/api/exports/?cursor=%00"),
        Bad("cursor: since", "insider", "GET", "/api/ratings/?since=not-a-cursor"),
        Bad("cursor: since huge", "insider", "GET", f"/api/ratings/?since={huge}"),
        Bad("cursor: created_after", "insider", "GET", "/api/problems/?created_after=yesterday"),
        # Over-long names.
        Bad("long: token name", "admin", "POST", "/api/tokens/", js({"name": long}), j),
        Bad("long: project name", "admin", "POST", "/manage/new/",
            f"name={long}&slug={'s' * 5000}".encode(), form),
        Bad("long: export name", "insider", "POST", "/api/exports/",
            js({"name": long, "spec": {"projects": [P], "format": "trl"}}), j),
        Bad("long: external id", "insider", "POST", "/api/problems/bulk/",
            js({"project": P, "items": [{"statement": "x", "external_id": long}]}), j),
        Bad("long: reward url", "admin", "POST", f"/api/prm/{model}/reward-urls/",
            js({"name": long}), j),
        Bad("long: model name", "admin", "POST", "/training/register/",
            f"project={P}&name={long}&path=/nonexistent".encode(), form),
        # Huge numbers.
        Bad("huge: query id", "insider", "GET", f"/api/problems/?project={huge}"),
        Bad("huge: path id", "insider", "GET", f"/api/problems/{huge}/"),
        Bad("huge: task id", "admin", "GET", f"/task/{huge}/"),
        Bad("huge: model id", "admin", "GET", f"/training/models/{huge}/"),
        Bad("huge: body id", "insider", "POST", "/api/problems/bulk/",
            b'{"project": 1e400, "items": [{"statement": "x"}]}', j),
        Bad("huge: body int", "insider", "POST", "/api/runs/",
            js({"project": int(huge), "kind": "autolabel", "params": {}}), j),
        Bad("huge: run param", "insider", "POST", "/api/runs/",
            js({"project": P, "kind": "search", "params": {"prm_model_id": model,
                                                            "max_budget": int(huge)}}), j),
        Bad("huge: limit", "insider", "GET", f"/api/ratings/?limit={huge}"),
        Bad("huge: form int", "admin", "POST", f"/search/models/{model}/start/",
            f"max_budget={huge}&limit={huge}".encode(), form),
        Bad("huge: member pk", "admin", "POST", f"/manage/{slug}/members/{huge}/role/",
            b"role=admin", form),
        # Path traversal in file-ish parameters.
        Bad("traversal: export split", "insider", "GET",
            f"/api/exports/{snap}/download/?split=../../../../etc/passwd"),
        Bad("traversal: register path", "admin", "POST", "/training/register/",
            f"project={P}&name=trav&path=../../../../etc".encode(), form),
        Bad("traversal: snapshot path", "admin", "POST", "/training/new/",
            f"project={P}&name=trav2&base_model=/nonexistent&snapshot_path=../../../etc/passwd"
            .encode(), form),
        Bad("traversal: generator model", "admin", "POST", f"/manage/{slug}/generator/",
            b"backend=transformers&model=../../../../etc", form),
        Bad("traversal: import file name", "admin", "POST", f"/manage/{slug}/import/",
            b"--B\r\nContent-Disposition: form-data; name=\"fmt\"\r\n\r\njsonl\r\n--B\r\n"
            b"Content-Disposition: form-data; name=\"file\"; filename=\"../../../x.jsonl\"\r\n"
            b"Content-Type: application/octet-stream\r\n\r\n{\"problem\": \"x\"}\n\r\n--B--\r\n",
            "multipart/form-data; boundary=B"),
        Bad("traversal: table name", "admin", "GET", f"/manage/{slug}/dashboard/..%2F..%2Fetc.csv"),
        # The labeling page's critique box and accept, by the task's own annotator (its task is
        # submitted: a 409 before any field is read, never a 5xx).
        Bad("nul: critique", "admin", "POST", f"/task/{task}/critique/",
            f"node={node}&text=a%00b".encode(), form),
        Bad("long: critique", "admin", "POST", f"/task/{task}/critique/",
            f"node={node}&text={long}&correction={long}".encode(), form),
        Bad("surrogate: critique", "admin", "POST", f"/task/{task}/critique/",
            f"node={node}&text=%ED%A0%80".encode(), form),
        Bad("huge: critique node", "admin", "POST", f"/task/{task}/critique/",
            f"node={huge}&text=x".encode(), form),
        Bad("huge: critique delete node", "admin", "POST", f"/task/{task}/critique/delete/",
            f"node={huge}".encode(), form),
        Bad("accept: no verify source", "admin", "POST", f"/task/{task}/accept/", b"", form),
    ]
    # Other projects' objects, named from the outsider's own project (tests/authz_walk.py).
    out += [Bad(f.what, "outsider", f.method, f.path, f.body, j if f.body else "", foreign=True,
                refused=f.refused) for f in aw.foreign_requests(ids)]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/stepwise_security",
                        help="scratch database URL on 127.0.0.1: dropped and created")
    parser.add_argument("--keep-db", action="store_true", help="leave the scratch database")
    args = parser.parse_args()
    if urlsplit(args.database_url).hostname not in ("127.0.0.1", "localhost"):
        sys.exit("--database-url must be on 127.0.0.1")

    logs = Path(tempfile.mkdtemp(prefix="stepwise-security-"))
    ports = {"broker": free_port(), "cache": free_port(), "web": free_port()}
    # Throttles off: a 429 would hide what the permission check answers.
    env = stack_env(args.database_url, ports, logs, DEBUG="0", API_RATE_USER="1000000/minute",
                    API_RATE_ANON="1000000/minute")
    os.environ.clear()
    os.environ.update(env)
    print(f"security benchmark: database {args.database_url}; web port {ports['web']}; logs in {logs}")

    created = False
    stack = None
    try:
        create_database(args.database_url)
        created = True
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connections

        call_command("migrate", verbosity=0)
        world = aw.build_world(password=PASSWORD)
        connections.close_all()
        stack = Stack("security", env, ports, logs, aof=False)
        stack.start()
        t0 = time.monotonic()
        stats = Stats()
        clients = {"anonymous": Client(ports["web"], stats)}
        for actor in ("annotator", "reviewer", "outsider"):
            clients[actor] = Client(ports["web"], stats)
            if not clients[actor].login(world.usernames[actor]):
                sys.exit(f"{actor} could not log in")
        clients["admin"] = Client(ports["web"], stats)
        if not clients["admin"].login(world.usernames["insider"]):
            sys.exit("the victim admin could not log in")
        for actor, key in (("read-token", "read-token"), ("write-token", "write-token"),
                           ("insider", "insider")):
            clients[actor] = Client(ports["web"], stats, {"Authorization": f"Bearer {world.tokens[key]}"})

        def send(probe) -> aw.Answer:
            raw = (probe.body, probe.content_type) if probe.method != "GET" else None
            resp = clients[probe.actor].call(probe.method, probe.path, raw=raw)
            if resp is None:
                return aw.Answer(599, "", b"connection error")
            return aw.Answer(resp.status, resp.headers.get("Location", ""), resp.body)

        report = aw.walk(send)
        walk_s = time.monotonic() - t0
        walked = report.requests
        print(f"walk: {walked} requests in {walk_s:.0f} s, {len(report.server_errors)} 5xx, "
              f"{len(report.offenders)} offenders", flush=True)

        # Bad inputs ("outsider" requests go by the outsider's write token). The walk's
        # bad-token probes have locked this address out of token requests for a while
        # (api.throttling.BAD_TOKENS): clear it, so each bad input reaches what it tests
        # rather than the 429 in front of it.
        from api.throttling import BAD_TOKENS

        BAD_TOKENS.clear("127.0.0.1")
        bad_5xx, bad_cross, answers = [], [], []
        bads = bad_inputs(world.ids)
        by_actor = {**clients, "outsider": clients["write-token"]}
        before = aw.fingerprint()
        for bad in bads:
            raw = (bad.body, bad.content_type) if bad.method != "GET" else None
            resp = by_actor[bad.actor].call(bad.method, bad.path, raw=raw)
            status = resp.status if resp is not None else 599
            body = resp.body if resp is not None else b""
            line = f"{bad.what}: {bad.method} {bad.path[:90]} -> {status} {body[:160]!r}"
            if status >= 500:
                bad_5xx.append(line)
            elif bad.foreign and aw.foreign_offence(bad, status, body):
                bad_cross.append(line)
            answers.append(f"{status} {bad.what}")
        if aw.fingerprint() != before:
            bad_cross.append("the bad inputs changed the victim's data")
    finally:
        if stack is not None:
            stack.stop()
        for proc in PROCS:
            stop(proc, wait=10)
        if created and not args.keep_db:
            try:
                from django.db import connections

                connections.close_all()
            except Exception:
                pass
            create_database(args.database_url, drop_only=True)

    print()
    print(f"{'part':12} {'requests':>8} {'5xx':>5} {'cross-tenant 2xx':>17}")
    print(f"{'walk':12} {walked:>8} {len(report.server_errors):>5} {len(report.offenders):>17}")
    print(f"{'bad inputs':12} {len(bads):>8} {len(bad_5xx):>5} {len(bad_cross):>17}")
    total_5xx = len(report.server_errors) + len(bad_5xx)
    total_cross = len(report.offenders) + len(bad_cross)
    print(f"{'total':12} {walked + len(bads):>8} {total_5xx:>5} {total_cross:>17}   (target: 0 and 0)")
    for title, lines in (("rule problems", report.problems), ("walk 5xx", report.server_errors),
                         ("walk offenders", report.offenders), ("bad-input 5xx", bad_5xx),
                         ("bad-input cross-tenant", bad_cross)):
        if lines:
            print(f"\n{title}:")
            for line in lines:
                print(f"  {line}")
    print("\nbad inputs (status, what):\n  " + "\n  ".join(answers))
    tb = tracebacks(stack.server_log, limit=20) if stack is not None else []
    if tb:
        print("\ntracebacks in the gunicorn log:\n" + "\n".join(tb))


if __name__ == "__main__":
    main()
