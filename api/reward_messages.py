"""A trajectory as chat messages, read as a PRM's (prompt, steps): the reward service's
``messages`` items (docs/api.md, "Trajectories").

The messages are read by ``annotate.trajectory`` (OpenAI chat with tool calls, or Anthropic
messages with tool_use / tool_result blocks), the reader the importer uses, and its errors
become 400s. Each assistant turn is a step, its text as the importer stores it
(``step_text``: the text, then each tool call as a ``<tool_call>`` block). The other turns are
context, rendered in order so the model reads the conversation as it happened:

* the turns before the first assistant turn are the prompt. A lone user message is its text
  alone (the problem of an imported trajectory); otherwise each turn is a block, ``System:``,
  ``User:`` or a tool result, joined by blank lines;
* turns between two assistant turns (tool results, a user's reply) open the next step's
  text, as blocks, before the assistant's own text;
* turns after the last assistant turn score nothing and are left out.

A tool result is ``<tool_result>\\n{"name": ..., "content": ...}\\n</tool_result>`` (with
``"is_error": true`` where Anthropic's block says so), the counterpart of a step's
``<tool_call>`` block.
"""

from __future__ import annotations

import json

from annotate.trajectory import TrajectoryError, Turn, read_turns, shape_of, step_text

MAX_MESSAGES = 2000
ROLE_NAMES = {"system": "System", "developer": "Developer", "user": "User"}


def _result_block(result) -> str:
    body = {"name": result.name, "content": result.content}
    if result.is_error:
        body["is_error"] = True
    return f"<tool_result>\n{json.dumps(body, ensure_ascii=False)}\n</tool_result>"


def context_blocks(turn: Turn) -> list[str]:
    blocks = []
    if turn.text.strip():
        blocks.append(f"{ROLE_NAMES.get(turn.role, turn.role.title())}: {turn.text}")
    blocks.extend(_result_block(r) for r in turn.tool_results)
    return blocks


def trajectory_item(messages, system=None) -> tuple[str, list[str], list[int]]:
    """``(prompt, steps, the assistant turns' message indices)``; ``TrajectoryError`` names
    what is wrong (a message by its index)."""
    if not isinstance(messages, list) or not messages:
        raise TrajectoryError("'messages' must be a non-empty list of messages")
    if len(messages) > MAX_MESSAGES:
        raise TrajectoryError(f"'messages' has {len(messages)} messages; the limit is "
                              f"{MAX_MESSAGES}")
    if system is not None and not isinstance(system, str):
        raise TrajectoryError("'system' must be a string (Anthropic's system prompt)")
    turns = read_turns(messages, shape_of(messages))
    steps_at = [k for k, t in enumerate(turns) if t.is_step]
    if not steps_at:
        raise TrajectoryError("the messages have no assistant turn, so there is no step to score")
    head = turns[:steps_at[0]]
    prompt_blocks = [f"System: {system}"] if system and system.strip() else []
    if not prompt_blocks and len(head) == 1 and head[0].role == "user" \
            and not head[0].tool_results:
        prompt = head[0].text
    else:
        prompt = "\n\n".join(prompt_blocks + [b for t in head for b in context_blocks(t)])
    steps = []
    for n, k in enumerate(steps_at):
        before = turns[steps_at[n - 1] + 1:k] if n else []
        blocks = [b for t in before for b in context_blocks(t)]
        steps.append("\n\n".join(blocks + [step_text(turns[k])]))
    return prompt, steps, [turns[k].index for k in steps_at]
