"""Vibration maps on a Dask cluster, and the large-motion tracking pass as range tasks.

As :mod:`vmic.distributed` does for the recovery: the clip is a path the workers read,
cut into frame ranges (:func:`vmic.distributed.plan_ranges`), one task each.

- :func:`track_on_cluster` is :func:`vmic.tracking.track_motion` on the cluster: the
  reference image is read by one task; each range task tracks its frames against it
  (:class:`vmic.core.tracker.MotionTracker`: each frame needs only itself and the reference,
  and :func:`~vmic.core.motion.tracked_frames` picks the same frames however the clip is
  split); the client joins the raw track and smooths it
  (:meth:`~vmic.core.motion.MotionTrack.from_raw`).
- :func:`map_on_cluster` is :func:`vmic.vibmap.vibration_map`: a task makes the
  :class:`~vmic.vibmap.MapPlan` (settings, reference, tile energies), each range task
  returns its tiles' phase signals, and the client joins them and makes the map.
"""

from __future__ import annotations

import contextlib

import numpy as np

from vmic.distributed import ClipSpec, gather_ranges, plan_ranges, require_dask
from vmic.errors import VmicError
from vmic.io.stream import progress_bar

__all__ = ["track_on_cluster", "map_on_cluster", "track_task", "map_range_task"]


@contextlib.contextmanager
def _open_view(spec: ClipSpec, track):
    # The clip, with the large motion of `track` removed where it moves (as vibration_map).
    from vmic.core.compensation import compensated_clip

    with spec.open() as clip:
        yield clip if track is None or not track.moving() else compensated_clip(clip, track)


def _reference_task(spec: ClipSpec, reference_frame: int, reference_average: int):
    with spec.open() as clip:
        if not 0 <= reference_frame < clip.n_frames:
            raise VmicError(f"reference frame {reference_frame} is outside the clip's "
                            f"{clip.n_frames} frames (0..{clip.n_frames - 1})")
        reference = clip.mean_frame(reference_frame, max(1, int(reference_average)))
        return reference, clip.n_frames, clip.capture_fps, tuple(clip.frame_shape)


def track_task(spec: ClipSpec, reference: np.ndarray, n_frames: int, first: int, stop: int,
               batch_size: int = 64) -> np.ndarray:
    """Task: the raw track of frames ``first`` to ``stop - 1``: float64 (stop - first, 2),
    (dx, dy) in px, NaN where a frame is not tracked."""
    from vmic.core.motion import tracked_frames
    from vmic.core.tracker import MotionTracker

    tracker = MotionTracker(reference)
    raw = np.full((stop - first, 2), np.nan)
    with spec.open() as clip:
        batches = clip[first:stop].iter_batches(batch_size)
        seen = 0
        try:
            for index, frames in batches:
                at = first + index + np.arange(frames.shape[0])
                tracked = tracked_frames(at, n_frames, clip.capture_fps)
                if tracked.any():
                    raw[at[tracked] - first] = tracker.track(frames[tracked])
                seen = index + frames.shape[0]
        finally:
            batches.close()
    if seen != stop - first:
        raise VmicError(f"only {seen} of its {stop - first} frames could be decoded")
    return raw


def track_on_cluster(client, spec: ClipSpec, *, reference_frame: int = 0,
                     reference_average: int = 32, range_frames: int | None = None,
                     quiet: bool = True):
    """:func:`vmic.tracking.track_motion` with the clip's ranges as tasks.

    Returns
    -------
    vmic.core.motion.MotionTrack
    """
    from vmic.core.motion import MotionTrack

    first = client.submit(_reference_task, spec, reference_frame, reference_average,
                          pure=False)
    reference, n_frames, fps, shape = first.result()
    bounds = plan_ranges(n_frames, shape, range_frames=range_frames)
    futures = [client.submit(track_task, spec, reference, n_frames, a, b, pure=False)
               for a, b in bounds]
    bar = progress_bar(n_frames, "motion", quiet)
    try:
        parts = gather_ranges(futures, bounds, path=spec.path, bar=bar)
    finally:
        bar.close()
    return MotionTrack.from_raw(np.concatenate(parts), fps)


def _plan_task(spec: ClipSpec, track, options: dict):
    from vmic.vibmap import MapPlan

    with _open_view(spec, track) as view:
        return MapPlan(view, **options), view.n_frames


def map_range_task(spec: ClipSpec, track, plan, first: int, stop: int,
                   batch_size: int = 32) -> np.ndarray:
    """Task: the tiles' phase signals of frames ``first`` to ``stop - 1``, float32
    (n_bands, TY, TX, stop - first) in rad (:meth:`vmic.vibmap.MapPlan.phase`)."""
    out = np.zeros((plan.n_bands,) + plan.tiles + (stop - first,), dtype=np.float32)
    seen = 0
    with _open_view(spec, track) as view:
        batches = view[first:stop].iter_batches(batch_size)
        try:
            for index, frames in batches:
                out[..., index:index + frames.shape[0]] = plan.phase(frames)
                seen = index + frames.shape[0]
        finally:
            batches.close()
    if seen != stop - first:
        raise VmicError(f"only {seen} of its {stop - first} frames could be decoded")
    return out


def map_on_cluster(clip, client, *, fps: float | None = None, scales: int = 1,
                   orientations: int = 2, tile_px: int = 8, roi=None, downsample: int = 1,
                   start: int = 0, n_frames: int | None = None, reference_frame: int = 0,
                   highpass_hz: float | None = None, max_freq_hz: float | None = None,
                   motion: str = "auto", batch_size: int = 32, quiet: bool = True,
                   segment: int | None = None, range_frames: int | None = None):
    """:func:`vmic.vibmap.vibration_map` with the clip's frame ranges as tasks on a Dask
    cluster (``client``, a :class:`distributed.Client`); ``clip`` is a path the workers can
    read. Other parameters as :func:`~vmic.vibmap.vibration_map`; ``range_frames`` as
    :func:`vmic.distributed.recover_on_cluster`.

    Returns
    -------
    vmic.vibmap.VibrationMap
        The same map as :func:`~vmic.vibmap.vibration_map` on the same clip and options.
    """
    require_dask()
    if tile_px < 2:
        raise VmicError(f"tile size must be at least 2 px, got {tile_px}")
    if motion not in ("auto", "off"):
        raise VmicError(f"unknown motion mode {motion!r}; choose from auto, off")
    spec = ClipSpec.of(clip, fps=fps, roi=roi, downsample=downsample, start=start,
                       n_frames=n_frames, segment=segment)
    track = None
    if motion == "auto":
        track = track_on_cluster(client, spec, reference_frame=reference_frame,
                                 range_frames=range_frames, quiet=quiet)
    options = dict(scales=scales, orientations=orientations, tile_px=tile_px,
                   reference_frame=reference_frame, highpass_hz=highpass_hz,
                   max_freq_hz=max_freq_hz)
    plan, count = client.submit(_plan_task, spec, track, options, pure=False).result()
    bounds = plan_ranges(count, plan.frame_shape, range_frames=range_frames)
    # The plan and the track go to every worker once, not with every task.
    shared = client.scatter(plan, broadcast=True)
    if track is not None:
        track = client.scatter(track, broadcast=True)
    futures = [client.submit(map_range_task, spec, track, shared, a, b, batch_size,
                             pure=False) for a, b in bounds]
    bar = progress_bar(count, "map", quiet)
    try:
        parts = gather_ranges(futures, bounds, path=spec.path, bar=bar)
    finally:
        bar.close()
    return plan.finish(np.concatenate(parts, axis=-1))
