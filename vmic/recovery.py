"""Recovery: frames -> pyramid -> phase sums -> combination -> post -> audio.

:func:`recover` is :func:`vmic.extraction.prepare_extraction`,
:func:`vmic.extraction.extract_range` and :func:`recover_from_ranges` on one range, the
whole clip, streamed once: the reference image is taken from the stream's first batches.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

import numpy as np

from vmic.errors import VmicError
from vmic.io.clip import Clip
from vmic.io.stream import opened_clip
from vmic.passes import extract_following_motion
from vmic.result import Recovery, RecoveryInfo

if TYPE_CHECKING:
    from vmic.extraction import Extraction
    from vmic.ranges import RangeSums
    from vmic.response import Response

# The pyramid, phase and combination modules (numba, scipy.signal) are imported inside
# recover() once the clip is decoding, so that decoding overlaps their import.

__all__ = ["Recovery", "RecoveryInfo", "recover", "recover_from_ranges", "DEFAULT_COMBINE",
           "UNITS"]

DEFAULT_COMBINE = "auto"
UNITS = ("scaled", "px")
MOTION_MODES = ("auto", "off")


def recover_from_ranges(extraction: Extraction, parts: list[RangeSums], *,
                        highpass_hz: float | None = None,
                        bandpass_hz: tuple[float, float] | None = None,
                        denoise: str = "none", units: str = "scaled",
                        equalize: Response | str | os.PathLike | None = None,
                        equalize_max_gain_db: float = 20.0) -> Recovery:
    """Join the sums of consecutive frame ranges and recover their sound.

    Parameters
    ----------
    extraction : Extraction
        From :func:`vmic.extraction.prepare_extraction`.
    parts : list of RangeSums
        From :func:`vmic.extraction.extract_range` with ``extraction``, consecutive and in
        order.
    highpass_hz, bandpass_hz, denoise, units, equalize, equalize_max_gain_db
        As :func:`recover`.

    Returns
    -------
    Recovery

    Raises
    ------
    VmicError
        Parts out of order, with gaps or overlaps, from another extraction, fewer than 2
        frames, bad options.
    """
    from vmic.combine import get_method
    from vmic.core.motion import smooth_track
    from vmic.ranges import join_ranges
    from vmic.tracking import measured_track, report_tiles

    started = time.perf_counter()
    method = get_method(extraction.combine)
    check_options(method, extraction.fps, highpass_hz, bandpass_hz, denoise, units)
    sums = join_ranges(extraction, parts)
    if sums.n_frames < 2:
        raise VmicError(f"only {sums.n_frames} frame could be decoded; need at least 2")
    frames, slots = sums, None
    if extraction.frame_slots is not None:
        # Dropped frames: each frame on its slot of the time grid (vmic.timeline).
        from vmic.timeline import place_on_slots, place_sums

        slots = extraction.frame_slots[sums.start:sums.stop]
        slots = slots - slots[0]
        sums = place_sums(sums, slots)
    combined = method.combine(extraction, sums, highpass_hz=highpass_hz, units=units)
    audio, gain = combined.audio, combined.gain_px
    if equalize is not None:  # after the high-pass (in combine), before denoising
        from vmic.equalize import equalize_extraction

        audio, gain = equalize_extraction(audio, gain, equalize, extraction, combined,
                                          highpass_hz, equalize_max_gain_db)
    audio, gain = _finish(audio, gain, extraction.fps, bandpass_hz, denoise)
    if units == "px":
        audio, gain = audio * gain, 1.0
    details = dict(combined.details)
    info = RecoveryInfo(
        frames=int(frames.n_frames), frame_shape=extraction.frame_shape,
        scales=details.pop("scales", extraction.scales), orientations=extraction.orientations,
        tiles=details.pop("tiles", extraction.tiles),
        reference_average=details.pop("reference_average", extraction.reference_average),
        fps_source=extraction.fps_source, combine=extraction.combine, method=combined.method,
        weights_unit=combined.weights_unit if combined.weights is not None else None,
        gain_px=gain, units=units, **details)
    if frames.motion is not None:
        info.motion_px = smooth_track(frames.motion, extraction.fps)
        if frames.tile_motion is not None:
            tiles = measured_track(frames, extraction.fps).tiles
            report_tiles(info, tiles.field, extraction.frame_shape)
    if extraction.motion is not None:
        # Frames whose reference left the view hold no recoverable motion: silence.
        lost = ~extraction.motion_keep[frames.start:frames.stop]
        if slots is not None:  # a filled slot is lost where a neighbour is
            lost = np.ceil(place_on_slots(lost.astype(np.float32), slots)).astype(bool)
        audio[lost] = 0.0
        info.motion_px = extraction.motion[frames.start:frames.stop]
        info.motion_compensated = True
        info.motion_margin_px = extraction.compensator(extraction.source_shape).margin
        info.lost_frames = lost
        if extraction.tile_motion is not None:
            report_tiles(info, extraction.tile_motion[frames.start:frames.stop],
                         extraction.source_shape, removed=True)
    if slots is not None:
        info.filled_samples = np.ones(len(audio), bool)
        info.filled_samples[slots] = False
    info.elapsed_s = time.perf_counter() - started
    return Recovery(audio=audio.astype(np.float32), sr=extraction.fps,
                    band_signals=combined.band_signals, weights=combined.weights, info=info)


def _finish(audio: np.ndarray, gain: float | None, sr: float, bandpass_hz, denoise: str):
    # post.finish, keeping track of the gain in px through its final peak scaling.
    from vmic import post

    if bandpass_hz is None and denoise == "none":
        return np.asarray(audio, dtype=np.float64), gain
    out = post.band_and_denoise(audio, sr, bandpass_hz=bandpass_hz, denoise=denoise)
    peak = float(np.abs(out).max()) if out.size else 0.0
    if gain is not None and peak > 0:
        gain = gain * peak
    return post.scale_peak(out), gain


def check_options(method, fps: float, highpass_hz, bandpass_hz, denoise: str,
                  units: str) -> None:
    """Refuse bad post-processing options before any work (messages name the parameter)."""
    from vmic import post
    from vmic.denoise import DENOISE_METHODS

    if units not in UNITS:
        raise VmicError(f"unknown units {units!r}; choose from {', '.join(UNITS)}")
    if units == "px" and not method.px_output:
        raise VmicError(f"units='px' needs a method whose output is calibrated in px "
                        f"(local or auto), not combine={method.name!r}")
    if highpass_hz is not None:
        post.check_cutoff(highpass_hz, sr=fps, name="high-pass cutoff")
    if denoise not in DENOISE_METHODS:
        raise VmicError(f"unknown denoise method {denoise!r}; choose from "
                        f"{', '.join(DENOISE_METHODS)}")
    if bandpass_hz is not None:
        post.check_band(*bandpass_hz, sr=fps, name="bandpass_hz")


# Over 80 lines only through its docstring, which documents every option (the body is ~30).
def recover(clip: str | os.PathLike | Clip | np.ndarray, *, fps: float | None = None,
            scales: int | None = None,
            orientations: int = 2, combine: str = DEFAULT_COMBINE,
            highpass_hz: float | None = None, reference_frame: int = 0,
            reference_average: int | None = None,
            roi: tuple[int, int, int, int] | None = None, downsample: int = 1,
            start: int = 0, n_frames: int | None = None,
            bandpass_hz: tuple[float, float] | None = None, denoise: str = "none",
            units: str = "scaled", motion: str | None = None, track_roi: bool = False,
            equalize: Response | str | os.PathLike | None = None,
            equalize_max_gain_db: float = 20.0, batch_size: int = 8,
            segment: int | None = None,
            quiet: bool = True, dtype: type | np.dtype = np.float32,
            client=None) -> Recovery:
    """Recover sound from a clip, in one pass over its frames (two where it moves).

    Parameters
    ----------
    clip : str, Path, Clip or ndarray
        A clip path (video, image folder, ``.npy``), an opened :class:`~vmic.io.clip.Clip`,
        or frames (T, H, W) (then ``fps`` is required).
    fps : float, optional
        Capture rate (Hz); default from the sidecar, else the container (with a warning).
    scales : int, optional
        Pyramid scales; default the method's (1 for ``align``, else up to 3).
    orientations : int, default 2
        Pyramid orientations.
    combine : {"auto", "local", "bands", "align"}, default "auto"
        Combination method (:data:`vmic.combine.METHODS`); ``align`` reproduces
        ``vmSoundFromVideo``. ``auto`` is ``local`` where it detects a common motion
        signal (``info.detected``); where it does not, it returns what ``combine="align"``
        with the same arguments returns (``info.fallback``, ``info.method == "align"``),
        from the same pass over the clip.
    highpass_hz : float, optional
        High-pass cutoff (Hz), zero-phase; default 20 Hz (``align``: the original's causal
        filter at 0.05 of Nyquist).
    reference_frame : int, default 0
        Reference frame, counted from ``start``.
    reference_average : int, optional
        Frames averaged into the reference image, from ``reference_frame`` on. Default
        the method's: 1 for ``align`` (as the original), else 32: the reference's camera
        noise otherwise enters every pixel's motion weight (on the fidelity grid's
        heavy-noise clips a 32-frame mean lifted ``local`` by a median 1.8 dB).
    roi, downsample, start, n_frames
        Frame selection, see :func:`vmic.io.clip.open_clip`.
    bandpass_hz : (float, float), optional
        Keep only [lo, hi] Hz (zero-phase Butterworth).
    denoise : {"none", "spectral-subtraction", "wiener", "gate"}, default "none"
        Denoising of the recovered audio (see :mod:`vmic.denoise`).
    units : {"scaled", "px"}, default "scaled"
        "px": the audio is the motion in px (``local`` and ``auto``; ``auto`` then keeps
        ``local``'s output where it detects nothing). ``info.gain_px`` gives the scale
        of a "scaled" output.
    motion : {"auto", "off"}, optional
        Large motion of the camera (drift, pans, shake; :mod:`vmic.core.motion`): "auto"
        measures each frame's displacement in the pass and, where the smoothed track
        reaches :data:`~vmic.core.motion.MOTION_THRESHOLD_PX`, reads the clip again with
        that motion removed (``info.motion_compensated``); where parts of the scene move
        apart (a tile of a coarse grid departs from the global track by
        :data:`~vmic.core.regional.REGIONAL_THRESHOLD_PX`), their motion is removed tile by
        tile (``info.motion_regional``, ``info.tile_motion_px``; :mod:`vmic.core.regional`);
        "off" does none of it. Default "auto", except for ``align`` (the original method,
        "off"). The ROI stays fixed:
        the scene moves through it, and the compensation crops the border it sweeps.
    track_roi : bool, default False
        With ``roi``: the ROI follows the large motion instead, cut from the whole frames
        with their motion removed, so no border is lost while the region stays in view
        (frames that take it out of view are silenced, with a warning).
    equalize : Response or path-like, optional
        Equalise by the object's response (``vmic calibrate``'s JSON; :mod:`vmic.equalize`)
        after the high-pass, before band-pass and denoising; boosts at most
        ``equalize_max_gain_db`` (dB, default 20). Another capture rate is refused.
    batch_size : int, default 8
        Frames per batch; memory is O(batch_size), not O(clip length).
    segment : int, optional
        The segment of a variable-rate video to read (:func:`vmic.io.clip.open_clip`).
    quiet : bool, default True
        No progress bar.
    dtype : float32 or float64
        Pyramid precision.
    client : distributed.Client, optional
        Run the clip's frame ranges as tasks on this Dask cluster
        (:func:`vmic.distributed.recover_on_cluster`; ``clip`` is then a path the workers
        can read, and ``track_roi`` is not available).

    Returns
    -------
    Recovery
    """
    if client is not None:
        if track_roi:
            raise VmicError("track_roi is not available on a Dask cluster (client=)")
        from vmic.distributed import recover_on_cluster

        return recover_on_cluster(
            clip, client, fps=fps, scales=scales, orientations=orientations, combine=combine,
            highpass_hz=highpass_hz, reference_frame=reference_frame,
            reference_average=reference_average, roi=roi, downsample=downsample, start=start,
            n_frames=n_frames, bandpass_hz=bandpass_hz, denoise=denoise, units=units,
            motion=motion, batch_size=batch_size, segment=segment, quiet=quiet, dtype=dtype,
            equalize=equalize, equalize_max_gain_db=equalize_max_gain_db)
    started = time.perf_counter()
    if motion is not None and (not isinstance(motion, str) or motion not in MOTION_MODES):
        # A measured track goes through prepare_extraction(motion=track) instead.
        shown = motion if isinstance(motion, str) else type(motion).__name__
        raise VmicError(f"unknown motion mode {shown!r}; choose from "
                        f"{', '.join(MOTION_MODES)} (a track of your own goes to "
                        "prepare_extraction(motion=...))")
    with opened_clip(clip, fps=fps, roi=roi, downsample=downsample, start=start,
                     n_frames=n_frames, segment=segment) as source:
        if source.n_frames < 2:
            raise VmicError(f"need at least 2 frames to measure motion, the clip has "
                            f"{source.n_frames}")
        # Start reading frames now: decoding overlaps the set-up below (imports, numba's
        # first use, the pyramid's filters, the reference), which holds one core at most.
        batches = source.iter_batches(batch_size)
        try:
            from vmic.combine import get_method

            method = get_method(combine)
            check_options(method, source.capture_fps, highpass_hz, bandpass_hz, denoise,
                          units)
            if equalize is not None:
                from vmic.equalize import checked_response

                equalize = checked_response(equalize, source.capture_fps,
                                            equalize_max_gain_db)
        except BaseException:
            batches.close()
            raise
        follow = (method.name != "align" if motion is None else motion == "auto")
        settings = (combine, scales, orientations, reference_frame, reference_average, dtype)
        extraction, sums, track = extract_following_motion(
            clip, source, batches, method, settings, follow, track_roi, roi, batch_size, quiet)
    result = recover_from_ranges(extraction, [sums], highpass_hz=highpass_hz,
                                 bandpass_hz=bandpass_hz, denoise=denoise, units=units,
                                 equalize=equalize, equalize_max_gain_db=equalize_max_gain_db)
    if track is not None and result.info.motion_px is None:
        result.info.motion_px = track.smooth
    if track is not None and track.tiles is not None and result.info.tile_motion_px is None:
        from vmic.tracking import report_tiles

        report_tiles(result.info, track.tiles.field, source.frame_shape)
    result.info.elapsed_s = time.perf_counter() - started
    return result
