"""Agent trajectories read as turns: OpenAI chat messages and Anthropic messages.

One reader for the importer (which makes each assistant turn a step) and the labeling
page (which shows the other turns between the steps). Pure: no database.

* **OpenAI chat**: ``{"role": "system"|"developer"|"user"|"assistant"|"tool", "content":
  str | null | [{"type": "text", "text": ...}], "tool_calls": [{"id", "type": "function",
  "function": {"name", "arguments": JSON string}}], "tool_call_id", "name"}``.
* **Anthropic messages**: ``{"role": "user"|"assistant", "content": str | [blocks]}`` with
  blocks ``text`` ``{text}``, ``tool_use`` ``{id, name, input}`` (assistant) and
  ``tool_result`` ``{tool_use_id, content: str | [text blocks], is_error}`` (user).

A row's shape is read from its messages: ``tool_calls`` or a ``tool`` role is OpenAI,
``tool_use`` / ``tool_result`` blocks are Anthropic, both at once is an error, and
plain text turns read the same either way (``openai``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

SHAPES = ("openai", "anthropic")
OPENAI_ROLES = ("system", "developer", "user", "assistant", "tool")
ANTHROPIC_ROLES = ("system", "user", "assistant")


class TrajectoryError(ValueError):
    """A message that is not what its shape allows; the message names it by index."""


@dataclass
class ToolCall:
    name: str
    arguments: Any  # parsed JSON when the call's arguments are a JSON string, else as given
    id: str = ""


@dataclass
class ToolResult:
    name: str  # the called tool's name when known, else ""
    content: Any
    id: str = ""
    is_error: bool = False


@dataclass
class Turn:
    index: int  # the message's index in the record
    role: str
    text: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    tool_results: list[ToolResult] = field(default_factory=list)

    @property
    def is_step(self) -> bool:
        return self.role == "assistant"


def shape_of(messages: list) -> str:
    """``openai`` or ``anthropic``, from what the messages hold."""
    openai = anthropic = None
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise TrajectoryError(f"'messages[{i}]' must be an object, got {_type(m)}")
        if openai is None and (m.get("role") == "tool" or "tool_calls" in m):
            openai = i
        content = m.get("content")
        if anthropic is None and isinstance(content, list) and any(
                isinstance(b, dict) and b.get("type") in ("tool_use", "tool_result") for b in content):
            anthropic = i
    if openai is not None and anthropic is not None:
        raise TrajectoryError(f"the messages mix OpenAI tool calls (messages[{openai}]) and "
                              f"Anthropic tool blocks (messages[{anthropic}])")
    return "anthropic" if anthropic is not None else "openai"


def read_turns(messages: list, shape: str) -> list[Turn]:
    if shape not in SHAPES:
        raise TrajectoryError(f"unknown trajectory shape {shape!r}")
    read = _openai_turn if shape == "openai" else _anthropic_turn
    names: dict[str, str] = {}  # tool call id -> tool name, for results that do not say
    turns = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise TrajectoryError(f"'messages[{i}]' must be an object, got {_type(m)}")
        turn = read(i, m, names)
        for call in turn.tool_calls:
            if call.id:
                names[call.id] = call.name
        turns.append(turn)
    return turns


def step_text(turn: Turn) -> str:
    """What a step's node holds: the turn's text, then each tool call as a
    ``<tool_call>{"name": ..., "arguments": ...}</tool_call>`` block."""
    parts = [turn.text] if turn.text.strip() else []
    for call in turn.tool_calls:
        body = json.dumps({"name": call.name, "arguments": call.arguments}, ensure_ascii=False)
        parts.append(f"<tool_call>\n{body}\n</tool_call>")
    return "\n\n".join(parts)


def pretty(value: Any) -> str:
    """JSON indented for reading; a string that holds JSON is shown as that JSON."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return value
        if isinstance(value, str):
            return value
    return json.dumps(value, indent=2, ensure_ascii=False)


# --- OpenAI chat -------------------------------------------------------------

def _openai_turn(i: int, m: dict, names: dict) -> Turn:
    role = _role(i, m, OPENAI_ROLES)
    text = _openai_text(i, m.get("content"))
    turn = Turn(index=i, role=role, text=text)
    calls = m.get("tool_calls")
    if calls is not None:
        if role != "assistant":
            raise TrajectoryError(f"'messages[{i}].tool_calls' is on a {role} message; only "
                                  f"assistant turns call tools")
        if not isinstance(calls, list):
            raise TrajectoryError(f"'messages[{i}].tool_calls' must be a list, got {_type(calls)}")
        turn.tool_calls = [_openai_call(f"messages[{i}].tool_calls[{j}]", c)
                           for j, c in enumerate(calls)]
    if role == "tool":
        call_id = _opt_str(m.get("tool_call_id"), f"messages[{i}].tool_call_id")
        name = _opt_str(m.get("name"), f"messages[{i}].name") or names.get(call_id, "")
        turn.tool_results = [ToolResult(name=name, content=m.get("content"), id=call_id)]
        turn.text = ""
    if role == "assistant" and not turn.text.strip() and not turn.tool_calls:
        raise TrajectoryError(f"'messages[{i}]' is an assistant turn with no text and no tool calls")
    return turn


