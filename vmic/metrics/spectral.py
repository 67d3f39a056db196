"""Spectral and perceptual metrics after the shared alignment: log-spectral distance, STOI,
per-frame loudness error.

``r`` and ``e`` are the aligned reference and estimate of
:func:`vmic.metrics.alignment.prepare` (same lag, same least-squares gain and sign, same
scoring band as the SNR), so these metrics and the SNR describe one and the same pair.

- ``log_spectral_distance_db``: with power spectrograms ``P`` (Hann window of ``frame_s``,
  half overlap) of ``r`` and ``e`` restricted to the bins in ``[lo_hz, 0.45 sr]``,
  ``LSD = mean_frames sqrt(mean_bins (10 log10((P_r + eps) / (P_e + eps)))^2)`` (dB), with
  ``eps = 1e-10 max(P_r)``. Identical signals give 0. Every bin of the band counts equally,
  so bins where the truth is quiet (often most of them) weigh as much as the loud ones: an
  estimate whose noise floor lies 20 dB above a quiet truth's adds about 20 dB there, even
  when the SNR, dominated by the loud bins, is good. Read it as "how far the spectra are on
  a log scale, everywhere in the band", not as a noise level.
- ``stoi``: short-time objective intelligibility (``pystoi``, Taal et al. 2011) of ``e``
  against ``r``, in [0, 1]. STOI analyses 1/3-octave bands up to about 4.3 kHz at 10 kHz,
  so it is only computed when ``sr >= 10 kHz`` and the overlap is at least 0.4 s;
  otherwise it is ``nan`` (:func:`stoi_unavailable_reason` says why).
- ``loudness_mae_db``: the mean absolute difference of the per-frame loudness
  (:func:`vmic.loudness.frame_loudness_db`, frames of ``frame_s``, default 20 ms) of ``e``
  and ``r``, both floored ``range_db`` (60 dB) below the reference's loudest frame, so that
  silent frames of the truth (``-inf`` dB) do not dominate. As with the LSD, quiet frames
  count as much as loud ones, so the estimate's noise in the truth's pauses shows here.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from numpy.typing import ArrayLike
from scipy import signal

from vmic.loudness import frame_loudness_db
from vmic.metrics.alignment import DEFAULT_LO_HZ, HI_FRACTION, Alignment, frame_len, prepare

__all__ = ["STOI_MIN_SR", "log_spectral_distance_db", "lsd_from", "stoi", "stoi_from",
           "stoi_unavailable_reason", "loudness_mae_db", "loudness_mae_from"]

STOI_MIN_SR = 10000.0
"""Lowest sample rate (Hz) at which STOI is computed."""


def lsd_from(a: Alignment, *, sr: float, lo_hz: float = DEFAULT_LO_HZ,
             frame_s: float = 0.03) -> float:
    """Log-spectral distance (dB) of an aligned pair (module docstring)."""
    nper = frame_len(sr, frame_s, a.ref.size)
    f, _, spec_r = signal.stft(a.ref, fs=sr, nperseg=nper, noverlap=nper // 2, boundary=None,
                               padded=False)
    _, _, spec_e = signal.stft(a.est, fs=sr, nperseg=nper, noverlap=nper // 2, boundary=None,
                               padded=False)
    band = (f >= lo_hz) & (f <= HI_FRACTION * sr)
    pr = np.abs(spec_r[band]) ** 2
    pe = np.abs(spec_e[band]) ** 2
    eps = 1e-10 * max(float(pr.max()), 1e-300)
    d = 10.0 * np.log10((pr + eps) / (pe + eps))
    return float(np.mean(np.sqrt(np.mean(d ** 2, axis=0))))


def log_spectral_distance_db(est: ArrayLike, ref: ArrayLike, sr: float, *,
                             lo_hz: float = DEFAULT_LO_HZ, max_lag: int | None = None,
                             frame_s: float = 0.03) -> float:
    """Log-spectral distance (dB) over the scoring band, after alignment.

    Parameters
    ----------
    est, ref : array_like
        1-D signals at ``sr`` (Hz).
    sr : float
        Sample rate (Hz).
    lo_hz, max_lag
        As in :func:`vmic.metrics.snr_db`.
    frame_s : float
        STFT window length (s), Hann, half overlap.

    Returns
    -------
    float
        LSD in dB (0 for identical signals).
    """
    return lsd_from(prepare(est, ref, sr, lo_hz=lo_hz, max_lag=max_lag), sr=sr, lo_hz=lo_hz,
                    frame_s=frame_s)


def stoi_unavailable_reason(sr: float, n_samples: int) -> str | None:
    """Why STOI cannot be computed for this rate (Hz) and length, or ``None`` if it can."""
    if sr < STOI_MIN_SR:
        return (f"STOI needs a rate >= {STOI_MIN_SR:g} Hz (its bands reach 4.3 kHz), "
                f"got {sr:g} Hz")
    if n_samples < 0.4 * sr:
        return "STOI needs at least 0.4 s of signal"
    try:
        import pystoi  # noqa: F401
    except ImportError:
        return "STOI needs the pystoi package (pip install pystoi)"
    return None


def stoi_from(a: Alignment, *, sr: float) -> float:
    """STOI of an aligned pair, or ``nan`` where it is undefined."""
    if stoi_unavailable_reason(sr, a.ref.size) is not None:
        return math.nan
    from pystoi import stoi as pystoi_stoi

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(pystoi_stoi(a.ref, a.est, int(round(sr))))


def stoi(est: ArrayLike, ref: ArrayLike, sr: float, *, lo_hz: float = DEFAULT_LO_HZ,
         max_lag: int | None = None) -> float:
    """STOI (pystoi) of the aligned estimate against the reference, or ``nan``.

    ``nan`` when the rate is below :data:`STOI_MIN_SR` (10 kHz) or the overlap is shorter
    than 0.4 s, where STOI is undefined (see :func:`stoi_unavailable_reason`).

    Parameters
    ----------
    est, ref : array_like
        1-D signals at ``sr`` (Hz).
    sr : float
        Sample rate (Hz).
    lo_hz, max_lag
        As in :func:`vmic.metrics.snr_db`.

    Returns
    -------
    float
        STOI in [0, 1], or ``nan``.
    """
    return stoi_from(prepare(est, ref, sr, lo_hz=lo_hz, max_lag=max_lag), sr=sr)


def loudness_mae_from(a: Alignment, *, sr: float, frame_s: float = 0.02,
                      range_db: float = 60.0) -> float:
    """Per-frame loudness MAE (dB) of an aligned pair (module docstring)."""
    length = frame_len(sr, frame_s, a.ref.size)
    lr = frame_loudness_db(a.ref, length, floor_db=-300.0)
    floor = float(lr.max()) - range_db
    le = np.maximum(frame_loudness_db(a.est, length, floor_db=-300.0), floor)
    return float(np.mean(np.abs(le - np.maximum(lr, floor))))


def loudness_mae_db(est: ArrayLike, ref: ArrayLike, sr: float, *,
                    lo_hz: float = DEFAULT_LO_HZ, max_lag: int | None = None,
                    frame_s: float = 0.02, range_db: float = 60.0) -> float:
    """Mean absolute error (dB) of the per-frame loudness of the aligned signals.

    Parameters
    ----------
    est, ref : array_like
        1-D signals at ``sr`` (Hz).
    sr : float
        Sample rate (Hz).
    lo_hz, max_lag
        As in :func:`vmic.metrics.snr_db`.
    frame_s : float
        Loudness frame length (s).
    range_db : float
        Both loudness curves are floored at the reference's loudest frame minus this (dB).

    Returns
    -------
    float
        MAE in dB (0 for identical signals).
    """
    a = prepare(est, ref, sr, lo_hz=lo_hz, max_lag=max_lag)
    return loudness_mae_from(a, sr=sr, frame_s=frame_s, range_db=range_db)
