"""How a problem and a step prefix become a model prompt.

Tokenizers with a chat template get the problem as the user's message; plain models
(the demo model among them) get ``Problem: ...`` / ``Solution:`` and the steps so far.
The demo model is trained on exactly this format, so training and generation agree.
"""

from __future__ import annotations


def plain_prompt(statement: str) -> str:
    return f"Problem: {statement.strip()}\nSolution:\n"


def build_prompt(tokenizer, statement: str, steps: list[str] | tuple[str, ...] = (),
                 delimiter: str = "\n\n") -> str:
    """The text a model continues: the problem, then ``steps`` each followed by the delimiter."""
    if getattr(tokenizer, "chat_template", None):
        head = tokenizer.apply_chat_template(
            [{"role": "user", "content": statement.strip()}],
            tokenize=False, add_generation_prompt=True,
        )
    else:
        head = plain_prompt(statement)
    return head + "".join(step + delimiter for step in steps)
