"""The small, fixed set of operations every backend provides; generic versions written against ``xp``.

The engine calls nothing else on its hot path. A backend overrides what it can do faster (fused
kernels, in-place ufuncs); everything it leaves alone falls back to the array-API versions here,
which are correct on NumPy and CuPy alike.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..activations import Activation


class BackendUnavailable(RuntimeError):
    """A known backend that cannot run here; the message says why and how to fix it."""


class Backend:
    """Hot-path operations on one array library. Arrays are ``xp`` arrays of float32/float64."""

    name: str = "base"
    xp: Any = np

    # ---- memory and transfers
    def asarray(self, x, dtype=None):
        return self.xp.asarray(x, dtype=dtype)

    def to_host(self, x) -> np.ndarray:
        return np.asarray(x)

    def empty(self, shape, dtype):
        return self.xp.empty(shape, dtype=dtype)

    def fill(self, dst, src) -> tuple:
        """Copy ``src`` (a host or ``xp`` array of ``dst``'s shape) into ``dst``, cast to its dtype, and
        return ``dst``'s ``(min, max)`` as Python numbers: NaN when it holds a NaN, infinite when an
        infinity. The engine's per-call input check: two reductions, no allocation on the host."""
        xp = self.xp
        with np.errstate(over="ignore", invalid="ignore"):  # a value beyond dst's dtype becomes inf: reported by the caller
            xp.copyto(dst, xp.asarray(src), casting="unsafe")
        return dst.min().item(), dst.max().item()

    def synchronize(self) -> None:
        """Wait until queued device work is done (a no-op on the CPU)."""

    # ---- the whole training step
    def step_plan(self, ws, bs, grad_b, zs, acts, activation: Activation, output: str):
        """A callable ``plan(x, target, lr) -> loss or None`` doing a whole ``train_step`` at once for
        these parameters and work arrays (see :class:`~winit_bench.backends.numba_step.StepPlan`), or
        None: the engine then runs the step operation by operation."""
        return None

    # ---- linear algebra
    def matmul(self, a, b, out):
        """``out[...] = a @ b``; ``a`` and ``b`` may be transposed views."""
        return self.xp.matmul(a, b, out=out)

    def sum_rows(self, x, out):
        """``out[...] = x.sum(axis=0)`` (bias gradients)."""
        return self.xp.sum(x, axis=0, out=out)

    # ---- element-wise work
    def bias_act(self, z, b, act: Activation, out):
        """``z += b``, then ``out[...] = f(z)``; ``out`` may be ``z`` itself when ``act.from_output``."""
        z += b
        if out is z and act.name == "linear":
            return out
        out[...] = act.f(z, self.xp)
        return out

    def act_grad(self, g, z, a, act: Activation, tmp):
        """``g *= f'(z)`` in place; ``tmp`` is scratch of ``g``'s shape."""
        if act.name != "linear":
            g *= act.df(z, a, self.xp)
        return g

    def update_weights(self, w, delta, a_prev, grad_out):
        """``w -= delta.T @ a_prev`` (``delta`` arrives scaled by the learning rate); ``grad_out`` is scratch."""
        self.matmul(delta.T, a_prev, out=grad_out)
        return self.sgd(w, grad_out, 1.0)

    def sgd(self, w, g, lr: float):
        """``w -= lr * g``; ``lr = 1`` when the gradient arrives already scaled."""
        if lr == 1.0:
            self.xp.subtract(w, g, out=w)
        else:
            w -= lr * g
        return w

    # ---- losses: each returns the loss as a 0-d device array and writes dL/d(output) * scale into ``delta``
    def mse(self, out, y, delta, scale: float):
        """``mean((out - y)^2)`` over every element; ``delta = scale * 2 (out - y)/out.size``."""
        xp = self.xp
        xp.subtract(out, y, out=delta)
        loss = xp.vdot(delta, delta) / delta.size
        delta *= 2.0 * scale / delta.size
        return loss

    def softmax_xent(self, logits, labels, delta, scale: float):
        """Mean cross-entropy of softmax(logits) against integer labels; ``delta = scale (p - onehot)/B``."""
        xp = self.xp
        batch = logits.shape[0]
        xp.subtract(logits, logits.max(axis=1, keepdims=True), out=delta)
        xp.exp(delta, out=delta)
        delta /= delta.sum(axis=1, keepdims=True)
        rows = xp.arange(batch)
        picked = delta[rows, labels]
        loss = -xp.log(xp.maximum(picked, xp.finfo(delta.dtype).tiny)).mean()
        delta[rows, labels] -= 1.0
        delta *= scale / batch
        return loss

    def softmax(self, logits):
        xp = self.xp
        e = xp.exp(logits - logits.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def is_finite(self, x) -> bool:
        return bool(self.xp.isfinite(x).all())

    # ---- description
    def info(self) -> dict:
        return {"backend": self.name, "numpy": np.__version__}
