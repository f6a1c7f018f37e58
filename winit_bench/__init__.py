"""winit_bench: weight initializers, one MLP engine on NumPy/Numba/CuPy, and variance diagnostics against mean-field theory."""

from .activations import Activation, activation_names, get_activation
from .initializers import calculate_gain, initialize, initializer_names, truncnorm_std

__version__ = "0.1.0"

__all__ = [
    "Activation",
    "activation_names",
    "calculate_gain",
    "get_activation",
    "initialize",
    "initializer_names",
    "truncnorm_std",
]
