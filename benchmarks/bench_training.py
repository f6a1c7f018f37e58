"""Trainability on real data: scikit-learn's digits (8x8, 10 classes), fixed seed.

A net ``64 -> width x (depth - 1) -> 10`` (softmax, cross-entropy) trained by full-batch SGD
for ``train_steps`` steps (profile) from each initializer; ``track_loss`` is the training loss
after the last step, ``track_accuracy`` the accuracy on the held-out quarter. A run that
diverges reports a loss of 1e30 and an accuracy of 0.

The outcome is the initializer's, not the backend's (the backends agree to rounding, which the
test suite checks; speed is ``bench_throughput``'s): :func:`backend_independent`, run in the numpy
environment only and loaded as backend ``any``.
"""

from __future__ import annotations

from .common import P, Benchmark, backend_independent, prepared, skip

LR = 0.1
DIVERGED_LOSS = 1e30


@backend_independent
class Training(Benchmark):
    """Both tracks read one training run per case, made in ``setup_cache``."""

    params = (P("train_inits"), P("train_acts"), P("train_depth"))
    param_names = ["initializer", "activation", "depth"]
    timeout = 1800

    def setup_cache(self):
        return self.each_case(self._train)

    @prepared
    def setup(self, outcomes, *params):
        self.loss, self.accuracy = self.cached(outcomes, *params)

    def _train(self, initializer, activation, depth):
        """``(loss after the last step, test accuracy)``; ``(1e30, 0)`` when the run diverges."""
        import winit_bench as wb

        be = self.setup_backend()
        try:
            from winit_bench.data import digits

            data = digits(seed=0, dtype="float32")
        except ImportError as exc:
            skip(f"digits needs scikit-learn: {exc}")
        width = P("train_width")
        sizes = [data.n_features] + [width] * (depth - 1) + [data.n_classes]
        try:
            net = wb.MLP(sizes, activation, initializer, output="softmax", seed=0, dtype="float32", backend=be)
        except (ValueError, TypeError) as exc:
            skip(f"{initializer} x {activation} unsupported: {exc}")
        try:
            for _ in range(P("train_steps")):
                net.train_step(data.X_train, data.y_train, LR)
            loss = net.train_step(data.X_train, data.y_train, 1e-12)  # the loss after the last update
            return float(loss), float((net.predict(data.X_test) == data.y_test).mean())
        except wb.Diverged:
            return DIVERGED_LOSS, 0.0

    def track_loss(self, *params):
        return float(self.loss)

    track_loss.unit = "cross-entropy"

    def track_accuracy(self, *params):
        return float(self.accuracy)

    track_accuracy.unit = "accuracy"
