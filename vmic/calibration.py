"""Calibrating an object: its response from a clip of it playing a known sound.

An object is not a flat microphone: a bag, a leaf or a membrane moves with its own
resonances. Played a known broadband sound (a sweep, white or pink noise, MLS), the recovered
motion ``y`` and the played sound ``x`` give the object's response (Davis et al. 2014, sec. 5):

- the **lag** between them, the peak of their cross-correlation (:func:`find_lag`), refused
  where no lag stands out of the correlation's spread;
- the **H1 estimate** ``H(f) = S_xy(f) / S_xx(f)`` and the **coherence**
  ``|S_xy|^2 / (S_xx S_yy)`` from Welch averages (:func:`scipy.signal.csd`), with ``x``
  shifted by the lag, so the phase is the object's own, less that delay
  (:func:`estimate_response`), and the valid band (:func:`vmic.response.valid_band`).

:func:`calibrate` recovers the clip (:func:`vmic.recovery.recover`), reads the played sound
(:func:`read_played`: any rate, resampled with soxr to the capture rate; stereo mixed to
mono with a warning), filters it with the recovery's high-pass, and estimates the response
(:func:`vmic.response.estimate_response`). The result equalises later recoveries of the same
object and view (:func:`vmic.post.equalize`, ``recover(..., equalize=...)``).
"""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path

import numpy as np
import scipy.signal
from numpy.typing import ArrayLike

from vmic.errors import VmicError
from vmic.response import COHERENCE_MIN, Lag, Response, valid_band

__all__ = ["calibrate", "read_played", "find_lag", "estimate_response", "segment_length",
           "MIN_PLAYED_FRACTION", "LAG_Z_MIN"]

MIN_PLAYED_FRACTION = 0.5
"""The played sound must last at least this fraction of the clip."""
PX_UNITS = "px per unit of the played sound"
LAG_Z_MIN = 8.0
"""The cross-correlation's peak must stand this many robust deviations over its spread."""
SEGMENT_MAX_S = 0.25
MIN_AVERAGES_RATIO = 8
# Welch segments: the longest power of two within SEGMENT_MAX_S (512 samples, 4.3 Hz bins at
# 2200 fps) and within an eighth of the overlap (at least 15 half-overlapping averages):
# a compromise between resolving sharp modes (Q 30 at 100 Hz is 3.3 Hz wide) and the
# estimate's spread, which the equaliser passes on (docs/equalize.md).


def read_played(path: str | os.PathLike, rate: float, *, n_frames: int | None = None
                ) -> np.ndarray:
    """The played sound at the capture rate ``rate`` (Hz), float64 (T,).

    Parameters
    ----------
    path : path-like
        Any audio file soundfile reads, at any sample rate; several channels are mixed to
        mono with a warning.
    rate : float
        Capture rate (Hz).
    n_frames : int, optional
        Frames of the clip: a played sound shorter than :data:`MIN_PLAYED_FRACTION` of it is
        refused.

    Raises
    ------
    VmicError
        Not audio, silent, or too short.
    """
    import soundfile

    from vmic.io.audio import read_wav, resample

    audio, sr = read_wav(path)
    channels = soundfile.info(str(path)).channels
    if channels > 1:
        warnings.warn(f"the played file {Path(path).name} has {channels} channels: mixed to "
                      "mono", stacklevel=2)
    if not np.all(np.isfinite(audio)) or float(np.max(np.abs(audio))) == 0.0:
        raise VmicError(f"the played file {path} is silent (or holds non-finite samples)")
    x = audio if sr == rate else resample(audio, sr, target_sr=rate)
    if n_frames is not None and x.size < MIN_PLAYED_FRACTION * n_frames:
        raise VmicError(f"the played sound lasts {x.size / rate:.3f} s, less than half the "
                        f"clip ({n_frames / rate:.3f} s): give the whole sound that was played")
    return x


def _highpassed_like(x: np.ndarray, rate: float, method: str,
                     highpass_hz: float | None) -> np.ndarray:
    # The played sound through the recovery's own high-pass: H is then the object's, and the
    # equaliser does not undo the high-pass.
    from vmic import post

    x = x - x.mean()
    if method == "align":
        return post.original_highpass(x)
    cutoff = post.audible_highpass_hz(rate) if highpass_hz is None else highpass_hz
    return post.highpass(x, rate, cutoff)


