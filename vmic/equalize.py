"""Equalising a recovery by an object's measured response (:mod:`vmic.response`).

The equaliser is a regularised inverse of the response ``H`` normalised to its sensitivity
``H_ref`` (:meth:`~vmic.response.Response.reference_magnitude`)::

    G(f) = p g^2(f) H_ref / H(f)    inside the valid band
    G(f) = p                        outside it (nothing is boosted there)

with ``p`` the recovery's polarity (:attr:`~vmic.response.Response.polarity`), which ``H``
is stored without: a recovery of the opposite sign is not equalised with a sign flip at the
band's edges.

The coherence ``g^2`` is the Wiener regulariser: with ``y = H x + n``, the calibration's
noise-to-signal ratio is ``(1 - g^2) / g^2``, and the Wiener estimate of ``x`` is
``H* / (|H|^2 (1 + NSR)) = g^2 / H``. ``|G|`` is bounded by ``max_gain_db`` (a notch of the
object is not filled with noise); where the phase estimate spreads more than
:data:`PHASE_STD_MAX_RAD`, ``G`` has zero phase. ``G`` sampled on the response's bins is
made a zero-delay FIR (the central half of the taps, Hann-tapered) applied by FFT convolution.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import scipy.signal
from numpy.typing import ArrayLike

from vmic.errors import VmicError
from vmic.response import Response, load_response

__all__ = ["equalizer_gain", "equalizer_taps", "equalize", "as_response", "check_rate",
           "settings_differences", "checked_response", "equalize_extraction", "DEFAULT_MAX_GAIN_DB",
           "PHASE_STD_MAX_RAD"]

DEFAULT_MAX_GAIN_DB = 20.0
"""Largest boost of the equaliser (dB over the object's sensitivity)."""
PHASE_STD_MAX_RAD = 0.5
"""Where the H1 phase spreads more than this (about 30 degrees) it is not inverted."""
TAPER = 1.0
SPAN = 0.5
# The FIR keeps the central SPAN of its taps under a Tukey taper of TAPER (1: Hann). The
# estimate's spread from bin to bin makes a faint tail of taps across the whole FIR, which
# smears sound into the pauses of speech: on a flat 64 px object (2 s white-noise
# calibration) the log-spectral distance of speech rose from 4.4 dB to 7.1 dB with all the
# taps (Hann), to 4.9 dB with half. On three objects (modes of Q 6-30), SNRs with half the
# taps were within 0.4 dB of those with all, and a quarter lost up to 1.6 dB (a Tukey 0.25
# taper over all taps: within 0.3 dB, and a log-spectral distance 0.5-2.6 dB higher).
SETTINGS = ("combine", "method", "scales", "orientations", "roi", "downsample", "highpass_hz")
"""Recovery settings compared between a calibration and the recoveries it equalises."""


def as_response(response: Response | str | os.PathLike) -> Response:
    """A :class:`~vmic.response.Response`, read from its JSON where a path is given."""
    if isinstance(response, Response):
        return response
    if isinstance(response, str | os.PathLike):
        return load_response(response)
    raise VmicError(f"equalize must be a Response or a calibration JSON path, got "
                    f"{type(response).__name__}")


def check_rate(response: Response, rate: float) -> None:
    """Refuse a calibration made at another capture rate than ``rate`` (Hz)."""
    if abs(float(rate) - response.rate_hz) > 1e-6 * response.rate_hz:
        raise VmicError(f"the calibration was made at {response.rate_hz:g} fps, the clip is "
                        f"at {float(rate):g} fps: calibrate the object at this rate")


def check_max_gain(max_gain_db: float) -> float:
    """The equaliser's gain bound (dB), finite and >= 0."""
    value = float(max_gain_db)
    if not (np.isfinite(value) and value >= 0):
        raise VmicError(f"equalize_max_gain_db must be a finite number >= 0 dB, got {value:g}")
    return value


def equalizer_gain(response: Response, *,
                   max_gain_db: float = DEFAULT_MAX_GAIN_DB) -> np.ndarray:
    """The equaliser ``G`` at the response's frequencies (see the module notes).

    Parameters
    ----------
    response : Response
    max_gain_db : float, default 20
        Bound on ``|G|`` (dB over the object's sensitivity).

    Returns
    -------
    ndarray of complex128, shape (F,)
        Unitless: the polarity (+-1) outside the valid band.
    """
    bound = 10.0 ** (check_max_gain(max_gain_db) / 20.0)
    mask = response.valid_mask() & (response.magnitude > 0)
    gain = np.ones(response.frequencies_hz.shape, dtype=np.complex128)
    if not mask.any():
        return response.polarity * gain
    h = response.h[mask] / response.reference_magnitude()
    inverse = np.clip(response.coherence[mask], 0.0, 1.0) / h
    size = np.minimum(np.abs(inverse), bound)
    reliable = response.phase_std_rad()[mask] <= PHASE_STD_MAX_RAD
    gain[mask] = np.where(reliable, size * np.exp(1j * np.angle(inverse)), size)
    # The Nyquist bin of a real filter is real.
    if response.frequencies_hz[-1] * 2 >= response.rate_hz - 1e-9:
        gain[-1] = abs(gain[-1])
    gain[0] = abs(gain[0])
    return response.polarity * gain


def equalizer_taps(response: Response, *,
                   max_gain_db: float = DEFAULT_MAX_GAIN_DB) -> np.ndarray:
    """The equaliser as a zero-delay FIR: float64 (2 (F - 1) + 1,), centre tap at the middle.

    ``G`` on the response's ``F`` bins is the spectrum of ``2 (F - 1)`` taps; they are
    centred, the central :data:`SPAN` of them kept under a taper (:data:`TAPER`), and one
    more zero tap is added, so that the centre is exactly the middle one.
    """
    gain = equalizer_gain(response, max_gain_db=max_gain_db)
    n = 2 * (gain.size - 1)
    taps = np.roll(np.fft.irfft(gain, n=n), n // 2)
    span = max(int(round(n * SPAN)) // 2 * 2, 2)
    window = np.zeros(n)
    window[n // 2 - span // 2:n // 2 + span // 2] = scipy.signal.windows.tukey(span, TAPER)
    return np.append(taps * window, 0.0)


def equalize(audio: ArrayLike, rate: float, response: Response | str | os.PathLike, *,
             max_gain_db: float = DEFAULT_MAX_GAIN_DB) -> np.ndarray:
    """Equalise recovered audio by the object's measured response.

    Parameters
    ----------
    audio : array_like of float, shape (T,)
        Recovered audio, high-passed as the calibration's recovery was (any units).
    rate : float
        Its sample rate (Hz): the capture rate, which must be the calibration's.
    response : Response or path-like
        The object's response, or its calibration JSON (``vmic calibrate``).
    max_gain_db : float, default 20
        Bound on the boost (dB over the object's sensitivity).

    Returns
    -------
    ndarray of float64, shape (T,)
        In the units of ``audio`` at the object's sensitivity: a flat object of the median
        response would have given it. Not rescaled.

    Raises
    ------
    VmicError
        Another capture rate, a malformed calibration, a bad bound.
    """
    response = as_response(response)
    check_rate(response, rate)
    x = np.asarray(audio, dtype=np.float64)
    if x.ndim != 1:
        raise VmicError(f"audio must be one signal (T,), got shape {x.shape}")
    if x.size == 0:
        return x.copy()
    taps = equalizer_taps(response, max_gain_db=max_gain_db)
    return scipy.signal.fftconvolve(x, taps, mode="same")


def settings_differences(response: Response, settings: dict) -> list[str]:
    """The recovery settings (:data:`SETTINGS`) that differ from the calibration's, as
    ``"name: calibration X, now Y"`` (settings the calibration does not hold are skipped)."""
    out = []
    for key in SETTINGS:
        if key not in response.recovery or key not in settings:
            continue
        was, now = response.recovery[key], settings[key]
        if isinstance(was, list):
            was = tuple(was)
        if isinstance(now, list):
            now = tuple(now)
        if was != now:
            out.append(f"{key}: calibration {was}, now {now}")
    return out


def checked_response(response: Response | str | os.PathLike, rate: float,
                     max_gain_db: float = DEFAULT_MAX_GAIN_DB) -> Response:
    """Read and check an equalisation before a recovery's work: the response (read from its
    JSON where a path is given), made at ``rate`` (Hz), and the gain bound (dB)."""
    response = as_response(response)
    check_rate(response, rate)
    check_max_gain(max_gain_db)
    response.reference_magnitude()  # refuses a response with no valid band
    return response


def equalize_extraction(audio: np.ndarray, gain_px: float | None,
                        response: Response | str | os.PathLike, extraction, combined,
                        highpass_hz: float | None,
                        max_gain_db: float = DEFAULT_MAX_GAIN_DB) -> tuple[np.ndarray,
                                                                            float | None]:
    """:func:`equalize` a recovery's combined audio and rescale it to peak 1 as before.

    Warns where the recovery's settings (:data:`SETTINGS`) differ from the calibration's.

    Parameters
    ----------
    audio : ndarray of float64, shape (T,)
        The combination's output (high-passed).
    gain_px : float or None
        px per unit of ``audio``.
    response : Response or path-like
    extraction : vmic.extraction.Extraction
        The recovery's settings.
    combined : vmic.combine.Combined
        The combination's result (the method used).
    highpass_hz : float or None
        The recovery's high-pass cutoff (Hz; None: the default).
    max_gain_db : float

    Returns
    -------
    audio : ndarray of float64, shape (T,)
        Equalised, peak 1.
    gain_px : float or None
        px (of the object at its sensitivity) per unit of the returned audio.
    """
    response = checked_response(response, extraction.fps, max_gain_db)
    settings = {"combine": extraction.combine, "method": combined.method,
                "scales": combined.details.get("scales", extraction.scales),
                "orientations": extraction.orientations,
                "roi": None if extraction.roi is None else list(extraction.roi),
                "downsample": extraction.downsample, "highpass_hz": highpass_hz}
    differences = settings_differences(response, settings)
    if differences:
        warnings.warn("the recovery settings differ from the calibration's ("
                      + "; ".join(differences) + "): the equalisation may not fit",
                      stacklevel=3)
    out = equalize(audio, extraction.fps, response, max_gain_db=max_gain_db)
    peak = float(np.abs(out).max()) if out.size else 0.0
    if peak > 0:
        out = out / peak
        gain_px = None if gain_px is None else gain_px * peak
    return out, gain_px
