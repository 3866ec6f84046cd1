"""Reward-service throughput: steps scored per second, batched against one-by-one.

Runs the real endpoint (DRF view, auth, JSON) through Django's test client on a
throwaway SQLite database, with an untrained MiniLM-based PRM (weights do not change
the cost). Also reports the scorer alone, to show what the HTTP layer costs.
    python bench/bench_reward.py [--n 256]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
_TMP = Path(tempfile.mkdtemp(prefix="bench_reward_"))
os.environ["STEPWISE_DATA_DIR"] = str(_TMP)
os.environ.pop("DATABASE_URL", None)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "stepwise.settings")
os.environ.setdefault("SECRET_KEY", "bench-only")
os.environ.setdefault("ALLOWED_HOSTS", "testserver")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("API_RATE_USER", "100000/minute")

import django  # noqa: E402

django.setup()


def main() -> None:
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client

    from annotate.models import Membership, Project
    from demo import domain
    from training.models import PrmModel
    from training.scoring import PrmScorer
    from training.trainer import default_base_model, load_base

    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=256)
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    model_dir = _TMP / "prm"
    model, tokenizer = load_base(default_base_model())
    model.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    user = get_user_model().objects.create_user("bench", password="x")
    project = Project.objects.create(name="B", slug="b")
    Membership.objects.create(project=project, user=user, role="annotator")
    prm = PrmModel.objects.create(project=project, name="bench", artifact_path=str(model_dir),
                                  status=PrmModel.Status.READY)

    rng = random.Random(0)
    items = []
    for _ in range(args.n):
        problem = domain.random_problem(rng, min_ops=2, max_ops=4)
        steps = domain.correct_steps(problem) if rng.random() < 0.5 else \
            domain.flawed_steps(problem, rng)[0]
        items.append({"problem": problem.statement, "steps": steps})
    n_steps = sum(len(i["steps"]) for i in items)

    client = Client()
    client.force_login(user)
    url = f"/api/prm/{prm.pk}/score/"
    post = lambda body: client.post(url, body, content_type="application/json")  # noqa: E731
    assert post({"items": items[:2]}).status_code == 200  # load the model once

    def timed(fn) -> float:
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0

    def batched(size):
        for start in range(0, len(items), size):
            r = post({"items": items[start:start + size]})
            assert r.status_code == 200, r.content

    results = {}
    for label, fn in [("one-by-one (1 item per request)", lambda: batched(1)),
                      ("batched (32 items per request)", lambda: batched(32)),
                      ("batched (256 items per request)", lambda: batched(256))]:
        results[label] = n_steps / timed(fn)

    scorer = PrmScorer(model_dir)
    pairs = [(i["problem"], i["steps"]) for i in items]
    results["scorer only, one-by-one"] = n_steps / timed(
        lambda: [scorer.score([p]) for p in pairs])
    results["scorer only, batch 32"] = n_steps / timed(lambda: scorer.score(pairs, batch_size=32))

    base = results["one-by-one (1 item per request)"]
    print(f"{args.n} solutions, {n_steps} steps, MiniLM PRM on "
          f"{'GPU' if str(scorer.device) != 'cpu' else 'CPU'}")
    print("| mode | steps/s | vs one-by-one HTTP |")
    for label, rate in results.items():
        print(f"| {label} | {rate:.1f} | {rate / base:.2f}x |")


if __name__ == "__main__":
    main()
