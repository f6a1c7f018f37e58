"""Bad input to ``initialize`` and ``calculate_gain``: each is a TypeError or ValueError naming what was wrong.

Every parameter of every scheme is found from the scheme's signature (not from a list kept here),
so a parameter added later is checked too. Weights are never returned non-finite, and a shape
whose weights cannot fit in memory is refused, with the estimate, before anything is allocated.
"""

from __future__ import annotations

import inspect
import math
import subprocess
import sys
import warnings

import numpy as np
import pytest

import winit_bench as wb
from winit_bench import memory
from winit_bench import theory as T
from winit_bench.checks import OneOf
from winit_bench.initializers import get_scheme

ACT = {"kumar_normal": "tanh", "edge_of_chaos": "tanh", "edge_of_chaos_orthogonal": "tanh"}  # the schemes that need an activation
KERNEL_ONLY = {"dirac", "delta_orthogonal"}  # convolution kernels only (tests/test_conv_kernels.py)


def params_of(name: str) -> list[inspect.Parameter]:
    skip = {"shape", "rng", "dtype", "activation", "layer"}  # layer: the position initialize passes, not a parameter
    return [p for p in inspect.signature(get_scheme(name)).parameters.values() if p.name not in skip]


PARAMS = [(name, p.name, p.default) for name in wb.initializer_names(aliases=False) for p in params_of(name)]
NAMED = [(n, p, d) for n, p, d in PARAMS if isinstance(get_scheme(n).checks[p], OneOf)]
NUMERIC = [c for c in PARAMS if c not in NAMED]


def init(name, shape=None, **kw):
    return wb.initialize(name, shape or ((6, 5, 3) if name in KERNEL_ONLY else (6, 5)), activation=ACT.get(name), **kw)


def raises_naming(fn, *words, exc=(TypeError, ValueError)) -> str:
    with pytest.raises(exc) as info:
        fn()
    msg = str(info.value)
    assert msg and "\n" not in msg, msg
    for w in words:
        assert w in msg, f"{w!r} not in {msg!r}"
    return msg


def test_every_scheme_parameter_is_found():
    """The tables above cover the parameters a user can pass (a sanity check of the introspection)."""
    names = {(n, p) for n, p, _ in PARAMS}
    assert {("normal", "std"), ("uniform", "a"), ("he_normal", "slope"), ("sparse", "sparsity"),
            ("variance_scaling", "distribution"), ("constant", "value"), ("identity", "gain")} <= names  # fmt: skip
    assert len(NAMED) == 6  # he_normal/he_uniform mode and nonlinearity, variance_scaling mode and distribution


@pytest.mark.parametrize("bad", [True, False, np.True_, "0.1", b"1", [0.1], (0.1,), 1j, np.array([0.1]), object()],
                         ids=lambda v: type(v).__name__)  # fmt: skip
@pytest.mark.parametrize("name,param,default", NUMERIC, ids=[f"{n}-{p}" for n, p, _ in NUMERIC])
def test_numeric_parameter_of_wrong_type_is_a_type_error_naming_it(name, param, default, bad):
    msg = raises_naming(lambda: init(name, **{param: bad}), param, exc=TypeError)
    assert "real number" in msg


OPTIONAL_NAMED = [c for c in NAMED if c[2] is None]  # He's nonlinearity


@pytest.mark.parametrize("name,param,default", NUMERIC + OPTIONAL_NAMED, ids=[f"{n}-{p}" for n, p, _ in NUMERIC + OPTIONAL_NAMED])
def test_none_is_refused_unless_it_is_the_default(name, param, default):
    if default is None:  # None means "derive it" (He's gain from the activation, constant's 1/n_in)
        np.testing.assert_array_equal(init(name, **{param: None}), init(name))
    else:
        raises_naming(lambda: init(name, **{param: None}), param, "None", exc=TypeError)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, 10**400, -(10**400)], ids=["nan", "inf", "-inf", "1e400", "-1e400"])
@pytest.mark.parametrize("name,param,default", NUMERIC, ids=[f"{n}-{p}" for n, p, _ in NUMERIC])
def test_non_finite_parameter_is_a_value_error_naming_it(name, param, default, bad):
    if name == "truncated_normal" and param in "ab" and bad == bad:
        return  # an infinite truncation bound is allowed (a half- or untruncated normal)
    raises_naming(lambda: init(name, **{param: bad}), param, exc=ValueError)


