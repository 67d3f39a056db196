"""Recovery on a Dask cluster (:mod:`dask.distributed`): a clip's frame ranges as tasks.

An extraction's sums depend only on its settings and reference image
(:mod:`vmic.extraction`), so a clip is cut into frame ranges (:func:`plan_ranges`) and each
range is one task that opens the clip itself, seeks to its first frame and returns only
its sums (:class:`vmic.ranges.RangeSums`: a few hundred bytes a frame). The client never
reads a frame: the clip is a path that the workers can read.

1. A task on a worker opens the clip, reads the reference frames and returns the
   :class:`~vmic.extraction.Extraction` (settings and reference pixels); it is replicated
   to every worker, where its pyramid and reference bands are built once and kept.
2. One task per range; the client gathers the sums as they complete (a tqdm bar on
   stderr counts their frames), joins them in order and runs the combination
   (:func:`vmic.recovery.recover_from_ranges`).
3. Where the scene moves, the first pass's ranges also track each frame's large motion
   against the reference (:class:`vmic.core.tracker.MotionTracker`: each frame needs only
   itself and the reference); the client smooths the joined track and, where it reaches
   :data:`~vmic.core.motion.MOTION_THRESHOLD_PX`, runs steps 1 and 2 again on the frames
   with that motion removed, as :func:`vmic.recover` does in one process.

A worker that dies loses the ranges it held: the scheduler runs them again (the reference
task too, where no other worker holds it), and the sums are the same. A range that cannot
be read ends the run with a :class:`~vmic.errors.VmicError` naming its frames.

Dask is an optional dependency (``pip install "vmic[dask]"``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vmic.errors import VmicError
from vmic.io.clip import Clip, open_clip
from vmic.io.stream import progress_bar
from vmic.ranges import RangeSums, join_ranges, stream_sums
from vmic.result import Recovery

__all__ = ["ClipSpec", "plan_ranges", "dask_client", "require_dask", "recover_on_cluster",
           "prepare_task", "range_task", "submit_ranges", "gather_ranges",
           "RANGE_FRAMES", "RANGE_BYTES", "CONNECT_TIMEOUT_S", "TRIM_SETTING"]

#: Frames of a range by default, ...
RANGE_FRAMES = 2000
#: ... or fewer, so that a range's frames hold at most this many bytes as float32.
RANGE_BYTES = 256 << 20
#: Seconds the client waits for a scheduler before giving up.
CONNECT_TIMEOUT_S = 10.0
#: The Dask setting that ``local:N`` clears for its workers (see :func:`dask_client`).
TRIM_SETTING = "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_"


def require_dask():
    """The :mod:`distributed` module, or a VmicError naming the extra to install."""
    try:
        import distributed
    except ImportError:
        raise VmicError('a Dask cluster needs dask.distributed: pip install "vmic[dask]"'
                        ) from None
    return distributed


@contextlib.contextmanager
def dask_client(address: str, *, timeout_s: float | None = None) -> Iterator:
    """Context manager: a :class:`distributed.Client` of ``address``, closed on exit.

    Parameters
    ----------
    address : str
        A scheduler (``tcp://host:8786``), or ``local:N`` for a LocalCluster of N worker
        processes with one thread each, started here and closed on exit (without Dask's
        ``MALLOC_TRIM_THRESHOLD_`` for its workers: :data:`TRIM_SETTING`).
    timeout_s : float, optional
        How long to wait for the scheduler (s); default :data:`CONNECT_TIMEOUT_S`.

    Raises
    ------
    VmicError
        Dask not installed, a bad ``local:N``, a scheduler not reached within ``timeout_s``.
    """
    distributed = require_dask()
    timeout_s = CONNECT_TIMEOUT_S if timeout_s is None else float(timeout_s)
    cluster = None
    if address.startswith("local:"):
        count = address.split(":", 1)[1]
        if not count.isdigit() or int(count) < 1:
            raise VmicError(f"dask address local:N needs N >= 1 worker processes, got "
                            f"{address!r}")
        import dask

        # Dask's default MALLOC_TRIM_THRESHOLD_ for worker processes also fixes glibc's
        # mmap threshold, so every batch's arrays are mapped and faulted in afresh: a third to
        # a half more CPU a frame (docs/benchmarks.md#dask-cluster). Memory stays flat without it.
        with dask.config.set({TRIM_SETTING: None}):
            cluster = distributed.LocalCluster(n_workers=int(count), threads_per_worker=1,
                                               processes=True, dashboard_address=":0",
                                               silence_logs=logging.ERROR)
        client = distributed.Client(cluster)
    else:
        try:
            client = distributed.Client(address, timeout=timeout_s)
        except (OSError, TimeoutError, ValueError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise VmicError(f"cannot reach the Dask scheduler at {address!r} within "
                            f"{timeout_s:g} s ({reason})") from None
        except Exception:  # a handshake in another protocol (garbage sizes: MemoryError)
            raise VmicError(f"cannot reach the Dask scheduler at {address!r}: what answers "
                            "there is not a Dask scheduler") from None
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


@dataclass(frozen=True)
class ClipSpec:
    """How a worker opens the clip: its path and the selection of
    :func:`vmic.io.clip.open_clip` (same meanings)."""

    path: str
    fps: float | None = None
    roi: tuple[int, int, int, int] | None = None
    downsample: int = 1
    start: int = 0
    n_frames: int | None = None
    segment: int | None = None

    @classmethod
    def of(cls, clip, **selection) -> ClipSpec:
        """The spec of a path and a selection, or of an opened Clip read from a path."""
        if isinstance(clip, Clip):
            if clip.path is None:
                raise VmicError("a clip on a cluster must be a path the workers can read, not "
                                "frames in memory")
            return cls(str(clip.path), clip.capture_fps, clip.roi, clip.downsample,
                       clip.start, clip.n_frames, clip.metadata.get("segment"))
        if not isinstance(clip, (str, os.PathLike)):
            raise VmicError(f"a clip on a cluster must be a path the workers can read, got "
                            f"{type(clip).__name__}")
        from vmic.io.urls import is_url

        return cls(clip if is_url(clip) else str(Path(clip)), **selection)

    def open(self) -> Clip:
        return open_clip(self.path, fps=self.fps, roi=self.roi, downsample=self.downsample,
                         start=self.start, n_frames=self.n_frames, segment=self.segment)


def plan_ranges(n_frames: int, frame_shape: tuple[int, int], *,
                range_frames: int | None = None,
                range_bytes: int = RANGE_BYTES) -> list[tuple[int, int]]:
    """Consecutive ``(first, stop)`` frame ranges covering ``n_frames`` frames of
    ``frame_shape`` (px): ``range_frames`` each (default :data:`RANGE_FRAMES`, fewer where
    that many float32 frames exceed ``range_bytes``), the last one shorter."""
    if range_frames is None:
        per_frame = 4 * int(np.prod(frame_shape))
        range_frames = max(1, min(RANGE_FRAMES, range_bytes // max(per_frame, 1)))
    if isinstance(range_frames, bool) or int(range_frames) < 1:
        raise VmicError(f"range_frames must be >= 1, got {range_frames!r}")
    step = int(range_frames)
    return [(a, min(a + step, n_frames)) for a in range(0, n_frames, step)]


def prepare_task(spec: ClipSpec, settings: tuple, track_motion: bool,
                 motion: tuple[np.ndarray, np.ndarray] | None = None):
    """Task: the clip's :class:`~vmic.extraction.Extraction` (reads the reference frames).

    ``settings`` are :class:`~vmic.extraction.ExtractionPlan`'s after the clip (combine,
    scales, orientations, reference_frame, reference_average, dtype); ``motion`` is
    ``(shifts (N, 2) px, keep (N,) bool)`` to remove from the frames, or None.
    """
    from vmic.core.compensation import CompensatedClip, MotionCompensator
    from vmic.extraction import ExtractionPlan

    with spec.open() as clip:
        if clip.n_frames < 2:
            raise VmicError(f"need at least 2 frames to measure motion, the clip has "
                            f"{clip.n_frames}")
        view = clip
        if motion is not None:
            view = CompensatedClip(clip, MotionCompensator(clip.frame_shape, *motion))
        plan = ExtractionPlan(view, *settings)
        plan.track_motion = track_motion
        reference = view.mean_frame(plan.reference_frame, plan.reference_average)
        single = None
        if plan.align_scales is not None:
            single = view.mean_frame(plan.reference_frame, plan.align_reference_average)
        return plan.extraction(reference, single)


def range_task(spec: ClipSpec, extraction, first: int, stop: int,
               batch_size: int = 8) -> RangeSums:
    """Task: the sums of frames ``first`` to ``stop - 1`` of the clip, in one thread (a
    worker runs as many ranges at a time as it has threads)."""
    with spec.open() as clip:
        part = clip[first:stop]
        if extraction.motion is not None:
            from vmic.core.compensation import CompensatedClip

            part = CompensatedClip(part, extraction.compensator(part.frame_shape),
                                   offset=first)
        batches = part.iter_batches(batch_size)
        try:
            sums = stream_sums(extraction, batches, first=first, n_frames=stop - first,
                               threads=1)
        finally:
            batches.close()
    if sums.n_frames != stop - first:
        raise VmicError(f"only {sums.n_frames} of its {stop - first} frames could be decoded")
    return sums


def submit_ranges(client, spec: ClipSpec, extraction, bounds: list[tuple[int, int]], *,
                  batch_size: int = 8) -> list:
    """One :func:`range_task` future per ``(first, stop)`` of ``bounds``; ``extraction`` is
    an Extraction or a future of one."""
    return [client.submit(range_task, spec, extraction, first, stop, batch_size, pure=False)
            for first, stop in bounds]


def gather_ranges(futures: list, bounds: list[tuple[int, int]], *, path: str = "the clip",
                  bar=None) -> list[RangeSums]:
    """The ranges' sums in order, taken as they complete (``bar`` counts their frames).

    Raises
    ------
    VmicError
        The first range that failed, naming its frames and the reason; the other ranges
        are cancelled.
    """
    distributed = require_dask()
    where = {future.key: bound for future, bound in zip(futures, bounds, strict=True)}
    done = {}
    try:
        for future in distributed.as_completed(futures):
            first, stop = where[future.key]
            try:
                done[future.key] = future.result()
            except Exception as exc:  # any failure of the task: named with its range
                reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise VmicError(f"frames {first}..{stop - 1} of {path} could not be "
                                f"processed: {reason}") from None
            if bar is not None:
                bar.update(stop - first)
    except BaseException:
        for future in futures:
            future.cancel()
        raise
    return [done[future.key] for future in futures]


def _cluster_pass(client, spec, settings, follow, motion, options):
    # One pass over the clip on the cluster: reference task, range tasks, joined sums.
    method, units, highpass_hz, bandpass_hz, denoise, batch_size, range_frames, \
        range_bytes, quiet = options
    from vmic.recovery import check_options

    reference = client.submit(prepare_task, spec, settings, follow, motion, pure=False)
    try:
        extraction = reference.result()
    except VmicError:
        raise
    except Exception as exc:  # any failure of the task: the clip cannot be opened or read
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise VmicError(f"{spec.path}: the reference frames could not be read: "
                        f"{reason}") from None
    check_options(method, extraction.fps, highpass_hz, bandpass_hz, denoise, units)
    client.replicate([reference])
    bounds = plan_ranges(extraction.n_frames, extraction.frame_shape,
                         range_frames=range_frames, range_bytes=range_bytes)
    futures = submit_ranges(client, spec, reference, bounds, batch_size=batch_size)
    bar = progress_bar(extraction.n_frames, "recover", quiet)
    try:
        parts = gather_ranges(futures, bounds, path=spec.path, bar=bar)
    finally:
        bar.close()
        del futures, reference  # the cluster lets go of the sums and the reference
    return extraction, join_ranges(extraction, parts)


# Over 80 lines only through its docstring (the body is ~40).
def recover_on_cluster(clip, client, *, fps: float | None = None, scales: int | None = None,
                       orientations: int = 2, combine: str = "auto",
                       highpass_hz: float | None = None, reference_frame: int = 0,
                       reference_average: int | None = None,
                       roi: tuple[int, int, int, int] | None = None, downsample: int = 1,
                       start: int = 0, n_frames: int | None = None,
                       bandpass_hz: tuple[float, float] | None = None, denoise: str = "none",
                       units: str = "scaled", motion: str | None = None,
                       batch_size: int = 8, segment: int | None = None, quiet: bool = True,
                       dtype: type | np.dtype = np.float32, range_frames: int | None = None,
                       range_bytes: int = RANGE_BYTES, equalize=None,
                       equalize_max_gain_db: float = 20.0) -> Recovery:
    """:func:`vmic.recover` with the clip's frame ranges as tasks on a Dask cluster.

    Parameters
    ----------
    clip : str, Path or Clip
        A path the workers can read (or an opened Clip of one: its selection is used).
    client : distributed.Client
        The cluster's client.
    fps, scales, orientations, combine, highpass_hz, reference_frame, reference_average, \
