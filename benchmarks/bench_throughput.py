"""Engine throughput: forward, gradients, one SGD step, peak memory, achieved GFLOP/s.

A net of ``depth`` square ``width x width`` layers (ReLU, He-normal, linear output, MSE) on the
backend named by ``$WINIT_BENCH_BACKEND``. Every timed call synchronises the device.

The rates and ratios (``track_``) time their own interleaved rounds (``track_repeat``) and store
the value of each round, so asv keeps their median and spread as it does for ``time_`` samples.

``track_gflops`` counts 3 matrix products per layer (forward ``A W^T``, ``dW = δ^T A``,
``δ W``), 2 flops per multiply-add: ``6 * batch * Σ n_in n_out`` per step (the first layer's
``δ W`` is in the count though the engine skips it; element-wise work is not counted).
``track_ratio_to_gemm`` is the step time over the time of exactly those ``3 x depth`` matrix
products on the same backend, measured in the same process: 1.0 is the machine's matmul floor.

``StatsCost.track_ratio_to_train_step``: one ``layer_stats`` (a forward/backward pass and every
per-layer statistic) over one ``train_step`` of the same net, timed interleaved in one process
(shapes ``depth x width x batch``; the diagnostics issue asks for at most 1.5 at 50 x 512 x 256).
"""

from __future__ import annotations

import numpy as np

from .common import THREADS, P, Benchmark, prepared, require, sampled, skip, timed_rounds


class Throughput(Benchmark):
    params = (P("depth"), P("width"), P("batch"), P("dtype"), THREADS)
    param_names = ["depth", "width", "batch", "dtype", "threads"]
    lr = 1e-4

    @prepared
    def setup(self, depth, width, batch, dtype, threads):
        import winit_bench as wb

        be = self.setup_backend()
        try:
            self.net = wb.MLP([width] * (depth + 1), "relu", "he_normal", seed=0, dtype=dtype, backend=be)
        except (ValueError, TypeError) as exc:
            skip(f"depth={depth} width={width} dtype={dtype} unsupported on {be.name}: {exc}")
        rng = np.random.default_rng(0)
        self.X = self.to_device(rng.standard_normal((batch, width)).astype(dtype))
        self.Y = self.to_device(rng.standard_normal((batch, width)).astype(dtype))
        self.sizes = self.net.sizes
        # warm-up: buffers, JIT kernels, BLAS threads
        self.net.forward(self.X)
        self.net.gradients(self.X, self.Y)
        self.net.train_step(self.X, self.Y, self.lr)
        self.sync()

    def time_forward(self, *params):
        self.net.forward(self.X)
        self.sync()

    def time_gradients(self, *params):
        self.net.gradients(self.X, self.Y)
        self.sync()

    def time_train_step(self, *params):
        self.net.train_step(self.X, self.Y, self.lr)
        self.sync()

    def peakmem_train_step(self, *params):
        self.net.train_step(self.X, self.Y, self.lr)
        self.sync()

    def _step(self):
        self.net.train_step(self.X, self.Y, self.lr)

    def _flops(self, batch):
        return 6.0 * batch * sum(a * b for a, b in zip(self.sizes[:-1], self.sizes[1:]))

    def track_gflops(self, depth, width, batch, dtype, threads):
        steps = timed_rounds({"step": self._step}, P("track_repeat"), sync=self.sync)["step"]
        return sampled(self._flops(batch) / t / 1e9 for t in steps)

    track_gflops.unit = "GFLOP/s"

    def track_ratio_to_gemm(self, depth, width, batch, dtype, threads):
        be, dt = self.backend, np.dtype(dtype)
        rng = np.random.default_rng(1)
        layers = []
        for n_in, n_out in zip(self.sizes[:-1], self.sizes[1:]):
            w = self.to_device(rng.standard_normal((n_out, n_in)).astype(dt))
            a = self.to_device(rng.standard_normal((batch, n_in)).astype(dt))
            d = self.to_device(rng.standard_normal((batch, n_out)).astype(dt))
            outs = (be.empty((batch, n_out), dt), be.empty((n_out, n_in), dt), be.empty((batch, n_in), dt))
            layers.append((w, a, d, outs))

        def gemms():
            for w, a, d, (z, gw, g) in layers:
                be.matmul(a, w.T, out=z)  # forward
                be.matmul(d.T, a, out=gw)  # weight gradient
                be.matmul(d, w, out=g)  # back-propagated error

        t = timed_rounds({"step": self._step, "gemms": gemms}, P("track_repeat"), sync=self.sync)
        return sampled(s / g for s, g in zip(t["step"], t["gemms"]))

    track_ratio_to_gemm.unit = "ratio"


class StatsCost(Benchmark):
    params = (P("stats_shapes"), ["tanh", "relu"], THREADS)
    param_names = ["shape", "activation", "threads"]
    lr = 1e-2

    @prepared
    def setup(self, shape, activation, threads):
        import winit_bench as wb

        diagnostics = require("diagnostics", "the layer_stats cost")
        depth, width, batch = (int(v) for v in shape.split("x"))
        be = self.setup_backend()
        self.nets = [wb.MLP([width] * (depth + 1), activation, "xavier_normal", seed=0, backend=be) for _ in range(2)]
        rng = np.random.default_rng(0)
        self.X = self.to_device(rng.standard_normal((batch, width)).astype("float32"))
        self.Y = self.to_device(rng.standard_normal((batch, width)).astype("float32"))
        self.layer_stats = diagnostics.layer_stats

    def _stats(self):
        self.layer_stats(self.nets[0], self.X, self.Y)
        self.sync()

    def _step(self):
        self.nets[1].train_step(self.X, self.Y, self.lr)
        self.sync()

    def time_layer_stats(self, *params):
        self._stats()

    def track_ratio_to_train_step(self, *params):
        t = timed_rounds({"stats": self._stats, "step": self._step}, P("track_repeat"), min_time=0.2)
        return sampled(a / b for a, b in zip(t["stats"], t["step"]))

    track_ratio_to_train_step.unit = "ratio"
