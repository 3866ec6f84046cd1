"""Final-answer extraction and grading against the ground truth.

Extraction looks, in order, for the last ``\\boxed{...}`` (nested braces allowed), a
PRM800K ``# Answer`` line, a GSM8K ``#### 18`` line, and "The answer is ...". Comparison
uses ``math-verify`` (symbolic equivalence) under a timeout, after a cheap exact-string check.
"""

from __future__ import annotations

import re
import threading

_ANSWER_LINE = re.compile(r"^\s*#\s*Answer\b\s*:?\s*(.*)$", re.IGNORECASE | re.DOTALL | re.MULTILINE)
_NUMBER = re.compile(r"^-?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?$")
_HASHES = re.compile(r"^\s*####\s*(.*)$", re.MULTILINE)
_ANSWER_IS = re.compile(r"[Tt]he (?:final )?answer is\s*:?\s*(.+)", re.DOTALL)


def _boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` or ``\\fbox{...}``, honouring nested braces."""
    start = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if start < 0:
        return None
    i = text.find("{", start)
    if i < 0:
        # "\boxed 5" (no braces) occurs in model output.
        match = re.match(r"\\(?:boxed|fbox)\s+([^\s$]+)", text[start:])
        return match.group(1) if match else None
    depth = 0
    for j in range(i, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return text[i + 1:j].strip()
    return None


def _clean(answer: str) -> str:
    answer = answer.strip().rstrip(".").strip()
    answer = re.sub(r"^\$+|\$+$", "", answer).strip()
    answer = re.sub(r"^\\\$\s*", "", answer)  # a currency sign: "\$1" is 1
    return answer.rstrip(".").strip()


def is_answer_step(step: str) -> bool:
    """Whether a step is a PRM800K-style final-answer step."""
    return bool(re.match(r"^\s*#\s*Answer\b", step, re.IGNORECASE))


def extract_final_answer(text: str) -> str | None:
    """The final answer a solution states, or None when it states none."""
    if not text:
        return None
    boxed = _boxed(text)
    if boxed is not None:
        return _clean(boxed) or None
    lines = _ANSWER_LINE.findall(text)
    if lines:
        value = lines[-1].strip().split("\n")
        value = next((v for v in value if v.strip()), "")
        return _clean(value) or None
    hashes = [h for h in _HASHES.findall(text) if h.strip()]
    if hashes:
        return _clean(hashes[-1]) or None
    matches = _ANSWER_IS.findall(text)
    if matches:
        value = matches[-1].strip().split("\n")[0]
        return _clean(value) or None
    return None


def _normalise(text: str) -> str:
    return re.sub(r"\s+", "", _clean(text)).replace("\\!", "").replace("\\left", "").replace("\\right", "")


def _wrap(answer: str) -> str:
    # math-verify finds LaTeX inside math delimiters; bare answers like "\frac{1}{2}" need them.
    return answer if "$" in answer or "\\boxed" in answer else f"${answer}$"


def grade_answer(answer: str | None, ground_truth: str | None, timeout: int = 5) -> bool:
    """Whether ``answer`` is mathematically equivalent to ``ground_truth``.

    ``math-verify`` enforces its timeout with SIGALRM, which only the main thread may
    use; elsewhere (a threaded web server) it runs without one, and the exact check
    still answers the common case first.
    """
    if answer is None or ground_truth is None or not str(answer).strip():
        return False
    answer, ground_truth = str(answer), str(ground_truth)
    a, b = _normalise(answer), _normalise(ground_truth)
    if a == b:
        return True
    if _NUMBER.match(a) and _NUMBER.match(b):
        # Plain numbers (most rollouts): compare directly, no symbolic parse.
        return abs(float(a.replace(",", "")) - float(b.replace(",", ""))) <= 1e-9 * max(1.0, abs(float(b.replace(",", ""))))
    from math_verify import parse, verify

    main = threading.current_thread() is threading.main_thread()
    limit = timeout if main else None
    try:
        gold = parse(_wrap(ground_truth), parsing_timeout=limit)
        pred = parse(_wrap(answer), parsing_timeout=limit)
        if not gold or not pred:
            return False
        return bool(verify(gold, pred, timeout_seconds=limit))
    except Exception:  # a parser failure or timeout means "not shown equivalent"
        return False