roi, downsample, start, n_frames, bandpass_hz, denoise, units, motion, batch_size, segment, \
quiet, dtype
        As :func:`vmic.recover` (``track_roi`` is not available here).
    range_frames : int, optional
        Frames per task (default :data:`RANGE_FRAMES`, or fewer: see ``range_bytes``).
    range_bytes : int, default :data:`RANGE_BYTES`
        Most bytes of one range's frames as float32, where ``range_frames`` is not given.
    equalize, equalize_max_gain_db
        As :func:`vmic.recover`.

    Returns
    -------
    Recovery
        The same audio as :func:`vmic.recover` on the same clip and options.

    Raises
    ------
    VmicError
        Bad options, a clip that is not a path, a reference or a range that cannot be read
        (naming its frames), and what :func:`vmic.recover` refuses.
    """
    from vmic.combine import get_method
    from vmic.core.motion import lost_ranges
    from vmic.recovery import MOTION_MODES, check_options, recover_from_ranges
    from vmic.tracking import measured_track

    started = time.perf_counter()
    require_dask()
    if motion is not None and (not isinstance(motion, str) or motion not in MOTION_MODES):
        raise VmicError(f"unknown motion mode {motion!r}; choose from "
                        f"{', '.join(MOTION_MODES)}")
    spec = ClipSpec.of(clip, fps=fps, roi=roi, downsample=downsample, start=start,
                       n_frames=n_frames, segment=segment)
    method = get_method(combine)
    if fps is not None:
        check_options(method, fps, highpass_hz, bandpass_hz, denoise, units)
    follow = method.name != "align" if motion is None else motion == "auto"
    settings = (combine, scales, orientations, reference_frame, reference_average,
                np.dtype(dtype).name)
    options = (method, units, highpass_hz, bandpass_hz, denoise, batch_size, range_frames,
               range_bytes, quiet)
    extraction, sums = _cluster_pass(client, spec, settings, follow, None, options)
    track = None
    if follow:
        track = measured_track(sums, extraction.fps)
        if track.regional:
            raise VmicError("parts of the scene move apart (regional motion, "
                            "docs/motion.md): that is followed in a single process only; "
                            "recover without a Dask cluster")
        if track.moving():
            # As vmic.recover: a second pass with the motion removed (frames whose
            # reference left the view are not followed, and are silent).
            lost = track.lost(extraction.frame_shape)
            if lost.all():
                raise VmicError(f"the scene moves by {track.peak_px:.1f} px at once: too "
                                "much to follow in these frames")
            if lost.any():
                warnings.warn(f"the scene moved out of view in frames {lost_ranges(lost)} "
                              f"(up to {np.abs(track.smooth[lost]).max():.1f} px): those "
                              "frames are silent in the audio", stacklevel=2)
            extraction, sums = _cluster_pass(client, spec, settings, False,
                                             (track.smooth, ~lost), options)
    result = recover_from_ranges(extraction, [sums], highpass_hz=highpass_hz,
                                 bandpass_hz=bandpass_hz, denoise=denoise, units=units,
                                 equalize=equalize, equalize_max_gain_db=equalize_max_gain_db)
    if track is not None and result.info.motion_px is None:
        result.info.motion_px = track.smooth
    result.info.elapsed_s = time.perf_counter() - started
    return result
