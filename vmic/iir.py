"""Butterworth high-pass design and IIR filtering, without importing ``scipy.signal``.

The recovery path needs only a Butterworth high-pass (as second-order sections), causal
filtering and forward-backward filtering. ``scipy.signal`` takes over a second to import
(it pulls in ``scipy.stats``), more than a short clip takes to process, so these few
pieces are written here, following the textbook steps ``scipy.signal.butter`` takes
(analog prototype, low-to-high-pass transform, bilinear transform with pre-warping) and
tested against it to round-off.
"""

from __future__ import annotations

import numpy as np

from . import native

__all__ = ["butter_highpass_sos", "butter_highpass_ba", "sosfilt", "sosfiltfilt", "lfilter"]


def _highpass_zpk(order: int, wn: float):
    # Analog Butterworth prototype (poles on the unit circle's left half), moved to a
    # high-pass at the pre-warped cutoff, then mapped by the bilinear transform (fs = 2,
    # so frequencies are in units of the Nyquist rate as in scipy.signal.butter).
    if order < 1:
        raise ValueError("order must be >= 1")
    if not 0 < wn < 1:
        raise ValueError("cutoff must be between 0 and 1 (the Nyquist rate)")
    m = np.arange(-order + 1, order, 2)
    poles = -np.exp(1j * np.pi * m / (2 * order))
    warped = 2 * 2.0 * np.tan(np.pi * wn / 2.0)
    poles = warped / poles  # zeros: `order` at s = 0; gain 1 (prod(-poles) = 1)
    fs2 = 4.0
    z_poles = (fs2 + poles) / (fs2 - poles)
    z_zeros = np.ones(order)  # s = 0 maps to z = 1
    gain = float(np.real(fs2**order / np.prod(fs2 - poles)))
    return z_zeros, z_poles, gain


def butter_highpass_sos(order: int, wn: float) -> np.ndarray:
    """Digital Butterworth high-pass as second-order sections.

    Parameters
    ----------
    order : int
        Filter order.
    wn : float
        Cutoff (-3 dB) as a fraction of the Nyquist rate, 0 < wn < 1.

    Returns
    -------
    ndarray of float64, shape (ceil(order / 2), 6)
        Rows ``[b0, b1, b2, 1, a1, a2]``, as ``scipy.signal.butter(..., output="sos")``.
    """
    zeros, poles, gain = _highpass_zpk(order, wn)
    # Pair each pole with its conjugate (upper half-plane representative), a real pole
    # (odd order) gets a first-order section; every section has its zeros at z = 1.
    complex_poles = poles[np.imag(poles) > 1e-12]
    real_poles = np.real(poles[np.abs(np.imag(poles)) <= 1e-12])
    sections = []
    for p in sorted(real_poles, key=lambda v: abs(v)):
        sections.append([1.0, -1.0, 0.0, 1.0, -p, 0.0])
    for p in sorted(complex_poles, key=lambda v: abs(v)):
        sections.append([1.0, -2.0, 1.0, 1.0, -2.0 * p.real, abs(p) ** 2])
    sos = np.array(sections, dtype=np.float64)
    sos[0, :3] *= gain
    return sos


def butter_highpass_ba(order: int, wn: float) -> tuple[np.ndarray, np.ndarray]:
    """The same high-pass as polynomial coefficients ``(b, a)`` (``scipy.signal.butter``)."""
    zeros, poles, gain = _highpass_zpk(order, wn)
    return gain * np.real(np.poly(zeros)), np.real(np.poly(poles))


def sosfilt(sos: np.ndarray, x: np.ndarray, zi: np.ndarray | None = None) -> np.ndarray:
    """Filter along the last axis with second-order sections (zero initial state).

    Parameters
    ----------
    sos : ndarray, shape (S, 6)
    x : ndarray of float, shape (..., T)
    zi : ndarray, shape (..., S, 2), optional
        Initial state (default zeros).

    Returns
    -------
    ndarray of float64, same shape as ``x``
    """
    x = np.asarray(x, dtype=np.float64)
    rows = np.ascontiguousarray(x.reshape(-1, x.shape[-1]))
    state = np.zeros((rows.shape[0], sos.shape[0], 2)) if zi is None else \
        np.ascontiguousarray(np.broadcast_to(zi, x.shape[:-1] + (sos.shape[0], 2))
                             .reshape(rows.shape[0], sos.shape[0], 2), dtype=np.float64).copy()
    return native.sosfilt_rows(np.ascontiguousarray(sos, dtype=np.float64), rows,
                               state).reshape(x.shape)


def _sos_step_state(sos: np.ndarray) -> np.ndarray:
    # Steady state of each section for a unit step at its input (scipy's sosfilt_zi).
    zi = np.empty((sos.shape[0], 2))
    scale = 1.0
    for s, (b0, b1, b2, _, a1, a2) in enumerate(sos):
        # Solve (I - A^T) z = b[1:] - a[1:] b0 with A the companion matrix of [1, a1, a2].
        companion_t = np.array([[-a1, 1.0], [-a2, 0.0]])
        rhs = np.array([b1 - a1 * b0, b2 - a2 * b0])
        zi[s] = scale * np.linalg.solve(np.eye(2) - companion_t, rhs)
        scale *= (b0 + b1 + b2) / (1.0 + a1 + a2)
    return zi


def sosfiltfilt(sos: np.ndarray, x: np.ndarray, padlen: int) -> np.ndarray:
    """Forward-backward (zero-phase) filtering along the last axis, even-extension padding.

    Matches ``scipy.signal.sosfiltfilt(sos, x, padtype="even", padlen=padlen)``.

    Parameters
    ----------
    sos : ndarray, shape (S, 6)
    x : ndarray of float, shape (..., T)
    padlen : int
        Samples mirrored (without repeating the edge sample) at each end, < T.

    Returns
    -------
    ndarray of float64, same shape as ``x``
    """
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[-1]
    if not 0 <= padlen < max(n, 1):
        raise ValueError(f"padlen must be between 0 and the signal length - 1, got {padlen}")
    if padlen > 0:
        left = x[..., padlen:0:-1]
        right = x[..., -2 : -(padlen + 2) : -1]
        ext = np.concatenate([left, x, right], axis=-1)
    else:
        ext = x
    zi = _sos_step_state(sos)
    forward = sosfilt(sos, ext, zi * ext[..., :1, None])
    backward = sosfilt(sos, forward[..., ::-1], zi * forward[..., -1:, None])[..., ::-1]
    return np.ascontiguousarray(backward[..., padlen : padlen + n])


def lfilter(b: np.ndarray, a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Causal IIR filter of a 1-D signal, zero initial state (``scipy.signal.lfilter``).

    Parameters
    ----------
    b, a : ndarray of float
        Numerator and denominator; normalised so that ``a[0] = 1``.
    x : ndarray of float, shape (T,)

    Returns
    -------
    ndarray of float64, shape (T,)
    """
    b = np.asarray(b, dtype=np.float64) / a[0]
    a = np.asarray(a, dtype=np.float64) / a[0]
    return native.lfilter(b, a, np.ascontiguousarray(x, dtype=np.float64))
