"""The Numba backend's whole-step plan against the NumPy reference: every split of the batch, every
activation, both outputs; what it must leave alone (diverged steps), when it must step aside
(layouts it was not compiled for, fewer threads allowed, a forked child). Timing is not asserted."""

import multiprocessing
import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("numba")

import winit_bench as wb
from winit_bench.backends import numba_step

ACTIVATIONS = wb.activation_names()
SIZES = [6, 20, 12, 5]
BATCH = 40


def _data(output, dtype="float64", batch=BATCH, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((batch, SIZES[0])).astype(dtype)
    Y = rng.integers(0, SIZES[-1], batch) if output == "softmax" else rng.standard_normal((batch, SIZES[-1])).astype(dtype)
    return X, Y


def _pair(activation="tanh", output="linear", dtype="float64"):
    kw = {"output": output, "dtype": dtype, "seed": 3, "bias_std": 0.2}
    return wb.MLP(SIZES, activation, backend="numpy", **kw), wb.MLP(SIZES, activation, backend="numba", **kw)


def _plan(net, batch=BATCH):
    plan = net._plans.get(batch)
    assert isinstance(plan, numba_step.StepPlan), "the numba backend should step through its compiled plan"
    return plan


def _assert_same_weights(net, ref, rtol):
    for (w, b), (rw, rb) in zip(net.weights(), ref.weights()):
        np.testing.assert_allclose(w, rw, rtol=rtol, atol=rtol * np.abs(rw).max())
        np.testing.assert_allclose(b, rb, rtol=rtol, atol=rtol * max(np.abs(rb).max(), 1e-3))


@pytest.mark.parametrize("parts", [1, 2, 3])
@pytest.mark.parametrize("output", ["linear", "softmax"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_plan_matches_numpy_on_every_split(activation, output, parts):
    """Five steps on 1, 2 or 3 row blocks (3 does not divide the 40 rows or the 20 and 12 units) equal NumPy's to 1e-12."""
    ref, net = _pair(activation, output)
    X, Y = _data(output)
    assert net.train_step(X, Y, 0.05) == pytest.approx(ref.train_step(X, Y, 0.05), rel=1e-12)
    plan = _plan(net)
    plan.max_parts, plan._blas_threads = parts, lambda: 8
    assert plan.parts() == parts
    for _ in range(5):
        assert net.train_step(X, Y, 0.05) == pytest.approx(ref.train_step(X, Y, 0.05), rel=1e-12)
    _assert_same_weights(net, ref, 1e-12)


def test_float32_plan_matches_numpy():
    ref, net = _pair("gelu", "linear", "float32")
    X, Y = _data("linear", "float32")
    for _ in range(5):
        assert net.train_step(X, Y, 0.05) == pytest.approx(ref.train_step(X, Y, 0.05), rel=1e-5)
    assert _plan(net)._work[2][0].dtype == np.float32
    _assert_same_weights(net, ref, 1e-5)


def test_parts_follow_threads_batch_and_blas_limit():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    net = wb.MLP([8, 16, 4], backend="numba")
    for batch in (8, 40, 400):
        X = np.ones((batch, 8), "float32")
        net.train_step(X, np.zeros((batch, 4), "float32"), 0.01)
        plan = _plan(net, batch)
        if not numba_step.fast_threads():
            assert plan.parts() == 1
            continue
        import numba

        assert plan.parts() == max(1, min(numba.get_num_threads(), batch // numba_step.MIN_ROWS, wb.backends.cblas.threads()))
        with threadpoolctl.threadpool_limits(1, user_api="blas"):
            assert plan.parts() == 1


def test_a_diverged_step_does_not_update():
    """The loss is taken before the update: a non-finite one raises Diverged and leaves every parameter as it was."""
    ref, net = _pair("relu")
    X, Y = _data("linear")
    for model in (ref, net):
        before = model.weights()
        with pytest.raises(wb.Diverged):
            model.train_step(X, Y * 1e300, 1.0)  # (out - y)^2 overflows: the first loss is inf
        for (w0, b0), (w1, b1) in zip(before, model.weights()):
            assert np.array_equal(w0, w1) and np.array_equal(b0, b1)
        assert model.steps == 0
    assert net._plans[BATCH] is not None


def test_layouts_not_compiled_for_take_the_operation_path():
    """A Fortran-ordered array does not fit the compiled step: the plan declines it. ``train_step``
    copies every batch into C-ordered buffers first, so a Fortran-ordered X trains the same."""
    ref, net = _pair()
    X, Y = _data("linear")
    Xf = np.asfortranarray(X)
    for _ in range(3):
        assert net.train_step(Xf, Y, 0.05) == pytest.approx(ref.train_step(X, Y, 0.05), rel=1e-12)
    assert _plan(net)(Xf, Y, 0.05) is None
    _assert_same_weights(net, ref, 1e-12)


def test_set_weights_reaches_the_plan():
    ref, net = _pair()
    X, Y = _data("linear")
    net.train_step(X, Y, 0.05)
    new = [(w * 0.5, b + 1) for w, b in ref.weights()]
    net.set_weights(new)
    ref.set_weights(new)
    for _ in range(3):
        assert net.train_step(X, Y, 0.05) == pytest.approx(ref.train_step(X, Y, 0.05), rel=1e-12)
    _assert_same_weights(net, ref, 1e-12)


def test_slow_threading_layer_steps_as_one_part():
    """Under ``workqueue`` (a parallel region costs ~140 µs) the plan runs the serial step, with the same numbers."""
    code = (
        "import numpy as np, numba, winit_bench as wb\n"
        "from winit_bench.backends import numba_step\n"
        "X = np.random.default_rng(0).standard_normal((64, 6)); Y = np.random.default_rng(1).standard_normal((64, 5))\n"
        "a, b = (wb.MLP([6, 20, 12, 5], 'tanh', dtype='float64', backend=k) for k in ('numba', 'numpy'))\n"
        "la = [a.train_step(X, Y, 0.05) for _ in range(4)]; lb = [b.train_step(X, Y, 0.05) for _ in range(4)]\n"
        "assert numba.threading_layer() == 'workqueue' and a._plans[64].parts() == 1\n"
        "assert np.allclose(la, lb, rtol=1e-12, atol=0)\n"
        "assert all(np.allclose(x, y, rtol=1e-12, atol=1e-14) for p, q in zip(a.weights(), b.weights()) for x, y in zip(p, q))\n"
        "print('ok')\n"
    )
    env = dict(os.environ, NUMBA_THREADING_LAYER="workqueue")
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0 and run.stdout.strip().endswith("ok"), run.stderr[-2000:]


def _child_step(net, X, Y, conn):
    loss = net.train_step(X, Y, 0.05)
    conn.send((loss, net._plans[X.shape[0]].parts()))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_steps_on_one_thread():
    """GNU OpenMP aborts a forked child that uses it after the parent did: the child's plan must not."""
    ref, net = _pair()
    X, Y = _data("linear", batch=64)
    net.train_step(X, Y, 0.05), ref.train_step(X, Y, 0.05)  # the parent has used its threads
    ctx = multiprocessing.get_context("fork")
    here, there = ctx.Pipe()
    child = ctx.Process(target=_child_step, args=(net, X, Y, there))
    child.start()
    child.join(120)
    assert child.exitcode == 0, f"the forked child died (exit code {child.exitcode})"
    loss, parts = here.recv()
    assert parts == 1 and loss == pytest.approx(ref.train_step(X, Y, 0.05), rel=1e-12)


@pytest.mark.parametrize("library", ["openblas", "mkl"])
def test_blocks_only_with_a_thread_local_blas_and_its_thread_count_restored(use_blas, library):
    """MKL: two blocks, each setting its thread's MKL to one thread and back. OpenBLAS (whose
    "thread-local" setter is global): one part, its threads left to it."""
    import numba

    threadpoolctl = pytest.importorskip("threadpoolctl")
    from winit_bench.backends import cblas
    from winit_bench.backends.numba_backend import NumbaBackend

    use_blas(library)
    if cblas.library() != library:
        pytest.skip(f"{library} is not installed here")
    with threadpoolctl.threadpool_limits(2, user_api="blas"):  # with MKL loaded, NumPy's OpenBLAS has 1
        backend = NumbaBackend()
        backend.warmup(dtypes=("float64",))
        if not numba_step.fast_threads() or numba.get_num_threads() < 2:
            pytest.skip("the step runs as one part here")
        net = wb.MLP(SIZES, "tanh", dtype="float64", backend=backend)
        X, Y = _data("linear", batch=64)
        for _ in range(3):
            net.train_step(X, Y, 0.05)
        assert _plan(net, 64).parts() == (2 if library == "mkl" else 1) and cblas.threads() == 2
