"""Training examples for a token-classification PRM.

An example is a prompt plus its steps, each with a label: 1 good, 0 bad, None
unlabeled. Encoding follows the TRL / Qwen-PRM convention: every step is followed
by a dedicated separator token, the label sits on that separator, and every other
position is -100 so the loss ignores it.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path

IGNORE = -100
DEFAULT_SEPARATOR = "<|step|>"
AFTER_FIRST_ERROR = ("drop", "keep", "mask")


@dataclass
class StepExample:
    group: str  # the problem: train/validation split never cuts through one
    prompt: str
    steps: list[str]
    labels: list[int | None]
    solution_id: int | None = None
    is_correct: bool | None = None
    final_answer: str = ""
    meta: dict = field(default_factory=dict)


def rating_labels(ratings: list[int | None], *, neutral: str = "good",
                  after_first_error: str = "mask") -> list[int | None]:
    """PRM800K ratings (+1/0/-1/None) to binary labels.

    ``neutral`` says whether a 0 ("okay") counts as good or bad (Let's Verify found
    good best). After the first bad step: ``drop`` ends the list there, ``keep`` keeps
    the later labels, ``mask`` keeps the steps unlabeled (an encoder then cannot learn
    "the last step shown is the bad one", which ``drop`` teaches it).
    """
    if neutral not in ("good", "bad"):
        raise ValueError("neutral must be 'good' or 'bad'")
    if after_first_error not in AFTER_FIRST_ERROR:
        raise ValueError(f"after_first_error must be one of {', '.join(AFTER_FIRST_ERROR)}")
    out: list[int | None] = []
    seen_bad = False
    for rating in ratings:
        if rating is None or (seen_bad and after_first_error == "mask"):
            out.append(None)
            continue
        label = 1 if rating > 0 or (rating == 0 and neutral == "good") else 0
        out.append(label)
        seen_bad = seen_bad or label == 0
        if label == 0 and after_first_error == "drop":
            break
    return out


def apply_first_error(ex: StepExample, after_first_error: str) -> StepExample:
    """Cut (``drop``) or unlabel (``mask``) an example's steps after its first bad label."""
    if after_first_error == "keep" or 0 not in ex.labels:
        return ex
    cut = ex.labels.index(0) + 1
    if after_first_error == "mask":
        ex.labels = ex.labels[:cut] + [None] * (len(ex.labels) - cut)
    else:
        ex.steps, ex.labels = ex.steps[:cut], ex.labels[:cut]
    return ex


def split_by_problem(examples: list[StepExample], val_fraction: float, seed: int
                     ) -> tuple[list[StepExample], list[StepExample]]:
    """Split by problem group, never by row, so no problem leaks into validation."""
    groups = sorted({ex.group for ex in examples})
    random.Random(seed).shuffle(groups)
    n_val = int(round(len(groups) * val_fraction))
    if val_fraction > 0 and len(groups) > 1:
        n_val = min(max(1, n_val), len(groups) - 1)
    val_groups = set(groups[:n_val])
    train = [ex for ex in examples if ex.group not in val_groups]
    val = [ex for ex in examples if ex.group in val_groups]
    return train, val


# --- encoding -----------------------------------------------------------------------

def separator_id(tokenizer, separator: str) -> int:
    """The separator's id, checking it is exactly one token (it must be added first)."""
    ids = tokenizer.encode(separator, add_special_tokens=False)
    if len(ids) != 1:
        raise ValueError(f"Step separator {separator!r} is {len(ids)} tokens, expected 1.")
    return ids[0]


def format_text(prompt: str, steps: list[str], separator: str) -> str:
    """The model's input text: the problem, a newline, then each step and a separator.

    Scoring outside Stepwise tokenizes exactly this with the tokenizer's defaults.
    """
    return prompt + "\n" + "".join(step.replace(separator, " ") + separator for step in steps)


