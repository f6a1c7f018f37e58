"""Mean-field theory of signal propagation in wide random MLPs, for any activation of the library.

Conventions
-----------
* A layer computes ``z[l] = W[l] a[l-1] + b[l]``, ``a[l] = f(z[l])``, ``a[0] = x`` (the input is
  not passed through ``f``). ``W[l]`` has shape ``(n_out, n_in)`` with zero-mean entries;
  ``sigma_w2 = n_in * Var(W)`` and ``sigma_b2 = Var(b)``.
* ``q`` is the **second moment** ``E[z^2]`` of the pre-activations over the units of a layer (not
  the variance: ReLU and sigmoid outputs have non-zero means, and ``q`` is what propagates).
  ``q0`` is the second moment per coordinate of the network input, ``mean_j x_j^2``.
* The q-map (Poole et al. 2016; Schoenholz et al. 2017, "Deep Information Propagation"):
  ``q[1] = sigma_w2 * q0 + sigma_b2`` and, for ``l >= 2``,
  ``q[l] = sigma_w2 * E[f(sqrt(q[l-1]) z)^2] + sigma_b2`` with ``z ~ N(0, 1)``.
* The correlation ``c`` of the pre-activations of two inputs with equal ``q`` follows
  ``c' = (sigma_w2 E[f(u1) f(u2)] + sigma_b2) / q'`` with ``u1 = sqrt(q) z1``,
  ``u2 = sqrt(q) (c z1 + sqrt(1 - c^2) z2)`` and ``q' = sigma_w2 E[f(u1)^2] + sigma_b2``,
  which is ``q*`` at the fixed point.
* ``chi1 = sigma_w2 E[f'(sqrt(q*) z)^2]`` is the per-layer factor of the back-propagated error
  terms (square layers), ``chi_q`` the slope of the q-map and ``chi_c`` the slope of the
  correlation map at their fixed points; the depth scales are ``xi = -1/ln(chi)``, infinite at
  criticality (``chi = 1``).

Gaussian expectations come from :mod:`winit_bench.gaussian` (:func:`gauss_expect`,
:func:`gauss_expect2`, re-exported here), at double precision over the range of ``q`` met in
practice. ``sigma_w2`` of an initializer is read from the moments its scheme declares
(:func:`winit_bench.initializers.weight_moments`).

Modules: :mod:`.q_map` (q-map, fixed point, ``chi1``, ``chi_q``), :mod:`.correlations`
(correlation map, ``c*``, ``chi_c``, edge of chaos, depth scales), :mod:`.sigma_w2`
(initializers -> ``sigma_w2``), :mod:`.finite_width` (the Hanin-Rolnick band), :mod:`.spectrum`
(the spectrum of the input-output Jacobian: free-probability moments by depth).

Limits: ``q = 0`` means the limit ``q -> 0+`` (one-sided averages at a kink), ``q = inf`` the
limit ``q -> inf``. Positively homogeneous activations (linear, ReLU, leaky ReLU) with
``sigma_b2 = 0`` have a q-map ``q' = k q``: see :func:`fixed_point` for the neutral case ``k = 1``.

>>> round(float(chi1("relu", 2.0, 0.0)), 12)  # the edge of chaos of ReLU
1.0
"""

from ..gaussian import gauss_expect, gauss_expect2
from .correlations import c_star, chi_c, cmap, critical_sigma_w2, xi_c, xi_q
from .finite_width import finite_width_band, log_mean_variance, log_ratio_moments, sampling_log_moments, unit_moments
from .q_map import chi1, chi_q, fixed_point, next_q, qmap
from .sigma_w2 import closed_form_variance, initializer_sigma_w2, network_qmap, network_sigma_w2
from .spectrum import free_product_moments, jacobian_mean_var, jacobian_moments

__all__ = [
    "qmap",
    "next_q",
    "fixed_point",
    "chi1",
    "chi_q",
    "cmap",
    "c_star",
    "chi_c",
    "critical_sigma_w2",
    "xi_q",
    "xi_c",
    "gauss_expect",
    "gauss_expect2",
    "initializer_sigma_w2",
    "network_sigma_w2",
    "network_qmap",
    "closed_form_variance",
    "log_ratio_moments",
    "finite_width_band",
    "jacobian_moments",
    "jacobian_mean_var",
    "free_product_moments",
    "sampling_log_moments",
    "unit_moments",
    "log_mean_variance",
]
