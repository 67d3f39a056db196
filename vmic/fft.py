"""Two-dimensional FFTs for the pyramid, from scipy.fft or numpy.fft.

Both wrap pocketfft. scipy.fft transforms several rows at once with SIMD: its forward
``rfft2`` of 192 x 192 float32 frames measured 0.12-0.15 ms per frame against numpy's
0.20-0.32 ms, while their in-place inverse complex transforms ran at the same speed
(0.93-1.15 against 0.98-1.17 ms per frame for 4 bands). But importing scipy.fft costs about
0.3 s (its array-API layer imports numpy.f2py and scipy.special), more than all the forward
transforms of a short clip. :func:`choose_backend` weighs the two for a given amount of
work; numpy >= 2 is needed for its single-precision transforms and ``out=``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["BACKENDS", "choose_backend", "rfft2", "ifft2", "fft2"]

BACKENDS = ("scipy", "numpy")
# Pixels x frames below which numpy.fft is chosen: its slower forward transform costs about
# 2.7 ns of CPU per pixel more (1.4 ns of wall time on 2 cores), so 0.3 s of scipy.fft import
# pays for itself only past about 2e8 pixel-frames. Kept below that break-even.
NUMPY_MAX_PIXEL_FRAMES = 1e8


def choose_backend(n_frames: int, frame_shape: tuple[int, int]) -> str:
    """The faster back-end for transforming ``n_frames`` frames of ``frame_shape`` px,
    start-up (importing scipy.fft) included."""
    work = float(n_frames) * frame_shape[0] * frame_shape[1]
    return "numpy" if work < NUMPY_MAX_PIXEL_FRAMES else "scipy"


def check_backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"unknown FFT back-end {backend!r}; choose from {', '.join(BACKENDS)}")
    return backend


def rfft2(x: np.ndarray, backend: str = "scipy", workers: int = -1) -> np.ndarray:
    """Half spectrum over the last two axes of a real array (complex of its precision)."""
    if backend == "numpy":
        half = np.fft.rfft(x, axis=-1)
        return np.fft.fft(half, axis=-2, out=half)
    import scipy.fft

    return scipy.fft.rfft2(x, axes=(-2, -1), workers=workers)


def ifft2(x: np.ndarray, backend: str = "scipy", workers: int = -1,
          overwrite: bool = False) -> np.ndarray:
    """Inverse complex FFT over the last two axes; may reuse ``x`` when ``overwrite``."""
    if backend == "numpy":
        out = x if overwrite and x.flags.c_contiguous else np.array(x, order="C")
        np.fft.ifft(out, axis=-1, out=out)
        return np.fft.ifft(out, axis=-2, out=out)
    import scipy.fft

    return scipy.fft.ifft2(x, axes=(-2, -1), workers=workers, overwrite_x=overwrite)


def fft2(x: np.ndarray, backend: str = "scipy", workers: int = -1) -> np.ndarray:
    """Complex FFT over the last two axes."""
    if backend == "numpy":
        return np.fft.fft2(x, axes=(-2, -1))
    import scipy.fft

    return scipy.fft.fft2(x, axes=(-2, -1), workers=workers)
