"""Binomial intervals for certifying a label source: pure functions, no database.

A contract is "at most ``max_error`` wrong at ``confidence``". With ``k`` errors among ``n``
sampled steps the source passes when the one-sided upper bound of the error rate at the
contract's confidence is at most ``max_error`` (docs/labels.md, "Certification").

* Clopper-Pearson (``exact``): the beta quantiles; the upper bound with k errors is
  ``Beta.ppf(confidence, k + 1, n - k)`` (1 when k = n), the lower ``Beta.ppf(1 - confidence,
  k, n - k + 1)`` (0 when k = 0).
* Wilson score (``wilson``): ``(p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n)``.

One-sided bounds use ``z = Φ⁻¹(confidence)`` (and the beta quantile at ``confidence``); the
two-sided interval shown beside them splits ``1 - confidence`` between both tails.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import beta, norm

METHODS = ("exact", "wilson")
#: The largest sample the size rule looks at.
MAX_SAMPLE = 1_000_000


class ContractError(ValueError):
    """A contract that cannot be certified (the message says why; ``field`` names the input)."""

    def __init__(self, message: str, field: str = "contract"):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Contract:
    max_error: float
    confidence: float
    method: str = "exact"

    def __post_init__(self):
        check_contract(self.max_error, self.confidence, self.method)


def check_contract(max_error, confidence, method) -> None:
    for name, value in (("max_error", max_error), ("confidence", confidence)):
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            raise ContractError(f"{name} must be a number.", name)
    if not 0 < max_error < 1:
        raise ContractError(f"max_error must be between 0 and 1 (exclusive); it is {max_error}.", "max_error")
    if not 0.5 < confidence < 1:
        raise ContractError(f"confidence must be between 0.5 and 1 (exclusive); it is {confidence}.", "confidence")
    if method not in METHODS:
        raise ContractError(f"Unknown method '{method}'; expected one of: {', '.join(METHODS)}.",
                            "method")


def _check_counts(k: int, n: int) -> None:
    if n < 1 or not 0 <= k <= n:
        raise ValueError(f"Need 0 <= errors <= n and n >= 1; got {k} of {n}.")


def clopper_pearson_upper(k: int, n: int, confidence: float) -> float:
    _check_counts(k, n)
    return 1.0 if k == n else float(beta.ppf(confidence, k + 1, n - k))


def clopper_pearson_lower(k: int, n: int, confidence: float) -> float:
    _check_counts(k, n)
    return 0.0 if k == 0 else float(beta.ppf(1 - confidence, k, n - k + 1))


def wilson_bounds(k: int, n: int, z: float) -> tuple[float, float]:
    _check_counts(k, n)
    p = k / n
    centre = p + z * z / (2 * n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    scale = 1 + z * z / n
    return max(0.0, (centre - half) / scale), min(1.0, (centre + half) / scale)


def upper_bound(k: int, n: int, confidence: float, method: str) -> float:
    """The one-sided upper bound of the error rate at ``confidence``."""
    if method == "exact":
        return clopper_pearson_upper(k, n, confidence)
    if method == "wilson":
        return wilson_bounds(k, n, float(norm.ppf(confidence)))[1]
    raise ContractError(f"Unknown method '{method}'; expected one of: {', '.join(METHODS)}.")


def interval(k: int, n: int, confidence: float, method: str) -> tuple[float, float]:
    """The two-sided interval at ``confidence`` (each tail (1 - confidence) / 2)."""
    tail = (1 - confidence) / 2
    if method == "exact":
        return (clopper_pearson_lower(k, n, 1 - tail), clopper_pearson_upper(k, n, 1 - tail))
    if method == "wilson":
        return wilson_bounds(k, n, float(norm.ppf(1 - tail)))
    raise ContractError(f"Unknown method '{method}'; expected one of: {', '.join(METHODS)}.")


def expected_errors(n: int, anticipated: float) -> int:
    """The errors the size rule assumes at an anticipated rate: ceil(rate * n)."""
    return math.ceil(anticipated * n - 1e-9)


def sample_size(contract: Contract, anticipated: float = 0.0) -> int:
    """The smallest n at which ceil(anticipated * n) errors give an upper bound at or below
    the contract's max_error (anticipated 0: zero errors)."""
    if not 0 <= anticipated < contract.max_error:
        raise ContractError(f"The anticipated error rate must be at least 0 and below max_error "
                            f"({contract.max_error}); it is {anticipated}.", "anticipated_error")

    start = 1
    while start <= MAX_SAMPLE:  # ceil() makes the bound jump, so look at every n, in chunks
        ns = np.arange(start, min(start + CHUNK, MAX_SAMPLE + 1))
        ks = np.ceil(anticipated * ns - 1e-9)
        bounds = _upper_bounds(ks, ns, contract.confidence, contract.method)
        ok = np.nonzero((ks < ns) & (bounds <= contract.max_error))[0]
        if ok.size:
            return int(ns[ok[0]])
        start += CHUNK
    raise ContractError(f"The contract needs more than {MAX_SAMPLE} steps.")


CHUNK = 20_000


def _upper_bounds(ks, ns, confidence: float, method: str):
    """``upper_bound`` over arrays (k < n)."""
    if method == "exact":
        return beta.ppf(confidence, ks + 1, np.maximum(ns - ks, 1))
    z = float(norm.ppf(confidence))
    p = ks / ns
    centre = p + z * z / (2 * ns)
    half = z * np.sqrt(p * (1 - p) / ns + z * z / (4 * ns * ns))
    return np.minimum(1.0, (centre + half) / (1 + z * z / ns))


@dataclass(frozen=True)
class Verdict:
    errors: int
    n: int
    rate: float
    upper: float
    interval: tuple[float, float]
    certified: bool


def verdict(errors: int, n: int, contract: Contract) -> Verdict:
    upper = upper_bound(errors, n, contract.confidence, contract.method)
    return Verdict(errors, n, errors / n, upper,
                   interval(errors, n, contract.confidence, contract.method),
                   upper <= contract.max_error)
