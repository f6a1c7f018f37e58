"""The CuPy backend's element-wise CUDA kernels as data: importable, and checkable, without CuPy.

:func:`kernel_spec` gives the four arguments :class:`cupy.ElementwiseKernel` is built from, for
each kernel :class:`~winit_bench.backends.cupy_backend.CupyBackend` launches (:data:`KINDS`):

* ``inplace``: ``z <- f(z + b)``;
* ``split``: ``z <- z + b`` and ``a <- f(z)``;
* ``grad``: ``g <- g * f'(z)``, from the output ``a = f(z)`` for activations with ``from_output``.

The C expressions are the formulas of :mod:`winit_bench.activations`, every constant cast to
the element type ``T`` (a bare ``0.5`` would make a float32 kernel compute in float64).

:func:`kernel_source` writes one complete CUDA translation unit around a spec, the way CuPy
does it: ``typedef <dtype> T;``, one reference per array element (``const T &b = ...``), the
operation, in a grid-stride loop. Only the indexing differs (flat C-contiguous pointers, the
bias broadcast over rows by ``i % size``, in place of CuPy's ``CArray``/``CIndexer`` headers),
so NVRTC and a host C++ compiler can compile it with no CuPy installed; the test suite does both
(``tests/test_cuda_kernels.py``).

>>> spec = kernel_spec("grad", "tanh")
>>> spec.in_params, spec.out_params, spec.operation
('T z, T a, T p', 'T g', 'T d = ((T)1 - a * a); g = g * d;')
>>> "typedef float T;" in kernel_source(spec, "float32")
True
"""

from __future__ import annotations

from dataclasses import dataclass

from ..activations import GELU_C, GELU_K, INV_SQRT_2PI, LECUN_TANH_SCALE, SELU_ALPHA, SELU_SCALE, TWO_OVER_SQRT_PI, activation_names

KINDS = ("inplace", "split", "grad")
CTYPES = {"float32": "float", "float64": "double"}

# f(x), and f'(z) given a = f(z) (an expression, or statements that set ``d``);
# ``p`` is the activation's parameter (leaky slope, ELU alpha).
_SIG = "((T)0.5 * (tanh((T)0.5 * {x}) + (T)1))"
_PHI = "((T)0.5 * erfc(-(T)0.70710678118654752440 * {x}))"  # Φ(x) = erfc(-x/√2)/2, precise in the left tail
FORWARD = {
    "linear": "x",
    "relu": "(x < (T)0 ? (T)0 : x)",  # NaN passes through, as in np.maximum(x, 0)
    "leaky_relu": "(x > (T)0 ? x : x * p)",
    "tanh": "tanh(x)",
    "sigmoid": _SIG.format(x="x"),
    "selu": f"(x > (T)0 ? (T){SELU_SCALE!r} * x : (T){SELU_SCALE * SELU_ALPHA!r} * expm1(x))",
    "elu": "(x > (T)0 ? x : p * expm1(x))",
    "gelu": f"((T)0.5 * x * ((T)1 + tanh((T){GELU_C!r} * (x + (T){GELU_K!r} * x * x * x))))",
    "silu": f"(x * {_SIG.format(x='x')})",
    "softplus": "(max(x, (T)0) + log1p(exp(-fabs(x))))",
    "lecun_tanh": f"((T){LECUN_TANH_SCALE!r} * tanh((T)(2.0 / 3.0) * x))",
    "hard_tanh": "(x < (T)-1 ? (T)-1 : (x > (T)1 ? (T)1 : x))",  # NaN passes through, as in np.clip
    "erf": "erf(x)",
    "gelu_erf": f"(x * {_PHI.format(x='x')})",
}
DERIVATIVE = {
    "linear": "(T)1",
    "relu": "(a > (T)0 ? (T)1 : (T)0)",
    "leaky_relu": "(a > (T)0 ? (T)1 : p)",
    "tanh": "((T)1 - a * a)",
    "sigmoid": "(a * ((T)1 - a))",
    "selu": f"(a > (T)0 ? (T){SELU_SCALE!r} : a + (T){SELU_SCALE * SELU_ALPHA!r})",
    "elu": "(a > (T)0 ? (T)1 : a + p)",
    "gelu": (
        f"T t = tanh((T){GELU_C!r} * (z + (T){GELU_K!r} * z * z * z)); T d = (T)0.5 * ((T)1 + t)"
        f" + (T)0.5 * z * ((T)1 - t * t) * (T){GELU_C!r} * ((T)1 + (T){3 * GELU_K!r} * z * z);"
    ),
    "silu": f"T s = {_SIG.format(x='z')}; T d = s * ((T)1 + z * ((T)1 - s));",
    "softplus": "(-expm1(-a))",
    "lecun_tanh": f"((T){LECUN_TANH_SCALE * 2 / 3!r} * ((T)1 - (a / (T){LECUN_TANH_SCALE!r}) * (a / (T){LECUN_TANH_SCALE!r})))",
    "hard_tanh": "(fabs(a) < (T)1 ? (T)1 : (T)0)",  # 0 at exactly ±1, as torch's Hardtanh
    "erf": f"((T){TWO_OVER_SQRT_PI!r} * exp(-z * z))",
    "gelu_erf": f"({_PHI.format(x='z')} + (T){INV_SQRT_2PI!r} * z * exp((T)-0.5 * z * z))",
}


