"""The cheap first pass over a clip: its large motion (:mod:`vmic.core.motion`,
:mod:`vmic.core.regional`).

:func:`track_motion` measures a clip's motion frame by frame without the pyramid;
:func:`follow_motion` gives the clip that an extraction analyses, with that motion removed.
"""

from __future__ import annotations

import numpy as np

from vmic.errors import VmicError
from vmic.io.clip import Clip

__all__ = ["track_motion", "follow_motion", "measured_track", "report_tiles"]


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
        if not motion.compensated():
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
        smoothed large motion (px); its ``tiles``, the tracks of a grid of tiles
        (:class:`vmic.core.tiles.TileTracks`; None for frames too small to hold two).
    """
    from types import SimpleNamespace

    from vmic.core.motion import MotionTrack
    from vmic.core.regional import TileTracker, tile_grid
    from vmic.core.tiles import TileTracks
    from vmic.core.tracker import MotionTracker
    from vmic.io.stream import progress_bar
    from vmic.ranges import track_batch

    if not isinstance(clip, Clip):
        raise VmicError(f"clip must be an opened Clip (vmic.open_clip), got "
                        f"{type(clip).__name__}")
    if not 0 <= reference_frame < clip.n_frames:
        raise VmicError(f"reference frame {reference_frame} is outside the clip's "
                        f"{clip.n_frames} frames (0..{clip.n_frames - 1})")
    reference = clip.mean_frame(reference_frame, max(1, int(reference_average)))
    # What track_batch reads of an extraction: the trackers, the clip's length and rate.
    trackers = SimpleNamespace(
        tracker=MotionTracker(reference), n_frames=clip.n_frames, fps=clip.capture_fps,
        tile_tracker=(TileTracker(reference) if tile_grid(reference.shape) is not None
                      else None))
    raw, tiles = np.full((clip.n_frames, 2), np.nan), None
    bar = progress_bar(clip.n_frames, "motion", quiet)
    batches = clip.iter_batches(batch_size)
    try:
        for index, frames in batches:
            motion, tile_motion = track_batch(trackers, frames, index, dense=True)
            raw[index:index + len(frames)] = motion
            if tile_motion is not None:
                if tiles is None:
                    tiles = np.full((clip.n_frames,) + tile_motion.shape[1:], np.nan)
                tiles[index:index + len(frames)] = tile_motion
            bar.update(frames.shape[0])
    finally:
        batches.close()
        bar.close()
    track = MotionTrack.from_raw(raw, clip.capture_fps)
    if tiles is not None:
        track.tiles = TileTracks.from_raw(tiles, raw, track.smooth, clip.capture_fps)
    return track


def measured_track(sums, fps: float):
    """The :class:`~vmic.core.motion.MotionTrack` of a first pass's sums (``motion`` and,
    where measured, ``tile_motion``, a screening for regional motion: its ``regional`` says
    whether to track the tiles densely, :func:`track_motion`)."""
    from vmic.core.motion import MotionTrack
    from vmic.core.tiles import TileTracks

    track = MotionTrack.from_raw(sums.motion, fps)
    if sums.tile_motion is not None:
        track.tiles = TileTracks.from_raw(sums.tile_motion, sums.motion, track.smooth, fps,
                                          screening=True)
    return track


def report_tiles(info, field: np.ndarray, frame_shape: tuple[int, int], *,
                 removed: bool = False) -> None:
    """Fill a :class:`~vmic.result.RecoveryInfo`'s tile fields: ``field`` (T, GY, GX, 2),
    each tile's large motion (px) in frames of ``frame_shape`` (H, W) px, ``removed`` or
    only measured (its ``motion_px`` must be set)."""
    from vmic.core.compensation import tile_edges

    info.tile_motion_px = field
    info.tile_edges_px = tuple(tile_edges(side, count) for side, count in
                               zip(frame_shape, field.shape[1:3], strict=True))
    info.regional_tiles = np.zeros(field.shape[1:3], bool)
    if removed:
        info.regional_tiles = ~np.all(field == info.motion_px[:, None, None, :], axis=(0, 3))
        info.motion_regional = True
