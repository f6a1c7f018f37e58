"""isometry_to_theory: Monte Carlo spectra of tanh networks at the edge of chaos inside the stated finite-width band.

The band (winit_bench.isometry's docstring) must hold at widths 256-1024 for Gaussian and orthogonal
weights, and must reject a wrong theory: the other weights' S-transform (the sign of s1), a mis-computed
mu2, or the q of every layer taken at q* when the input's q0 puts the first layers elsewhere.
"""

from __future__ import annotations

import numpy as np
import pytest

import winit_bench as wb
from winit_bench import isometry
from winit_bench.isometry import band, isometry_to_theory, weight_kind
from winit_bench.theory import spectrum

INITS = {"gaussian": "edge_of_chaos", "orthogonal": "edge_of_chaos_orthogonal"}
#: (width, deepest hidden layer compared, samples): l/n up to 1/8, a few seconds in all
SIZES = [(256, 32, 2), (512, 12, 2), (1024, 3, 1)]


def tanh_net(weights: str, width: int, depth: int, seed: int = 0, sigma_b2=None):
    return wb.MLP([width] * (depth + 2), "tanh", INITS[weights], seed=seed, dtype="float64", sigma_b2=sigma_b2)


def gaussian_inputs(batch: int, width: int, seed: int = 0, scale: float = 1.0):
    return scale * np.random.default_rng(1000 + seed).standard_normal((batch, width))


@pytest.fixture(scope="module")
def nets():
    return {(w, n): tanh_net(w, n, d) for w in INITS for n, d, _ in SIZES}


@pytest.mark.parametrize("weights", list(INITS))
@pytest.mark.parametrize("width, depth, batch", SIZES)
def test_monte_carlo_moments_lie_in_the_finite_width_band(nets, weights, width, depth, batch):
    df = isometry_to_theory(nets[weights, width], gaussian_inputs(batch, width))
    assert df.attrs["weights"] == weights
    assert list(df.depth) == list(range(1, depth + 1))
    bad = df[~df.within_band]
    assert bad.empty, bad[["depth", "log_ratio_mean", "band_mean_hi", "log_ratio_spread", "band_spread_lo", "band_spread_hi"]]


def test_the_band_rejects_the_other_weights_theory(nets):
    """s1 = 0 for Gaussian weights (or -1 for orthogonal ones): the spread per layer is off by 1."""
    for weights, wrong in (("gaussian", "orthogonal"), ("orthogonal", "gaussian")):
        df = isometry_to_theory(nets[weights, 256], gaussian_inputs(2, 256), weights=wrong)
        assert not df.within_band.iloc[-1], (weights, df.log_ratio_spread.iloc[-1], df.band_spread_hi.iloc[-1])


def test_the_band_rejects_a_mis_computed_mu2(nets, monkeypatch):
    """mu2 = mu1^2 (the slopes taken as one constant): the orthogonal spread would vanish. (For Gaussian weights the
    same mistake moves the spread per layer from 1.34 to 1, ln 0.29 at every depth: inside the band at these sizes.)"""
    right = spectrum.slope_moments
    monkeypatch.setattr(spectrum, "slope_moments", lambda act, q, order: right(act, q, 1)[0] ** np.arange(1, order + 1))
    df = isometry_to_theory(nets["orthogonal", 256], gaussian_inputs(2, 256))
    assert not df.within_band.any()


def test_the_first_layers_follow_the_q_map_from_the_input(nets, monkeypatch):
    """Inputs of q0 = 9: the first layers' q are far from q*; the theory follows them, q* everywhere does not."""
    X = gaussian_inputs(2, 256, scale=3.0)
    net = nets["orthogonal", 256]
    assert isometry_to_theory(net, X, depths=[1, 2, 4, 8]).within_band.all()
    right = spectrum.layer_qs
    monkeypatch.setattr(spectrum, "layer_qs", lambda act, sw, sb, depth, q0=None: np.full(depth, right(act, sw[-1], sb[-1], 1)[0]))
    assert not isometry_to_theory(net, X, depths=[1, 2, 4, 8]).within_band.any()


def test_orthogonal_spread_grows_a_quarter_as_fast_and_vanishes_as_q_star_goes_to_0():
    """The claim of the README at width 256, depth 48: sigma_b2 = 1e-4 puts q* near 0.05."""
    width, depth = 256, 48
    spread = {}
    for w in INITS:
        for sb2 in (0.05, 1e-4):
            df = isometry_to_theory(tanh_net(w, width, depth, sigma_b2=sb2), gaussian_inputs(2, width), depths=[depth])
            assert df.within_band.all(), (w, sb2)
            spread[w, sb2] = df.spread.iloc[0]
    assert spread["orthogonal", 1e-4] < 1 < 0.5 * depth < spread["gaussian", 1e-4]
    assert spread["orthogonal", 0.05] < 0.5 * spread["gaussian", 0.05]


