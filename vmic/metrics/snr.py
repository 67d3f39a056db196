"""Waveform metrics after the shared alignment: SNR, segmental SNR, correlation, RMSE.

``r`` is the aligned reference and ``e`` the aligned estimate ``est / g`` of
:func:`vmic.metrics.alignment.prepare`, both in the scoring band.

- ``snr_db = 10 log10(sum r^2 / sum (e - r)^2)`` (dB): the scale-invariant SNR (SI-SDR) of
  the band-limited signals; identical signals give ``+inf``.
- ``segmental_snr_db``: the same ratio in consecutive frames of ``frame_s`` (default 30 ms),
  each clipped to ``[-10, 35]`` dB, averaged over frames whose reference energy is within
  40 dB of the loudest frame (silent frames are skipped).
- ``pearson``: Pearson correlation of ``e`` and ``r`` (sign-aligned, so normally >= 0).
- ``rmse01``: each signal min-max scaled to [0, 1] and ``sqrt(mean((e01 - r01)^2))``
  (the measure of an earlier Siamese-network study). Identical signals give 0.

Each metric has two forms: ``snr_db(est, ref, sr)`` aligns first, ``snr_from(alignment)``
scores an :class:`~vmic.metrics.alignment.Alignment` already made (as :func:`vmic.metrics.score`
does, once for all metrics).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from vmic.errors import VmicError
from vmic.metrics.alignment import (
    DEFAULT_LO_HZ,
    Alignment,
    as_signal,
    frame_len,
    prepare,
)

__all__ = ["SEG_CLIP_DB", "snr_db", "snr_from", "chance_snr_db", "segmental_snr_db",
           "segsnr_from", "pearson", "pearson_from", "rmse01", "rmse01_from", "minmax01"]

SEG_CLIP_DB = (-10.0, 35.0)
"""Range (dB) each frame's SNR is clipped to in the segmental SNR."""


def _ratio_db(num: float, den: float) -> float:
    if den <= 0.0:
        return math.inf
    if num <= 0.0:
        return -math.inf
    return 10.0 * math.log10(num / den)


def snr_from(a: Alignment) -> float:
    """SNR (dB) of an aligned pair: ``10 log10(sum r^2 / sum (e - r)^2)``."""
    return _ratio_db(float(np.sum(a.ref ** 2)), float(np.sum((a.est - a.ref) ** 2)))


def snr_db(est: ArrayLike, ref: ArrayLike, sr: float, *, lo_hz: float = DEFAULT_LO_HZ,
           max_lag: int | None = None) -> float:
    """SNR (dB) of ``est`` against ``ref`` after the scoring band, lag and gain alignment.

    Parameters
    ----------
    est, ref : array_like
        1-D signals at ``sr`` (Hz).
    sr : float
        Sample rate (Hz).
    lo_hz : float
        Low edge of the scoring band (Hz).
    max_lag : int, optional
        Largest absolute lag (samples).

    Returns
    -------
    float
        SNR in dB (``inf`` for identical signals).
    """
    return snr_from(prepare(est, ref, sr, lo_hz=lo_hz, max_lag=max_lag))


def chance_snr_db(ref: ArrayLike, sr: float, *, quantile: float = 0.95, draws: int = 100,
                  lo_hz: float = DEFAULT_LO_HZ, max_lag: int | None = None,
                  seed: int = 0) -> float:
    """SNR (dB) that an estimate independent of ``ref`` reaches by chance.

    The lag search and the gain fit of :func:`snr_db` let any estimate correlate a little
    with the truth, so pure noise scores a finite SNR: about ``20 log10(rho)`` with
    ``rho`` the largest correlation over ``2 max_lag + 1`` lags, of order ``1 / sqrt(N)``
    (for 0.5 s at 2200 Hz, a median near -22 dB). This is the ``quantile`` of
    :func:`snr_db` over ``draws`` white-noise estimates scored against ``ref``. An estimate
    at or below it cannot be told from noise at that confidence.

    Parameters
    ----------
    ref : array_like
        1-D truth at ``sr`` (Hz).
    sr : float
        Sample rate (Hz).
    quantile : float, default 0.95
        In (0, 1).
    draws : int, default 100
        Noise estimates scored.
    lo_hz, max_lag
        As in :func:`snr_db`.
    seed : int, default 0
        Seed of the noise (the result is reproducible).

    Returns
    -------
    float
        SNR (dB).
    """
    ref = as_signal(ref, "reference")
    if not 0.0 < quantile < 1.0:
        raise VmicError(f"quantile must be in (0, 1), got {quantile}")
    if draws < 1:
        raise VmicError(f"draws must be at least 1, got {draws}")
    rng = np.random.default_rng(seed)
    scores = [snr_db(rng.standard_normal(ref.size), ref, sr, lo_hz=lo_hz, max_lag=max_lag)
              for _ in range(int(draws))]
    return float(np.quantile(scores, quantile))


