"""Judge throughput on CPU: steps judged per second through an OpenAI-compatible server's chat
completions (``transformers serve``) against the in-process backend, same model, same
conversations, rounds interleaved (the machine is shared and noisy).

The model is the demo generator with a chat template written into a copy of its tokenizer
config; it answers arithmetic rather than verdicts, which costs the same tokens to read and
write as a judge's answer of that length (``--max-new-tokens``), so the figure is the
backend's, not the model's skill. Its context is short, so the template is a project's own
short one (``{steps}``), as in tests/test_judge_backends.py.

    python bench/bench_judge.py [--solutions 32] [--samples 2] [--max-new-tokens 24] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

CHAT_TEMPLATE = ("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n\n{% endfor %}"
                 "{% if add_generation_prompt %}assistant:{% endif %}")
SHORT = {"name": "short", "version": 1, "style": "step_verdicts", "user": "{steps}\nVerdicts:"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--solutions", type=int, default=32)
    parser.add_argument("--samples", type=int, default=2)
    parser.add_argument("--max-new-tokens", type=int, default=24)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "stepwise.settings")
    os.environ.setdefault("SECRET_KEY", "bench-only")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("STEPWISE_OUTBOUND_HOSTS", "127.0.0.1")  # the loopback server
    import django

    django.setup()
    from django.conf import settings

    from demo import domain
    from demo.testing import build_test_model
    from generation.backends import backend_for
    from generation.config import GeneratorSettings
    from generation.judging.parsing import parse
    from generation.judging.templates import custom_template
    from tests.inference_server import sampling_model_dir, start_transformers_serve

    work = Path(tempfile.mkdtemp(prefix="bench-judge-"))
    settings.STEPWISE_MODEL_DIRS = [*settings.STEPWISE_MODEL_DIRS, str(work)]
    model = sampling_model_dir(build_test_model(), work / "model")
    config_path = model / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config_path.unlink()
    config_path.write_text(json.dumps({**config, "chat_template": CHAT_TEMPLATE}))
    proc, base_url = start_transformers_serve(model, work / "serve.log")
    try:
        template = custom_template(SHORT)
        rng = random.Random(0)
        solutions = []
        for _ in range(args.solutions):
            problem = domain.random_problem(rng)
            steps, _ = domain.flawed_steps(problem, rng)
            solutions.append(steps)
        conversations = [template.messages("", steps) for steps in solutions]
        steps_total = sum(len(s) for s in solutions)
        common = {"model": str(model), "temperature": 1.0, "top_p": 1.0, "batch_size": 16,
                  "retries": 0, "timeout": 120}
        backends = {
            "in-process": backend_for(GeneratorSettings.from_dict(common)),
            "server": backend_for(GeneratorSettings.from_dict(
                {**common, "backend": "openai", "base_url": base_url,
                 "concurrency": args.concurrency})),
        }

        def judge(backend, seed) -> tuple[float, int]:
            started, tokens = time.perf_counter(), 0
            per_call = backend.prompts_per_call(args.samples)
            for i in range(0, len(conversations), per_call):
                rows = backend.chat(conversations[i:i + per_call], n=args.samples,
                                    max_new_tokens=args.max_new_tokens, temperature=1.0,
                                    seed=seed + i)
                for steps, row in zip(solutions[i:], rows):
                    for answer in row:
                        tokens += answer.tokens
                        parse(template.style, answer.text, len(steps))
            return steps_total / (time.perf_counter() - started), tokens

        for backend in backends.values():
            judge(backend, 0)  # warm-up: loads and first calls
        rates = {name: [] for name in backends}
        for r in range(args.rounds):
            for name, backend in backends.items():
                rates[name].append(judge(backend, 100 * (r + 1))[0])
        medians = {name: statistics.median(v) for name, v in rates.items()}
        print(json.dumps({"solutions": args.solutions, "steps": steps_total,
                          "samples": args.samples, "max_new_tokens": args.max_new_tokens,
                          "in_process_steps_per_s": round(medians["in-process"], 2),
                          "server_steps_per_s": round(medians["server"], 2),
                          "server_over_in_process": round(medians["server"] / medians["in-process"], 2)}))
    finally:
        proc.terminate()
        proc.wait(timeout=20)


if __name__ == "__main__":
    main()
