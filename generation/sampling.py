"""Batched sampling: many prompts and ``num_return_sequences`` in one ``generate`` call.

Pure model code (no database), shared by the generation runs, the auto-labeler, the
demo model's evaluation and the benchmarks.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Sampled:
    text: str  # the new text only, special tokens removed
    tokens: int  # tokens generated before end-of-sequence


def _delimiter_stop(tokenizer, prompt_len: int, delimiter: str):
    """A stopping criterion that ends each row once its new text contains the delimiter."""
    import torch
    from transformers import StoppingCriteria

    class DelimiterStop(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            # Only the last few tokens can complete a delimiter that was not there before.
            tails = tokenizer.batch_decode(input_ids[:, prompt_len:], skip_special_tokens=True)
            return torch.tensor([delimiter in t.lstrip() for t in tails], device=input_ids.device)

    return DelimiterStop()


def sample(model, tokenizer, prompts: list[str], *, n: int = 1, max_new_tokens: int = 256,
           temperature: float = 0.8, top_p: float = 1.0, stop_at: str | None = None,
           seed: int | None = None) -> list[list[Sampled]]:
    """``n`` continuations of each prompt, in one batched ``generate`` call.

    ``stop_at`` ends a row at that delimiter (a candidate step); without it a row runs
    to end-of-sequence or the token budget (a full solution).
    """
    import torch
    from transformers import StoppingCriteriaList

    if not (temperature and temperature > 0) and n > 1:
        # Greedy decoding gives one answer per prompt; generate refuses n > 1 for it.
        once = sample(model, tokenizer, prompts, n=1, max_new_tokens=max_new_tokens,
                      temperature=0, stop_at=stop_at, seed=seed)
        return [row * n for row in once]
    if seed is not None:
        torch.manual_seed(seed)
    tokenizer.padding_side = "left"  # decoder-only: new tokens follow the real text
    enc = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False,
                    return_attention_mask=True)
    enc = {k: v.to(model.device) for k, v in enc.items() if k in ("input_ids", "attention_mask")}
    prompt_len = enc["input_ids"].shape[1]
    kwargs = dict(
        max_new_tokens=max_new_tokens, num_return_sequences=n,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
    )
    if temperature and temperature > 0:
        kwargs.update(do_sample=True, temperature=temperature, top_p=top_p)
    else:
        kwargs.update(do_sample=False)
    if stop_at:
        kwargs["stopping_criteria"] = StoppingCriteriaList(
            [_delimiter_stop(tokenizer, prompt_len, stop_at)]
        )
    with torch.inference_mode():
        out = model.generate(**enc, **kwargs)
    new = out[:, prompt_len:]
    stop_ids = {tokenizer.eos_token_id, tokenizer.pad_token_id} - {None}
    results: list[list[Sampled]] = []
    texts = tokenizer.batch_decode(new, skip_special_tokens=True)
    for i, text in enumerate(texts):
        row = new[i].tolist()
        count = next((j for j, t in enumerate(row) if t in stop_ids), len(row))
        if i % n == 0:
            results.append([])
        results[-1].append(Sampled(text=text, tokens=count))
    return results


def first_step(text: str, delimiter: str) -> str:
    """The text up to the first delimiter (blank space before it skipped), stripped."""
    return text.lstrip().split(delimiter, 1)[0].strip()


def split_steps(text: str, delimiter: str, *, max_steps: int | None = None,
                stop_at_answer: bool = True) -> tuple[list[str], bool]:
    """Split a solution into steps; stop after a final-answer step (unless
    ``stop_at_answer`` is off: a reward scores all it was sent) or ``max_steps``.

    Returns the steps and whether a final answer was reached. A bare ``# Answer``
    step (PRM800K's ``# Answer\\n\\n42``) takes the next piece as its answer.
    """
    from annotate.grading import is_answer_step

    pieces = [p.strip() for p in text.split(delimiter)]
    pieces = [p for p in pieces if p]
    steps: list[str] = []
    answered = False
    i = 0
    while i < len(pieces):
        piece = pieces[i]
        if piece.rstrip(":").strip() == "# Answer" and i + 1 < len(pieces):
            piece = f"{piece}{delimiter}{pieces[i + 1]}"
            i += 1
        steps.append(piece)
        i += 1
        answered = answered or is_answer_step(piece)
        if answered and stop_at_answer:
            break
        if max_steps and len(steps) >= max_steps:
            break
    return steps, answered
