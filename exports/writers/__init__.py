"""One writer per trainer format, all reading the same internal Record.

Each format module has ``iter_rows(spec, refused=None) -> Iterator[(split, row: dict,
steps: int)]``; a row a format cannot carry unaltered is left out and, when ``refused`` is
a list, appended to it as ``(split, record id, reason)``; ``tally`` adds up a label
rule's candidates and kept steps;
``sinks`` writes rows as JSONL or Parquet. ``FORMATS`` maps a format name to
``(iter_rows, file kind)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from . import agentprocessbench, chat, critiques, openrlhf, prm800k, processbench, rl_prompts, traces, trl

Rows = Iterator[tuple[str, dict, int]]

FORMATS: dict[str, tuple[Callable[..., Rows], str]] = {
    "prm800k": (prm800k.iter_rows, "jsonl"),
    "trl": (trl.iter_rows, "jsonl"),
    "openrlhf": (openrlhf.iter_rows, "jsonl"),
    "rlhflow": (chat.iter_rows, "jsonl"),
    "processbench": (processbench.iter_rows, "jsonl"),
    "parquet": (trl.iter_rows, "parquet"),
    "rl_prompts": (rl_prompts.iter_rows, "jsonl"),
    "agentprocessbench": (agentprocessbench.iter_rows, "jsonl"),
    "trace": (traces.iter_trace_rows, "jsonl"),
    "deltabench": (traces.iter_deltabench_rows, "jsonl"),
    "critiques": (critiques.iter_rows, "jsonl"),
}


def iter_rows(spec: dict, refused: list | None = None, tally=None) -> Rows:
    """``tally`` (a ``quality.label_rules.Tally``) adds up a label rule's kept steps."""
    return FORMATS[spec["format"]][0](spec, refused, tally)


def file_kind(fmt: str) -> str:
    return FORMATS[fmt][1]