@pytest.mark.parametrize("bad", [1, None, True, 0.5, ["fan_in"]], ids=repr)
@pytest.mark.parametrize("name,param,default", NAMED, ids=[f"{n}-{p}" for n, p, _ in NAMED])
def test_named_parameter_of_wrong_type_is_a_type_error(name, param, default, bad):
    if bad is None and default is None:
        return  # None is nonlinearity's default: "derive the gain" (test_none_is_refused_unless_it_is_the_default)
    raises_naming(lambda: init(name, **{param: bad}), param, "string", exc=TypeError)


@pytest.mark.parametrize("name,param,default", NAMED, ids=[f"{n}-{p}" for n, p, _ in NAMED])
def test_unknown_named_value_lists_the_valid_ones(name, param, default):
    default = default or get_scheme(name).checks[param].options[0]  # nonlinearity's None: derived
    raises_naming(lambda: init(name, **{param: default + "x"}), param, default, "valid", exc=ValueError)


MATRIX_PARAMS = [c for c in PARAMS if c[0] not in KERNEL_ONLY]  # the theory reads matrices only


@pytest.mark.parametrize("name,param,default", MATRIX_PARAMS, ids=[f"{n}-{p}" for n, p, _ in MATRIX_PARAMS])
def test_the_theory_checks_parameters_as_initialize_does(name, param, default):
    """``theory.initializer_sigma_w2`` reads the scheme's law through the same declarations: what ``initialize``
    refuses, it refuses with the same words; what ``initialize`` accepts, it accepts."""
    for bad in [True, "0.1", None, math.nan, math.inf, 10**400, [0.1], 1, f"{default}x", -1.0]:
        try:
            init(name, **{param: bad})
        except (TypeError, ValueError) as e:
            with pytest.raises(type(e)) as got:
                T.initializer_sigma_w2(name, 6, 5, ACT.get(name), strict=False, **{param: bad})
            assert str(got.value) == str(e), (param, bad)
        else:
            assert T.initializer_sigma_w2(name, 6, 5, ACT.get(name), strict=False, **{param: bad}) >= 0, (param, bad)


@pytest.mark.parametrize(
    "name,kw,dtype,names",
    [
        ("uniform", {"a": -1e308, "b": 1e308}, "float64", ["a=", "b="]),  # b - a overflows
        ("uniform", {"a": -1e38, "b": 1e39}, "float32", ["a=", "b="]),
        ("normal", {"std": 1e38}, "float32", ["std="]),
        ("normal", {"mean": 3.4e38, "std": 1e37}, "float32", ["mean=", "std="]),
        ("normal", {"std": 1e308}, "float64", ["std="]),
        ("truncated_normal", {"std": 1e308, "a": -1, "b": math.inf}, "float64", ["std="]),
        ("he_normal", {"gain": 1e60}, "float32", ["gain="]),
        ("he_uniform", {"gain": 1e40}, "float32", ["gain="]),
        ("xavier_normal", {"gain": 1e300}, "float32", ["gain="]),
        ("xavier_uniform", {"gain": 1e40}, "float32", ["gain="]),
        ("orthogonal", {"gain": 1e40}, "float32", ["gain="]),
        ("identity", {"gain": -1e39}, "float32", ["gain="]),
        ("constant", {"value": 1e39}, "float32", ["value="]),
        ("sparse", {"std": 1e300}, "float32", ["std="]),
        ("sparse", {"std": 1e300, "sparsity": 0.9}, "float32", ["std="]),
        ("variance_scaling", {"scale": 1e300, "distribution": "uniform"}, "float32", ["scale="]),
    ],
)
def test_weights_that_would_not_be_finite_are_refused_naming_the_parameter(name, kw, dtype, names):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning on the way: the refusal is the only signal
        msg = raises_naming(lambda: wb.initialize(name, (64, 32), dtype=dtype, **kw), *names, dtype, exc=ValueError)
    assert "finite" in msg


