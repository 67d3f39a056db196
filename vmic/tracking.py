"""The cheap first pass over a clip: its large motion (:mod:`vmic.core.motion`).

:func:`track_motion` measures a clip's motion frame by frame without the pyramid;
:func:`follow_motion` gives the clip that an extraction analyses, with that motion removed.
"""

from __future__ import annotations

import numpy as np

from vmic.errors import VmicError
from vmic.io.clip import Clip

__all__ = ["track_motion", "follow_motion"]


def follow_motion(clip, motion, combine, reference_frame, reference_average):
    """The clip as :func:`vmic.extraction.prepare_extraction` analyses it: ``motion`` ("auto",
    "off", None for the method's default, a :class:`~vmic.core.motion.MotionTrack` or
    displacements (T, 2) in px) removed from it, or the clip itself."""
    from vmic.combine import get_method
    from vmic.core.compensation import compensated_clip

    method = get_method(combine)
    if motion is None:
        motion = "off" if method.name == "align" else "auto"
    if isinstance(motion, str):
        if motion not in ("auto", "off"):
            raise VmicError(f"unknown motion mode {motion!r}; choose from auto, off")
        if motion == "off":
            return clip
        average = method.reference_average if reference_average is None else reference_average
        motion = track_motion(clip, reference_frame=reference_frame,
                              reference_average=average)
        if not motion.moving():
            return clip
    return compensated_clip(clip, motion)


def track_motion(clip: Clip, *, reference_frame: int = 0, reference_average: int = 32,
                 batch_size: int = 64, quiet: bool = True):
    """Measure the clip's large motion (a pass over its frames, without the pyramid).

    Parameters
    ----------
    clip : Clip
        The opened clip, or a range of it.
    reference_frame, reference_average : int
        The reference image is the mean of ``reference_average`` frames from
        ``reference_frame`` on (counted from the clip's start).
    batch_size : int
        Frames per batch.
    quiet : bool
        No progress bar.

    Returns
    -------
    vmic.core.motion.MotionTrack
        The tracked frames' displacements (:func:`vmic.core.motion.tracked_frames`) and the
        smoothed large motion (px).
    """
    from vmic.core.motion import MotionTrack, MotionTracker, tracked_frames
    from vmic.io.stream import progress_bar

    if not isinstance(clip, Clip):
        raise VmicError(f"clip must be an opened Clip (vmic.open_clip), got "
                        f"{type(clip).__name__}")
    if not 0 <= reference_frame < clip.n_frames:
        raise VmicError(f"reference frame {reference_frame} is outside the clip's "
                        f"{clip.n_frames} frames (0..{clip.n_frames - 1})")
    tracker = MotionTracker(clip.mean_frame(reference_frame, max(1, int(reference_average))))
    raw = np.full((clip.n_frames, 2), np.nan)
    bar = progress_bar(clip.n_frames, "motion", quiet)
    batches = clip.iter_batches(batch_size)
    try:
        for index, frames in batches:
            at = index + np.arange(frames.shape[0])
            tracked = tracked_frames(at, clip.n_frames, clip.capture_fps)
            if tracked.any():
                raw[at[tracked]] = tracker.track(frames[tracked])
            bar.update(frames.shape[0])
    finally:
        batches.close()
        bar.close()
    return MotionTrack.from_raw(raw, clip.capture_fps)
