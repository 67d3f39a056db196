"""The passes of :func:`vmic.recover` over a clip's frames, and the large motion between them.

One pass plans the extraction, takes the reference from the stream's first batches and sums
every frame (:func:`extraction_pass`). Where the scene moves (:mod:`vmic.core.motion`), a
second pass reads the frames with that motion removed (:func:`extract_following_motion`).
"""

from __future__ import annotations

import itertools
import warnings
from typing import TYPE_CHECKING

import numpy as np

from vmic.errors import VmicError
from vmic.io.clip import Clip
from vmic.io.stream import opened_clip, progress_bar

if TYPE_CHECKING:
    from vmic.extraction import ExtractionPlan

__all__ = ["MotionWatch", "extraction_pass", "extract_following_motion", "dense_track",
           "tracked_roi_pass", "compensated_view", "references_from_stream", "HEAD_BYTES",
           "WATCH_PX", "WATCH_SAMPLES"]

HEAD_BYTES = 64 << 20  # at most this much of a stream's first frames (float32) is held


WATCH_PX = 0.5
"""Displacement (px) that, on :data:`WATCH_SAMPLES` tracked frames in a row, shows a first
pass that its sums will be dropped for a pass with the motion removed."""

WATCH_SAMPLES = 3
"""Tracked frames in a row (see :data:`WATCH_PX`)."""


class MotionWatch:
    """Watches a first pass's motion track as it comes (:func:`vmic.ranges.stream_sums`):
    once the scene has clearly moved, the rest of the pass only tracks, since its sums would
    be dropped for those of a pass with the motion removed."""

    def __init__(self):
        self.skip_sums = False
        self.run = 0  # tracked frames in a row displaced by WATCH_PX or more

    def seen(self, part: dict) -> None:
        motion = part.get("motion")
        if self.skip_sums or motion is None:
            return
        for moved in np.abs(motion[np.isfinite(motion).all(axis=1)]).max(axis=1) >= WATCH_PX:
            self.run = self.run + 1 if moved else 0
            if self.run >= WATCH_SAMPLES:
                self.skip_sums = True
                return


def extraction_pass(source, batches, settings, track_motion: bool, quiet: bool, watch=None):
    # One pass over the clip's frames: plan, reference from the stream's head, sums.
    from vmic.extraction import ExtractionPlan
    from vmic.ranges import stream_sums

    try:
        plan = ExtractionPlan(source, *settings)
        plan.track_motion = track_motion
        references, stream = references_from_stream(batches, source, plan)
        extraction = plan.extraction(*references)
        bar = progress_bar(source.n_frames, "recover", quiet)
        try:
            sums = stream_sums(extraction, stream, n_frames=source.n_frames, bar=bar,
                               watch=watch)
        finally:
            bar.close()
    finally:
        batches.close()  # stops the reading thread, also when the set-up failed
    return extraction, sums


def extract_following_motion(clip, source, batches, method, settings, follow, track_roi, roi,
                             batch_size, quiet):
    # The clip's sums, with its large motion removed where it moves (module notes of
    # vmic.core.motion), and the motion track (None where it is not followed).
    if track_roi:
        batches.close()
        if roi is None or isinstance(clip, Clip) or not follow:
            raise VmicError("track_roi needs an roi, the clip's path or frames (it reads "
                            "the whole frame) and motion that is followed")
        return tracked_roi_pass(clip, source, method, settings, batch_size, quiet)
    from vmic.tracking import measured_track

    watch = MotionWatch() if follow else None
    extraction, sums = extraction_pass(source, batches, settings, follow, quiet, watch)
    if not follow:
        return extraction, sums, None
    track = measured_track(sums, source.capture_fps)
    if track.regional:
        # The screening found parts moving apart: their tiles tracked densely (a pass
        # without the pyramid), as prepare_extraction(motion="auto") does.
        track = dense_track(source, method, settings)
    if track.compensated():
        # A second pass over the frames with the motion removed; the first pass's sums are
        # dropped. (Its blind split-sample estimate is no guide between the two: the
        # motion's artefacts are common to all tiles and pass for signal.)
        moved = compensated_view(source, track)
        extraction, sums = extraction_pass(moved, moved.iter_batches(batch_size), settings,
                                            False, quiet)
    elif watch.skip_sums:
        # The watch stopped the sums, but the smoothed motion stays under the threshold
        # (a brief jolt): the frames read again, as they are.
        extraction, sums = extraction_pass(source, source.iter_batches(batch_size), settings,
                                           False, quiet)
    return extraction, sums, track


