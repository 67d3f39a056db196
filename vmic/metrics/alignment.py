"""The preparation every metric shares: scoring band, lag and gain alignment.

A recovered signal is only known up to a gain, a sign and a small delay, so every metric of
:mod:`vmic.metrics` first runs :func:`prepare` on the estimate ``est`` and the reference
``ref`` (both 1-D, sampled at ``sr`` Hz):

1. **Scoring band**: both signals go through :func:`scoring_band`, a zero-phase Butterworth
   band-pass ``[lo_hz, 0.45 sr]`` (order 4, forward and backward with
   :func:`scipy.signal.sosfiltfilt`). ``lo_hz`` defaults to :data:`DEFAULT_LO_HZ` (20 Hz): it
   removes drift and DC, which are not sound.
2. **Lag**: the integer lag ``L`` in ``[-max_lag, max_lag]`` samples that maximises the
   absolute cross-correlation ``|sum_n est[n + L] ref[n]|`` of the band-limited signals
   (``L > 0``: the estimate is late). Only the overlap of the two signals at that lag is kept
   and band-limited again, so both have the same edges. ``max_lag`` defaults to
   ``round(0.02 sr)`` samples (20 ms).
3. **Gain** (sign allowed): the least-squares fit ``est ~= g ref``, ``g = <est, ref> / <ref,
   ref>``. The estimate is divided by ``g``, so the aligned estimate ``est / g`` is on the
   reference's scale and sign. Regressing the estimate on the truth (not the other way round)
   keeps ``g`` unbiased by noise in the estimate, so that a signal plus independent noise at a
   known SNR is measured at that SNR.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import signal

from vmic.errors import VmicError

__all__ = ["DEFAULT_LO_HZ", "HI_FRACTION", "DEFAULT_MAX_LAG_S", "Alignment", "as_signal",
           "default_max_lag", "scoring_band", "best_lag", "align", "prepare", "frame_len"]

DEFAULT_LO_HZ = 20.0
"""Default low edge (Hz) of the scoring band ``[lo_hz, HI_FRACTION * sr]``."""

HI_FRACTION = 0.45
"""High edge of the scoring band, as a fraction of the sample rate."""

DEFAULT_MAX_LAG_S = 0.02
"""Default largest lag searched, in seconds (rounded to samples)."""


@dataclass(frozen=True)
class Alignment:
    """Result of :func:`align` and :func:`prepare`.

    Attributes
    ----------
    lag : int
        Samples by which the estimate is late (``est[n + lag]`` matches ``ref[n]``).
    gain : float
        Least-squares gain of ``est ~= gain * ref`` (negative for an inverted estimate).
    est : numpy.ndarray
        float64 (N,), the overlapping part of the estimate divided by ``gain``.
    ref : numpy.ndarray
        float64 (N,), the overlapping part of the reference.
    """

    lag: int
    gain: float
    est: np.ndarray
    ref: np.ndarray


def as_signal(x: ArrayLike, name: str) -> np.ndarray:
    """``x`` as a finite float64 1-D signal of at least 2 samples, or a :class:`VmicError`.

    An (N, 1) or (1, N) array counts as mono; anything else with two or more channels is
    refused (average or pick the channels first).
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 2 and 1 in x.shape:
        x = x.reshape(-1)
    if x.ndim != 1:
        raise VmicError(f"{name} must be a mono 1-D signal, got shape {x.shape}")
    if x.size < 2:
        raise VmicError(f"{name} is too short ({x.size} samples)")
    if not np.all(np.isfinite(x)):
        raise VmicError(f"{name} contains NaN or infinite samples")
    return x


def default_max_lag(sr: float) -> int:
    """Default lag search range ``round(DEFAULT_MAX_LAG_S * sr)`` samples (at least 1)."""
    return max(1, int(round(DEFAULT_MAX_LAG_S * sr)))


def frame_len(sr: float, frame_s: float, n: int) -> int:
    """Frame length (samples) of ``frame_s`` seconds at ``sr`` Hz, in [2, n]."""
    return int(max(2, min(n, round(frame_s * sr))))


