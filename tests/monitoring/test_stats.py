"""The engine's statistics against scipy, the oracle."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
from scipy import special, stats
from scipy.spatial import distance

from finmlops.monitoring import stats as stats_module
from finmlops.monitoring.stats import (
    PSI_FLOOR,
    PreparedReference,
    benjamini_hochberg,
    bin_counts_sorted,
    binned_numeric,
    chi_square,
    exact_numeric,
    jensen_shannon,
    kolmogorov_sf,
    ks_p_value,
    l_infinity,
    psi,
    searchsorted_right,
    smirnov_sf,
)

RNG = np.random.default_rng(7)
SAMPLES = {
    "mean shift": (RNG.normal(0, 1, 30_000), RNG.normal(0.2, 1, 20_000)),
    "identical": (RNG.normal(0, 1, 20_000), RNG.normal(0, 1, 20_000)),
    "small integers with ties": (
        RNG.poisson(1.5, 25_000).astype(float),
        RNG.poisson(1.8, 9_000).astype(float),
    ),
    "large offset lognormal": (
        RNG.lognormal(10, 1, 20_000) + 7e4,
        RNG.lognormal(10, 1.1, 15_000) + 7e4,
    ),
    "disjoint, current above": (RNG.normal(0, 1, 500), RNG.normal(10, 1, 300)),
    "disjoint, current below": (RNG.normal(10, 1, 500), RNG.normal(0, 1, 300)),
    "one value each": (np.array([1.0]), np.array([2.0])),
    "current all tied": (RNG.normal(0, 1, 1_000), np.full(400, 0.25)),
    "reference constant": (np.full(700, 3.0), RNG.normal(3, 1, 500)),
    "heavy tail": (
        RNG.standard_t(2, 20_000),
        np.where(RNG.random(20_000) < 0.05, 5, 1) * RNG.standard_t(2, 20_000),
    ),
}


def _exact(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    prepared = PreparedReference.from_sorted(np.sort(reference))
    result = exact_numeric(prepared, np.sort(current))
    return result.ks_statistic, result.wasserstein


@pytest.mark.parametrize("case", sorted(SAMPLES))
def test_exact_ks_and_wasserstein_equal_scipy(case: str) -> None:
    reference, current = SAMPLES[case]
    ks, w1 = _exact(reference, current)
    assert ks == pytest.approx(stats.ks_2samp(reference, current).statistic, abs=1e-9)
    assert w1 == pytest.approx(stats.wasserstein_distance(reference, current), rel=1e-9, abs=1e-12)


def test_blocked_search_equals_numpy_searchsorted() -> None:
    reference = np.sort(RNG.normal(0, 1, 50_000).round(2))
    current = np.sort(RNG.normal(0.1, 1.2, 33_333).round(2))
    expected = np.searchsorted(reference, current, "right")
    assert np.array_equal(searchsorted_right(reference, current), expected)


@pytest.mark.parametrize(("n", "m"), [(800, 600), (50_000, 20_000)])
def test_ks_p_value_is_scipys_exact_for_small_and_asymptotic_for_large_samples(
    n: int, m: int
) -> None:
    reference = np.sort(RNG.normal(0, 1, n))
    current = np.sort(RNG.normal(0.05, 1, m))
    ks, _ = _exact(reference, current)
    expected = stats.ks_2samp(reference, current).pvalue
    assert ks_p_value(ks, n, m, reference, current) == pytest.approx(expected, rel=1e-9)


# (n, n * x^2) points of Smirnov's band (scipy sums 2 * smirnov(n, x) there): p from 0.02 to 1e-160.
BAND = [2.2, 3.5, 6.0, 9.2, 14.0, 30.0, 80.0, 200.0, 369.0]


@pytest.mark.parametrize("n", [141, 2_000, 19_999, 20_001, 60_000])
def test_smirnov_sf_equals_scipys_smirnov_where_scipy_sums_it_exactly(n: int) -> None:
    for nx2 in BAND:
        x = float(np.sqrt(nx2 / n))
        if x >= 0.5:
            continue
        assert smirnov_sf(n, x) == pytest.approx(special.smirnov(n, x), rel=1e-8), nx2


def _smirnov_mpmath(n: int, x: float, j: np.ndarray) -> float:
    """log of Birnbaum-Tingey terms at 50 digits, for spot checks of the float evaluation."""
    mpmath.mp.dps = 50
    big_n, big_x = mpmath.mpf(n), mpmath.mpf(x)
    return [
        float(
            mpmath.loggamma(big_n + 1)
            - mpmath.loggamma(k + 1)
            - mpmath.loggamma(big_n - k + 1)
            + (big_n - k) * mpmath.log(1 - big_x - k / big_n)
            + (k - 1) * mpmath.log(big_x + k / big_n)
        )
        for k in (mpmath.mpf(int(v)) for v in j)
    ]


@pytest.mark.parametrize("n", [1_000_000, 2_500_000])
def test_smirnov_sf_by_quadrature_equals_the_whole_series_for_millions_of_rows(n: int) -> None:
    # Above 20,000 terms the series is integrated (trapezoidal rule on the smooth curve of its
    # terms); the oracle is the same series summed term by term, whose every term's logarithm
    # is checked against mpmath at 50 digits (scipy's smirnov loses digits at these n).
    for nx2 in (2.2, 9.2, 80.0, 369.0):
        x = float(np.sqrt(nx2 / n))
        last = int(np.floor(n * (1 - x)))
        j = np.arange(0.0, last + 1.0)
        logs = stats_module._smirnov_log_terms(n, x, j)
        peak = int(np.argmax(logs))
        spots = np.array([peak // 3, peak, peak + (last - peak) // 3])
        assert logs[spots] == pytest.approx(_smirnov_mpmath(n, x, spots), rel=1e-12, abs=1e-7)
        top = logs.max()
        whole = x * np.exp(top) * np.exp(logs - top).sum()
        assert smirnov_sf(n, x) == pytest.approx(whole, rel=1e-9), nx2


@pytest.mark.parametrize("n", [40, 141, 5_000, 30_000])
def test_kolmogorov_sf_is_scipys_kstwo_sf_on_every_branch(n: int) -> None:
    for x in np.linspace(0.0, 1.0, 41)[1:-1]:
        expected = stats.kstwo.sf(x, n)
        if expected < 1e-280:  # subnormal territory: both are 0 to any verdict
            assert kolmogorov_sf(x, n) < 1e-270
            continue
        assert kolmogorov_sf(x, n) == pytest.approx(expected, rel=1e-8), x
    for nx2 in BAND:
        x = float(np.sqrt(nx2 / n))
        if x < 0.5:
            assert kolmogorov_sf(x, n) == pytest.approx(stats.kstwo.sf(x, n), rel=1e-8), nx2


def test_ks_p_value_in_smirnovs_band_is_ks_2samp_and_so_is_the_verdict() -> None:
    # 200k x 150k rows with a small shift: n*x^2 in the band where scipy is slowest.
    rng = np.random.default_rng(11)
    reference = np.sort(rng.normal(0, 1, 200_000))
    for shift, alpha in ((0.012, 0.01), (0.02, 0.01), (0.03, 1e-6)):
        current = np.sort(rng.normal(shift, 1, 150_000))
        ks, _ = _exact(reference, current)
        result = stats.ks_2samp(reference, current, method="asymp")
        ours = ks_p_value(ks, reference.size, current.size)
        assert ours == pytest.approx(result.pvalue, rel=1e-8)
        assert (ours <= alpha) == (result.pvalue <= alpha)


def test_psi_uses_floored_shares_of_both_distributions() -> None:
    reference = np.array([100, 200, 300, 0], dtype=np.int64)
    current = np.array([120, 150, 330, 5], dtype=np.int64)
    p = np.maximum(reference / reference.sum(), PSI_FLOOR)
    q = np.maximum(current / current.sum(), PSI_FLOOR)
    assert psi(reference, current) == pytest.approx(float(np.sum((q - p) * np.log(q / p))))
    assert psi(reference, reference) == 0.0


def test_jensen_shannon_and_chi_square_equal_scipy() -> None:
    reference = np.array([500, 300, 150, 50, 0], dtype=np.int64)
    current = np.array([420, 330, 180, 40, 30], dtype=np.int64)
    assert jensen_shannon(reference, current) == pytest.approx(
        distance.jensenshannon(reference / reference.sum(), current / current.sum())
    )
    statistic, p_value = chi_square(reference, current)
    expected = stats.chi2_contingency(np.vstack([reference, current]), correction=False)
    assert statistic == pytest.approx(expected.statistic)
    assert p_value == pytest.approx(expected.pvalue)
    assert l_infinity(reference, current) == pytest.approx(
        np.max(np.abs(reference / reference.sum() - current / current.sum()))
    )


def test_benjamini_hochberg_equals_scipy_and_keeps_missing_p_values() -> None:
    p_values = [0.001, 0.04, float("nan"), 0.03, 0.2]
    adjusted = benjamini_hochberg(p_values)
    expected = stats.false_discovery_control([0.001, 0.04, 0.03, 0.2], method="bh")
    assert np.isnan(adjusted[2])
    assert [adjusted[i] for i in (0, 1, 3, 4)] == pytest.approx(list(expected))


def _binned(reference: np.ndarray, current: np.ndarray, bins: int = 512):
    r = np.sort(reference)
    c = np.sort(current)
    edges = np.unique(np.concatenate([np.quantile(r, np.arange(1, bins) / bins), r[:64], r[-64:]]))

    def summary(values: np.ndarray):
        counts = bin_counts_sorted(values, edges)
        index = np.repeat(np.arange(counts.size), counts)
        sums = np.bincount(index, weights=values, minlength=counts.size)
        at = np.searchsorted(values, edges, "right") - np.searchsorted(values, edges, "left")
        return counts, sums, np.concatenate([at, [0]])

    rc, rs, re = summary(r)
    cc, cs, ce = summary(c)
    return binned_numeric(
        edges,
        ref_counts=rc,
        ref_sums=rs,
        ref_edge_counts=re,
        cur_counts=cc,
        cur_sums=cs,
        cur_edge_counts=ce,
        lowest=min(r[0], c[0]),
        highest=max(r[-1], c[-1]),
    )


@pytest.mark.parametrize("case", sorted(SAMPLES))
def test_binned_bounds_contain_the_exact_ks_and_wasserstein(case: str) -> None:
    reference, current = SAMPLES[case]
    bounds = _binned(reference, current)
    ks = stats.ks_2samp(reference, current).statistic
    w1 = stats.wasserstein_distance(reference, current)
    assert bounds.ks_low - 1e-12 <= ks <= bounds.ks_high + 1e-12
    assert bounds.wasserstein_low * (1 - 1e-9) - 1e-12 <= w1
    assert w1 <= bounds.wasserstein_high * (1 + 1e-9) + 1e-12


def test_binned_bounds_are_tight_for_continuous_data() -> None:
    reference, current = SAMPLES["mean shift"]
    bounds = _binned(reference, current)
    # Stated bound: KS is off by at most the largest in-bin mass of either sample.
    assert bounds.ks_high - bounds.ks_low <= 2 / 512 + 2e-3
    assert bounds.wasserstein_high - bounds.wasserstein_low <= 0.01 * np.std(reference)


def test_binned_is_exact_when_current_values_sit_on_reference_values() -> None:
    reference = RNG.integers(0, 7, 20_000).astype(float)
    current = RNG.choice(7, 8_000, p=[0.1, 0.2, 0.2, 0.2, 0.1, 0.1, 0.1]).astype(float)
    bounds = _binned(reference, current)
    assert (
        bounds.ks_low
        == bounds.ks_high
        == pytest.approx(stats.ks_2samp(reference, current).statistic, abs=1e-12)
    )
    assert bounds.wasserstein_low == pytest.approx(bounds.wasserstein_high, rel=1e-12)
    assert bounds.wasserstein_low == pytest.approx(
        stats.wasserstein_distance(reference, current), rel=1e-9
    )


@pytest.mark.parametrize(
    ("reference", "table"),
    [
        (RNG.normal(0, 1, 50_000), True),
        (RNG.lognormal(0, 1.5, 50_000), True),
        (RNG.poisson(2.0, 50_000).astype(float), True),
        (RNG.normal(1e9, 1e-3, 50_000), False),  # cells finer than the values' precision
        (np.concatenate([np.zeros(40_000), RNG.exponential(1.0, 10_000)]), True),
    ],
    ids=["normal", "lognormal", "small integers", "huge offset", "zero-inflated"],
)
def test_bin_lookup_gives_exactly_the_searchsorted_bins(reference: np.ndarray, table: bool) -> None:
    from finmlops.monitoring.stats import BinLookup, Workspace

    r = np.sort(reference)
    edges = np.unique(np.quantile(r, np.arange(1, 2048) / 2048))
    low, high = np.quantile(r, [0.001, 0.999])
    lookup = BinLookup.build(edges, float(low), float(high), cells=1 << 14)
    current = np.concatenate([RNG.choice(r, 20_000) * RNG.choice([1.0, 1.001], 20_000), edges])
    expected = np.searchsorted(edges, current, "left")
    assert (lookup is not None) == table
    if lookup is not None:
        assert np.array_equal(lookup.index(current, Workspace()), expected)


@pytest.mark.parametrize(
    "values",
    [
        RNG.normal(0, 1, 200_000),
        RNG.lognormal(0, 2, 200_000),
        np.where(RNG.random(200_000) < 0.1, np.nan, RNG.normal(0, 1, 200_000)),
        np.concatenate([RNG.normal(0, 1, 100_000), [np.inf, -np.inf, 1e300, -1e300]]),
        RNG.integers(0, 3, 200_000).astype(float),
        np.full(100_000, 2.5),
        RNG.normal(0, 1, 1_000),
    ],
    ids=["normal", "lognormal", "with NaN", "with infinities", "three values", "constant", "small"],
)
def test_bucket_presorted_sort_equals_numpy_sort(values: np.ndarray) -> None:
    from finmlops.monitoring.stats import Workspace, sort_into

    out = np.empty_like(values)
    sort_into(values, out, Workspace())
    assert np.array_equal(out, np.sort(values), equal_nan=True)
