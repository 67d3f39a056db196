"""Post-processing of recovered signals: filtering, the one band validator, and scaling.

``vmSoundFromVideo`` high-passes causally (``filter``), which shifts each frequency by a
different delay; vmic's default filters forward and backward (``sosfiltfilt``), which has
zero phase.
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING

import numpy as np
import scipy.signal
from numpy.typing import ArrayLike

from vmic.errors import VmicError

if TYPE_CHECKING:
    from vmic.response import Response

__all__ = [
    "highpass",
    "bandpass",
    "check_band",
    "check_cutoff",
    "parse_band",
    "original_highpass",
    "scale_original",
    "scale_peak",
    "default_highpass_hz",
    "audible_highpass_hz",
    "finish",
    "band_and_denoise",
    "equalize",
]


def default_highpass_hz(sr: float) -> float:
    """The original's high-pass cutoff, 0.05 of the Nyquist rate ``sr / 2`` (Hz)."""
    return 0.05 * sr / 2.0


def audible_highpass_hz(sr: float) -> float:
    """vmic's default high-pass cutoff: 20 Hz, the low edge of hearing (Hz).

    The original's relative cutoff (0.05 of Nyquist) grows with the camera: 55 Hz at
    2200 fps, 500 Hz at 20 000 fps, where it removes most of a voice. At very low rates
    the cutoff is kept under 0.2 of Nyquist.
    """
    return min(20.0, 0.2 * sr / 2.0)