def encode(tokenizer, prompt: str, steps: list[str], labels: list[int | None] | None, *,
           separator: str, sep_id: int, max_length: int, keep_tail: bool = True) -> dict:
    """Token ids, per-token labels and the separator position of each step kept.

    ``keep_tail=False`` drops what follows the last separator (a closing special token):
    a left-to-right model's outputs there never depend on it, so training spends nothing on it
    and a plain ``tokenizer(text)`` still gives the same scores.

    The text is tokenized whole with the tokenizer's own special tokens, so training,
    scoring and a plain ``tokenizer(text)`` agree. Too long an input keeps the last
    part of the prompt and whole steps from the first on, so a label never sits on a
    cut step.
    """
    prompt_ids = tokenizer.encode(prompt, add_special_tokens=False)
    if len(prompt_ids) > max_length // 2:
        prompt = tokenizer.decode(prompt_ids[-(max_length // 2):])
    ids = tokenizer(format_text(prompt, steps, separator))["input_ids"]
    positions = [i for i, t in enumerate(ids) if t == sep_id]
    if len(ids) > max_length:
        tail = []
        if positions:
            special = set(tokenizer.all_special_ids) - {sep_id}
            tail = [t for t in ids[positions[-1] + 1:] if t in special]
        budget = max_length - len(tail)
        positions = [p for p in positions if p < budget]
        ids = (ids[: positions[-1] + 1] if positions else ids[:budget]) + tail
    if not keep_tail and positions:
        ids = ids[: positions[-1] + 1]
    token_labels = [IGNORE] * len(ids)
    for i, pos in enumerate(positions):
        label = labels[i] if labels is not None else None
        if label is not None:
            token_labels[pos] = int(label)
    return {"input_ids": ids, "labels": token_labels, "positions": positions}


def collate(batch: list[dict], pad_id: int) -> dict:
    """Right-pad a batch of encoded examples into tensors."""
    import torch

    width = max(len(item["input_ids"]) for item in batch)
    input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(batch), width), dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
    for row, item in enumerate(batch):
        n = len(item["input_ids"])
        input_ids[row, :n] = torch.tensor(item["input_ids"])
        attention[row, :n] = 1
        labels[row, :n] = torch.tensor(item["labels"])
    return {"input_ids": input_ids, "attention_mask": attention, "labels": labels}


# --- sources ---------------------------------------------------------------------------

def examples_from_snapshot(path: str | Path, *, after_first_error: str = "mask"
                           ) -> list[StepExample]:
    """A frozen TRL-format export (JSONL rows of ``prompt``, ``completions``, ``labels``)."""
    examples = []
    with open(path, encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            row = json.loads(line)
            try:
                steps = list(row["completions"])
                raw = list(row["labels"])
                prompt = row["prompt"]
            except KeyError as exc:
                raise ValueError(f"line {line_no}: missing field {exc}") from None
            if len(steps) != len(raw):
                raise ValueError(f"line {line_no}: {len(steps)} completions, {len(raw)} labels")
            labels = [None if v is None else int(bool(v)) for v in raw]
            group = str(row.get("problem_id") or row.get("problem") or prompt)
            examples.append(apply_first_error(StepExample(
                group=group, prompt=prompt, steps=steps, labels=labels,
                solution_id=row.get("solution_id"), is_correct=row.get("is_correct"),
            ), after_first_error))
    return examples


def consensus_ratings(solution_ids: list[int]) -> dict[int, dict[int, int | None]]:
    """solution -> node -> agreed rating (reviewer corrections win, then the majority)."""
    from quality.consensus import consensus_labels

    out: dict[int, dict[int, int | None]] = {}
    for sid, nodes in consensus_labels(solution_ids).items():
        out[sid] = {nid: lab.rating for nid, lab in nodes.items() if lab.rating is not None}
    return out


def solution_paths(solutions) -> dict[int, list[tuple[int, str]]]:
    """solution id -> [(node id, text), ...] from first step to last, in few queries."""
    from annotate.models import StepNode

    problem_ids = {s.problem_id for s in solutions}
    nodes = {
        nid: (parent, text)
        for nid, parent, text in StepNode.objects.filter(problem_id__in=problem_ids)
        .values_list("id", "parent_id", "text")
    }
    paths = {}
    for s in solutions:
        path, node = [], s.last_step_id
        while node is not None:
            parent, text = nodes[node]
            path.append((node, text))
            node = parent
        paths[s.pk] = path[::-1]
    return paths


def examples_from_project(project, *, neutral: str = "good", after_first_error: str = "mask",
                          solution_ids: list[int] | None = None) -> list[StepExample]:
    """Labeled examples from a project's agreed step labels.

    Each labeled solution gives its path; a rated alternative that is not on the path
    (a sibling candidate, PRM800K style) gives one more example ending at that step.
    """
    from annotate.models import Assignment, StepNode
    from annotate.selectors.solutions import solutions_for_batch

    qs = solutions_for_batch(project=project)
    if solution_ids is not None:
        qs = qs.filter(pk__in=solution_ids)
    else:
        qs = qs.filter(assignments__status=Assignment.Status.SUBMITTED).distinct()
    solutions = list(qs)
    ratings = consensus_ratings([s.pk for s in solutions])
    paths = solution_paths(solutions)
    examples: list[StepExample] = []
    for s in solutions:
        node_ratings = ratings.get(s.pk, {})
        if not node_ratings:
            continue
        path = paths[s.pk]
        on_path = {nid for nid, _ in path}
        raw = [node_ratings.get(nid) for nid, _ in path]
        labels = rating_labels(raw, neutral=neutral, after_first_error=after_first_error)
        if any(v is not None for v in labels):
            examples.append(StepExample(
                group=f"problem:{s.problem_id}", prompt=s.problem.statement,
                steps=[t for _, t in path][: len(labels)], labels=labels, solution_id=s.pk,
                is_correct=s.is_correct, final_answer=s.final_answer,
            ))
        off_path = [nid for nid in node_ratings if nid not in on_path]
        for node in StepNode.objects.filter(pk__in=off_path).select_related("parent"):
            prefix = []
            for nid, text in path:
                if nid == node.parent_id:
                    prefix.append((nid, text))
                    break
                prefix.append((nid, text))
            if node.parent_id is None:
                prefix = []
            elif not prefix or prefix[-1][0] != node.parent_id:
                continue  # an alternative below another branch: not on this solution
            label = rating_labels([node_ratings[node.pk]], neutral=neutral)[0]
            examples.append(StepExample(
                group=f"problem:{s.problem_id}", prompt=s.problem.statement,
                steps=[t for _, t in prefix] + [node.text],
                labels=[None] * len(prefix) + [label], meta={"alternative_of": s.pk},
            ))
    return examples


RULE_CHUNK = 2000


def examples_from_rule(project, rule, *, neutral: str = "good", after_first_error: str = "mask",
                       solution_ids: list[int] | None = None):
    """Examples from a label rule over label sources (``quality.label_rules``, docs/labels.md
    "Rules"): every solution of the project (or ``solution_ids``) with a kept step gives its
    path, labeled where the rule keeps a label and unlabeled where it drops the step.
    Returns ``(examples, tally)``: the tally's candidates, kept steps and kept fraction."""
    from annotate.models import Solution
    from quality.label_rules import Tally, apply_rule, parse_rule

    rule = parse_rule(rule)
    qs = Solution.objects.filter(project=project).select_related("problem").defer(
        "trajectory").order_by("pk")
    if solution_ids is not None:
        qs = qs.filter(pk__in=solution_ids)
    solutions = list(qs)
    tally = Tally()
    examples: list[StepExample] = []
    for start in range(0, len(solutions), RULE_CHUNK):
        chunk = solutions[start:start + RULE_CHUNK]
        labels, counts = apply_rule(rule, [s.pk for s in chunk])
        tally.add(counts)
        paths = solution_paths([s for s in chunk if s.pk in labels])
        for s in chunk:
            kept = labels.get(s.pk)
            if not kept:
                continue
            path = paths[s.pk]
            raw = [kept[pos][0] if pos in kept else None for pos in range(len(path))]
            steps_labels = rating_labels(raw, neutral=neutral, after_first_error=after_first_error)
            if any(v is not None for v in steps_labels):
                examples.append(StepExample(
                    group=f"problem:{s.problem_id}", prompt=s.problem.statement,
                    steps=[t for _, t in path][: len(steps_labels)], labels=steps_labels,
                    solution_id=s.pk, is_correct=s.is_correct, final_answer=s.final_answer,
                    meta={"label_sources": [kept[p][1] if p in kept else None
                                            for p in range(len(steps_labels))]},
                ))
    return examples, tally
