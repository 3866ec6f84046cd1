"""The victim of the authorization walk (tests/authz_walk.py): one fully populated project,
its members, an outsider with a project of their own, their tokens, and a fingerprint of every
victim row (a walk must leave it unchanged)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

# --- The victim ------------------------------------------------------------------------------

SLUG = "victim-zeta"
#: Each victim object has its own id, far above the sequences', so a view that looks up the
#: wrong kind of object finds nothing by chance.
IDS = {
    "project": 424201, "membership": 424202, "problem": 424203, "node": 424204,
    "solution": 424205, "gold": 424206, "assignment": 424207, "rating": 424208,
    "change": 424209, "hint": 424210, "run": 424211, "model": 424212, "snapshot": 424213,
    "token": 424214, "reward_url": 424215, "insider": 424216, "critique": 424217,
}
GOLD_KEY = "SECRET-GOLD-KEY-e41"
#: Text that only the victim's objects hold: a body containing one leaked it.
SECRETS = ("Victim Project Zeta", "SECRET-PROBLEM-7c1e", "SECRET-STEP-51ab", GOLD_KEY,
           "SECRET-ANSWER-99", "SECRET-HINT-3f0d", "SECRET-MODEL-b2", "SECRET-SNAPSHOT-c3",
           "SECRET-RUNLOG-d4", "SECRET-TOKEN-e5")
#: A reward URL key that is no reward URL's: the path is the credential, so it must be refused.
BOGUS_KEY = "sw_" + "B" * 43
ACTORS = ("anonymous", "annotator", "reviewer", "outsider", "read-token", "write-token")
#: Actors who hold no role in the victim project.
OUTSIDERS = ("anonymous", "outsider", "write-token")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
SAFE = ("GET", "HEAD", "OPTIONS")


@dataclass
class World:
    ids: dict
    usernames: dict  # actor -> username (session actors and the insider)
    tokens: dict  # "read-token"/"write-token" -> key


def build_world(password: str = "walk-pw") -> World:
    """The victim project, fully populated, its members, and an outsider with a project of
    their own; every victim row gets its id from IDS."""
    from django.contrib.auth import get_user_model

    from annotate.models import (
        Assignment,
        Critique,
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
    from api.models import APIToken, RewardUrl, hash_key
    from api.services import issue_token
    from exports.models import ExportSnapshot
    from training.models import PrmModel
    from workers.models import Run

    users = get_user_model()
    insider = users.objects.create_user("walk-insider", password=password, id=IDS["insider"])
    annotator = users.objects.create_user("walk-annotator", password=password)
    reviewer = users.objects.create_user("walk-reviewer", password=password)
    outsider = users.objects.create_user("walk-outsider", password=password)
    project = Project.objects.create(id=IDS["project"], name=SECRETS[0], slug=SLUG, overlap=2,
                                     description=SECRETS[0])
    Membership.objects.create(id=IDS["membership"], project=project, user=insider, role="admin")
    Membership.objects.create(project=project, user=annotator, role="annotator")
    Membership.objects.create(project=project, user=reviewer, role="reviewer")
    # A generator is set, so a foreign-id Run there is refused for its ids, not for lack of one.
    own = Project.objects.create(name="Outsider's own", slug="walk-outsider-own",
                                 generator={"model": "/nonexistent/model"})
    Membership.objects.create(project=own, user=outsider, role="admin")
    problem = Problem.objects.create(id=IDS["problem"], project=project, statement=SECRETS[1],
                                     ground_truth_answer=SECRETS[4], external_id=SECRETS[1])
    node = StepNode.objects.create(id=IDS["node"], problem=problem, parent=None, depth=0,
                                   text=SECRETS[2])
    solution = Solution.objects.create(id=IDS["solution"], project=project, problem=problem,
                                       last_step=node, is_gold=True, final_answer=SECRETS[4])
    GoldLabel.objects.create(id=IDS["gold"], solution=solution, node=node, rating=-1,
                             source=GOLD_KEY)
    assignment = Assignment.objects.create(id=IDS["assignment"], project=project,
                                           solution=solution, annotator=insider,
                                           status="submitted")
    rating = StepRating.objects.create(id=IDS["rating"], assignment=assignment, node=node, rating=1)
    RatingChange.objects.create(id=IDS["change"], rating=rating, changed_by=insider, new_rating=1)
    Critique.objects.create(id=IDS["critique"], assignment=assignment, node=node, author=insider,
                            text="SECRET-STEP-51ab critique")
    PreAnnotation.objects.create(id=IDS["hint"], node=node, kind="prm_score", source=SECRETS[5],
                                 value=0.5)
    run = Run.objects.create(id=IDS["run"], kind="import", project=project, created_by=insider,
                             params={"path": "victim.jsonl", "fmt": "jsonl",
                                     "source_name": "victim.jsonl"},
                             result={"note": SECRETS[8]}, log=SECRETS[8])
    # Failed: it has no weights, so a request that passes every check answers 400, not a load.
    PrmModel.objects.create(id=IDS["model"], project=project, name=SECRETS[6],
                            base_model="/nonexistent/base", status="failed", run=run,
                            created_by=insider)
    snapshot = ExportSnapshot.objects.create(id=IDS["snapshot"], name=SECRETS[7], version=1,
                                             format="trl", created_by=insider)
    snapshot.projects.add(project)
    token, insider_key = issue_token(user=insider, name=SECRETS[9], scope="write")
    APIToken.objects.filter(pk=token.pk).update(id=IDS["token"])
    key = APIToken.generate_key()
    RewardUrl.objects.create(id=IDS["reward_url"], prm_model_id=IDS["model"], name="victim",
                             prefix=key[:10], key_hash=hash_key(key), created_by=insider)
    _, read_key = issue_token(user=insider, name="walk-read", scope="read")
    _, write_key = issue_token(user=outsider, name="walk-write", scope="write")
    # The victim admin's own write token is no walk actor: bench/security.py's bad inputs
    # use it to get past the permission checks.
    return World(ids={**IDS, "own": own.pk},
                 tokens={"read-token": read_key, "write-token": write_key, "insider": insider_key},
                 usernames={"annotator": annotator.username, "reviewer": reviewer.username,
                            "outsider": outsider.username, "insider": insider.username})


def fingerprint() -> str:
    """A hash of every victim row (use stamps of tokens left out: a read is allowed to set
    them); any change the walk makes to the victim's data changes it."""
    from annotate.models import (
        Assignment,
        Critique,
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
    from api.models import APIToken, RewardUrl
    from exports.models import ExportSnapshot
    from training.models import PrmModel
    from workers.models import Run

    pid = IDS["project"]
    sets = [
        Project.objects.filter(pk=pid), Membership.objects.filter(project_id=pid),
        Problem.objects.filter(project_id=pid), StepNode.objects.filter(problem__project_id=pid),
        Solution.objects.filter(project_id=pid), GoldLabel.objects.filter(solution__project_id=pid),
        Assignment.objects.filter(project_id=pid),
        StepRating.objects.filter(assignment__project_id=pid),
        RatingChange.objects.filter(rating__assignment__project_id=pid),
        Critique.objects.filter(assignment__project_id=pid),
        PreAnnotation.objects.filter(node__problem__project_id=pid),
        Run.objects.filter(project_id=pid), PrmModel.objects.filter(project_id=pid),
        ExportSnapshot.objects.filter(projects=pid),
        APIToken.objects.filter(user_id=IDS["insider"]),
        RewardUrl.objects.filter(prm_model__project_id=pid),
    ]
    digest = hashlib.sha256()
    for qs in sets:
        for row in qs.order_by("pk").values():
            row.pop("last_used_at", None)
            digest.update(repr(sorted(row.items())).encode())
        digest.update(b"|")
    return digest.hexdigest()
