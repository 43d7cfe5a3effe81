"""Private Numba kernels.  The public, shape-checked API lives in :mod:`captioning.layers`."""