def scoring_band(x: ArrayLike, sr: float, *, lo_hz: float = DEFAULT_LO_HZ,
                 order: int = 4) -> np.ndarray:
    """Restrict a 1-D signal to the scoring band ``[lo_hz, 0.45 sr]``, zero phase.

    Unlike :func:`vmic.post.bandpass` (a user-chosen band ``[lo, hi]`` applied to recovered
    audio), this removes the mean and uses the fixed high edge ``0.45 sr`` of the metrics.

    Parameters
    ----------
    x : array_like
        Signal, shape (N,).
    sr : float
        Sample rate (Hz).
    lo_hz : float
        Low edge (Hz); ``0`` gives a low-pass at ``0.45 sr`` only.
    order : int
        Butterworth order of each pass (the forward-backward filter has twice the attenuation).

    Returns
    -------
    numpy.ndarray
        float64 (N,), the filtered signal (mean removed).
    """
    x = np.asarray(x, dtype=np.float64)
    hi_hz = HI_FRACTION * sr
    if not 0 <= lo_hz < hi_hz:
        raise VmicError(f"scoring band's low edge lo_hz={lo_hz:g} Hz must be in "
                        f"[0, {hi_hz:g}) Hz (0.45 x the sample rate sr={sr:g} Hz)")
    if lo_hz > 0:
        sos = signal.butter(order, [lo_hz, hi_hz], btype="bandpass", fs=sr, output="sos")
    else:
        sos = signal.butter(order, hi_hz, btype="lowpass", fs=sr, output="sos")
    x = x - x.mean()
    padlen = min(x.size - 1, 3 * (2 * len(sos) + 1) * 4)
    return signal.sosfiltfilt(sos, x, padtype="even", padlen=padlen)


def best_lag(est: np.ndarray, ref: np.ndarray, max_lag: int) -> int:
    """Integer lag in ``[-max_lag, max_lag]`` maximising ``|sum_n est[n + lag] ref[n]|``.

    Parameters
    ----------
    est, ref : numpy.ndarray
        1-D signals (any lengths).
    max_lag : int
        Largest absolute lag searched (samples).

    Returns
    -------
    int
        The lag (samples); positive when the estimate is late.
    """
    corr = signal.correlate(est, ref, mode="full", method="fft")
    zero = ref.size - 1  # index of lag 0 in the full correlation
    lo = max(-max_lag, -(ref.size - 1))
    hi = min(max_lag, est.size - 1)
    window = np.abs(corr[zero + lo: zero + hi + 1])
    return int(lo + np.argmax(window))


def _overlap(est: np.ndarray, ref: np.ndarray, lag: int) -> tuple[np.ndarray, np.ndarray]:
    e0, r0 = (lag, 0) if lag >= 0 else (0, -lag)
    n = min(est.size - e0, ref.size - r0)
    return est[e0:e0 + n], ref[r0:r0 + n]


def align(est: ArrayLike, ref: ArrayLike, max_lag: int) -> Alignment:
    """Align ``est`` to ``ref``: best integer lag, then the least-squares gain (sign allowed).

    Parameters
    ----------
    est, ref : array_like
        1-D signals at the same rate (lengths may differ).
    max_lag : int
        Largest absolute lag searched (samples).

    Returns
    -------
    Alignment
        Lag, gain and the aligned overlapping parts (``est / gain`` and ``ref``).
    """
    est = as_signal(est, "estimate")
    ref = as_signal(ref, "reference")
    lag = best_lag(est, ref, int(max_lag))
    e, r = _overlap(est, ref, lag)
    rr = float(np.dot(r, r))
    if rr == 0.0:
        raise VmicError("the reference is silent (all zeros) in the scoring band")
    gain = float(np.dot(e, r)) / rr
    if gain == 0.0:
        return Alignment(lag, 0.0, np.zeros_like(e), r)
    return Alignment(lag, gain, e / gain, r)


def prepare(est: ArrayLike, ref: ArrayLike, sr: float, *, lo_hz: float = DEFAULT_LO_HZ,
            max_lag: int | None = None) -> Alignment:
    """Restrict both signals to the scoring band and :func:`align` them (module docstring).

    Parameters
    ----------
    est, ref : array_like
        1-D signals at ``sr`` (Hz).
    sr : float
        Sample rate (Hz).
    lo_hz : float
        Low edge of the band (Hz).
    max_lag : int, optional
        Largest absolute lag (samples); default :func:`default_max_lag`.

    Returns
    -------
    Alignment
    """
    est = as_signal(est, "estimate")
    ref = as_signal(ref, "reference")
    max_lag = default_max_lag(sr) if max_lag is None else int(max_lag)
    lag = best_lag(scoring_band(est, sr, lo_hz=lo_hz), scoring_band(ref, sr, lo_hz=lo_hz),
                   max_lag)
    # Filter the overlapping parts again so both see the same edges (no edge transients).
    e, r = _overlap(est, ref, lag)
    a = align(scoring_band(e, sr, lo_hz=lo_hz), scoring_band(r, sr, lo_hz=lo_hz), 0)
    return Alignment(lag, a.gain, a.est, a.ref)