def dense_track(source, method, settings):
    from vmic.tracking import track_motion

    _, _, _, reference_frame, reference_average, _ = settings
    average = method.reference_average if reference_average is None else reference_average
    return track_motion(source, reference_frame=reference_frame, reference_average=average)


def tracked_roi_pass(clip, source, method, settings, batch_size, quiet):
    # The ROI following the motion: the track is measured on the whole frames (more texture
    # than the ROI alone: a better track), and the ROI is cut from them with it removed.
    from vmic.tracking import track_motion

    _, _, _, reference_frame, reference_average, _ = settings
    average = method.reference_average if reference_average is None else reference_average
    with opened_clip(clip, fps=source.capture_fps, downsample=source.downsample,
                     start=source.start, n_frames=source.n_frames,
                     segment=source.metadata.get("segment")) as whole:
        track = track_motion(whole, reference_frame=reference_frame,
                             reference_average=average, quiet=quiet)
        track.tiles = None  # the ROI follows the global motion only
        view = compensated_view(source, track, whole) if track.moving() else source
        extraction, sums = extraction_pass(view, view.iter_batches(batch_size), settings,
                                            False, quiet)
    return extraction, sums, track


def compensated_view(source, track, whole=None):
    # The clip seen with its large motion removed; frames whose reference left the view
    # are not followed (a warning names them; the audio is zero there). With `whole` (the
    # same range of the uncropped frames), the ROI follows the motion within them.
    from vmic.core.compensation import CompensatedClip, MotionCompensator
    from vmic.core.motion import lost_ranges

    if whole is None:
        lost = track.lost(source.frame_shape)
        if lost.all():
            raise VmicError(f"the scene moves by {track.peak_px:.1f} px at once: too much to "
                            "follow in these frames")
        if track.regional:
            from vmic.core.compensation import RegionalCompensator

            compensator = RegionalCompensator(source.frame_shape, track.smooth,
                                              track.tiles.field, keep=~lost)
        else:
            compensator = MotionCompensator(source.frame_shape, track.smooth, keep=~lost)
        view = source
    else:
        x, y, _, _ = source.roi
        region = (x // source.downsample, y // source.downsample) + source.frame_shape[::-1]
        compensator = MotionCompensator(whole.frame_shape, track.smooth, region=region)
        lost = ~compensator.keep
        view = whole
    if lost.any():
        warnings.warn(f"the scene moved out of view in frames {lost_ranges(lost)} (up to "
                      f"{np.abs(track.smooth[lost]).max():.1f} px): those frames are silent "
                      "in the audio", stacklevel=3)
    return CompensatedClip(view, compensator)


def references_from_stream(batches, clip: Clip, plan: ExtractionPlan,
                            max_bytes: int = HEAD_BYTES):
    """The reference images of ``plan`` (the mean of ``plan.reference_average`` frames
    from ``plan.reference_frame`` on, and ``align``'s where kept) and the batches to
    process.

    When those frames are among the first the stream yields and fit in ``max_bytes`` as
    float32, they are taken from the stream and its first batches are replayed: they are
    then decoded once, not a second time by :meth:`Clip.mean_frame` (for a video, on the
    start-up's critical path). Otherwise the clip's own :meth:`~Clip.mean_frame`.
    """
    first = plan.reference_frame
    counts = [plan.reference_average]
    if plan.align_reference_average is not None:
        counts.append(plan.align_reference_average)
    last = first + max(counts)
    height, width = clip.frame_shape

    def apart(head, rest):
        means = [clip.mean_frame(first, count) for count in counts]
        return _pad(means), itertools.chain(head, rest)

    if last * height * width * 4 > max_bytes:
        return apart([], batches)
    head = []
    totals = [np.zeros((height, width)) for _ in counts]
    expected = 0
    for index, frames in batches:
        head.append((index, frames))
        for total, count in zip(totals, counts, strict=True):
            lo, hi = max(first - index, 0), min(first + count - index, frames.shape[0])
            if hi > lo:
                total += frames[lo:hi].sum(axis=0, dtype=np.float64)
        expected = index + frames.shape[0]
        if expected >= last:
            break
    if expected <= first:  # decoding stopped early (a truncated file)
        return apart(head, batches)
    # A truncated file may hold fewer frames than asked: average those there are.
    means = [(total / max(min(count, expected - first), 1)).astype(np.float32)
             for total, count in zip(totals, counts, strict=True)]
    return _pad(means), itertools.chain(head, batches)


def _pad(means: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
    return means[0], (means[1] if len(means) > 1 else None)