def calibrate(clip, played: str | os.PathLike | np.ndarray, *, played_rate: float | None = None,
              fps: float | None = None, roi: tuple[int, int, int, int] | None = None,
              downsample: int = 1, start: int = 0, n_frames: int | None = None,
              combine: str = "auto", scales: int | None = None, orientations: int = 2,
              highpass_hz: float | None = None, reference_frame: int = 0,
              reference_average: int | None = None, motion: str | None = None,
              quiet: bool = True) -> Response:
    """Measure an object's response from a clip of it excited by a known sound.

    Parameters
    ----------
    clip : str, Path, Clip or ndarray
        The calibration clip, as :func:`vmic.recover` takes it.
    played : path-like or ndarray
        The played sound (a sweep, white or pink noise, MLS): an audio file at any rate, or
        samples float (T,) at ``played_rate`` Hz.
    played_rate : float, optional
        Rate (Hz) of ``played`` when it is an array (default: the capture rate).
    fps, roi, downsample, start, n_frames, combine, scales, orientations, highpass_hz,
    reference_frame, reference_average, motion, quiet
        The recovery's, as :func:`vmic.recover`; later recoveries should use the same
        (``recover(..., equalize=...)`` warns where they differ).

    Returns
    -------
    Response
        ``|H|`` in px per unit of the played sound (``align``: in its own units).

    Raises
    ------
    VmicError
        A played file that is not audio, silent or shorter than half the clip; no
        significant lag; no valid band; and what :func:`vmic.recover` refuses.
    """
    from vmic.io.audio import resample
    from vmic.io.stream import opened_clip
    from vmic.recovery import recover

    with opened_clip(clip, fps=fps, roi=roi, downsample=downsample, start=start,
                     n_frames=n_frames) as source:
        rate = source.capture_fps
        if isinstance(played, np.ndarray):
            x = np.asarray(played, dtype=np.float64).reshape(-1)
            if played_rate is not None and played_rate != rate:
                x = resample(x, played_rate, target_sr=rate)
            if x.size == 0 or not np.all(np.isfinite(x)) or not np.any(x):
                raise VmicError("the played sound is silent (or holds non-finite samples)")
            if x.size < MIN_PLAYED_FRACTION * source.n_frames:
                raise VmicError("the played sound lasts less than half the clip")
            name = "array"
        else:
            x = read_played(played, rate, n_frames=source.n_frames)
            name = Path(played).name
        result = recover(source, combine=combine, scales=scales, orientations=orientations,
                         highpass_hz=highpass_hz, reference_frame=reference_frame,
                         reference_average=reference_average, motion=motion, quiet=quiet)
        settings = {"combine": result.info.combine, "method": result.info.method,
                    "scales": result.info.scales, "orientations": result.info.orientations,
                    "roi": list(source.roi), "downsample": source.downsample,
                    "highpass_hz": highpass_hz}
        clip_name = Path(source.path).name if getattr(source, "path", None) else "array"
    info = result.info
    y = np.asarray(result.audio, dtype=np.float64)
    units = Response.units
    if info.gain_px is not None:
        y, units = y * info.gain_px, PX_UNITS
    x = _highpassed_like(x, rate, info.method, highpass_hz)
    return estimate_response(x, y, rate, units=units, recovery=settings,
                             sources={"clip": clip_name, "played": name})


def find_lag(played: ArrayLike, recovered: ArrayLike, rate: float, *,
             min_overlap: int | None = None) -> Lag:
    """The lag of ``recovered`` after ``played`` at the peak of their cross-correlation.

    Parameters
    ----------
    played : array_like of float, shape (M,)
        The played sound at the capture rate.
    recovered : array_like of float, shape (N,)
        The recovered motion (any units).
    rate : float
        Capture rate (Hz).
    min_overlap : int, optional
        Lags where the two overlap by fewer samples are not searched (default half the
        shorter signal).

    Returns
    -------
    Lag

    Raises
    ------
    VmicError
        Where no lag stands :data:`LAG_Z_MIN` robust deviations over the correlation's
        spread: the clip does not follow the played sound.
    """
    x = np.asarray(played, dtype=np.float64)
    y = np.asarray(recovered, dtype=np.float64)
    x, y = x - x.mean(), y - y.mean()
    norm = float(np.linalg.norm(x) * np.linalg.norm(y))
    if norm == 0:
        raise VmicError("the played sound or the recovered motion is silent: no lag to find")
    corr = scipy.signal.correlate(y, x, mode="full", method="fft") / norm
    lags = scipy.signal.correlation_lags(y.size, x.size, mode="full")
    overlap = np.minimum(y.size, lags + x.size) - np.maximum(0, lags)
    need = min(x.size, y.size) // 2 if min_overlap is None else int(min_overlap)
    keep = overlap >= max(need, 1)
    corr, lags = corr[keep], lags[keep]
    best = int(np.argmax(np.abs(corr)))
    spread = 1.4826 * float(np.median(np.abs(corr - np.median(corr))))
    z = abs(float(corr[best])) / spread if spread > 0 else math.inf
    if not z >= LAG_Z_MIN:
        raise VmicError(f"no lag gives a significant correlation between the played sound "
                        f"and the clip's motion (best {corr[best]:+.3f} at {lags[best] / rate:+.4f}"
                        f" s, {z:.1f} robust deviations, under {LAG_Z_MIN:g}): is it the clip "
                        "of this sound?")
    return Lag(samples=int(lags[best]), seconds=float(lags[best] / rate),
               correlation=float(corr[best]), z=float(z))