def test_an_activation_that_makes_weights_infinite_is_named():
    """Kumar's variance 1/f'(0)^2 overflows for f'(0) = 1e-200: the activation is the cause."""
    flat = wb.Activation("flat", lambda x, xp: 1e-200 * x, lambda z, a, xp: 1e-200 + 0 * a, False)
    raises_naming(lambda: wb.initialize("kumar_normal", (8, 8), activation=flat), "activation=flat", exc=ValueError)


def test_large_but_finite_parameters_still_draw():
    """The refusal is about overflow only: the largest std that fits gives finite weights."""
    w = wb.initialize("normal", (64, 64), std=1e36, dtype="float32")  # |z| < 14 * 1e36 < 3.4e38
    assert np.isfinite(w).all() and 0.5e36 < w.astype(np.float64).std() < 2e36
    w = wb.initialize("uniform", (64, 64), a=-8e307, b=8e307)  # b - a = 1.6e308 is finite
    assert np.isfinite(w).all() and w.min() < -1e307 and w.max() > 1e307


@pytest.mark.parametrize("shape", [(math.inf, 4), (4, math.nan), (4.0, 4), (4, 2.5), (True, 4), (4, np.True_),
                                   ("4", 4), (None, 4), "ab", 4, (4,), (4, 4, 4, 4, 4, 4), (4, 4.0, 4)], ids=repr)  # fmt: skip
def test_shape_must_be_2_to_5_integers(shape):
    raises_naming(lambda: wb.initialize("he_normal", shape), "shape", "integers")


@pytest.mark.parametrize("shape", [(0, 4), (4, -1), (2**63, 2), (10**100, 10**100)], ids=str)
def test_shape_out_of_range_is_a_value_error(shape):
    raises_naming(lambda: wb.initialize("he_normal", shape), "shape", "positive", exc=ValueError)


def test_numpy_integers_are_sizes():
    np.testing.assert_array_equal(wb.initialize("he_normal", (np.int32(5), np.int64(4))), wb.initialize("he_normal", (5, 4)))


@pytest.mark.parametrize("dtype", [None, "int8", bool, "float16", "complex128", [("a", "f8")], "nope"], ids=str)
def test_dtype_must_be_float32_or_float64(dtype):
    raises_naming(lambda: wb.initialize("he_normal", (4, 4), dtype=dtype), "dtype", "float32", "float64", exc=ValueError)


# --------------------------------------------------------------------------- memory


@pytest.mark.parametrize("name,dtype,per_weight", [("he_normal", "float64", 8), ("xavier_uniform", "float32", 4),
                                                   ("orthogonal", "float64", 24), ("sparse", "float32", 5)])  # fmt: skip
def test_weights_beyond_memory_are_refused_with_the_estimate(monkeypatch, name, dtype, per_weight):
    """The estimate is the result plus the scheme's working arrays; refused before any allocation."""
    monkeypatch.setattr(memory, "available_bytes", lambda: 1 << 19)  # 512 KiB here
    expected = memory.format_bytes(512 * 512 * per_weight)  # 262144 weights: 1 MiB or more
    raises_naming(lambda: wb.initialize(name, (512, 512), dtype=dtype), name, "(512, 512)", dtype, expected, "512.0 KiB",
                  exc=ValueError)  # fmt: skip
    assert wb.initialize(name, (128, 64), dtype=dtype).shape == (128, 64)  # 8192 weights fit


def test_a_shape_no_machine_holds_is_refused_at_once():
    msg = raises_naming(lambda: wb.initialize("he_normal", (10**6, 10**6)), "(1000000, 1000000)", "TiB", exc=ValueError)
    assert "7.3 TiB" in msg  # 10^12 float64 weights


def test_init_report_counts_its_own_arrays(monkeypatch):
    """``winit-bench init`` computes a float64 copy, squares and a Gram matrix: weights that fit can still
    be refused, with the report's estimate (4 + 24 bytes a weight, 32 bytes per Gram entry)."""
    from winit_bench.init_report import initializer_report

    monkeypatch.setattr(memory, "available_bytes", lambda: 1 << 20)  # 1 MiB: 256 KiB of weights fit
    expected = memory.format_bytes(256 * 256 * 28 + 32 * 256 * 256)
    raises_naming(lambda: initializer_report("he_normal", (256, 256), dtype="float32"), "report", expected, exc=ValueError)
    assert "he_normal 64x32" in initializer_report("he_normal", (64, 32), dtype="float32")


