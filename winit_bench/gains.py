"""Gains: the factor an initializer multiplies its standard deviation by for an activation.

PyTorch's table (``criterion="torch"``), and criteria derived for any activation from Gaussian
expectations (``"forward"``, ``"centered"``, ``"backward"``) or Kumar's rule (``"kumar"``).
"""

from __future__ import annotations

import math

import numpy as np

from .activations import Activation, get_activation
from .checks import OPTIONAL, OneOf, unknown_name_message
from .gaussian import expect

_TORCH_GAINS = {
    "linear": 1.0, "identity": 1.0, "conv1d": 1.0, "conv2d": 1.0, "conv3d": 1.0,
    "conv_transpose1d": 1.0, "conv_transpose2d": 1.0, "conv_transpose3d": 1.0,
    "sigmoid": 1.0, "tanh": 5.0 / 3.0, "relu": math.sqrt(2.0), "selu": 0.75,
}  # fmt: skip
GAIN_CRITERIA = ("torch", "forward", "centered", "backward", "kumar")
TORCH_NONLINEARITIES = tuple(_TORCH_GAINS) + ("leaky_relu",)  # calculate_gain's names, kaiming_normal_'s nonlinearity=


def kumar_variance_factor(activation) -> float:
    """``1/(f'(0)^2 (1 + f(0)^2))``, Kumar's ``n_in Var(W)``; 2 for the ReLU family.

    Sigmoid: ``1/((1/16)(5/4)) = 12.8``; tanh: 1. Raises for activations with ``f'(0) = 0`` or no
    derivative at 0.
    """
    act = get_activation(activation)
    if act.family == "relu":
        slope = act.param or 0.0
        return 2.0 / (1.0 + slope * slope)
    at = np.array([-1e-300, 0.0, 1e-300])
    d_left, _, d_right = act.derivative(at)
    if not math.isclose(d_left, d_right, rel_tol=1e-9, abs_tol=1e-12):
        raise ValueError(f"kumar_normal needs an activation differentiable at 0; {act} is not (f'(0-)={d_left:g}, f'(0+)={d_right:g})")
    f0, d0 = float(act(np.array(0.0))), float(d_right)
    if d0 == 0:
        raise ValueError(f"kumar_normal is undefined for {act}: its derivative at 0 is 0")
    return (1.0 / d0) * (1.0 / d0) / (1.0 + f0 * f0)  # inf, not ZeroDivisionError, when d0 * d0 underflows


def calculate_gain(activation: str | Activation, param: float | None = None, *, criterion: str = "torch") -> float:
    """The gain ``g`` an initializer multiplies its standard deviation by for ``activation``.

    ``criterion="torch"`` reproduces ``torch.nn.init.calculate_gain`` exactly (linear 1, sigmoid 1,
    tanh 5/3, relu √2, leaky_relu √(2/(1 + s^2)) with s = 0.01 by default, selu 3/4); an activation its
    table lacks (gelu, gelu_erf, hard_tanh, erf, ...) raises ``ValueError``, as torch does. The others
    are derived for any activation from Gaussian expectations, ``z ~ N(0, 1)``:
    ``"forward"`` ``1/√E[f(z)^2]``, ``"centered"`` ``1/√Var f(z)``, ``"backward"`` ``1/√E[f'(z)^2]``,
    ``"kumar"`` ``1/(|f'(0)| √(1 + f(0)^2))``.
    """
    OneOf(GAIN_CRITERIA)("criterion", criterion)
    if not isinstance(activation, (str, Activation)):
        raise TypeError(f"activation must be a name or an Activation, got {type(activation).__name__} {activation!r}")
    param = OPTIONAL("param", param)
    if criterion == "torch":
        name = activation.name if isinstance(activation, Activation) else activation.lower()
        if name == "leaky_relu":
            if param is None:
                param = activation.param if isinstance(activation, Activation) and activation.param is not None else 0.01
            return math.sqrt(2.0 / (1 + param * param))
        if param is not None:
            raise ValueError(f"param is the slope of leaky_relu; {name!r} takes none under criterion='torch', got param={param!r}")
        if name not in _TORCH_GAINS:
            valid = list(_TORCH_GAINS) + ["leaky_relu"]
            raise ValueError(
                unknown_name_message("activation for criterion='torch'", name, valid)
                + "; use criterion='forward', 'centered', 'backward' or 'kumar' for any other activation"
            )
        return _TORCH_GAINS[name]
    act = get_activation(activation, param)
    with np.errstate(all="ignore"):  # a degenerate custom activation is refused below
        gain = _derived_gain(act, criterion)
    if not math.isfinite(gain):
        raise ValueError(f"the {criterion!r} gain of activation {act} is not finite ({gain}); its moments are 0 or overflow")
    return gain


def _derived_gain(act: Activation, criterion: str) -> float:
    if criterion == "kumar":
        return math.sqrt(kumar_variance_factor(act))
    if criterion == "backward":
        moment = expect(lambda z: act.derivative(z) ** 2, kinks=act.kinks)
    else:
        moment = expect(lambda z: act(z) ** 2, kinks=act.kinks)
        if criterion == "centered":
            mean = expect(lambda z: act(z), kinks=act.kinks)
            moment -= mean * mean
    return 1.0 / math.sqrt(moment) if moment > 0 else math.inf


def he_gain(activation: Activation | None = None, *, slope=None, gain=None, nonlinearity=None) -> float:
    """The gain ``g`` of He's rule ``Var = g^2/fan``, from exactly one source:

    - ``gain`` as given;
    - ``nonlinearity``: torch's table, as ``torch.nn.init.kaiming_normal_(w, a, mode, nonlinearity)``
      computes it (``calculate_gain(nonlinearity, a)``, with ``slope`` as torch's ``a``, default 0, for
      ``"leaky_relu"`` only): tanh 5/3, relu √2, leaky_relu √(2/(1 + a^2)), selu 3/4, ...;
    - otherwise He et al.'s rule for a leaky ReLU of slope ``a``, ``g^2 = 2/(1 + a^2)``: ``a`` is ``slope``,
      else the slope of ``activation`` when it is a leaky ReLU, else 0 (√2) -- for any other
      activation too: He's rule does not depend on it (pass ``nonlinearity`` for torch's gain).

    Two sources at once are a ``ValueError``.

    >>> he_gain(nonlinearity="tanh"), he_gain(get_activation("tanh")) == math.sqrt(2)
    (1.6666666666666667, True)
    """
    given = {k: v for k, v in (("gain", gain), ("slope", slope), ("nonlinearity", nonlinearity)) if v is not None}
    if len(given) > 1 and given != {"slope": slope, "nonlinearity": "leaky_relu"}:
        raise ValueError(f"{', '.join(f'{k}={v!r}' for k, v in given.items())} conflict: He's gain comes from one of gain=, slope= "
                         "or nonlinearity= (slope= goes with nonlinearity='leaky_relu' only, as torch's a=)")  # fmt: skip
    if gain is not None:
        return gain
    if nonlinearity is not None:
        return calculate_gain(nonlinearity, (slope or 0.0) if nonlinearity == "leaky_relu" else None)
    if slope is None:
        slope = activation.param if activation is not None and activation.name == "leaky_relu" else 0.0
    return math.sqrt(2.0 / (1.0 + slope * slope))  # slope * slope, not slope ** 2: inf for a huge slope, no OverflowError
