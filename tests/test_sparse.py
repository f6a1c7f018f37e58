"""``sparse``: the zero rows of each column are a uniform random subset of exactly ``ceil(s n_out)`` rows,
independent across columns, drawn in time linear in the size.

The subset law is tested exactly: with ``n_out`` of 4 to 6 there are few enough subsets to count how
often each one occurs over tens of thousands of columns and compare against the uniform law with a
chi-square test. The non-zeros' ``N(0, std^2)`` law is tested in test_initializers.py (test_sparse).
"""

from __future__ import annotations

import itertools
import math
import time

import numpy as np
import pytest

import winit_bench as wb

Z = 5.0  # standard deviations: a false alarm has probability ~3e-7 per check


def chi2_upper(df: int, z: float = Z) -> float:
    """The chi-square quantile ``z`` standard deviations up (Wilson & Hilferty 1931; no scipy)."""
    c = 2.0 / (9.0 * df)
    return df * (1.0 - c + z * math.sqrt(c)) ** 3


def chi2_uniform(codes: np.ndarray, cells: list[int]) -> tuple[float, int]:
    """Pearson's statistic of ``codes`` against the uniform law on ``cells``, and its degrees of freedom."""
    counts = np.array([np.count_nonzero(codes == c) for c in cells])
    assert counts.sum() == codes.size, "a code outside the expected cells"
    expected = codes.size / len(cells)
    return float(((counts - expected) ** 2 / expected).sum()), len(cells) - 1


def zero_sets(w: np.ndarray) -> np.ndarray:
    """Each column's set of zero rows as a bit mask (row i -> bit i)."""
    return ((w == 0) * (1 << np.arange(w.shape[0]))[:, None]).sum(axis=0)


# zeros fewer than half (the zeros are picked) and more than half (the non-zeros are picked)
SUBSET_CASES = [(4, 0.25), (4, 0.5), (4, 0.75), (5, 0.4), (5, 0.6), (6, 0.5), (6, 0.8)]


@pytest.mark.parametrize("n_rows,sparsity", SUBSET_CASES)
def test_zero_rows_are_a_uniform_subset(n_rows, sparsity):
    n_cols = 40_000
    w = wb.initialize("sparse", (n_rows, n_cols), seed=3, sparsity=sparsity, std=1.0)
    k = math.ceil(sparsity * n_rows)
    np.testing.assert_array_equal((w == 0).sum(axis=0), k)
    subsets = [sum(1 << i for i in c) for c in itertools.combinations(range(n_rows), k)]
    chi2, df = chi2_uniform(zero_sets(w), subsets)
    assert chi2 < chi2_upper(df), f"zero rows not uniform over the {len(subsets)} subsets: chi2 {chi2:.1f}, df {df}"


@pytest.mark.parametrize("sparsity", [0.25, 0.75])
def test_columns_are_independent(sparsity):
    """The joint law of neighbouring columns' zero rows is the product of two uniform laws."""
    n_rows, n_cols = 4, 60_000
    w = wb.initialize("sparse", (n_rows, n_cols), seed=5, sparsity=sparsity, std=1.0)
    k = math.ceil(sparsity * n_rows)
    subsets = [sum(1 << i for i in c) for c in itertools.combinations(range(n_rows), k)]
    sets = zero_sets(w)
    pairs = sets[0::2] * 16 + sets[1::2]
    chi2, df = chi2_uniform(pairs, [a * 16 + b for a in subsets for b in subsets])
    assert chi2 < chi2_upper(df), f"neighbouring columns are dependent: chi2 {chi2:.1f}, df {df}"


@pytest.mark.parametrize("sparsity", [0.1, 0.5, 0.9])
def test_zeros_are_positive_zeros_and_float32_is_the_float64_draw_rounded(sparsity):
    w64 = wb.initialize("sparse", (300, 200), seed=1, layer=2, sparsity=sparsity, std=0.3)
    w32 = wb.initialize("sparse", (300, 200), seed=1, layer=2, sparsity=sparsity, std=0.3, dtype="float32")
    np.testing.assert_array_equal(w32, w64.astype(np.float32))
    assert not np.signbit(w64[w64 == 0]).any(), "-0.0 among the zeros"
    assert np.count_nonzero(w64) == 200 * (300 - math.ceil(sparsity * 300))


def cpu_seconds(fn, repeat: int = 3) -> float:
    """Median CPU time of ``fn()``: single-threaded host work, so other processes barely move it."""
    times = []
    for _ in range(repeat):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return sorted(times)[repeat // 2]


@pytest.mark.parametrize("sparsity,bound", [(1 - 15 / 2048, 0.5), (0.5, 4.0), (0.1, 3.0)],
                         ids=["15-nonzeros-per-column", "half", "default"])  # fmt: skip
def test_large_matrices_take_linear_time(sparsity, bound):
    """2048 x 2048 against ``standard_normal`` of the same size (measured: 0.15x, 2x, 1.35x).

    15 non-zeros per column took 150x (11-14 s) when each column's zeros were drawn with
    replacement and the duplicates redrawn, and would take ~3x if the 2033 zeros were picked
    rather than the 15 non-zeros."""
    n = 2048
    w = wb.initialize("sparse", (n, n), seed=0, sparsity=sparsity, dtype="float32")
    np.testing.assert_array_equal((w == 0).sum(axis=0), math.ceil(sparsity * n))
    rng = np.random.default_rng(0)
    base = cpu_seconds(lambda: rng.standard_normal((n, n)))
    mine = cpu_seconds(lambda: wb.initialize("sparse", (n, n), seed=0, sparsity=sparsity, dtype="float32"))
    assert mine < bound * base, f"sparse {n}x{n} at sparsity {sparsity:.4f}: {mine:.3f} s, {mine / base:.2f}x standard_normal"
