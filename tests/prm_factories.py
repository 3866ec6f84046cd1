"""Test support for the PRM tests: a tiny BERT base built offline, and a learnable rule."""

from __future__ import annotations

import random
from pathlib import Path

GOOD_WORDS = ["add", "so", "then", "we", "get", "the", "sum", "is", "carry", "check", "value"]
BAD_WORDS = ["guess", "wrong", "oops"]
NUMBERS = [str(i) for i in range(30)]


def build_tiny_base(path: Path, seed: int = 0) -> Path:
    """A 2-layer, 32-wide BERT with a WordLevel tokenizer: trains in seconds on CPU."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab = {tok: i for i, tok in enumerate(specials + GOOD_WORDS + BAD_WORDS + NUMBERS
                                            + ["problem", "solve", "?", ".", "="])}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]",
                                   cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=128)
    path.mkdir(parents=True, exist_ok=True)
    BertModel(config).save_pretrained(path)
    fast.save_pretrained(path)
    return path


def rule_step(rng: random.Random, bad: bool) -> str:
    words = [rng.choice(GOOD_WORDS) for _ in range(rng.randint(2, 4))]
    words.insert(rng.randrange(len(words) + 1), rng.choice(NUMBERS))
    if bad:
        words.insert(rng.randrange(len(words) + 1), rng.choice(BAD_WORDS))
    return " ".join(words)


def rule_examples(n_problems: int, per_problem: int = 3, seed: int = 0):
    """The learnable rule: a step is bad when it says guess/wrong/oops. Split-by-problem groups."""
    from training.data import StepExample

    rng = random.Random(seed)
    out = []
    for p in range(n_problems):
        prompt = f"problem {p % 30} solve ?"
        for _ in range(per_problem):
            n = rng.randint(2, 4)
            err = rng.randrange(n) if rng.random() < 0.6 else None
            steps, labels = [], []
            for i in range(n if err is None else err + 1):
                steps.append(rule_step(rng, i == err))
                labels.append(0 if i == err else 1)
            out.append(StepExample(group=f"p{p}", prompt=prompt, steps=steps, labels=labels))
    return out


def seed_project(project, examples, annotator, *, labeled: bool = True) -> list:
    """Problems, step chains and solutions from StepExamples; submitted ratings when labeled.

    Labels map to ratings 1 -> +1, 0 -> -1. Returns the Solutions in input order.
    """
    from annotate.models import Assignment, Problem, Solution, StepNode, StepRating

    problems: dict[str, Problem] = {}
    solutions = []
    for ex in examples:
        problem = problems.get(ex.group)
        if problem is None:
            problem = problems[ex.group] = Problem.objects.create(
                project=project, external_id=ex.group, statement=f"{ex.prompt} [{ex.group}]")
        parent, nodes = None, []
        for text in ex.steps:
            parent, _ = StepNode.objects.get_or_create(
                problem=problem, parent=parent, text=text,
                defaults={"depth": 0 if parent is None else parent.depth + 1})
            nodes.append(parent)
        if hasattr(parent, "solution"):
            solutions.append(parent.solution)
            continue
        correct = ex.is_correct if ex.is_correct is not None else 0 not in ex.labels
        solution = Solution.objects.create(problem=problem, last_step=parent, is_correct=correct,
                                           final_answer=ex.final_answer or str(int(correct)))
        solutions.append(solution)
        if labeled:
            assignment = Assignment.objects.create(
                project=project, solution=solution, annotator=annotator,
                status=Assignment.Status.SUBMITTED)
            StepRating.objects.bulk_create([
                StepRating(assignment=assignment, node=node, rating=1 if lab == 1 else -1)
                for node, lab in zip(nodes, ex.labels) if lab is not None])
    return solutions


_TRAINED: dict = {}


def trained_tiny_prm(root: Path) -> Path:
    """One tiny PRM trained on the rule per test process (reused across modules)."""
    if "path" not in _TRAINED:
        from training.trainer import TrainConfig, train

        base = build_tiny_base(root / "base")
        out = root / "prm"
        _TRAINED["summary"] = train(rule_examples(60, seed=1), str(base), out,
              TrainConfig(epochs=6, learning_rate=3e-3, batch_size=16, max_length=96,
                          early_stopping_patience=0, val_fraction=0.25))
        _TRAINED["path"] = out
    return _TRAINED["path"]


def ready_model(project, path: Path, name: str = "tiny"):
    from training.models import PrmModel

    return PrmModel.objects.create(project=project, name=name, base_model="tiny",
                                   artifact_path=str(path), status=PrmModel.Status.READY)


def trained_demo_prm(out: Path) -> Path:
    """The demo PRM's base (the bundled MiniLM, a ``BertForTokenClassification`` with the
    ``<|step|>`` token) trained briefly on the rule: what vLLM's pooling runner serves in
    the tests (its heads are a size vLLM's CPU attention takes; the tiny base's are not)."""
    from training.trainer import TrainConfig, default_base_model, train

    if not (out / "config.json").exists():
        train(rule_examples(30, seed=1), default_base_model(), out,
              TrainConfig(epochs=1, learning_rate=3e-4, batch_size=16, max_length=64,
                          early_stopping_patience=0, val_fraction=0.2))
    return out
