"""The multilayer perceptron: forward pass, backprop and SGD, on any backend.

The seed equations, with ``W[l]`` of shape ``(n[l], n[l-1])`` and a row-major batch::

    z[l] = a[l-1] @ W[l].T + b[l]          a[l] = f(z[l])          (a[0] = X; the last layer is linear)
    δ[L] = dLoss/dz[L]                     δ[l] = f'(z[l]) ⊙ (δ[l+1] @ W[l+1])
    dW[l] = δ[l].T @ a[l-1]                db[l] = Σ_batch δ[l]

Buffers are allocated once per batch size and reused (:mod:`winit_bench.engine_buffers`): a training
step allocates no layer-sized array. ``X`` and ``Y`` are copied into them on every call, and checked as they go in (finite values,
labels in range), so arrays the caller rewrites in place between calls are read afresh. A network or
a batch size whose arrays would not fit in memory (:func:`estimate_bytes`) is refused before anything
is allocated. When ``f'`` is a function of ``f`` alone (tanh, sigmoid, the ReLU family, ...) ``a[l]``
overwrites ``z[l]`` in place. In ``train_step`` the output error is scaled by the learning rate,
so every ``δ`` arrives scaled and the update ``W -= δᵀ a`` is one GEMM accumulating into ``W``
(:mod:`winit_bench.backends.cblas`) where the BLAS allows it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from .activations import Activation, get_activation, linear
from .backends import Backend, get_backend
from .engine_buffers import Buffers, check_sizes, estimate_bytes, shared_scratch
from .initializers import bias_variance, check_dtype, initialize, initialize_bias
from .memory import require_fits

OUTPUTS = ("linear", "softmax")
_LINEAR = linear()


def _ignore(kind: str, layer: int, array) -> None:
    """The default ``visit`` of a pass: nothing."""


class Diverged(FloatingPointError):
    """The loss became non-finite during training; ``step`` and ``loss`` say when and what."""

    def __init__(self, step: int, loss: float):
        super().__init__(f"training diverged at step {step}: the loss is {loss}")
        self.step, self.loss = step, loss


@dataclass
class Capture:
    """Everything one forward/backward pass computed, per layer (backend arrays, copies); ``x`` is the input ``a[0]``."""

    loss: float
    x: Any = None
    z: list = field(default_factory=list)
    a: list = field(default_factory=list)
    delta: list = field(default_factory=list)
    grad_w: list = field(default_factory=list)
    grad_b: list = field(default_factory=list)


class MLP:
    """A fully connected network ``sizes[0] -> ... -> sizes[-1]`` with one hidden activation.

    ``initializer`` draws every weight matrix (layer ``l`` from child stream ``l`` of ``seed``;
    ``init_params`` go to it); biases are ``bias + bias_std * N(0, 1)``, layer ``l``'s from the stream
    ``SeedSequence(seed, spawn_key=(l, 1))``, independent of every weight (:func:`~winit_bench.initializers.initialize_bias`).
    ``bias_std=None`` (default) takes the initializer's own: 0, or ``sqrt(sigma_b2)`` for the edge-of-chaos schemes.
    ``output="linear"`` trains on mean-squared error, ``"softmax"`` on cross-entropy with integer
    labels or one-hot rows.
    """

    def __init__(
        self,
        sizes: Sequence[int],
        activation: str | Activation = "tanh",
        initializer: str = "xavier_normal",
        *,
        output: str = "linear",
        seed: int = 0,
        dtype: str = "float32",
        backend: str | Backend | None = None,
        bias: float = 0.0,
        bias_std: float | None = None,
        _weights: Sequence[tuple[np.ndarray, np.ndarray]] | None = None,
        **init_params: Any,
    ):
        self.sizes = check_sizes(sizes)
        self.activation = get_activation(activation)
        if output not in OUTPUTS:
            raise ValueError(f"unknown output {output!r}; valid: {', '.join(OUTPUTS)}")
        if not (math.isfinite(bias) and (bias_std is None or (math.isfinite(bias_std) and bias_std >= 0))):
            raise ValueError(f"bias must be finite and bias_std finite and >= 0, got bias={bias!r}, bias_std={bias_std!r}")
        self.output, self.seed, self.initializer = output, seed, initializer
        self.init_params, self.bias, self.bias_std = dict(init_params), float(bias), None if bias_std is None else float(bias_std)
        self.dtype = check_dtype(dtype)
        require_fits(estimate_bytes(self.sizes, 0, self.dtype), f"the parameters and gradients of MLP(sizes={self.sizes}, {self.dtype.name})")
        self.backend = get_backend(backend)
        self.steps = 0
        self._buffers: dict[int, Buffers] = {}
        self._capture_buffers: dict[int, Buffers] = {}
        self._plans: dict[int, Any] = {}  # batch size -> the backend's whole-step plan (or None)
        if _weights is not None:
            self._install(_weights, copy=True)
        else:
            self._install(self._draw(), copy=False)
        be = self.backend
        self._grad_w = [be.empty(w.shape, self.dtype) for w in self._w]
        self._grad_b = [be.empty(b.shape, self.dtype) for b in self._b]

    @classmethod
    def from_weights(cls, params: Sequence[tuple[np.ndarray, np.ndarray]], activation: str | Activation = "tanh", *,
                     initializer: str = "given", output: str = "linear", seed: int = 0, dtype: str = "float32",
                     backend: str | Backend | None = None) -> "MLP":
        """A network holding copies of the given ``[(W, b), ...]``; ``sizes`` follow from the shapes.

        ``initializer`` records where the weights came from (the theory's a-priori predictions read it).

        >>> import numpy as np
        >>> net = MLP.from_weights([(np.eye(3), np.zeros(3))], "relu", initializer="identity")
        >>> net.sizes, net.initializer
        ([3, 3], 'identity')
        """
        shapes = [np.shape(w) for w, _ in params]
        if not shapes or any(len(s) != 2 for s in shapes):
            raise ValueError(f"params must be a non-empty list of (W, b) with 2-D W, got shapes {shapes}")
        sizes = [shapes[0][1]] + [s[0] for s in shapes]
        return cls(sizes, activation, initializer, output=output, seed=seed, dtype=dtype, backend=backend, _weights=params)

    def _draw(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """The initial ``(W, b)`` of every layer: ``W`` from the initializer's stream of layer ``l``, ``b`` from its bias stream."""
        params = []
        std = self.bias_std
        if std is None:  # the initializer's own biases (zero but for the edge-of-chaos schemes)
            std = math.sqrt(bias_variance(self.initializer, self.activation, **self.init_params))
        for l, (n_in, n_out) in enumerate(zip(self.sizes[:-1], self.sizes[1:])):
            w = initialize(self.initializer, (n_out, n_in), seed=self.seed, layer=l, activation=self.activation, dtype=self.dtype, **self.init_params)
            params.append((w, initialize_bias(n_out, seed=self.seed, layer=l, mean=self.bias, std=std, dtype=self.dtype)))
        return params

    # ------------------------------------------------------------------ parameters
    @property
    def depth(self) -> int:
        """Number of weight layers."""
        return len(self.sizes) - 1

    def weights(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """``[(W, b), ...]`` as host NumPy copies."""
        to_host = self.backend.to_host
        return [(np.array(to_host(w)), np.array(to_host(b))) for w, b in zip(self._w, self._b)]

    def set_weights(self, params: Sequence[tuple[np.ndarray, np.ndarray]]) -> None:
        """Replace every ``(W, b)`` by a copy; shapes must match ``sizes``, values must be finite."""
        self._install(params, copy=True)

    def _install(self, params, copy: bool) -> None:
        """``copy=False`` only for arrays nobody else holds (the initial draw): training writes into them."""
        if len(params) != self.depth:
            raise ValueError(f"expected {self.depth} (W, b) pairs for sizes {self.sizes}, got {len(params)}")
        ws, bs = [], []
        for l, (w, b) in enumerate(params):
            w, b = np.asarray(self.backend.to_host(w)), np.asarray(self.backend.to_host(b))
            want_w, want_b = (self.sizes[l + 1], self.sizes[l]), (self.sizes[l + 1],)
            if w.shape != want_w or b.shape != want_b:
                raise ValueError(f"layer {l}: expected W{want_w} and b{want_b}, got W{w.shape} and b{b.shape}")
            if not (np.isfinite(w).all() and np.isfinite(b).all()):
                raise ValueError(f"layer {l}: weights contain NaN or inf")
            host = np.array if copy else np.asarray
            ws.append(self.backend.asarray(host(w, self.dtype, order="C")))
            bs.append(self.backend.asarray(host(b, self.dtype, order="C")))
        self._w, self._b = ws, bs
        self._plans.clear()

    # ------------------------------------------------------------------ the passes
    def forward(self, X):
        """The network's output for ``X`` of shape ``(batch, sizes[0])`` (softmax probabilities for ``output="softmax"``), on the backend."""
        buf = self._buffers_for(self._batch_of(X))
        self._fill(buf, X)
        out = self._forward(buf)
        if not self.backend.is_finite(out):
            raise Diverged(self.steps, math.nan)
        return self.backend.softmax(out) if self.output == "softmax" else out.copy()

    def predict(self, X) -> np.ndarray:
        """Class indices (softmax) or outputs (linear), as a host array."""
        out = self.backend.to_host(self.forward(X))
        return out.argmax(axis=1) if self.output == "softmax" else out

    def train_step(self, X, Y, lr: float) -> float:
        """One step of gradient descent on the batch ``(X, Y)``; returns the loss before the step."""
        if isinstance(lr, (bool, np.bool_)) or not isinstance(lr, (int, float, np.integer, np.floating)):
            raise TypeError(f"lr must be a finite number > 0, got {lr!r}")
        if not (math.isfinite(lr) and lr > 0):
            raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
        batch = self._batch_of(X)
        Y = self._target(Y, batch)
        buf = self._buffers_for(batch)
        self._fill(buf, X, Y)
        if batch not in self._plans:
            self._plans[batch] = self.backend.step_plan(self._w, self._b, self._grad_b, buf.z, buf.a, self.activation, self.output)
        plan = self._plans[batch]
        loss = plan(buf.x, buf.y, float(lr)) if plan is not None else None
        if loss is None:  # operation by operation
            loss = self._loss(self._forward(buf), buf, scale=float(lr))
            self._backward(buf, update=True)
        elif not math.isfinite(loss):  # the plan did not update
            raise Diverged(self.steps, loss)
        self.steps += 1
        return loss

    def gradients(self, X, Y) -> tuple[float, list[tuple[np.ndarray, np.ndarray]]]:
        """The loss and ``[(dL/dW, dL/db), ...]`` as host arrays, without changing the weights."""
        cap = self.capture(X, Y)
        host = self.backend.to_host
        return cap.loss, [(np.array(host(gw)), np.array(host(gb))) for gw, gb in zip(cap.grad_w, cap.grad_b)]

    def capture(self, X, Y, *, reuse: bool = False, visit: Callable[[str, int, Any], None] | None = None, keep: bool = True) -> Capture:
        """One forward/backward pass keeping per layer ``z``, ``a``, ``δ`` and the gradients (no update).

        With ``reuse=True`` the arrays are views of buffers cached per batch size: no allocation and
        no copies, but valid only until the next pass of this network. ``visit(kind, layer, array)``,
        if given, sees every array the moment it is final, while it is still in cache: ``"input"``
        (layer 0), then per layer ``"w"``, ``"z"``, ``"a"`` (hidden layers only), and backwards
        ``"delta"``, ``"grad_w"``, ``"grad_b"``. With ``keep=False`` every weight gradient is written
        into one shared scratch array that stays in cache and lives only during its visit;
        ``cap.grad_w`` is then empty.
        """
        batch = self._batch_of(X)
        Y = self._target(Y, batch)
        buf = self._capture_buffers.get(batch) if reuse else None
        if buf is None:
            buf = Buffers(self, batch, keep=True)
            if reuse:
                self._capture_buffers[batch] = buf
        self._fill(buf, X, Y)
        visit = visit or _ignore
        if not keep and buf.grad_scratch is None:
            buf.grad_scratch = shared_scratch(self.backend, self.dtype, [w.shape for w in self._w])
        grad_w = self._grad_w if keep else buf.grad_scratch
        out = self._forward(buf, visit)
        cap = Capture(loss=self._loss(out, buf, scale=1.0), x=buf.x)
        self._backward(buf, update=False, visit=visit, grad_w=grad_w)
        cap.z, cap.a, cap.delta = list(buf.z), list(buf.a), list(buf.delta[0])
        cap.grad_w, cap.grad_b = list(self._grad_w) if keep else [], list(self._grad_b)
        if not reuse:
            cap.grad_w, cap.grad_b = [g.copy() for g in cap.grad_w], [g.copy() for g in cap.grad_b]
        return cap

    def params(self) -> list[tuple]:
        """``[(W, b), ...]`` as the backend's own arrays, not copies: read them, do not keep them."""
        return list(zip(self._w, self._b))

    def _forward(self, buf: Buffers, visit=_ignore):
        be, act, a = self.backend, self.activation, buf.x
        last = self.depth - 1
        visit("input", 0, a)
        for l, (w, b) in enumerate(zip(self._w, self._b)):
            z = buf.z[l]
            be.matmul(a, w.T, out=z)
            visit("w", l, w)
            if l == last:
                be.bias_act(z, b, _LINEAR, out=z)
                visit("z", l, z)
                return z
            a = be.bias_act(z, b, act, out=buf.a[l])  # buf.a[l] is z itself unless z must be kept
            visit("z", l, z)
            visit("a", l, a)
        return a

    def _loss(self, out, buf: Buffers, scale: float) -> float:
        delta = buf.delta[(self.depth - 1) % 2][-1]
        if self.output == "linear":
            loss = self.backend.mse(out, buf.y, delta, scale)
        else:
            loss = self.backend.softmax_xent(out, buf.y, delta, scale)
        loss = float(loss)
        if not math.isfinite(loss):  # the inputs were finite
            raise Diverged(self.steps, loss)
        return loss

    def _backward(self, buf: Buffers, update: bool, visit=_ignore, grad_w=None) -> None:
        be, act = self.backend, self.activation
        grad_w = grad_w or self._grad_w
        z_for_grad = None if act.from_output else buf.z
        for l in reversed(range(self.depth)):
            delta = buf.delta[l % 2][l]
            a_prev = buf.x if l == 0 else buf.a[l - 1]
            visit("delta", l, delta)
            if not update:
                be.matmul(delta.T, a_prev, out=grad_w[l])
                visit("grad_w", l, grad_w[l])
            be.sum_rows(delta, out=self._grad_b[l])
            visit("grad_b", l, self._grad_b[l])
            if l > 0:
                g = buf.delta[(l - 1) % 2][l - 1]
                be.matmul(delta, self._w[l], out=g)  # with W[l] before its update
                be.act_grad(g, None if z_for_grad is None else z_for_grad[l - 1], buf.a[l - 1], act, buf.tmp[l - 1])
            if update:  # δ arrives scaled by the learning rate
                be.update_weights(self._w[l], delta, a_prev, grad_w[l])
                be.sgd(self._b[l], self._grad_b[l], 1.0)

    # ------------------------------------------------------------------ input checks
    def _buffers_for(self, batch: int) -> Buffers:
        buf = self._buffers.get(batch)
        if buf is None:
            buf = self._buffers[batch] = Buffers(self, batch)
        return buf

    def _batch_of(self, X) -> int:
        """Check X's type, shape and dtype (its values are checked as they are copied); return its batch size."""
        shape, dtype = getattr(X, "shape", None), getattr(X, "dtype", None)
        if shape is None or dtype is None:
            raise TypeError(f"X must be an array of shape (batch, {self.sizes[0]}), got {type(X).__name__}")
        if len(shape) != 2 or shape[1] != self.sizes[0] or shape[0] < 1:
            raise ValueError(f"X must have shape (batch, {self.sizes[0]}) with batch >= 1, got {tuple(shape)}")
        if dtype != self.dtype:
            raise TypeError(f"X has dtype {dtype} but the network is {self.dtype}; pass X.astype('{self.dtype}')")
        return int(shape[0])

    def _target(self, Y, batch: int):
        """Check Y's type and shape: float rows ``(batch, n_out)`` (or ``(batch,)`` for one output), or
        for softmax integer labels ``(batch,)`` (one-hot rows become labels here); values are checked in :meth:`_fill`."""
        if not hasattr(Y, "dtype"):
            Y = np.asarray(Y)
        n_out, shape = self.sizes[-1], tuple(Y.shape)
        if shape[:1] != (batch,):
            raise ValueError(f"X and Y have different batch sizes: {batch} and {shape[0] if shape else 'a scalar'}")
        if self.output == "softmax":
            if len(shape) == 2:
                Y = _one_hot_labels(np.asarray(self.backend.to_host(Y)), n_out)
            if Y.ndim != 1 or Y.dtype.kind not in "iu":
                raise TypeError(f"Y: softmax labels must be integers of shape ({batch},) or one-hot rows ({batch}, {n_out}), got {Y.dtype} {shape}")
            return Y
        if len(shape) == 1 and n_out == 1:
            Y = Y.reshape(batch, 1)
        if Y.shape != (batch, n_out):
            raise ValueError(f"Y must have shape ({batch}, {n_out}), got {shape}")
        if Y.dtype.kind not in "iuf":
            raise TypeError(f"Y must hold real numbers (integers or floats), got dtype {Y.dtype}")
        return Y

    def _fill(self, buf: Buffers, X, Y=None) -> None:
        """Copy X (and Y) into the batch's buffers, checking the values there: finite, labels in range."""
        lo, hi = self.backend.fill(buf.x, X)
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise ValueError("X contains NaN or inf")
        if Y is None:
            return
        lo, hi = self.backend.fill(buf.y, Y)
        n_out = self.sizes[-1]
        if self.output == "softmax":
            if lo < 0 or hi >= n_out:
                raise ValueError(f"Y: labels must lie in [0, {n_out - 1}], got values from {lo} to {hi}")
        elif not (math.isfinite(lo) and math.isfinite(hi)):
            beyond = "" if Y.dtype == self.dtype else f" in the network's {self.dtype} (finite values beyond {np.finfo(self.dtype).max:.3g} overflow)"
            raise ValueError(f"Y contains NaN or inf{beyond}")

    def __repr__(self) -> str:
        return (f"MLP(sizes={self.sizes}, activation={self.activation}, initializer={self.initializer!r}, "
                f"output={self.output!r}, dtype={self.dtype.name!r}, backend={self.backend.name!r})")  # fmt: skip


def _one_hot_labels(Y: np.ndarray, n_out: int) -> np.ndarray:
    """The labels of one-hot rows (host array); ValueError unless each row is 0s and 1s with exactly one 1."""
    if Y.shape[1] != n_out or not (np.isin(Y, (0, 1)).all() and (Y.sum(axis=1) == 1).all()):
        raise ValueError(f"one-hot Y must have shape ({len(Y)}, {n_out}) with exactly one 1 per row")
    return Y.argmax(axis=1)


__all__ = ["MLP", "Diverged", "Capture", "OUTPUTS", "estimate_bytes"]
