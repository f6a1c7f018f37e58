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


def qmap(act: str, sigma_w2, q0: float) -> np.ndarray:
    """Mean-field ``q_z[1..L]`` without biases: ``q[1] = sw2[1] q0``, ``q[l] = sw2[l] E[f(sqrt(q[l-1]) u)^2]``."""
    f = ACTIVATIONS[act][0]
    out, q = [], q0
    for l, sw2 in enumerate(sigma_w2):
        q = sw2 * (q if l == 0 else expect(lambda x: f(x) ** 2, q))
        out.append(q)
    return np.array(out)


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


def kappa(act: str) -> float:
    """``E[f^4]/E[f^2]^2 - 1`` at ``z ~ N(0, 1)``: the relative variance of one unit's squared activation."""
    f = ACTIVATIONS[act][0]
    return expect(lambda x: f(x) ** 4, 1.0) / expect(lambda x: f(x) ** 2, 1.0) ** 2 - 1.0


def forward(weights, X, act: str):
    """Pre-activations ``z[l]`` and activations ``a[l]`` (the output layer linear, no biases)."""
    f = ACTIVATIONS[act][0]
    zs, As, a = [], [], X
    for l, W in enumerate(weights):
        z = a @ W.T
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


def train_softmax(weights, X, y, act: str, *, steps: int, batch: int, lr: float, rng):
    """Plain SGD on mean cross-entropy, batches ``rng.integers(0, n, batch)``; updates ``weights`` in place.

    Biases start at 0 and train too. Returns each step's loss before its update, and the biases.
    """
    biases = [np.zeros(W.shape[0]) for W in weights]
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
