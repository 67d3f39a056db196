"""The spectral side of the vibration map (:mod:`vmic.vibmap`): each tile's energy-weighted
power spectrum, and its dominant line's frequency and strength over the local noise level."""

from __future__ import annotations

import numpy as np
import scipy.ndimage

from vmic import post
from vmic.errors import VmicError

__all__ = ["tile_spectra", "peak_strength", "PEAK_HALF_WIDTH", "BASELINE_BINS"]

#: Bins on each side of the peak bin counted as the peak (Hann main lobe).
PEAK_HALF_WIDTH = 2
#: Width (bins) of the running median that gives the local noise level of a spectrum.
BASELINE_BINS = 15

def tile_spectra(phase: np.ndarray, energy: np.ndarray, fps: float,
                 highpass_hz: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Energy-weighted power spectra of tile motion signals.

    Parameters
    ----------
    phase : ndarray of float, shape (B, TY, TX, T)
        Local phase change of each of B bands (rad).
    energy : ndarray of float, shape (B, TY, TX)
        Mean A**2 of each band in each tile (the band's weight).
    fps : float
        Capture rate (Hz): the signals' sample rate.
    highpass_hz : float
        Zero-phase high-pass cutoff applied first (Hz).

    Returns
    -------
    freqs : ndarray of float64, shape (F,)
        Bin frequencies (Hz), F = T // 2 + 1.
    power : ndarray of float64, shape (TY, TX, F)
        Summed weighted power spectra (rad**2, arbitrary scale).
    rms : ndarray of float64, shape (TY, TX)
        RMS of the weighted signals, sqrt(sum_b w_b x_b**2 / sum_b w_b) (rad).
    """
    n = phase.shape[-1]
    signals = phase - phase.mean(axis=-1, keepdims=True)
    signals = post.highpass(signals, fps, highpass_hz)
    total = energy.sum(axis=0)
    weights = np.divide(energy, total, out=np.zeros_like(energy, dtype=np.float64),
                        where=total > 0)
    window = np.hanning(n)
    power = np.zeros(phase.shape[1:3] + (n // 2 + 1,))
    mean_square = np.zeros(phase.shape[1:3])
    for b in range(phase.shape[0]):
        spectrum = np.fft.rfft(signals[b] * window, axis=-1)
        power += weights[b, ..., None] * (spectrum.real ** 2 + spectrum.imag ** 2)
        mean_square += weights[b] * np.mean(signals[b] ** 2, axis=-1)
    return np.fft.rfftfreq(n, 1.0 / fps), power, np.sqrt(mean_square)


def peak_strength(freqs: np.ndarray, power: np.ndarray, band_hz: tuple[float, float],
                  half_width: int = PEAK_HALF_WIDTH,
                  baseline_bins: int = BASELINE_BINS) -> tuple[np.ndarray, np.ndarray]:
    """Dominant spectral line and its strength over the local noise level, per spectrum.

    Motion spectra of real footage are red (slow sway, drift, codec flicker), so a line is
    judged against the noise level around it: the baseline is a running median of the
    power across ``baseline_bins`` bins (within the band), and the dominant line is the bin
    of greatest power over baseline.

    Parameters
    ----------
    freqs : ndarray of float64, shape (F,)
        Bin frequencies (Hz), equally spaced from 0.
    power : ndarray of float64, shape (..., F)
    band_hz : (float, float)
        Search range (Hz), inclusive.
    half_width : int, default 2
        Peak region = peak bin +- half_width bins (the Hann main lobe).
    baseline_bins : int, default 15
        Width of the running median giving the noise level (bins).

    Returns
    -------
    frequency : ndarray of float64, shape (...)
        Hz; parabolic interpolation of log power around the peak bin.
    strength : ndarray of float64, shape (...)
        10 log10(peak region power / ((2 half_width + 1) x baseline at the peak)), dB;
        0 where the spectrum is all zero. A line-free noise spectrum of N bins scores
        about 10 log10(ln N / ln 2) + a few dB (~ 8 dB for 150 bins).
    """
    inside = np.flatnonzero((freqs >= band_hz[0]) & (freqs <= band_hz[1]))
    if inside.size == 0:
        raise VmicError(f"no FFT bin between {band_hz[0]:g} and {band_hz[1]:g} Hz")
    tiny = np.finfo(np.float64).tiny
    sub = power[..., inside]
    width = max(1, min(int(baseline_bins), inside.size))
    size = (1,) * (sub.ndim - 1) + (width,)
    baseline = scipy.ndimage.median_filter(sub, size=size, mode="nearest")
    best = np.argmax(sub / np.maximum(baseline, tiny), axis=-1)
    peak = inside[best]
    level = np.take_along_axis(baseline, best[..., None], -1)[..., 0]
    n_bins = power.shape[-1]
    offsets = np.arange(-half_width, half_width + 1)
    region = np.clip(peak[..., None] + offsets, 0, n_bins - 1)
    peak_power = np.take_along_axis(power, region, axis=-1).sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        strength = 10 * np.log10(np.maximum(peak_power, tiny)
                                 / np.maximum(level * offsets.size, tiny))
    strength = np.where(peak_power > 0, strength, 0.0)
    # Parabolic interpolation on log power (a Gaussian fit to the Hann main lobe).
    left = np.take_along_axis(power, np.clip(peak - 1, 0, n_bins - 1)[..., None], -1)[..., 0]
    mid = np.take_along_axis(power, peak[..., None], -1)[..., 0]
    right = np.take_along_axis(power, np.clip(peak + 1, 0, n_bins - 1)[..., None], -1)[..., 0]
    la, lb, lc = (np.log(np.maximum(v, tiny)) for v in (left, mid, right))
    denom = la - 2 * lb + lc
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = np.where(denom < 0, 0.5 * (la - lc) / denom, 0.0)
    inner = (peak > 0) & (peak < n_bins - 1)
    delta = np.where(inner, np.clip(np.nan_to_num(delta), -0.5, 0.5), 0.0)
    step = freqs[1] - freqs[0] if freqs.size > 1 else 0.0
    return freqs[peak] + delta * step, strength