def _openai_text(i: int, content) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    if not isinstance(content, list):
        raise TrajectoryError(f"'messages[{i}].content' must be a string, a list of parts or "
                              f"null, got {_type(content)}")
    texts = []
    for j, part in enumerate(content):
        if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(
                part.get("text"), str):
            kind = part.get("type") if isinstance(part, dict) else _type(part)
            raise TrajectoryError(f"'messages[{i}].content[{j}]' is {kind!r}; only text parts "
                                  f"({{\"type\": \"text\", \"text\": ...}}) are read")
        texts.append(part["text"])
    return "\n\n".join(texts)


def _openai_call(name: str, c) -> ToolCall:
    if not isinstance(c, dict):
        raise TrajectoryError(f"'{name}' must be an object, got {_type(c)}")
    fn = c.get("function")
    if not isinstance(fn, dict):
        raise TrajectoryError(f"'{name}.function' must be an object with name and arguments")
    tool = fn.get("name")
    if not isinstance(tool, str) or not tool:
        raise TrajectoryError(f"'{name}.function.name' must be a non-empty string")
    args = fn.get("arguments")
    if isinstance(args, str):
        try:
            args = json.loads(args) if args.strip() else {}
        except ValueError:
            pass  # arguments that are no JSON are shown and kept as the model wrote them
    elif args is not None and not isinstance(args, dict):
        raise TrajectoryError(f"'{name}.function.arguments' must be a JSON string or an "
                              f"object, got {_type(args)}")
    return ToolCall(name=tool, arguments=args, id=_opt_str(c.get("id"), f"{name}.id"))


# --- Anthropic messages --------------------------------------------------------

def _anthropic_turn(i: int, m: dict, names: dict) -> Turn:
    role = _role(i, m, ANTHROPIC_ROLES)
    content = m.get("content")
    turn = Turn(index=i, role=role, text="")
    if isinstance(content, str):
        turn.text = content
    elif isinstance(content, list):
        texts = []
        for j, block in enumerate(content):
            where = f"messages[{i}].content[{j}]"
            kind = block.get("type") if isinstance(block, dict) else None
            if kind == "text" and isinstance(block.get("text"), str):
                texts.append(block["text"])
            elif kind == "tool_use" and role == "assistant":
                tool = block.get("name")
                if not isinstance(tool, str) or not tool:
                    raise TrajectoryError(f"'{where}.name' must be a non-empty string")
                turn.tool_calls.append(ToolCall(name=tool, arguments=block.get("input"),
                                                id=_opt_str(block.get("id"), f"{where}.id")))
            elif kind == "tool_result" and role == "user":
                call_id = _opt_str(block.get("tool_use_id"), f"{where}.tool_use_id")
                turn.tool_results.append(ToolResult(
                    name=names.get(call_id, ""), content=_anthropic_result(where, block.get("content")),
                    id=call_id, is_error=block.get("is_error") is True))
            else:
                shown = kind if kind else _type(block)
                holds = {"assistant": "text and tool_use", "user": "text and tool_result"}
                raise TrajectoryError(f"'{where}' is {shown!r}; {role} messages hold "
                                      f"{holds.get(role, 'text')} blocks")
        turn.text = "\n\n".join(texts)
    else:
        raise TrajectoryError(f"'messages[{i}].content' must be a string or a list of blocks, "
                              f"got {_type(content)}")
    if role == "assistant" and not turn.text.strip() and not turn.tool_calls:
        raise TrajectoryError(f"'messages[{i}]' is an assistant turn with no text and no tool calls")
    return turn


def _anthropic_result(where: str, content) -> Any:
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, list) and all(
            isinstance(b, dict) and b.get("type") == "text" and isinstance(b.get("text"), str)
            for b in content):
        return "\n\n".join(b["text"] for b in content)
    raise TrajectoryError(f"'{where}.content' must be a string or a list of text blocks")


# --- shared ------------------------------------------------------------------

def _role(i: int, m: dict, roles: tuple) -> str:
    role = m.get("role")
    if role not in roles:
        raise TrajectoryError(f"'messages[{i}].role' is {role!r}; expected one of {', '.join(roles)}")
    return role


def _opt_str(value, name: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise TrajectoryError(f"'{name}' must be a string, got {_type(value)}")
    return value


def _type(value) -> str:
    return "null" if value is None else type(value).__name__
