"""The token budget of a ``critiques`` row: its chat as ``SFTTrainer`` sees it.

SFTTrainer renders a ``messages`` row with the tokenizer's chat template (transformers'
``apply_chat_template``: a sandboxed Jinja environment, ``trim_blocks`` and ``lstrip_blocks``,
the special tokens as variables, no generation prompt), tokenizes the text without adding
special tokens, and keeps the first ``max_length`` tokens. A row is over budget when its
chat has more tokens; a step's verdict (its ``The step is correct.`` / ``incorrect.`` line in
the assistant's text) is cut when the token holding the line's last character lies past
``max_length``. The template is read from the model folder's ``chat_template.jinja`` or its
``tokenizer_config.json``; a model without one is refused when the export is asked for.
"""

from __future__ import annotations

import json
import re
from functools import cached_property
from pathlib import Path

from .spec import SpecError

VERDICT = re.compile(r"The step is (?:correct|incorrect)\.")
SPECIAL_NAMES = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token",
                 "mask_token")


def chat_template(folder: Path) -> str | None:
    """The folder's chat template, or None."""
    jinja = folder / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text()
    config_file = folder / "tokenizer_config.json"
    config = json.loads(config_file.read_text()) if config_file.is_file() else {}
    template = config.get("chat_template")
    if isinstance(template, list):  # named templates: the default one
        template = next((t.get("template") for t in template
                         if isinstance(t, dict) and t.get("name") == "default"), None)
    return template if isinstance(template, str) and template.strip() else None


def check_chat_template(folder: Path, name: str) -> None:
    if chat_template(folder) is None:
        raise SpecError({"tokenizer": f"The model '{name}' has no chat template; a critiques "
                                      "row's budget is counted on its chat as SFTTrainer "
                                      "renders it."})


class ChatBudget:
    """Renders and counts critiques rows for ``TokenBudget``."""

    def __init__(self, folder: Path, tokenizer, name: str):
        self.folder, self.tokenizer = folder, tokenizer
        check_chat_template(folder, name)

    @cached_property
    def template(self):
        from jinja2.ext import loopcontrols
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        def raise_exception(message):
            raise SpecError({"tokenizer": f"The chat template refused the row: {message}"})

        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                            extensions=[loopcontrols])
        env.filters["tojson"] = lambda value, indent=None: json.dumps(value, indent=indent,
                                                                      ensure_ascii=False)
        env.globals["raise_exception"] = raise_exception
        return env.from_string(chat_template(self.folder))

    @cached_property
    def specials(self) -> dict:
        config_file = self.folder / "tokenizer_config.json"
        config = json.loads(config_file.read_text()) if config_file.is_file() else {}
        out = {}
        for name in SPECIAL_NAMES:
            value = config.get(name)
            out[name] = value.get("content") if isinstance(value, dict) else value
        return out

    def render(self, messages: list[dict]) -> str:
        return self.template.render(messages=messages, add_generation_prompt=False,
                                    **self.specials)

    def token_ends(self, text: str, ends: list[int]) -> tuple[int, list[int]]:
        """(tokens of ``text``, the index of the token holding each character ``end - 1``)."""
        backend = getattr(self.tokenizer, "backend", None)
        if backend is not None:  # generation.tokenizer.FastTokenizer: exact offsets
            encoding = backend.encode(text, add_special_tokens=False)
            offsets = encoding.offsets
            positions = []
            for end in ends:
                at = next((k for k, (s, e) in enumerate(offsets) if s < end <= e), None)
                positions.append(len(offsets) if at is None else at)
            return len(encoding.ids), positions
        # A slow tokenizer: the tokens of the text up to the character.
        encode = self.tokenizer.encode
        return (len(encode(text, add_special_tokens=False)),
                [len(encode(text[:end], add_special_tokens=False)) - 1 for end in ends])

    def count(self, row: dict, max_length: int) -> dict:
        """``{"tokens", "over", "verdicts", "cut_steps"}`` of a critiques row."""
        messages = row["messages"]
        text = self.render(messages)
        answer = messages[-1]["content"]
        start = text.rfind(answer)
        if start < 0:
            raise SpecError({"tokenizer": "The chat template changes the assistant's text, so "
                                          "the verdicts cannot be found in the rendered chat."})
        ends = [start + m.end() for m in VERDICT.finditer(answer)]
        tokens, positions = self.token_ends(text, ends)
        return {"tokens": tokens, "over": tokens > max_length, "verdicts": len(ends),
                "cut_steps": sum(p >= max_length for p in positions)}
