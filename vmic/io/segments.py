"""Constant-rate segments of a variable-rate video (a phone's slow-motion ramps).

A phone's slow-motion video may hold normal-speed frames, a ramp, slow-motion frames and a
ramp back. Frames are placed at their stored timestamps; runs of frames at one rate are the
segments, and by default only the longest constant-rate one is used (the others would
need resampling in time, and carry a different capture rate).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from vmic.errors import VmicError

__all__ = ["Segment", "find_segments", "select_segment", "SegmentReader"]

RATE_TOLERANCE = 0.2  # relative change of the frame interval that starts a new segment
MIN_SEGMENT_FRAMES = 8  # shorter runs are ramps between segments
SMOOTHING = 5  # running median over frame intervals: one late frame starts no segment


@dataclass(frozen=True)
class Segment:
    """Frames ``first`` .. ``first + n_frames - 1`` of a video.

    Attributes
    ----------
    first, n_frames : int
    fps : float or None
        Their rate on the container's clock (frames/s); None for a ramp (varying rate).
    irregular : int
        Frame intervals in it off ``1 / fps`` by more than half of it (a dropped or late
        frame): recovery places frames at their times (:mod:`vmic.timeline`).
    """

    first: int
    n_frames: int
    fps: float | None
    irregular: int = 0

    def __post_init__(self):
        if self.fps is not None:  # 240.00000000000085 is 240 at the times' precision
            object.__setattr__(self, "fps", float(f"{self.fps:.6g}"))

    def as_dict(self) -> dict:
        return {"first": self.first, "frames": self.n_frames, "fps": self.fps,
                "irregular": self.irregular}


def _running_median(values: np.ndarray, width: int) -> np.ndarray:
    if len(values) < width:
        return np.full(len(values), np.median(values))
    pad = width // 2
    padded = np.pad(values, pad, mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, width)
    return np.median(windows, axis=1)


def find_segments(times: np.ndarray, *, tick_s: float = 0.0) -> list[Segment]:
    """Split frames at stored times (s, sorted) into constant-rate segments and ramps.

    Parameters
    ----------
    times : ndarray of float64, shape (T,)
        Presentation times of the frames (s).
    tick_s : float
        Resolution of the stored times (the container's time base, s). Where it exceeds
        5 % of the typical frame interval (a 2200 fps clip in a millisecond time base), the
        times cannot tell rates apart and the video is one segment.

    Returns
    -------
    list of Segment
        In order, covering every frame.
    """
    n = len(times)
    if n < 2 * MIN_SEGMENT_FRAMES:
        return [Segment(0, n, _fps(np.diff(times)))]
    intervals = np.diff(times)
    if tick_s > 0.05 * np.median(intervals):
        return [Segment(0, n, _fps(intervals))]
    smooth = _running_median(intervals, SMOOTHING)
    # Runs of intervals at one rate, found on the smoothed intervals; interval i joins
    # frames i and i + 1.
    starts, reference = [0], smooth[0]
    for i in range(1, len(smooth)):
        if abs(smooth[i] - reference) > RATE_TOLERANCE * reference:
            starts.append(i)
            reference = smooth[i]
    bounds = starts + [n - 1]
    segments: list[Segment] = []
    end = -1  # last frame placed in a segment
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        if b - a < MIN_SEGMENT_FRAMES:
            continue  # part of a ramp
        # Trim the run's ends to the raw intervals at its rate: its frames are then those
        # both of whose neighbours in it are one interval away.
        ref = float(np.median(intervals[a:b]))
        steady = np.abs(intervals[a:b] - ref) <= RATE_TOLERANCE * ref
        a, b = a + int(np.argmax(steady)), b - int(np.argmax(steady[::-1]))
        first = max(a, end + 1)
        if first > end + 1:
            segments.append(Segment(end + 1, first - end - 1, None))
        late = np.abs(intervals[first:b] - ref) > 0.5 * ref
        segments.append(Segment(first, b - first + 1, 1.0 / ref, int(late.sum())))
        end = b
    if end < n - 1:
        if segments and segments[-1].fps is None:
            end = segments.pop().first - 1
        segments.append(Segment(end + 1, n - 1 - end, None))
    return segments if any(s.fps for s in segments) else [Segment(0, n, None)]


def _fps(intervals: np.ndarray) -> float | None:
    if intervals.size == 0:
        return None
    median = float(np.median(intervals))
    return 1.0 / median if median > 0 else None


def _describe(segments: list[Segment]) -> str:
    return "; ".join(f"{k}: frames {s.first}-{s.first + s.n_frames - 1} "
                     + (f"at {s.fps:.4g} fps" if s.fps else "(ramp)")
                     for k, s in enumerate(segments))


def select_segment(reader, segments: list[Segment], *, segment: int | None, name: str):
    """The reader itself (one segment), or a :class:`SegmentReader` over the chosen one.

    ``segment`` None picks the longest constant-rate segment, with a warning naming all.

    Raises
    ------
    VmicError
        A segment index that does not exist, or one that is a ramp.
    """
    if segment is not None and not 0 <= segment < len(segments):
        raise VmicError(f"--segment {segment}: {name} holds {len(segments)} segment"
                        f"{'s' if len(segments) > 1 else ''} (0..{len(segments) - 1})"
                        + (f": {_describe(segments)}" if len(segments) > 1 else ""))
    chosen = segments[segment if segment is not None else 0]
    if len(segments) == 1:
        _warn_irregular(chosen, name)
        return reader
    if segment is None:
        steady = [k for k, s in enumerate(segments) if s.fps]
        if not steady:
            raise VmicError(f"{name}: its frame rate varies throughout; no constant-rate "
                            "segment to read")
        segment = max(steady, key=lambda k: segments[k].n_frames)
        warnings.warn(f"{name} holds segments at different rates ({_describe(segments)}); "
                      f"reading segment {segment}, the longest at a constant rate "
                      "(--segment chooses another)", stacklevel=3)
    elif segments[segment].fps is None:
        raise VmicError(f"--segment {segment}: that segment of {name} is a ramp (its rate "
                        f"varies); choose one at a constant rate: {_describe(segments)}")
    _warn_irregular(segments[segment], name)
    return SegmentReader(reader, segments, segment)


def _warn_irregular(segment: Segment, name: str) -> None:
    if segment.irregular:
        warnings.warn(f"{name}: {segment.irregular} frame interval"
                      f"{'s are' if segment.irregular > 1 else ' is'} off the rate of "
                      f"{segment.fps:g} fps by more than half (dropped or late frames); "
                      "recovery places the frames at their times and fills the missing ones "
                      "from their neighbours", stacklevel=4)


class SegmentReader:
    """One segment of another reader, seen as a whole reader (frames counted from its first)."""

    def __init__(self, reader, segments: list[Segment], index: int):
        self._reader = reader
        self.segment = segments[index]
        self.shape = reader.shape
        self.n_frames = self.segment.n_frames
        self.container_fps = self.segment.fps
        self.bytes_per_pixel = reader.bytes_per_pixel
        self.stated_rate = getattr(reader, "stated_rate", None)
        self.metadata = {**reader.metadata, "container_fps": self.segment.fps,
                         "segment": index, "segment_first_frame": self.segment.first}

    def batches(self, start: int, count: int, batch_size: int) -> Iterator[np.ndarray]:
        count = min(count, self.n_frames - start)
        return self._reader.batches(self.segment.first + start, count, batch_size)

    def timestamps(self, start: int, count: int) -> np.ndarray | None:
        count = min(count, self.n_frames - start)
        return self._reader.timestamps(self.segment.first + start, count)

    def close(self) -> None:
        self._reader.close()
