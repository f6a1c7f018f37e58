"""An independent NumPy reference for the study's numbers, written from the documented formulas.

Nothing here calls the engine, the diagnostics or the theory module: activations, Gaussian
expectations, one forward/backward pass and SGD are re-derived from docs/run.md and the docstrings
of ``layer_stats``, ``compare_to_theory`` and ``MLP``, so a test can hold the study's tables against
them. Everything is float64.
"""

from __future__ import annotations

import math

import numpy as np

LEAKY_SLOPE = 0.01
SELU_SCALE, SELU_ALPHA = 1.0507009873554805, 1.6732632423543772  # Klambauer et al. 2017
SIGMOID_BAND = (0.01, 0.99)  # sigmoid saturation: a outside this band
TANH_SATURATION = 0.99  # tanh saturation: |a| beyond this


def _sigmoid(z):
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-z))


#: name -> (f, f')
ACTIVATIONS = {
    "linear": (lambda z: z, np.ones_like),
    "relu": (lambda z: np.maximum(z, 0.0), lambda z: (z > 0).astype(float)),
    "leaky_relu": (lambda z: np.where(z > 0, z, LEAKY_SLOPE * z), lambda z: np.where(z > 0, 1.0, LEAKY_SLOPE)),
    "tanh": (np.tanh, lambda z: 1.0 - np.tanh(z) ** 2),
    "sigmoid": (_sigmoid, lambda z: _sigmoid(z) * (1.0 - _sigmoid(z))),
    "selu": (lambda z: SELU_SCALE * np.where(z > 0, z, SELU_ALPHA * np.expm1(np.minimum(z, 0.0))),
             lambda z: SELU_SCALE * np.where(z > 0, 1.0, SELU_ALPHA * np.exp(np.minimum(z, 0.0)))),
}

_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(200)


def expect(g, q: float) -> float:
    """``E[g(sqrt(q) u)]``, ``u ~ N(0, 1)``: Gauss-Legendre on ``[-14, 0]`` and ``[0, 14]`` (kinks at 0 are fine)."""
    s, total = math.sqrt(q), 0.0
    for lo, hi in ((-14.0, 0.0), (0.0, 14.0)):
        u = 0.5 * (hi - lo) * _NODES + 0.5 * (hi + lo)
        total += 0.5 * (hi - lo) * float(np.dot(_WEIGHTS, np.exp(-0.5 * u * u) * g(s * u)))
    return total / math.sqrt(2 * math.pi)


def qmap(act: str, sigma_w2, q0: float, sigma_b2=None) -> np.ndarray:
    """Mean-field ``q_z[1..L]``: ``q[1] = sw2[1] q0 + sb2[1]``, ``q[l] = sw2[l] E[f(sqrt(q[l-1]) u)^2] + sb2[l]``."""
    f = ACTIVATIONS[act][0]
    sb2 = np.zeros(len(sigma_w2)) if sigma_b2 is None else np.asarray(sigma_b2, dtype=float)
    out, q = [], q0
    for l, sw2 in enumerate(sigma_w2):
        q = sw2 * (q if l == 0 else expect(lambda x: f(x) ** 2, q)) + sb2[l]
        out.append(q)
    return np.array(out)


def fixed_point(act: str, sw2: float, sb2: float) -> float:
    """``q*`` by iterating the q-map from 1 until it stops moving (attracting fixed points only); inf when q explodes."""
    f, q = ACTIVATIONS[act][0], 1.0
    for _ in range(100_000):
        nxt = sw2 * expect(lambda x: f(x) ** 2, q) + sb2
        if abs(nxt - q) <= 1e-14 * q:
            return nxt
        if nxt > 1e12:
            return math.inf
        q = nxt
    raise RuntimeError(f"the q-map of {act} does not settle at sigma_w2={sw2}, sigma_b2={sb2}")


def chi1(act: str, sw2: float, sb2: float) -> float:
    """``sw2 E[f'(sqrt(q*) u)^2]``; for ReLU and leaky ReLU without bias (every q fixed) at q = 1."""
    q = 1.0 if act in ("relu", "leaky_relu") else fixed_point(act, sw2, sb2)
    return math.inf if q == math.inf else sw2 * expect(lambda x: ACTIVATIONS[act][1](x) ** 2, q)


