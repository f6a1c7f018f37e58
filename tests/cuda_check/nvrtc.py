"""NVRTC, CUDA's runtime compiler, called through ctypes: it needs no GPU and no driver.

The libraries come from pip wheels (``nvidia-cuda-nvrtc-cu12`` installs ``nvidia/cuda_nvrtc/lib``,
``nvidia-cuda-nvrtc`` for CUDA 13 installs ``nvidia/cu13/lib``); :func:`find` lists every one
installed, :func:`compile_ptx` compiles a source to PTX and returns it with NVRTC's log.
"""

from __future__ import annotations

import ctypes
import glob
import importlib.util
import os
import re
from dataclasses import dataclass
from functools import lru_cache

WHEEL_HINT = "pip install nvidia-cuda-nvrtc-cu12 (it is in the test extra)"


class CompileError(RuntimeError):
    """NVRTC rejected a source; the message holds its log."""


@dataclass(frozen=True)
class Nvrtc:
    path: str
    version: tuple[int, int]

    def __str__(self) -> str:
        return f"nvrtc-{self.version[0]}.{self.version[1]}"


def find() -> list[Nvrtc]:
    """Every NVRTC library installed by a pip wheel, newest last."""
    spec = importlib.util.find_spec("nvidia")
    roots = list(spec.submodule_search_locations) if spec else []
    paths = {os.path.realpath(p) for r in roots for p in glob.glob(os.path.join(r, "*", "lib", "libnvrtc.so.*"))}
    libs = [Nvrtc(p, _version(p)) for p in sorted(paths) if re.search(r"/libnvrtc\.so\.\d+(\.\d+)*$", p)]
    return sorted(libs, key=lambda lib: lib.version)


@lru_cache(maxsize=None)
def _lib(path: str) -> ctypes.CDLL:
    lib = ctypes.CDLL(path)
    lib.nvrtcGetErrorString.restype = ctypes.c_char_p
    return lib


def _version(path: str) -> tuple[int, int]:
    major, minor = ctypes.c_int(), ctypes.c_int()
    _check(_lib(path), _lib(path).nvrtcVersion(ctypes.byref(major), ctypes.byref(minor)), "nvrtcVersion")
    return major.value, minor.value


def _check(lib, result: int, what: str, log: str = "") -> None:
    if result != 0:
        raise CompileError(f"{what}: {lib.nvrtcGetErrorString(result).decode()}\n{log}".rstrip())


def _text(lib, prog, size_fn, get_fn) -> str:
    size = ctypes.c_size_t()
    _check(lib, size_fn(prog, ctypes.byref(size)), size_fn.__name__)
    buf = ctypes.create_string_buffer(size.value)
    _check(lib, get_fn(prog, buf), get_fn.__name__)
    return buf.value.decode(errors="replace")


def compile_ptx(nvrtc: Nvrtc, source: str, name: str, options=()) -> tuple[str, str]:
    """``(ptx, log)`` of ``source``; raises :class:`CompileError` with NVRTC's log when it fails."""
    lib = _lib(nvrtc.path)
    prog = ctypes.c_void_p()
    _check(lib, lib.nvrtcCreateProgram(ctypes.byref(prog), source.encode(), f"{name}.cu".encode(), 0, None, None), "nvrtcCreateProgram")
    try:
        opts = (ctypes.c_char_p * len(options))(*(o.encode() for o in options))
        result = lib.nvrtcCompileProgram(prog, len(options), opts)
        log = _text(lib, prog, lib.nvrtcGetProgramLogSize, lib.nvrtcGetProgramLog)
        _check(lib, result, f"nvrtcCompileProgram({name})", log)
        return _text(lib, prog, lib.nvrtcGetPTXSize, lib.nvrtcGetPTX), log
    finally:
        lib.nvrtcDestroyProgram(ctypes.byref(prog))
