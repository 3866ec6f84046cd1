"""PRM scoring on the engines a deployment runs, on CPU, each against its baseline side by side.

1. **Engine**: the same PRM800K test solutions (PRMBench's ``original_process``) scored by a
   trained demo PRM in process (transformers, ``PrmScorer``) and by vLLM's CPU build serving
   it on its pooling runner (``STEPWISE_SCORING_BACKEND=vllm``): steps/s and the largest
   difference in P(good).
2. **Trainer pattern**: gunicorn (``gunicorn.conf.py``) on PostgreSQL, a reward URL, and
   OpenRLHF's pattern, 64 concurrent one-sample requests, against the same 64 samples in one
   request: steps/s ratio (target: at least 0.7x), for each scoring backend.
3. **Web memory**: the resident memory of each gunicorn worker process before and after
   1,000 reward requests, with the scoring server set (target: no model loaded) and, for
   comparison, with the transformers backend.

    python bench/bench_scoring.py --database-url postgres://postgres@127.0.0.1:5432/stepwise_bench_scoring

Needs ``.venv-vllm`` (``scripts/setup_vllm_cpu.sh``). Prints one JSON line per phase.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
_TMP = Path(tempfile.mkdtemp(prefix="bench_scoring_"))
MODELS = _TMP / "models"
PRMBENCH = Path(os.environ.get("STEPWISE_SHARED_DATA", REPO.parent / "shared" / "data")) / "prmbench"


def setup_django(database: str) -> None:
    os.environ.update(DJANGO_SETTINGS_MODULE="stepwise.settings", DATABASE_URL=database,
                      SECRET_KEY="bench-scoring", ALLOWED_HOSTS="127.0.0.1,localhost,testserver",
                      SECURE_SSL_REDIRECT="0", STEPWISE_DATA_DIR=str(_TMP / "data"),
                      STEPWISE_MODELS_DIR=str(MODELS), HF_HUB_OFFLINE="1",
                      TRANSFORMERS_VERBOSITY="error")
    import django

    django.setup()


def solutions(n: int) -> list[tuple[str, list[str]]]:
    rows = [json.loads(line) for line in (PRMBENCH / "prm800k_test_p2_circular.jsonl").open()]
    return [(r["original_question"], r["original_process"]) for r in rows][:n]


def engine_phase(folder: Path, url: str, items, rounds: int) -> dict:
    from training.backends.vllm_pooling import VllmPoolingScorer
    from training.scoring import PrmScorer
    from training.serving import pooling_spec

    local = PrmScorer(folder)
    pooled = VllmPoolingScorer(urls=[url], served_model="stepwise-prm-1", model_path=str(folder),
                               spec=pooling_spec(folder), timeout=600)
    steps = sum(len(s) for _, s in items)
    times = {"transformers": [], "vllm": []}
    scores = {}
    for _ in range(rounds):  # interleaved, so load on the machine hits both alike
        for name, scorer in (("transformers", local), ("vllm", pooled)):
            began = time.perf_counter()
            scores[name] = scorer.score(items)
            times[name].append(time.perf_counter() - began)
    diff = max(abs(a - b) for ra, rb in zip(scores["transformers"], scores["vllm"])
               for a, b in zip(ra, rb) if a is not None and b is not None)
    rate = {k: steps / statistics.median(v) for k, v in times.items()}
    return {"phase": "engine", "solutions": len(items), "steps": steps,
            "transformers_steps_per_s": round(rate["transformers"], 1),
            "vllm_steps_per_s": round(rate["vllm"], 1),
            "vllm_over_transformers": round(rate["vllm"] / rate["transformers"], 2),
            "max_abs_diff": diff}


def seed_model(folder: Path) -> str:
    """A project, its admin, the PRM (pk 1: served as stepwise-prm-1) and a reward URL."""
    from django.contrib.auth import get_user_model

    from annotate.models import Membership, Project
    from api.models import APIToken, RewardUrl, hash_key
    from training.models import PrmModel
    from training.serving import pooling_spec

    admin = get_user_model().objects.create_user("bench-admin", password="x")
    project = Project.objects.create(name="Bench", slug="bench")
    Membership.objects.create(project=project, user=admin, role=Membership.Role.ADMIN)
    model = PrmModel.objects.create(pk=1, project=project, name="demo", base_model="minilm",
                                    artifact_path=str(folder), status=PrmModel.Status.READY,
                                    model_card={"serving": pooling_spec(folder),
                                                "step_delimiter": "\n\n"})
    key = APIToken.generate_key()
    RewardUrl.objects.create(prm_model=model, name="bench", prefix=key[:10], key_hash=hash_key(key),
                             created_by=admin)
    return f"/api/prm/reward/{key}/"


def start_gunicorn(database: str, port: int, log: Path, **extra) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "STEPWISE_"))}
    env.update(DJANGO_SETTINGS_MODULE="stepwise.settings", DATABASE_URL=database,
               SECRET_KEY="bench-scoring", ALLOWED_HOSTS="127.0.0.1,localhost",
               SECURE_SSL_REDIRECT="0", SESSION_COOKIE_SECURE="0", CSRF_COOKIE_SECURE="0",
               STEPWISE_DATA_DIR=str(_TMP / "data"), STEPWISE_MODELS_DIR=str(MODELS),
               GUNICORN_BIND=f"127.0.0.1:{port}", API_RATE_USER="1000000/minute",
               HF_HUB_OFFLINE="1", TRANSFORMERS_VERBOSITY="error", PYTHONWARNINGS="ignore", **extra)
    out = open(log, "w")
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "stepwise.wsgi", "-c", "gunicorn.conf.py",
                             "--no-control-socket"], cwd=REPO, env=env, stdout=out,
                            stderr=subprocess.STDOUT)
    out.close()
    import urllib.request

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=2)
            return proc
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.3)
    raise RuntimeError("gunicorn did not start:\n" + log.read_text()[-3000:])


def worker_rss_mb(master: subprocess.Popen) -> list[float]:
    """Resident memory of each gunicorn worker (the master's children), in MB."""
    children = Path(f"/proc/{master.pid}/task/{master.pid}/children").read_text().split()
    sizes = []
    for pid in children:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                sizes.append(round(int(line.split()[1]) / 1024, 1))
    return sorted(sizes)


async def post_all(url: str, bodies: list[dict], concurrency: int) -> list:
    import aiohttp

    limit = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as session:
        async def one(body):
            async with limit, session.post(url, json=body) as resp:
                assert resp.status == 200, await resp.text()
                return await resp.json()
        return await asyncio.gather(*(one(b) for b in bodies))


def pattern_phase(base: str, path: str, items, rounds: int, backend: str) -> dict:
    """64 one-sample requests at once (OpenRLHF) against one request of the 64."""
    url = base + path
    queries = [p + "\n" + "\n\n".join(s) for p, s in items]
    prompts = [p + "\n" for p, _ in items]
    singles = [{"query": [q], "prompts": [p]} for q, p in zip(queries, prompts)]
    batch = [{"query": queries, "prompts": prompts}]
    steps = sum(len(s) for _, s in items)
    asyncio.run(post_all(url, batch, 1))  # warm: the model loads (transformers) or routes (vllm)
    asyncio.run(post_all(url, singles[:8], 8))
    times = {"batched": [], "one_sample": []}
    rewards = {}
    for _ in range(rounds):
        began = time.perf_counter()
        rewards["batched"] = asyncio.run(post_all(url, batch, 1))[0]["rewards"]
        times["batched"].append(time.perf_counter() - began)
        began = time.perf_counter()
        rewards["one_sample"] = [a["rewards"][0] for a in asyncio.run(post_all(url, singles, 64))]
        times["one_sample"].append(time.perf_counter() - began)
    diff = max(abs(a - b) for a, b in zip(rewards["batched"], rewards["one_sample"]))
    rate = {k: steps / statistics.median(v) for k, v in times.items()}
    return {"phase": "pattern", "backend": backend, "samples": len(items), "steps": steps,
            "batched_steps_per_s": round(rate["batched"], 1),
            "one_sample_steps_per_s": round(rate["one_sample"], 1),
            "one_sample_over_batched": round(rate["one_sample"] / rate["batched"], 2),
            "max_abs_diff": diff}


def memory_phase(base: str, path: str, master, items, n: int, backend: str) -> dict:
    url = base + path
    bodies = [{"query": [p + "\n" + "\n\n".join(s[:3])], "prompts": [p + "\n"]}
              for p, s in (items * (n // len(items) + 1))[:n]]
    before = worker_rss_mb(master)
    asyncio.run(post_all(url, bodies, 16))
    after = worker_rss_mb(master)
    return {"phase": "web_memory", "backend": backend, "requests": n,
            "worker_rss_mb_before": before, "worker_rss_mb_after": after,
            "largest_growth_mb": round(max(a - b for a, b in zip(after, before)), 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--solutions", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()

    from faults import create_database, free_port

    create_database(args.database_url)
    setup_django(args.database_url)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from tests.prm_factories import trained_demo_prm
    from tests.vllm_pooling import start_from_command
    from tests.vllm_server import stop_server
    from training.models import PrmModel
    from training.serving import pooling_spec, vllm_serve_command

    folder = trained_demo_prm(MODELS / "prm" / "demo")
    path = seed_model(folder)
    command = vllm_serve_command(PrmModel(pk=1, artifact_path=str(folder),
                                          model_card={"serving": pooling_spec(folder)}))
    began = time.perf_counter()
    server, url = start_from_command(command, MODELS, _TMP / "vllm.log")
    print(json.dumps({"phase": "vllm_start", "seconds": round(time.perf_counter() - began, 1)}),
          flush=True)
    items = solutions(args.solutions)
    procs = []
    try:
        print(json.dumps(engine_phase(folder, url, items, args.rounds)), flush=True)
        for backend, extra in (("vllm", {"STEPWISE_SCORING_BACKEND": "vllm",
                                         "STEPWISE_SCORING_URLS": url}),
                               ("transformers", {})):
            port = free_port()
            master = start_gunicorn(args.database_url, port, _TMP / f"gunicorn-{backend}.log", **extra)
            procs.append(master)
            base = f"http://127.0.0.1:{port}"
            print(json.dumps(pattern_phase(base, path, items[:64], args.rounds, backend)), flush=True)
            master.terminate()
            master.wait(30)
            master = start_gunicorn(args.database_url, port, _TMP / f"gunicorn-{backend}-2.log", **extra)
            procs.append(master)
            print(json.dumps(memory_phase(base, path, master, items, args.requests, backend)),
                  flush=True)
            master.terminate()
            master.wait(30)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        stop_server(server)
        create_database(args.database_url, drop_only=True)


if __name__ == "__main__":
    main()