def segment_length(n: int, rate: float) -> int:
    """Welch segment (samples) for ``n`` samples at ``rate`` Hz (see :data:`SEGMENT_MAX_S`)."""
    longest = min(n // MIN_AVERAGES_RATIO, int(rate * SEGMENT_MAX_S))
    if longest < 16:
        raise VmicError(f"{n} overlapping samples are too few to estimate a response "
                        f"(at least {16 * MIN_AVERAGES_RATIO})")
    return 1 << int(math.floor(math.log2(longest)))


def estimate_response(played: ArrayLike, recovered: ArrayLike, rate: float, *,
                      lag: Lag | None = None, nperseg: int | None = None,
                      units: str = Response.units, recovery: dict | None = None,
                      sources: dict | None = None) -> Response:
    """H1 estimate of the response from ``played`` to ``recovered``, with its coherence.

    Parameters
    ----------
    played : array_like of float, shape (M,)
        The played sound at the capture rate, filtered as the recovery filtered the motion
        (its high-pass), so that ``H`` is the object's alone.
    recovered : array_like of float, shape (N,)
        The recovered motion.
    rate : float
        Capture rate (Hz).
    lag : Lag, optional
        Default :func:`find_lag`'s.
    nperseg : int, optional
        Welch segment (samples); default :func:`segment_length`.
    units, recovery, sources
        Stored in the :class:`Response`.

    Returns
    -------
    Response

    Raises
    ------
    VmicError
        No significant lag, too short an overlap, or no valid band.
    """
    x = np.asarray(played, dtype=np.float64)
    y = np.asarray(recovered, dtype=np.float64)
    lag = find_lag(x, y, rate) if lag is None else lag
    start, stop = max(0, lag.samples), min(y.size, x.size + lag.samples)
    xs, ys = x[start - lag.samples:stop - lag.samples], y[start:stop]
    nperseg = segment_length(xs.size, rate) if nperseg is None else int(nperseg)
    welch = dict(fs=rate, window="hann", nperseg=nperseg, noverlap=nperseg // 2)
    freqs, pxy = scipy.signal.csd(xs, ys, **welch)
    _, pxx = scipy.signal.welch(xs, **welch)
    _, pyy = scipy.signal.welch(ys, **welch)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = np.where(pxx > 0, pxy / pxx, 0.0)
        coherence = np.where((pxx > 0) & (pyy > 0), np.abs(pxy) ** 2 / (pxx * pyy), 0.0)
    coherence = np.clip(coherence, 0.0, 1.0)
    n_averages = (xs.size - nperseg) // (nperseg - nperseg // 2) + 1
    polarity = -1 if lag.correlation < 0 else 1
    h = polarity * h
    band = valid_band(freqs, coherence, n_averages)
    if not band:
        raise VmicError(f"no valid band: the coherence between the played sound and the "
                        f"clip's motion stays under {COHERENCE_MIN:g} (at most "
                        f"{coherence[1:].max():.2f}; a louder sound, a longer clip or a "
                        "--roi on the object may help)")
    return Response(rate_hz=float(rate), frequencies_hz=freqs, magnitude=np.abs(h),
                    phase_rad=np.angle(h), coherence=coherence, valid_band_hz=band,
                    n_averages=int(n_averages), units=units, lag=lag, polarity=polarity,
                    recovery=dict(recovery or {}), sources=dict(sources or {}))
