"""Calibrating an object: its response from a clip of it playing a known sound.

:func:`calibrate` recovers the clip (:func:`vmic.recovery.recover`), reads the played sound
(:func:`read_played`: any rate, resampled with soxr to the capture rate; stereo mixed to
mono with a warning), filters it with the recovery's high-pass, and estimates the response
(:func:`vmic.response.estimate_response`). The result equalises later recoveries of the same
object and view (:func:`vmic.post.equalize`, ``recover(..., equalize=...)``).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from vmic.errors import VmicError
from vmic.response import Response, estimate_response

__all__ = ["calibrate", "read_played", "MIN_PLAYED_FRACTION"]

MIN_PLAYED_FRACTION = 0.5
"""The played sound must last at least this fraction of the clip."""
PX_UNITS = "px per unit of the played sound"


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