def test_weight_kind_reads_the_weights():
    assert weight_kind(wb.MLP([32] * 4, "tanh", "orthogonal", seed=0)) == "orthogonal"
    assert weight_kind(wb.MLP([32] * 4, "tanh", "he_uniform", seed=0)) == "gaussian"


def test_band_is_the_documented_formula():
    lo, hi, s_lo, s_hi = band(np.array([1, 64]), 256, sigmas=2.0)
    x = np.array([1.0, 64.0]) / 256
    np.testing.assert_allclose(hi, 2 * np.sqrt(isometry.MEAN_A * x + isometry.MEAN_B * x * x))
    np.testing.assert_allclose(lo, -hi)
    np.testing.assert_allclose(s_lo, -2 * np.sqrt(isometry.SPREAD_A * x + isometry.SPREAD_B * x * x))
    np.testing.assert_allclose(s_hi, -s_lo + isometry.SPREAD_BIAS * x)


def test_measured_columns_are_the_moments_of_the_spectra():
    net, X = tanh_net("gaussian", 32, 4), gaussian_inputs(3, 32)
    df = isometry_to_theory(net, X)
    s = wb.jacobian_spectra(net, X, [2])[2]
    row = df[df.depth == 2].iloc[0]
    s2 = (s * s).ravel()
    assert row.mean_s2 == pytest.approx(s2.mean(), rel=1e-12) and row.var_s2 == pytest.approx(s2.var(), rel=1e-12)
    assert row.spread == pytest.approx(s2.var() / s2.mean() ** 2, rel=1e-12)
    assert (row.max_s2, row.min_s2) == (pytest.approx(s2.max()), pytest.approx(s2.min()))
    assert row.q05_s2 == pytest.approx(np.quantile(s2, 0.05)) and row.q95_s2 == pytest.approx(np.quantile(s2, 0.95))
    assert row.condition == pytest.approx(np.median(s[:, 0] / s[:, -1]))


@pytest.mark.parametrize(
    "sizes, depths, match",
    [([16, 16], None, "needs depth >= 2"), ([16, 8, 8, 4], None, r"square layers: sizes\[0..2\]"), ([16] * 4, [3], r"depths must be integers in 1..2")],
)
def test_networks_the_theory_does_not_describe_are_refused(sizes, depths, match):
    net = wb.MLP(sizes, "tanh", "edge_of_chaos", seed=0, dtype="float64")
    with pytest.raises(ValueError, match=match):
        isometry_to_theory(net, gaussian_inputs(1, sizes[0]), depths=depths)


def test_the_study_kind_writes_its_plot_and_report_table(tmp_path):
    pytest.importorskip("matplotlib")
    import pandas as pd

    from winit_bench.study.kinds.isometry import Isometry

    kind, rows = Isometry(), []
    for init in INITS.values():
        p = dict(initializer=init, activation="tanh", sigma_b2=0.05, width=16, depths="1,2,4", samples=2, seed=0, dtype="float32", backend="numpy")
        rows += kind.table_rows({k: p[k] for k in kind.id_columns}, {"status": "ok", "rows": kind.run(p, None)})
    iso = pd.DataFrame(rows)
    assert list(iso.depth) == [1, 2, 4, 1, 2, 4] and (iso.status == "ok").all()
    assert [name for name, _, _ in kind.plot({"isometry": iso}, tmp_path)] == ["isometry"]
    assert (tmp_path / "isometry.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (table,) = kind.report_tables({"isometry": iso}).values()
    assert list(table.depth) == [4, 4] and list(table.initializer) == list(INITS.values())


@pytest.mark.parametrize("kw, error, match", [(dict(weights="haar"), ValueError, "weights must be one of gaussian, orthogonal or None"),
                                              (dict(sigmas=0), ValueError, "sigmas must be"), (dict(sigmas="3"), TypeError, "sigmas must be")])
def test_bad_options_are_refused_before_any_work(kw, error, match):
    net = wb.MLP([16] * 4, "tanh", "edge_of_chaos", seed=0, dtype="float64")
    with pytest.raises(error, match=match):
        isometry_to_theory(net, gaussian_inputs(1, 16), **kw)
