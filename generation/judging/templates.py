"""Judge prompt templates: versioned objects, so a label says exactly which prompt made it.

A template's ``key`` (``name@version``) goes into every label it produces; changing a
prompt's text means a new version, never an edit in place (a certificate or a report row
names the version it was measured on). The defaults:

* ``step_verdicts``: a verdict (correct / neutral / incorrect) and a one-sentence reason for
  every step, one line per step: ``Step 3: incorrect - 5 + 3 = 8, not 9.``
* ``earliest_error``: ProcessBench's question, the index of the earliest wrong step (or -1
  when every step is right), in ``\\boxed{}``.

and ``demo_steps``, the per-step question in few words for the tiny demo judge.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class JudgeTemplate:
    name: str
    version: int
    style: str  # "step_verdicts" | "earliest_error": how the answer is parsed
    system: str
    user: str  # str.format fields: {problem}, {steps} (numbered), {n}

    @property
    def key(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def digest(self) -> str:
        """A short hash of the text: two templates with one key must not differ."""
        return hashlib.sha256((self.system + "\x00" + self.user).encode()).hexdigest()[:12]

    def messages(self, problem: str, steps: list[str]) -> list[dict]:
        numbered = "\n\n".join(f"Step {i}: {step.strip()}" for i, step in enumerate(steps, 1))
        user = self.user.format(problem=problem.strip(), steps=numbered, n=len(steps))
        return ([{"role": "system", "content": self.system}] if self.system else []) + [
            {"role": "user", "content": user}]


STEP_VERDICTS = JudgeTemplate(
    name="step_verdicts", version=1, style="step_verdicts",
    system="You check solutions step by step. Be strict: a step is incorrect if it contains "
           "an error in calculation or logic, or builds on an earlier error.",
    user="Problem:\n{problem}\n\nSolution, {n} steps:\n\n{steps}\n\nFor every step, write one "
         "line: 'Step k: correct', 'Step k: neutral' (right but adds nothing) or 'Step k: "
         "incorrect', then ' - ' and a one-sentence reason. Write all {n} lines, nothing else.")

EARLIEST_ERROR = JudgeTemplate(
    name="earliest_error", version=1, style="earliest_error",
    system="",
    user="The following is a math problem and a solution, split into numbered steps.\n\n"
         "Problem:\n{problem}\n\n{steps}\n\nReview each step. Once you identify an error in a "
         "step, return the index of the earliest step that contains the error (1 to {n}). If "
         "every step is correct, return -1. Put your final answer in \\boxed{{}}.")

# The demo judge's (demo/judge_model.py): the per-step verdict question in few words, since a
# tiny model's context cannot hold the default prompt; answered and parsed like step_verdicts.
DEMO_STEPS = JudgeTemplate(
    name="demo_steps", version=1, style="step_verdicts",
    system="",
    user="Problem: {problem}\n{steps}\nJudge all {n} steps.")

DEFAULTS = {t.key: t for t in (STEP_VERDICTS, EARLIEST_ERROR, DEMO_STEPS)}


STYLES = ("step_verdicts", "earliest_error")


def custom_template(data: dict) -> JudgeTemplate:
    """A project's own template, ``{"name", "version", "style", "system"?, "user"}``: the
    name and version are the admin's to bump when the text changes (the digest recorded
    with every label tells two texts under one version apart)."""
    name, version = str(data.get("name") or "").strip(), data.get("version")
    if not name or len(name) > 60 or "@" in name or "\x00" in name:
        raise ValueError("A judge template needs a name (up to 60 characters, no '@').")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError("A judge template needs a version: a whole number from 1.")
    if data.get("style") not in STYLES:
        raise ValueError(f"A judge template's style is one of {', '.join(STYLES)}.")
    system, user = data.get("system") or "", data.get("user")
    if not isinstance(system, str) or not isinstance(user, str) or "{steps}" not in user:
        raise ValueError("A judge template's 'user' text must contain {steps}.")
    if len(system) + len(user) > 20_000:
        raise ValueError("A judge template is at most 20,000 characters.")
    chosen = JudgeTemplate(name, version, data["style"], system, user)
    try:
        chosen.messages("problem", ["step"])
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(f"A judge template may use {{problem}}, {{steps}} and {{n}} only "
                         f"(double other braces): {exc!r}") from None
    return chosen


def resolve(value) -> JudgeTemplate:
    """A default's key or name, or a project's own template object."""
    return custom_template(value) if isinstance(value, dict) else template(str(value))


def template(key: str) -> JudgeTemplate:
    """A default template by ``name@version`` (or its name: the newest version)."""
    if key in DEFAULTS:
        return DEFAULTS[key]
    versions = [t for t in DEFAULTS.values() if t.name == key]
    if not versions:
        raise ValueError(f"No judge template {key!r}; there are {', '.join(sorted(DEFAULTS))}.")
    return max(versions, key=lambda t: t.version)
