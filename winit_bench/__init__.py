"""winit_bench: weight initializers, one MLP engine on NumPy/Numba/CuPy, and variance diagnostics against mean-field theory."""

from . import critical, theory  # critical registers the edge-of-chaos initializers
from .activations import Activation, activation_names, get_activation
from .backends import BackendUnavailable, UnknownBackend, available_backends, get_backend, use_backend
from .compare import compare_to_theory
from .diagnostics import layer_stats
from .engine import MLP, Diverged
from .gains import calculate_gain
from .initializers import initialize, initializer_names
from .isometry import isometry_to_theory
from .jacobian import jacobian_spectra, jacobian_spectrum
from .truncated import truncnorm_std
from .lsuv import lsuv
from .results import load_asv_results
from .symmetry import is_symmetric, symmetry_experiment, width_one_equivalent

__version__ = "0.1.0"

__all__ = [
    "Activation",
    "BackendUnavailable",
    "Diverged",
    "MLP",
    "UnknownBackend",
    "available_backends",
    "compare_to_theory",
    "critical",
    "is_symmetric",
    "isometry_to_theory",
    "jacobian_spectra",
    "jacobian_spectrum",
    "layer_stats",
    "load_asv_results",
    "lsuv",
    "symmetry_experiment",
    "width_one_equivalent",
    "get_backend",
    "use_backend",
    "activation_names",
    "calculate_gain",
    "get_activation",
    "initialize",
    "initializer_names",
    "theory",
    "truncnorm_std",
]
