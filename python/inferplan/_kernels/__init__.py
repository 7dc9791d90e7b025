"""Kernel backends: the NumPy reference, its Numba mirror, and the C++ extension."""
