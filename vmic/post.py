"""Post-processing of recovered signals: filtering and scaling.

``vmSoundFromVideo`` high-passes causally (``filter``), which shifts each frequency by a
different delay; vmic's default filters forward and backward (``sosfiltfilt``), which has
zero phase.
"""

from __future__ import annotations

import numpy as np
import scipy.signal

from vmic.errors import VmicError

__all__ = [
    "highpass",
    "bandpass",
    "original_highpass",
    "scale_original",
    "scale_peak",
    "default_highpass_hz",
    "audible_highpass_hz",
    "finish",
]


def default_highpass_hz(fs: float) -> float:
    """The original's high-pass cutoff, 0.05 of the Nyquist rate (Hz)."""
    return 0.05 * fs / 2.0


def audible_highpass_hz(fs: float) -> float:
    """vmic's default high-pass cutoff: 20 Hz, the low edge of hearing (Hz).

    The original's relative cutoff (0.05 of Nyquist) grows with the camera: 55 Hz at
    2200 fps, 500 Hz at 20 000 fps, where it removes most of a voice. At very low rates
    the cutoff is kept under 0.2 of Nyquist.
    """
    return min(20.0, 0.2 * fs / 2.0)


def _check_cutoff(cutoff_hz: float, fs: float, name: str) -> float:
    nyquist = fs / 2.0
    if not 0 < cutoff_hz < nyquist:
        raise VmicError(f"{name} must be between 0 and the Nyquist rate {nyquist:g} Hz, "
                        f"got {cutoff_hz:g} Hz")
    return cutoff_hz / nyquist


def highpass(signal: np.ndarray, fs: float, cutoff_hz: float, order: int = 3,
             zero_phase: bool = True) -> np.ndarray:
    """Butterworth high-pass along the last axis.

    Parameters
    ----------
    signal : ndarray, shape (..., T)
    fs : float
        Sample rate (Hz).
    cutoff_hz : float
        -3 dB cutoff of one pass (Hz); a zero-phase run passes twice (-6 dB there).
    order : int, default 3
    zero_phase : bool, default True
        Forward-backward filtering (``sosfiltfilt``); False filters causally once.

    Returns
    -------
    ndarray of float64, same shape
    """
    sos = scipy.signal.butter(order, _check_cutoff(cutoff_hz, fs, "high-pass cutoff"),
                              btype="highpass", output="sos")
    return _apply(sos, signal, zero_phase, settle=int(np.ceil(4 * fs / cutoff_hz)))


def bandpass(signal: np.ndarray, fs: float, lo_hz: float, hi_hz: float, order: int = 3,
             zero_phase: bool = True) -> np.ndarray:
    """Butterworth band-pass [lo_hz, hi_hz] along the last axis (see :func:`highpass`)."""
    lo = _check_cutoff(lo_hz, fs, "band-pass low edge")
    hi = _check_cutoff(hi_hz, fs, "band-pass high edge")
    if not lo < hi:
        raise VmicError(f"band-pass needs LO < HI, got {lo_hz:g},{hi_hz:g} Hz")
    sos = scipy.signal.butter(order, [lo, hi], btype="bandpass", output="sos")
    return _apply(sos, signal, zero_phase, settle=int(np.ceil(4 * fs / lo_hz)))


def _apply(sos, signal, zero_phase, settle=None):
    signal = np.asarray(signal, dtype=np.float64)
    if zero_phase:
        # Pad by mirroring (even extension) over several time constants of the slowest
        # edge, so the filter has settled before the clip starts; scipy's default (odd
        # extension over ~20 samples) leaves transients at both ends of short clips.
        n = signal.shape[-1]
        padlen = min(n - 1, max(3 * (2 * len(sos) + 1), settle or 0))
        return scipy.signal.sosfiltfilt(sos, signal, axis=-1, padtype="even",
                                        padlen=max(padlen, 0))
    return scipy.signal.sosfilt(sos, signal, axis=-1)


def original_highpass(signal: np.ndarray) -> np.ndarray:
    """``vmSoundFromVideo``'s post-filter: causal 3rd-order Butterworth high-pass at 0.05 of
    Nyquist (``filter(b, a, x)``), then the first 10 samples set to the mean.

    Parameters
    ----------
    signal : ndarray of float, shape (T,)

    Returns
    -------
    ndarray of float64, shape (T,)
    """
    b, a = scipy.signal.butter(3, 0.05, btype="highpass")
    out = scipy.signal.lfilter(b, a, np.asarray(signal, dtype=np.float64))
    out[:10] = out.mean()
    return out


def scale_original(signal: np.ndarray) -> np.ndarray:
    """``vmSoundFromVideo``'s scaling: the range becomes 2 and the maximum 1, so the
    signal spans [-1, 1] (not centred on zero)."""
    out = np.asarray(signal, dtype=np.float64).copy()
    top, bottom = out.max(), out.min()
    if top != 1.0 or bottom != -1.0:
        span = top - bottom
        if span > 0:
            out = 2 * out / span
            out -= out.max() - 1.0
    return out


def scale_peak(signal: np.ndarray) -> np.ndarray:
    """Scale so the largest magnitude is 1 (zero stays zero); a zero signal is returned."""
    out = np.asarray(signal, dtype=np.float64)
    peak = np.abs(out).max() if out.size else 0.0
    return out / peak if peak > 0 else out.copy()


def finish(audio: np.ndarray, rate: float, bandpass_hz: tuple[float, float] | None = None,
           denoise: str = "none") -> np.ndarray:
    """Optional last steps of every recovery: zero-phase band-pass, denoising, peak scaling.

    Parameters
    ----------
    audio : ndarray of float, shape (T,)
    rate : float
        Sample rate (Hz).
    bandpass_hz : (float, float), optional
        Band [lo, hi] (Hz) to keep, zero-phase Butterworth.
    denoise : str, default "none"
        A method of :data:`vmic.denoise.DENOISE_METHODS`.

    Returns
    -------
    ndarray of float64, shape (T,)
        Unchanged when neither step is asked for; else rescaled to a peak of 1.
    """
    if bandpass_hz is None and denoise == "none":
        return np.asarray(audio, dtype=np.float64)
    out = np.asarray(audio, dtype=np.float64)
    if bandpass_hz is not None:
        out = bandpass(out, rate, *bandpass_hz)
    if denoise != "none":
        from vmic.denoise import denoise as run_denoise

        out = run_denoise(out, rate, denoise)
    return scale_peak(out)
