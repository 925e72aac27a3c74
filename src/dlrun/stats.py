"""Welch's t-test and confidence intervals for differences of means over seeds, without scipy:
Student's t CDF through the regularized incomplete beta function (continued fraction)."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

_EPS = 1e-15
_TINY = 1e-300
_MAX_ITER = 500


def _beta_cf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz), converging for x < (a+1)/(a+b+2)."""
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, _MAX_ITER + 1):
        m2 = 2 * m
        for numerator in (m * (b - m) * x / ((qam + m2) * (a + m2)), -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > _TINY else _TINY)
            c = 1.0 + numerator / c
            c = c if abs(c) > _TINY else _TINY
            h *= d * c
        if abs(d * c - 1.0) < _EPS:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta function I_x(a, b) for a, b > 0 and 0 <= x <= 1."""
    if not (a > 0 and b > 0):
        raise ValueError("betainc needs a > 0 and b > 0")
    if not 0.0 <= x <= 1.0:
        raise ValueError("betainc needs 0 <= x <= 1")
    if x in (0.0, 1.0):
        return x
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_cf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_cf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with `df` (> 0, not necessarily whole) degrees of freedom."""
    if math.isinf(t):
        return 1.0 if t > 0 else 0.0
    tail = 0.5 * betainc(df / 2.0, 0.5, df / (df + t * t))  # P(T > |t|)
    return 1.0 - tail if t > 0 else tail


def t_ppf(p: float, df: float) -> float:
    """The quantile of Student's t: the t with t_cdf(t, df) = p (bisection on the monotone CDF)."""
    if not 0.0 < p < 1.0:
        raise ValueError("t_ppf needs 0 < p < 1")
    if p == 0.5:
        return 0.0
    if p < 0.5:
        return -t_ppf(1.0 - p, df)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p:
        lo, hi = hi, hi * 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-12 * max(1.0, hi):
            break
    return 0.5 * (lo + hi)


@dataclass
class Difference:
    """mean(a) - mean(b) with its Welch standard error, degrees of freedom, CI and two-sided p-value."""

    diff: float
    low: float
    high: float
    p_value: float
    t: float
    df: float
    n_a: int
    n_b: int

    @property
    def too_few(self) -> bool:
        """Fewer than 3 runs on a side: the variance estimate (and so the CI and p) cannot be trusted."""
        return min(self.n_a, self.n_b) < 3


def welch(a: list[float], b: list[float], confidence: float = 0.95) -> Difference:
    """Welch's unequal-variance t-test of mean(a) - mean(b); nan where a side has < 2 values
    or both sides have no spread."""
    n_a, n_b = len(a), len(b)
    nan = math.nan
    if n_a == 0 or n_b == 0:
        return Difference(nan, nan, nan, nan, nan, nan, n_a, n_b)
    diff = statistics.fmean(a) - statistics.fmean(b)
    if n_a < 2 or n_b < 2:
        return Difference(diff, nan, nan, nan, nan, nan, n_a, n_b)
    va, vb = statistics.variance(a) / n_a, statistics.variance(b) / n_b
    se2 = va + vb
    if se2 <= 0.0:
        return Difference(diff, nan, nan, nan, nan, nan, n_a, n_b)
    df = se2 * se2 / (va * va / (n_a - 1) + vb * vb / (n_b - 1))
    se = math.sqrt(se2)
    t = diff / se
    p = min(1.0, 2.0 * t_cdf(-abs(t), df))
    half = t_ppf(0.5 + confidence / 2.0, df) * se
    return Difference(diff, diff - half, diff + half, p, t, df, n_a, n_b)
