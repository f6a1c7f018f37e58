"""Test support for the CuPy backend without a GPU: NVRTC through ctypes, the kernels built by the
host C++ compiler, and a NumPy-backed stand-in for the few CuPy names the backend uses."""