def check_band(lo_hz: float, hi_hz: float, *, sr: float | None = None,
               name: str = "bandpass_hz") -> tuple[float, float]:
    """The one check of a pass band ``[lo_hz, hi_hz]`` (Hz): finite, ``0 < lo < hi < sr / 2``.

    Parameters
    ----------
    lo_hz, hi_hz : float
        Band edges (Hz).
    sr : float, optional
        Sample rate (Hz); when given, ``hi_hz`` must be under the Nyquist rate ``sr / 2``.
    name : str
        How messages name the band (the command line passes its flag).

    Returns
    -------
    (float, float)
        ``(lo_hz, hi_hz)`` as floats.

    Raises
    ------
    VmicError
        One line saying what is wrong.
    """
    try:
        lo, hi = float(lo_hz), float(hi_hz)
    except (TypeError, ValueError):
        raise VmicError(f"{name} must be two numbers (Hz), got {lo_hz!r}, {hi_hz!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo <= 0 or hi <= lo:
        raise VmicError(f"{name} needs 0 < LO < HI (Hz), got {lo:g},{hi:g}")
    if sr is not None and hi >= sr / 2:
        raise VmicError(f"{name}: the band's high edge {hi:g} Hz must be under the Nyquist "
                        f"rate {sr / 2:g} Hz")
    return lo, hi


def parse_band(text: str, *, sr: float | None = None,
               name: str = "band") -> tuple[float, float]:
    """Parse a band ``"LO,HI"`` (Hz), e.g. from ``--bandpass 80,1000``, and :func:`check_band` it.

    Parameters
    ----------
    text : str
        Two numbers separated by a comma, 0 < LO < HI.
    sr : float, optional
        Sample rate (Hz); when given, HI must be under the Nyquist rate ``sr / 2``.
    name : str
        How messages name the band.

    Returns
    -------
    (float, float)
        ``(lo_hz, hi_hz)``.
    """
    parts = str(text).split(",")
    if len(parts) != 2:
        raise VmicError(f"{name} must be LO,HI in Hz (e.g. 80,1000), got {text!r}")
    try:
        lo, hi = (float(p) for p in parts)
    except ValueError:
        raise VmicError(f"{name} must be two numbers LO,HI in Hz, got {text!r}") from None
    return check_band(lo, hi, sr=sr, name=name)


def check_cutoff(cutoff_hz: float, *, sr: float, name: str = "cutoff_hz") -> float:
    """A filter cutoff (Hz), which must lie strictly between 0 and the Nyquist rate ``sr / 2``.

    Parameters
    ----------
    cutoff_hz : float
        Cutoff (Hz).
    sr : float
        Sample rate (Hz).
    name : str
        How the message names the cutoff.

    Returns
    -------
    float
        ``cutoff_hz``.
    """
    nyquist = sr / 2.0
    if not 0 < cutoff_hz < nyquist:
        raise VmicError(f"{name} must be between 0 and the Nyquist rate {nyquist:g} Hz, "
                        f"got {cutoff_hz:g} Hz")
    return float(cutoff_hz)


def highpass(signal: ArrayLike, sr: float, cutoff_hz: float, *, order: int = 3,
             zero_phase: bool = True) -> np.ndarray:
    """Butterworth high-pass along the last axis.

    Parameters
    ----------
    signal : array_like, shape (..., T)
    sr : float
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
    cutoff = check_cutoff(cutoff_hz, sr=sr, name="high-pass cutoff") / (sr / 2.0)
    sos = scipy.signal.butter(order, cutoff, btype="highpass", output="sos")
    return _apply(sos, signal, zero_phase, settle=int(np.ceil(4 * sr / cutoff_hz)))


def bandpass(signal: ArrayLike, sr: float, lo_hz: float, hi_hz: float, *, order: int = 3,
             zero_phase: bool = True) -> np.ndarray:
    """Butterworth band-pass ``[lo_hz, hi_hz]`` along the last axis, a band the user chose.

    The pass band is any band under the Nyquist rate (see :func:`check_band`); the signal's
    mean is not touched beyond what the filter removes. (The metrics' fixed scoring band is
    :func:`vmic.metrics.scoring_band`.)

    Parameters
    ----------
    signal : array_like, shape (..., T)
    sr : float
        Sample rate (Hz).
    lo_hz, hi_hz : float
        Band edges (Hz), ``0 < lo_hz < hi_hz < sr / 2``.
    order : int, default 3
    zero_phase : bool, default True
        As in :func:`highpass`.

    Returns
    -------
    ndarray of float64, same shape
    """
    lo_hz, hi_hz = check_band(lo_hz, hi_hz, sr=sr)
    nyquist = sr / 2.0
    sos = scipy.signal.butter(order, [lo_hz / nyquist, hi_hz / nyquist], btype="bandpass",
                              output="sos")
    return _apply(sos, signal, zero_phase, settle=int(np.ceil(4 * sr / lo_hz)))


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


def finish(audio: ArrayLike, sr: float, *, bandpass_hz: tuple[float, float] | None = None,
           denoise: str = "none") -> np.ndarray:
    """Optional last steps of every recovery: zero-phase band-pass, denoising, peak scaling.

    Parameters
    ----------
    audio : array_like of float, shape (T,)
    sr : float
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
    return scale_peak(band_and_denoise(audio, sr, bandpass_hz=bandpass_hz, denoise=denoise))


def band_and_denoise(audio: ArrayLike, sr: float, *,
                     bandpass_hz: tuple[float, float] | None = None,
                     denoise: str = "none") -> np.ndarray:
    """:func:`finish`'s band-pass and denoising, without its final peak scaling.

    Returns
    -------
    ndarray of float64, shape (T,)
    """
    out = np.asarray(audio, dtype=np.float64)
    if bandpass_hz is not None:
        out = bandpass(out, sr, *bandpass_hz)
    if denoise != "none":
        from vmic.denoise import denoise as run_denoise

        out = run_denoise(out, sr, method=denoise)
    return out


def equalize(audio: ArrayLike, rate: float, response: Response | str | os.PathLike, *,
             max_gain_db: float = 20.0) -> np.ndarray:
    """Equalise recovered audio by an object's measured response (``vmic calibrate``).

    A regularised inverse of the response within its valid band, bounded to ``max_gain_db``
    of boost, unity outside it (:func:`vmic.equalize.equalize`, whose notes give the filter).

    Parameters
    ----------
    audio : array_like of float, shape (T,)
        Recovered audio, high-passed as the calibration's recovery was.
    rate : float
        Sample rate (Hz): the capture rate, which must be the calibration's.
    response : vmic.response.Response or path-like
        The response, or its calibration JSON.
    max_gain_db : float, default 20
        Largest boost (dB over the object's sensitivity).

    Returns
    -------
    ndarray of float64, shape (T,)
        Not rescaled.
    """
    from vmic.equalize import equalize as run_equalize

    return run_equalize(audio, rate, response, max_gain_db=max_gain_db)
