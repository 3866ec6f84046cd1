"""How many labeled steps a trainer would cut off: an export's token budget (docs/api.md,
"Token budgets").

A spec with ``tokenizer`` and ``max_length`` tokenizes each row as TRL's PRM trainer does
(``PRMTrainer.tokenize_row``): the prompt and each step without special tokens, the step
separator's tokens after every step with the step's label on the separator's last token, the
BOS token (where the tokenizer has one) before the prompt, the prompt cut to its last
``max_prompt_length`` tokens, then everything past ``max_length`` dropped. A step whose label
position falls past ``max_length`` is cut. Each row gets ``stepwise: {"tokens", "cut_steps"}``
(trainers drop unknown columns; ProcessBench rows add ``label_cut``: the first bad step is
cut), and the snapshot's metadata the totals.

A ``critiques`` row is a chat, counted as SFTTrainer tokenizes it (``exports/chat_budget.py``):
its tokens and the step verdicts past ``max_length``.

The tokenizer is a model the export's projects may name (``generation.modeldirs``), loaded
with ``generation.tokenizer``: the export worker imports no torch for a fast tokenizer.
"""

from __future__ import annotations

from pathlib import Path

from generation.modeldirs import ModelDirRefused, is_hub_id, locate, owned_by

from .spec import SpecError


def tokenizer_folder(name: str, project_ids: list[int]) -> Path:
    """The folder of the named model, or SpecError: unknown, not allowed, or no tokenizer."""
    def own(path: Path) -> bool:  # the trained PRMs of the export's own projects
        return any(owned_by(pk)(path) for pk in project_ids)

    try:
        location = locate(name, own=own)
    except ModelDirRefused as exc:
        raise SpecError({"tokenizer": f"No tokenizer '{name}': {exc}"}) from None
    if is_hub_id(location):
        raise SpecError({"tokenizer": f"'{name}' is a hub model; a token budget counts with a "
                                      "local model folder's tokenizer."})
    folder = Path(location)
    if not any((folder / f).is_file() for f in ("tokenizer.json", "tokenizer_config.json")):
        raise SpecError({"tokenizer": f"The model '{name}' has no tokenizer files."})
    return folder


class TokenBudget:
    def __init__(self, spec: dict, tokenizer, folder: Path | None = None):
        self.spec, self.tokenizer = spec, tokenizer
        self.max_length = spec["max_length"]
        self.max_prompt_length = spec["max_prompt_length"]
        self.rows = self.rows_cut = self.steps = self.cut = self.labels_cut = 0
        self.chat = None
        if spec["format"] == "critiques":  # a chat row (exports/chat_budget.py)
            from .chat_budget import ChatBudget

            self.chat = ChatBudget(folder, tokenizer, spec["tokenizer"])
            return
        self.separator = tokenizer.encode(spec["step_separator"], add_special_tokens=False)
        if not self.separator:
            raise SpecError({"step_separator": "The tokenizer turns the step separator into "
                                               "no token at all."})

    @classmethod
    def from_spec(cls, spec: dict) -> TokenBudget | None:
        if not spec.get("tokenizer"):
            return None
        from generation.tokenizer import load_tokenizer

        folder = tokenizer_folder(spec["tokenizer"], spec["projects"])
        return cls(spec, load_tokenizer(folder), folder)

    def label_positions(self, prompt: str, steps: list[str]) -> tuple[int, list[int]]:
        """(tokens, the position of each step's label), as TRL's PRM trainer lays them out
        before its max_length cut."""
        prompt_ids = self.tokenizer.encode(prompt, add_special_tokens=False)
        bos = getattr(self.tokenizer, "bos_token_id", None)
        if bos is not None:
            prompt_ids = [bos] + prompt_ids
        if self.max_prompt_length is not None:
            prompt_ids = prompt_ids[-self.max_prompt_length:]
        at, positions = len(prompt_ids), []
        for step in steps:
            at += len(self.tokenizer.encode(step, add_special_tokens=False)) + len(self.separator)
            positions.append(at - 1)
        return at, positions

    def mark(self, row: dict) -> None:
        """Add the row's ``stepwise`` counts, and them to the totals."""
        if self.chat is not None:
            counts = self.chat.count(row, self.max_length)
            row["stepwise"].update(tokens=counts["tokens"], cut_steps=counts["cut_steps"])
            self.rows += 1
            self.rows_cut += counts["over"]
            self.steps += counts["verdicts"]
            self.cut += counts["cut_steps"]
            return
        if "completions" in row:
            prompt, steps = row["prompt"], row["completions"]
        else:  # ProcessBench
            prompt, steps = row["problem"], row["steps"]
        tokens, positions = self.label_positions(prompt, steps)
        cut = sum(p >= self.max_length for p in positions)
        row["stepwise"] = {"tokens": tokens, "cut_steps": cut}
        if "label" in row:
            label_cut = row["label"] >= 0 and positions[row["label"]] >= self.max_length
            row["stepwise"]["label_cut"] = label_cut
            self.labels_cut += label_cut
        self.rows += 1
        self.rows_cut += cut > 0
        self.steps += len(steps)
        self.cut += cut

    def summary(self) -> dict:
        if self.chat is not None:
            return {"tokenizer": self.spec["tokenizer"], "max_length": self.max_length,
                    "layout": "sft_chat", "rows": self.rows, "rows_over": self.rows_cut,
                    "labeled_steps": self.steps, "cut_steps": self.cut}
        out = {"tokenizer": self.spec["tokenizer"], "max_length": self.max_length,
               "max_prompt_length": self.max_prompt_length,
               "step_separator": self.spec["step_separator"], "layout": "trl_prm",
               "rows": self.rows, "rows_cut": self.rows_cut, "labeled_steps": self.steps,
               "cut_steps": self.cut}
        if self.spec["format"] == "processbench":
            out["labels_cut"] = self.labels_cut
        return out