def _frames(x: np.ndarray, length: int) -> np.ndarray:
    n = x.size // length
    return x[: n * length].reshape(n, length)


def segsnr_from(a: Alignment, *, sr: float, frame_s: float = 0.03) -> float:
    """Segmental SNR (dB) of an aligned pair (frames of ``frame_s`` s at ``sr`` Hz)."""
    length = frame_len(sr, frame_s, a.ref.size)
    r = _frames(a.ref, length)
    d = _frames(a.est - a.ref, length)
    pr = np.sum(r ** 2, axis=1)
    pd = np.sum(d ** 2, axis=1)
    keep = pr >= pr.max() * 1e-4
    with np.errstate(divide="ignore"):
        seg = 10.0 * np.log10(pr[keep] / np.where(pd[keep] > 0, pd[keep], 1e-300))
    return float(np.mean(np.clip(seg, *SEG_CLIP_DB)))


def segmental_snr_db(est: ArrayLike, ref: ArrayLike, sr: float, *,
                     lo_hz: float = DEFAULT_LO_HZ, max_lag: int | None = None,
                     frame_s: float = 0.03) -> float:
    """Segmental SNR (dB): mean per-frame SNR, clipped to [-10, 35] dB, over non-silent frames.

    Parameters
    ----------
    est, ref : array_like
        1-D signals at ``sr`` (Hz).
    sr : float
        Sample rate (Hz).
    lo_hz, max_lag
        As in :func:`snr_db`.
    frame_s : float
        Frame length (s); consecutive, non-overlapping.

    Returns
    -------
    float
        Segmental SNR in dB (35 for identical signals).
    """
    return segsnr_from(prepare(est, ref, sr, lo_hz=lo_hz, max_lag=max_lag), sr=sr,
                       frame_s=frame_s)


def pearson_from(a: Alignment) -> float:
    """Pearson correlation of an aligned pair (0 when either is constant)."""
    e = a.est - a.est.mean()
    r = a.ref - a.ref.mean()
    den = math.sqrt(float(np.dot(e, e)) * float(np.dot(r, r)))
    return float(np.dot(e, r)) / den if den > 0 else 0.0


def pearson(est: ArrayLike, ref: ArrayLike, sr: float, *, lo_hz: float = DEFAULT_LO_HZ,
            max_lag: int | None = None) -> float:
    """Pearson correlation of the aligned, sign-corrected, band-limited signals.

    Parameters
    ----------
    est, ref : array_like
        1-D signals at ``sr`` (Hz).
    sr : float
        Sample rate (Hz).
    lo_hz, max_lag
        As in :func:`snr_db`.

    Returns
    -------
    float
        Correlation in [-1, 1] (1 for identical signals).
    """
    return pearson_from(prepare(est, ref, sr, lo_hz=lo_hz, max_lag=max_lag))


def minmax01(x: ArrayLike) -> np.ndarray:
    """Scale ``x`` to [0, 1] by ``(x - min) / (max - min)`` (zeros if constant); float64."""
    x = np.asarray(x, dtype=np.float64)
    span = float(x.max() - x.min())
    return (x - x.min()) / span if span > 0 else np.zeros_like(x)


def rmse01_from(a: Alignment) -> float:
    """RMSE of an aligned pair, each min-max scaled to [0, 1]."""
    return float(np.sqrt(np.mean((minmax01(a.est) - minmax01(a.ref)) ** 2)))


def rmse01(est: ArrayLike, ref: ArrayLike, sr: float, *, lo_hz: float = DEFAULT_LO_HZ,
           max_lag: int | None = None) -> float:
    """RMSE of the aligned, sign-corrected, band-limited signals, each scaled to [0, 1].

    Parameters
    ----------
    est, ref : array_like
        1-D signals at ``sr`` (Hz).
    sr : float
        Sample rate (Hz).
    lo_hz, max_lag
        As in :func:`snr_db`.

    Returns
    -------
    float
        RMSE in [0, 1] (0 for identical signals).
    """
    return rmse01_from(prepare(est, ref, sr, lo_hz=lo_hz, max_lag=max_lag))