def chi_q(act: str, sw2: float, sb2: float) -> float:
    """The q-map's slope at ``q*``: ``sw2 d/dq E[f(sqrt(q) u)^2]``, by a central difference."""
    q = 1.0 if act in ("relu", "leaky_relu") else fixed_point(act, sw2, sb2)
    g = lambda x: ACTIVATIONS[act][0](x) ** 2  # noqa: E731
    return sw2 * (expect(g, q * (1 + 1e-5)) - expect(g, q * (1 - 1e-5))) / (2e-5 * q)


def critical_sigma_w2(act: str, sb2: float) -> float:
    """The ``sigma_w2`` with ``chi1 = 1`` at ``sb2``, by bisection in ``ln sigma_w2`` (ReLU family: ``2/(1 + a^2)``)."""
    if act == "relu":
        return 2.0
    if act == "leaky_relu":
        return 2.0 / (1 + LEAKY_SLOPE**2)
    lo, hi = math.log(0.1), math.log(1000.0)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if chi1(act, math.exp(mid), sb2) < 1 else (lo, mid)
    return math.exp(0.5 * (lo + hi))


def lsuv(weights, biases, X, act: str, tol: float = 0.1, max_iter: int = 10):
    """Mishkin & Matas 2015 from the given (orthogonal) start: layer by layer, ``W /= sqrt(Var z)`` on ``X`` until
    ``|Var z - 1| < tol``; returns the new weights (the last layer linear)."""
    f, out, a = ACTIVATIONS[act][0], [], X
    for l, (W, b) in enumerate(zip(weights, biases)):
        for _ in range(max_iter + 1):
            z = a @ W.T + b
            v = z.var()
            if abs(v - 1) < tol:
                break
            W = W / math.sqrt(v)
        out.append(W)
        a = z if l == len(weights) - 1 else f(z)
    return out


def chi_backward(act: str, sigma_w2, q_z_pred, q_delta_out: float) -> np.ndarray:
    """Mean-field ``q_delta[1..L]`` of square layers anchored at the output:
    ``q_delta[l] = q_delta[l+1] sw2[l+1] E[f'(sqrt(q_z[l]) u)^2]``."""
    df = ACTIVATIONS[act][1]
    L = len(sigma_w2)
    out = np.empty(L)
    out[-1] = q_delta_out
    for l in range(L - 2, -1, -1):
        out[l] = out[l + 1] * sigma_w2[l + 1] * expect(lambda x: df(x) ** 2, q_z_pred[l])
    return out


def unit_moments(act: str) -> tuple[tuple[float, float], tuple[float, float]]:
    """Forward and backward ``(Var g, E[(g - 1)^3])`` of one unit's normalised square at ``z ~ N(0, 1)``:
    forward ``g = f(z)^2/E[f^2]``, backward ``g = (f'(z) h)^2/E[f'^2]``, ``h ~ N(0, 1)`` (``E h^4 = 3``, ``E h^6 = 15``)."""
    f, df = ACTIVATIONS[act]

    def moments(fn, h2: float, h3: float) -> tuple[float, float]:
        m1, m2, m3 = (expect(lambda x: fn(x) ** (2 * k), 1.0) for k in (1, 2, 3))
        e2, e3 = h2 * m2 / m1**2, h3 * m3 / m1**3  # E[g^2], E[g^3]
        return e2 - 1.0, e3 - 3.0 * e2 + 2.0

    return moments(f, 1.0, 1.0), moments(df, 3.0, 15.0)


def log_variance_per_layer(kappa: float, mu3: float, n: int) -> float:
    """``Var ln`` of a mean of ``n`` such values, to second order: ``κ/n + (5κ²/2 - μ3)/n²``."""
    return kappa / n + (2.5 * kappa**2 - mu3) / n**2


#: Student's t 0.975 quantiles (tables), by degrees of freedom
T975 = {1: 12.706204736174707, 2: 4.302652729911275, 3: 3.182446305284263, 4: 2.7764451051977987}


def forward(weights, X, act: str, biases=None):
    """Pre-activations ``z[l]`` and activations ``a[l]`` (the output layer linear; biases 0 unless given)."""
    f = ACTIVATIONS[act][0]
    zs, As, a = [], [], X
    for l, W in enumerate(weights):
        z = a @ W.T + (0.0 if biases is None else biases[l])
        a = z if l == len(weights) - 1 else f(z)
        zs.append(z)
        As.append(a)
    return zs, As


