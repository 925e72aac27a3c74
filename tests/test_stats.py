"""dlrun.stats: the incomplete beta and t distribution against closed forms and published t-table
values, and Welch's t-test against a hand-computed case and a published worked example."""

import math

import pytest

from dlrun.stats import betainc, t_cdf, t_ppf, welch


@pytest.mark.parametrize("a,b,x", [(1, 1, 0.37), (2.5, 1, 0.6), (1, 3.5, 0.2), (4, 1, 0.95), (1, 0.5, 0.99)])
def test_betainc_closed_forms(a, b, x):
    """I_x(a, 1) = x^a and I_x(1, b) = 1 - (1 - x)^b."""
    expected = x ** a if b == 1 else 1 - (1 - x) ** b
    assert betainc(a, b, x) == pytest.approx(expected, rel=1e-10)


def test_betainc_symmetry_and_ends():
    """I_x(a, b) = 1 - I_{1-x}(b, a); I_0 = 0, I_1 = 1; I_{1/2}(a, a) = 1/2."""
    assert betainc(3.2, 0.7, 0.4) == pytest.approx(1 - betainc(0.7, 3.2, 0.6), abs=1e-12)
    assert betainc(2, 3, 0.0) == 0.0 and betainc(2, 3, 1.0) == 1.0
    assert betainc(7.5, 7.5, 0.5) == pytest.approx(0.5, abs=1e-12)
    with pytest.raises(ValueError):
        betainc(0, 1, 0.5)


@pytest.mark.parametrize("t", [-30.0, -2.0, -0.3, 0.0, 0.7, 4.0, 100.0])
def test_t_cdf_closed_forms(t):
    """df = 1 is the Cauchy distribution, df = 2 has F(t) = 1/2 + t / (2 sqrt(2 + t^2))."""
    assert t_cdf(t, 1) == pytest.approx(0.5 + math.atan(t) / math.pi, abs=1e-12)
    assert t_cdf(t, 2) == pytest.approx(0.5 + t / (2 * math.sqrt(2 + t * t)), abs=1e-12)


@pytest.mark.parametrize("p,df,table", [
    (0.975, 1, 12.706), (0.975, 4, 2.776), (0.975, 10, 2.228), (0.975, 30, 2.042),
    (0.95, 5, 2.015), (0.995, 20, 2.845), (0.90, 120, 1.289),
])
def test_t_ppf_matches_the_printed_t_table(p, df, table):
    """Quantiles of Student's t as printed in standard t tables (3 decimals)."""
    assert t_ppf(p, df) == pytest.approx(table, abs=5e-4)
    assert t_ppf(1 - p, df) == pytest.approx(-table, abs=5e-4)
    assert t_cdf(t_ppf(p, df), df) == pytest.approx(p, abs=1e-10)


def test_welch_hand_computed():
    """a = 1,2,3 and b = 4,5,6: diff -3, s^2 = 1 each, SE^2 = 1/3 + 1/3, df = (2/3)^2 / (2 (1/3)^2 / 2) = 4,
    t = -3 / sqrt(2/3); CI = -3 -/+ t_{.975,4} SE with t_{.975,4} = 2.776 (table)."""
    d = welch([1.0, 2.0, 3.0], [4.0, 5.0, 6.0])
    se = math.sqrt(2 / 3)
    assert d.diff == pytest.approx(-3.0)
    assert d.df == pytest.approx(4.0)
    assert d.t == pytest.approx(-3 / se)
    assert d.low == pytest.approx(-3 - 2.776 * se, abs=1e-3)
    assert d.high == pytest.approx(-3 + 2.776 * se, abs=1e-3)
    u = d.t / math.sqrt(4 + d.t ** 2)
    cdf = 0.5 + 0.75 * u * (1 - u * u / 3)  # the closed form of the t CDF for df = 4
    assert d.p_value == pytest.approx(2 * cdf, rel=1e-9)
    assert not d.too_few


def test_welch_published_example():
    """Welch's t-test example 1 (Wikipedia, 'Welch's t-test'): t = -2.46, df = 25.0, p = 0.021."""
    a1 = [27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4]
    a2 = [27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4]
    d = welch(a1, a2)
    assert d.t == pytest.approx(-2.46, abs=5e-3)
    assert d.df == pytest.approx(25.0, abs=0.05)
    assert d.p_value == pytest.approx(0.021, abs=5e-4)
    assert d.low < d.diff < d.high < 0  # the CI excludes 0 exactly when p < 0.05


def test_welch_too_few_and_degenerate():
    """n < 3 is flagged; one value on a side or no spread at all leaves CI and p undefined (nan)."""
    two = welch([1.0, 2.0], [3.0, 5.0, 4.0])
    assert two.too_few and not math.isnan(two.p_value)
    one = welch([1.0], [3.0, 5.0, 4.0])
    assert one.diff == pytest.approx(-3.0) and math.isnan(one.p_value) and math.isnan(one.low)
    flat = welch([2.0, 2.0, 2.0], [2.0, 2.0, 2.0])
    assert flat.diff == 0.0 and math.isnan(flat.p_value)
    assert math.isnan(welch([], [1.0]).diff)
