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
from .initializers import kumar_variance_factor

_TORCH_GAINS = {
    "linear": 1.0, "identity": 1.0, "conv1d": 1.0, "conv2d": 1.0, "conv3d": 1.0,
    "conv_transpose1d": 1.0, "conv_transpose2d": 1.0, "conv_transpose3d": 1.0,
    "sigmoid": 1.0, "tanh": 5.0 / 3.0, "relu": math.sqrt(2.0), "selu": 0.75,
}  # fmt: skip
GAIN_CRITERIA = ("torch", "forward", "centered", "backward", "kumar")


def calculate_gain(activation: str | Activation, param: float | None = None, *, criterion: str = "torch") -> float:
    """The gain ``g`` an initializer multiplies its standard deviation by for ``activation``.

    ``criterion="torch"`` reproduces ``torch.nn.init.calculate_gain`` exactly (linear 1, sigmoid 1,
    tanh 5/3, relu √2, leaky_relu √(2/(1 + s^2)) with s = 0.01 by default, selu 3/4). The others
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
        moment = expect(lambda z: act.derivative(z) ** 2)
    else:
        moment = expect(lambda z: act(z) ** 2)
        if criterion == "centered":
            mean = expect(lambda z: act(z))
            moment -= mean * mean
    return 1.0 / math.sqrt(moment) if moment > 0 else math.inf
