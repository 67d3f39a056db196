"""Two-dimensional FFTs for the pyramid, from scipy.fft or OpenCV.

scipy.fft (pocketfft) transforms several rows at once with SIMD and handles any size (its
Bluestein algorithm bounds the cost of prime sizes); it comes with :mod:`scipy.signal`, which
the filters import anyway. OpenCV's ``cv2.dft`` is about twice as fast on sizes whose only
prime factors are 2, 3 and 5, and much slower on others; it transforms one frame per call
(looped here; the call releases the GIL). Timings are in ``docs/benchmarks.md`` (speed).

:func:`choose_backend` picks OpenCV for 5-smooth frame sizes, else scipy.fft.
"""

from __future__ import annotations

import numpy as np
import scipy.fft

__all__ = ["BACKENDS", "choose_backend", "is_5_smooth", "rfft2", "ifft2", "fft2"]

BACKENDS = ("scipy", "opencv")


def is_5_smooth(n: int) -> bool:
    """Whether ``n`` (> 0) has no prime factor other than 2, 3 and 5."""
    n = int(n)
    if n < 1:
        return False
    for p in (2, 3, 5):
        while n % p == 0:
            n //= p
    return n == 1


def choose_backend(frame_shape: tuple[int, int]) -> str:
    """The faster back-end for frames of ``frame_shape`` (height, width) px: ``"opencv"``
    when both sides are 5-smooth, else ``"scipy"``."""
    return "opencv" if all(is_5_smooth(n) for n in frame_shape) else "scipy"


def check_backend(backend: str) -> str:
    """``backend`` if it is one of :data:`BACKENDS`, else a ValueError naming them."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown FFT back-end {backend!r}; choose from {', '.join(BACKENDS)}")
    return backend


def rfft2(x: np.ndarray, backend: str = "scipy", workers: int = -1) -> np.ndarray:
    """Half spectrum over the last two axes of a real array (complex of its precision)."""
    if backend == "opencv":
        return _opencv_rfft2(x)
    return scipy.fft.rfft2(x, axes=(-2, -1), workers=workers)


def ifft2(x: np.ndarray, backend: str = "scipy", workers: int = -1,
          overwrite: bool = False, normalize: bool = True) -> np.ndarray:
    """Inverse complex FFT over the last two axes; may reuse ``x`` when ``overwrite``.

    With ``normalize`` (the default, as numpy and scipy) the result is divided by the
    number of points H W; without, it is not (their ``norm="forward"``). A caller that can
    fold ``1 / (H W)`` into its input saves that pass: with OpenCV it is 20 % of a 192 x 192
    inverse transform (0.149 against 0.120 ms) and a third of a 96 x 96 one.
    """
    norm = "backward" if normalize else "forward"
    if backend == "opencv":
        return _opencv_fft2(x, inverse=True, overwrite=overwrite, scale=normalize)
    return scipy.fft.ifft2(x, axes=(-2, -1), workers=workers, overwrite_x=overwrite,
                           norm=norm)


def fft2(x: np.ndarray, backend: str = "scipy", workers: int = -1) -> np.ndarray:
    """Complex FFT over the last two axes."""
    if backend == "opencv":
        return _opencv_fft2(x, inverse=False, overwrite=False)
    return scipy.fft.fft2(x, axes=(-2, -1), workers=workers)


def _complex_dtype(dtype) -> np.dtype:
    return np.complex64 if np.dtype(dtype) in (np.float32, np.complex64) else np.complex128


def _as_pairs(x: np.ndarray) -> np.ndarray:
    # (..., H, W) complex -> (N, H, W, 2) real view: OpenCV's two-channel complex layout.
    real = x.real.dtype
    return x.view(real).reshape((-1,) + x.shape[-2:] + (2,))


def _opencv_rfft2(x: np.ndarray) -> np.ndarray:
    import cv2

    x = np.asarray(x)
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float64)
    x = np.ascontiguousarray(x)
    height, width = x.shape[-2:]
    half = width // 2 + 1
    out = np.empty(x.shape[:-1] + (half,), dtype=_complex_dtype(x.dtype))
    frames = x.reshape((-1, height, width))
    pairs = _as_pairs(out)
    full = np.empty((height, width, 2), dtype=x.dtype)
    for i in range(frames.shape[0]):
        # OpenCV returns the whole Hermitian spectrum; keep the non-negative columns.
        cv2.dft(frames[i], dst=full, flags=cv2.DFT_COMPLEX_OUTPUT)
        pairs[i] = full[:, :half]
    return out


def _opencv_fft2(x: np.ndarray, inverse: bool, overwrite: bool,
                 scale: bool = True) -> np.ndarray:
    import cv2

    x = np.asarray(x)
    dtype = _complex_dtype(x.real.dtype if np.iscomplexobj(x) else x.dtype)
    if overwrite and x.dtype == dtype and x.flags.c_contiguous:
        source = out = x
    else:
        source = np.ascontiguousarray(x, dtype=dtype)
        out = np.empty_like(source)
    flags = cv2.DFT_COMPLEX_OUTPUT
    if inverse:
        flags |= cv2.DFT_INVERSE
        if scale:
            flags |= cv2.DFT_SCALE  # numpy's 1/(H W) normalisation
    src, dst = _as_pairs(source), _as_pairs(out)
    for i in range(src.shape[0]):
        cv2.dft(src[i], dst=dst[i], flags=flags)  # in place when out is x
    return out
