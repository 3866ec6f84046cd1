"""Reward-service throughput: steps scored per second, batched against one-by-one.

Runs the real endpoint (DRF view, auth, JSON) through Django's test client on a
throwaway SQLite database, with an untrained PRM (weights do not change the cost): the
MiniLM-based default, or ``--shape qwen2-1.5b|qwen2-7b``, a randomly initialised token
classifier of that size in bf16, for what a GPU worker serves at the sizes people use.
Also reports the scorer alone, to show what the HTTP layer costs.
    python bench/bench_reward.py [--n 256]
    python bench/bench_reward.py --shape qwen2-7b --n 512     # on a GPU
    python bench/bench_reward.py --shape qwen2-1.5b --layers 1 --n 8   # CPU check of the set-up
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


#: Qwen2.5 decoder shapes (the PRM bases of the 1.5B and 7B sizes).
SHAPES = {
    "qwen2-1.5b": {"hidden_size": 1536, "intermediate_size": 8960, "num_hidden_layers": 28,
                   "num_attention_heads": 12, "num_key_value_heads": 2},
    "qwen2-7b": {"hidden_size": 3584, "intermediate_size": 18944, "num_hidden_layers": 28,
                 "num_attention_heads": 28, "num_key_value_heads": 4},
}


def build_prm(model_dir: Path, shape: str, layers: int | None) -> None:
    """An untrained PRM directory that ``PrmScorer`` loads: the default base, or a Qwen2
    token classifier of ``shape`` (bf16) with the default base's tokenizer."""
    import torch
    from transformers import Qwen2Config, Qwen2ForTokenClassification

    from training.data import DEFAULT_SEPARATOR
    from training.trainer import default_base_model, load_base

    model, tokenizer = load_base(default_base_model())
    if shape != "minilm":
        dims = {**SHAPES[shape], **({"num_hidden_layers": layers} if layers else {})}
        config = Qwen2Config(vocab_size=len(tokenizer), max_position_embeddings=4096,
                             num_labels=2, id2label={0: "bad", 1: "good"},
                             label2id={"bad": 0, "good": 1},
                             pad_token_id=tokenizer.pad_token_id, **dims)
        model = Qwen2ForTokenClassification(config).to(torch.bfloat16)
        model.config.step_separator = DEFAULT_SEPARATOR
    model.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)


def main() -> None:
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client

    from annotate.models import Membership, Project
    from demo import domain
    from training.models import PrmModel
    from training.scoring import PrmScorer

    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--shape", choices=["minilm", *SHAPES], default="minilm")
    parser.add_argument("--layers", type=int, default=None,
                        help="override the shape's layer count (a quick CPU check)")
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    model_dir = _TMP / "prm"
    build_prm(model_dir, args.shape, args.layers)
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
    device = scorer.device
    where = "CPU" if device.type == "cpu" else __import__("torch").cuda.get_device_name(device)
    print(f"{args.n} solutions, {n_steps} steps, {args.shape} PRM"
          f"{f' ({args.layers} layers)' if args.layers else ''} on {where}")
    print("| mode | steps/s | vs one-by-one HTTP |")
    for label, rate in results.items():
        print(f"| {label} | {rate:.1f} | {rate / base:.2f}x |")


if __name__ == "__main__":
    main()