def backward(weights, X, zs, As, delta_out, act: str):
    """``δ[l]``, ``dW[l] = δ[l].T a[l-1]`` and ``db[l] = Σ_batch δ[l]`` from the output error ``δ[L]``."""
    df = ACTIVATIONS[act][1]
    L = len(weights)
    deltas = [None] * L
    deltas[-1] = delta_out
    for l in range(L - 2, -1, -1):
        deltas[l] = df(zs[l]) * (deltas[l + 1] @ weights[l + 1])
    grads_w = [d.T @ (X if l == 0 else As[l - 1]) for l, d in enumerate(deltas)]
    return deltas, grads_w, [d.sum(axis=0) for d in deltas]


def log_softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def train_softmax(weights, X, y, act: str, *, steps: int, batch: int, lr: float, rng, biases=None):
    """Plain SGD on mean cross-entropy, batches ``rng.integers(0, n, batch)``; updates ``weights`` in place.

    Biases start at 0 (or the given ones) and train too. Returns each step's loss before its update, and the biases.
    """
    biases = [np.zeros(W.shape[0]) for W in weights] if biases is None else [b.copy() for b in biases]
    f, df = ACTIVATIONS[act]
    losses = []
    for _ in range(steps):
        idx = rng.integers(0, len(y), batch)
        a, acts, zs = X[idx], [X[idx]], []
        for l, (W, b) in enumerate(zip(weights, biases)):
            z = a @ W.T + b
            zs.append(z)
            a = z if l == len(weights) - 1 else f(z)
            acts.append(a)
        logp = log_softmax(a)
        losses.append(float(-logp[np.arange(batch), y[idx]].mean()))
        delta = np.exp(logp)
        delta[np.arange(batch), y[idx]] -= 1.0
        delta /= batch
        for l in range(len(weights) - 1, -1, -1):
            grad_w, grad_b = delta.T @ acts[l], delta.sum(axis=0)
            if l > 0:
                delta = df(zs[l - 1]) * (delta @ weights[l])  # with W[l] before its update
            weights[l] -= lr * grad_w
            biases[l] -= lr * grad_b
    return losses, biases


def predict_log_proba(weights, biases, X, act: str):
    f = ACTIVATIONS[act][0]
    a = X
    for l, (W, b) in enumerate(zip(weights, biases)):
        z = a @ W.T + b
        a = z if l == len(weights) - 1 else f(z)
    return log_softmax(a)


def jacobian_singular_values(weights, biases, x, act: str, depth: int) -> np.ndarray:
    """Singular values of ``d a[depth] / d x`` at one sample: ``D_l W_l ... D_1 W_1``, ``D_l = diag f'(z[l])`` (hidden layers)."""
    f, df = ACTIVATIONS[act]
    a, J = x, np.eye(len(x))
    for W, b in zip(weights[:depth], biases[:depth]):
        z = W @ a + b
        J, a = df(z)[:, None] * (W @ J), f(z)
    return np.linalg.svd(J, compute_uv=False)


def jacobian_mean_var(act: str, sigma_w2, sigma_b2, q0: float) -> tuple[np.ndarray, dict]:
    """Pennington et al. 2018 for square layers, per depth: ``m1 = prod sw2 mu1`` and ``{weights: var}`` with
    ``var = m1^2 sum (mu2/mu1^2 - 1 - s1)``, ``s1 = -1`` Gaussian, ``0`` orthogonal; ``mu_k = E[f'(sqrt(q[l]) u)^(2k)]``."""
    df = ACTIVATIONS[act][1]
    qs = qmap(act, sigma_w2, q0, sigma_b2)
    mu1 = np.array([expect(lambda x: df(x) ** 2, q) for q in qs])
    mu2 = np.array([expect(lambda x: df(x) ** 4, q) for q in qs])
    m1 = np.cumprod(np.asarray(sigma_w2) * mu1)
    spread = np.cumsum(mu2 / mu1**2 - 1)
    return m1, {"gaussian": m1**2 * (spread + np.arange(1, len(qs) + 1)), "orthogonal": m1**2 * spread}
