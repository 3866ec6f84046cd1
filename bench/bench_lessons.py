"""The Lessons experiment: label sources on the demo domain, with the exact checker as truth.

A project of seeded demo solutions (a planted error in about half, carried forward) is
labeled by Monte Carlo auto-labels at 8 and 16 rollouts (the autolabel service, the demo
generator under two names so both label sets are kept), by the demo judge (the judge
service, in process, ``demo_steps@1``), by their consensus (the label rule ``agree``) and by
a PRM (trained with the product's trainer on exact labels of other problems, registered and
scored like any PRM). Every source is read through ``labels_for`` / the label rules, and
scored against the exact checker on the steps up to and including a solution's first error
(where a step's own correctness and its prefix's coincide; Monte Carlo estimates the second,
the judge the first). Then a PRM is trained on each source's labels (the trainer, fixed
optimizer steps: every training set is cycled to the same number of solutions) and its step
AUROC measured on held-out problems.

    python bench/bench_lessons.py [--problems 30] [--prm-solutions 240] [--prm-epochs 2]
    python bench/bench_lessons.py --quick          # a smoke run (a few minutes)

Needs PostgreSQL (``--database-url``; the database is dropped and created). Prints a JSON
line per phase and a Markdown table; results in docs/performance.md ("Label sources on the
demo domain (the Lessons experiment)").
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
TMP = Path(tempfile.mkdtemp(prefix="bench-lessons-"))
HELD_OUT_SEED = 202  # bench/train_demo_prm.py's held-out demo solutions


def setup_django(database: str, extra_dirs: tuple[str, ...] = ()) -> None:
    os.environ.update(DJANGO_SETTINGS_MODULE="stepwise.settings", DATABASE_URL=database,
                      SECRET_KEY="bench-lessons", STEPWISE_DATA_DIR=str(TMP / "data"),
                      STEPWISE_MODELS_DIR=str(TMP / "models"), HF_HUB_OFFLINE="1",
                      TRANSFORMERS_VERBOSITY="error", STEPWISE_TORCH_THREADS="1",
                      STEPWISE_MODEL_DIRS=",".join([str(REPO / "data" / "test-models"),
                                                    str(TMP / "models"), *extra_dirs]))
    import django

    django.setup()


def emit(phase: str, **data) -> None:
    print(json.dumps({"phase": phase, **data}), flush=True)


def score(labels: dict, truth: dict) -> dict:
    """Step accuracy and balanced accuracy of {sid: {pos: label}} on the scored steps."""
    hit = {True: [0, 0], False: [0, 0]}
    for sid, steps in truth.items():
        for pos, ok in steps.items():
            label = labels.get(sid, {}).get(pos)
            label = label[0] if isinstance(label, tuple) else label  # a rule's (label, ...)
            if label is None:
                continue
            hit[ok][1] += 1
            hit[ok][0] += (label > 0) == ok
    n = hit[True][1] + hit[False][1]
    recall = [hit[k][0] / hit[k][1] if hit[k][1] else float("nan") for k in (True, False)]
    total = sum(len(v) for v in truth.values())
    return {"labeled": n, "fraction_labeled": round(n / max(total, 1), 3),
            "accuracy": round((hit[True][0] + hit[False][0]) / max(n, 1), 3),
            "balanced_accuracy": round(sum(recall) / 2, 3),
            "good_recall": round(recall[0], 3), "bad_recall": round(recall[1], 3)}


def exact_truth(solutions) -> dict:
    """{sid: {pos: right?}} for the steps up to and including the first error."""
    from demo.domain import first_error
    from demo.labels import exact_labels_for_solution

    out = {}
    for s in solutions:
        labels = exact_labels_for_solution(s)
        cut = first_error(labels)
        out[s.pk] = {pos: ok for pos, ok in enumerate(labels[:len(labels) if cut is None else cut + 1])}
    return out


def train_prm(examples, base: str, name: str, args) -> tuple[Path, dict]:
    """The trainer on ``examples`` cycled to ``args.prm_solutions``: one optimizer-step count."""
    from training.config import TrainConfig
    from training.trainer import train

    rng = random.Random(0)
    pool = list(examples)
    rng.shuffle(pool)
    cycled = [pool[i % len(pool)] for i in range(args.prm_solutions)]
    cfg = TrainConfig(epochs=args.prm_epochs, learning_rate=args.prm_lr, head_learning_rate=args.prm_head_lr,
                      batch_size=args.prm_batch, max_length=128, val_fraction=0.0,
                      early_stopping_patience=0, warmup_ratio=0.05)
    out = TMP / "models" / f"prm-{name}"
    started = time.perf_counter()
    summary = train(cycled, base, out, cfg)
    return out, {"steps": summary.get("steps"), "seconds": round(time.perf_counter() - started, 1)}


def held_out_auroc(path: Path, n_problems: int) -> float:
    from demo.labeled import demo_solutions
    from training.evaluate import evaluate_examples
    from training.scoring import PrmScorer

    metrics = evaluate_examples(PrmScorer(path, max_length=128),
                                demo_solutions(n_problems, 2, seed=HELD_OUT_SEED))
    return round(metrics["step"]["auroc"], 4)


def add_demo_args(parser: argparse.ArgumentParser, database: str) -> None:
    """The scratch database and the seeded demo project, as the demo-domain benches take them."""
    parser.add_argument("--database-url", default=f"postgres://postgres@127.0.0.1:5432/{database}")
    parser.add_argument("--problems", type=int, default=30)
    parser.add_argument("--per-problem", type=int, default=2)
    parser.add_argument("--error-rate", type=float, default=0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_demo_args(parser, "stepwise_bench_lessons")
    parser.add_argument("--base", default="", help="PRM base (default: MiniLM cut to 2 layers)")
    parser.add_argument("--prm-solutions", type=int, default=240,
                        help="every PRM's training set is cycled to this many solutions")
    parser.add_argument("--prm-epochs", type=int, default=2)
    parser.add_argument("--prm-batch", type=int, default=16)
    parser.add_argument("--prm-lr", type=float, default=2e-4)
    parser.add_argument("--prm-head-lr", type=float, default=2e-3)
    parser.add_argument("--held-out", type=int, default=100, help="held-out problems (2 each)")
    parser.add_argument("--judge", default="",
                        help="a demo judge's folder (default: build or reuse the cached one); one "
                             "still being built elsewhere is waited for")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.problems, args.prm_solutions, args.prm_epochs, args.held_out = 6, 32, 1, 10

    sys.path.insert(0, str(REPO / "bench"))
    from faults import create_database

    create_database(args.database_url)
    setup_django(args.database_url,
                 (str(Path(args.judge).resolve().parent),) if args.judge else ())
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    import lessons_sources as sources
    from bench_bases import resolve_base

    started = time.perf_counter()
    project, solutions = sources.seeded_project(args.problems, args.per_problem, args.error_rate)
    truth = exact_truth(solutions)
    emit("seeded", solutions=len(solutions), scored_steps=sum(len(v) for v in truth.values()),
         wrong_steps=sum(not ok for v in truth.values() for ok in v.values()))

    specs = {}
    for n in (8, 16):
        specs[f"mc_hard@{n}"], info = sources.monte_carlo(project, solutions, n, TMP)
        emit("monte_carlo", rollouts_per_step=n, **info)
    base = resolve_base(args.base, 2, TMP)
    from demo.labeled import training_set

    exact_prm, info = train_prm(training_set(args.prm_solutions), base, "exact-other", args)
    prm_spec = sources.prm_labels(project, solutions, exact_prm)
    emit("prm_labeler", held_out_auroc=held_out_auroc(exact_prm, args.held_out), **info)

    specs["judge"], info = sources.judge(solutions, args.judge or None)
    emit("judge", **info)
    specs["agree(mc@8, judge)"] = {"rule": "agree", "sources": [specs["mc_hard@8"], specs["judge"]]}
    specs["agree(mc@16, judge)"] = {"rule": "agree", "sources": [specs["mc_hard@16"], specs["judge"]]}
    specs["prm (exact labels, other problems)"] = prm_spec

    rows = {}
    ids = [s.pk for s in solutions]
    for name, spec in specs.items():
        labels, tally = sources.read(spec, ids)
        rows[name] = {**score(labels, truth), "kept_fraction": tally}
        emit("labels", source=name, **rows[name])

    specs["exact (checker)"] = sources.exact_source(project, solutions)
    for name, spec in specs.items():
        if name.startswith("prm ("):
            continue
        examples = sources.examples(project, spec)
        path, info = train_prm(examples, base, str(len(rows)) + name.split("(")[0].strip("@ "), args)
        auroc = held_out_auroc(path, args.held_out)
        rows.setdefault(name, {}).update(prm_auroc=auroc, prm_examples=len(examples), **info)
        emit("prm", source=name, held_out_auroc=auroc, examples=len(examples), **info)

    print(f"\n{len(solutions)} solutions, {sum(len(v) for v in truth.values())} scored steps, "
          f"{time.perf_counter() - started:.0f}s; PRMs: {args.prm_solutions} solutions x "
          f"{args.prm_epochs} epochs, batch {args.prm_batch}\n")
    print("| labels | step acc. | balanced acc. | good / bad recall | kept | PRM held-out AUROC |")
    print("|---|---:|---:|---|---:|---:|")
    for name, r in rows.items():
        kept = r.get("kept_fraction")
        print(f"| {name} | {r.get('accuracy', '-')} | {r.get('balanced_accuracy', '-')} | "
              f"{r.get('good_recall', '-')} / {r.get('bad_recall', '-')} | "
              f"{'-' if kept is None else kept} | {r.get('prm_auroc', '-')} |")


if __name__ == "__main__":
    main()