@dataclass(frozen=True)
class KernelSpec:
    """``cupy.ElementwiseKernel(in_params, out_params, operation, name)``; ``scalars``: the inputs passed by value."""

    name: str
    in_params: str
    out_params: str
    operation: str
    scalars: tuple[str, ...] = ("p",)


def kernel_spec(kind: str, activation: str) -> KernelSpec:
    """The kernel of ``kind`` (one of :data:`KINDS`) for the activation called ``activation``."""
    if kind not in KINDS:
        raise ValueError(f"unknown kernel kind {kind!r}; valid: {', '.join(KINDS)}")
    table = DERIVATIVE if kind == "grad" else FORWARD
    if activation not in table:  # an activation added to the library but not here: a bug, said plainly
        raise NotImplementedError(
            f"the CuPy backend has no {kind} kernel for activation {activation!r}: add it to winit_bench/backends/cuda_kernels.py"
        )
    if kind == "inplace":
        return KernelSpec(f"wb_fwd_ip_{activation}", "T b, T p", "T z", f"T x = z + b; z = {FORWARD[activation]};")
    if kind == "split":
        return KernelSpec(f"wb_fwd_{activation}", "T b, T p", "T z, T a", f"T x = z + b; z = x; a = {FORWARD[activation]};")
    d = DERIVATIVE[activation]
    body = d if d.endswith(";") else f"T d = {d};"
    return KernelSpec(f"wb_grad_{activation}", "T z, T a, T p", "T g", f"{body} g = g * d;")


def _params(text: str) -> list[tuple[str, str]]:
    """``"T b, T p"`` -> ``[("T", "b"), ("T", "p")]``."""
    return [tuple(p.split()) for p in text.split(",")]


def kernel_source(spec: KernelSpec, dtype: str) -> str:
    """A complete CUDA C++ source of ``spec`` for ``dtype`` (``"float32"`` or ``"float64"``), with
    ``extern "C" __global__ void <spec.name>(...)``: each array ``v`` as ``T *_raw_v`` with its
    element count ``_size_v`` (read at ``i % _size_v``), each scalar by value, then ``_n``, the
    number of elements of the outputs."""
    if dtype not in CTYPES:
        raise ValueError(f"dtype must be one of {', '.join(CTYPES)}, got {dtype!r}")
    args, sizes, refs = [], [], []
    for const, text in (("const ", spec.in_params), ("", spec.out_params)):
        for ctype, name in _params(text):
            if name in spec.scalars:
                args.append(f"const {ctype} {name}")
                continue
            args.append(f"{const}{ctype} *_raw_{name}")
            sizes.append(f"const long long _size_{name}")
            refs.append(f"{const}{ctype} &{name} = _raw_{name}[i % _size_{name}];")
    lines = [
        f"typedef {CTYPES[dtype]} T;",
        "",
        f'extern "C" __global__ void {spec.name}({", ".join(args + sizes)}, const long long _n)',
        "{",
        "  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < _n; i += (long long)blockDim.x * gridDim.x) {",
        *(f"    {r}" for r in refs),
        f"    {spec.operation}",
        "  }",
        "}",
        "",
    ]
    return "\n".join(lines)


def param_names(spec: KernelSpec) -> list[str]:
    """The names of ``spec``'s parameters, inputs then outputs: the order of the kernel's call."""
    return [n for _, n in _params(spec.in_params) + _params(spec.out_params)]


def array_params(spec: KernelSpec) -> list[str]:
    """The names of ``spec``'s array parameters, in the order of :func:`kernel_source`'s signature."""
    return [n for n in param_names(spec) if n not in spec.scalars]


def all_kernels(activations=None, dtypes=tuple(CTYPES)):
    """``(kind, activation, dtype, source)`` for every kernel the CuPy backend can build: each of
    :data:`KINDS` for every activation of the library (default) and each dtype."""
    names = activation_names() if activations is None else activations
    return [(kind, act, dt, kernel_source(kernel_spec(kind, act), dt)) for act in names for kind in KINDS for dt in dtypes]