def test_cli_init_of_a_huge_shape_is_one_line_error():
    """``winit-bench init`` on weights no machine holds: exit 2 and one line with the estimate, no traceback."""
    code = "import sys; from winit_bench.cli import main; sys.exit(main(['init', 'he_normal', '--shape', '1000000', '1000000']))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("winit-bench: error:") and "TiB" in lines[0], proc.stderr


# --------------------------------------------------------------------------- calculate_gain


@pytest.mark.parametrize("bad", [True, False, np.True_, "0.2", [0.2], 1j], ids=repr)
@pytest.mark.parametrize("criterion", ["torch", "forward", "kumar"])
def test_gain_param_must_be_a_number(bad, criterion):
    """torch.nn.init.calculate_gain("leaky_relu", True) raises; so does this, for every criterion."""
    raises_naming(lambda: wb.calculate_gain("leaky_relu", bad, criterion=criterion), "param", exc=TypeError)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_gain_param_must_be_finite(bad):
    raises_naming(lambda: wb.calculate_gain("leaky_relu", bad), "param", exc=ValueError)


def test_gain_param_for_an_activation_without_one_is_refused():
    raises_naming(lambda: wb.calculate_gain("tanh", 0.5), "param", "tanh", exc=ValueError)
    raises_naming(lambda: wb.calculate_gain("tanh", 0.5, criterion="forward"), "tanh", exc=ValueError)


@pytest.mark.parametrize("act", [None, 3, 1.5, True, ["relu"]], ids=repr)
def test_gain_activation_must_be_a_name_or_activation(act):
    raises_naming(lambda: wb.calculate_gain(act), "activation", exc=TypeError)


@pytest.mark.parametrize("criterion", [None, 1, "Torch", "fwd"], ids=repr)
def test_gain_criterion_must_be_known(criterion):
    raises_naming(lambda: wb.calculate_gain("relu", criterion=criterion), "criterion")


def test_torch_gain_of_a_leaky_relu_object_uses_its_slope():
    """An Activation carries its slope; criterion='torch' used 0.01 whatever the object said."""
    assert wb.calculate_gain(wb.get_activation("leaky_relu", 0.2)) == math.sqrt(2.0 / (1 + 0.2**2))
    assert wb.calculate_gain(wb.get_activation("leaky_relu", 0.0)) == math.sqrt(2.0)
    assert wb.calculate_gain(wb.get_activation("leaky_relu", 0.0), 0.5) == math.sqrt(2.0 / 1.25)


def test_huge_leaky_slope_gives_a_finite_gain():
    """√(2/(1 + s²)) for s = 1e200: s² overflows a float; the gain is ~0, not an OverflowError."""
    assert wb.calculate_gain("leaky_relu", 1e200) == pytest.approx(0.0, abs=1e-150)
    w = wb.initialize("he_normal", (8, 8), slope=1e200)
    assert np.isfinite(w).all()


@pytest.mark.parametrize("slope", [True, "0.1", None], ids=repr)
def test_activation_parameter_must_be_a_number(slope):
    if slope is None:
        assert wb.get_activation("leaky_relu", None).param == 0.01
        return
    raises_naming(lambda: wb.get_activation("leaky_relu", slope), "slope", exc=TypeError)
    raises_naming(lambda: wb.get_activation("elu", slope), "alpha", exc=TypeError)


def test_a_gain_that_is_not_finite_is_refused():
    """A custom activation whose moment vanishes (f = 0) or whose f'(0) underflows has no finite gain."""
    dead = wb.Activation("dead", lambda x, xp: 0 * x, lambda z, a, xp: 0 * a, False)
    flat = wb.Activation("flat", lambda x, xp: 1e-200 * x, lambda z, a, xp: 1e-200 + 0 * a, False)
    for act, criterion in [(dead, "forward"), (dead, "centered"), (dead, "backward"), (flat, "kumar")]:
        raises_naming(lambda: wb.calculate_gain(act, criterion=criterion), criterion, act.name, exc=ValueError)
