"""The sums of frame ranges: made from a stream of batches, and joined.

What an extraction (:mod:`vmic.extraction`) keeps of each batch of frames is small
(:func:`batch_sums`), so :func:`stream_sums` holds a clip's sums in memory that grows by
a few hundred bytes a frame; :func:`join_ranges` joins the sums of consecutive ranges.
"""

from __future__ import annotations

import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from vmic.core.flow import apply_flow_scale
from vmic.core.phase import PhaseSums, band_sums, concatenate_sums, frame_phase_sums
from vmic.errors import VmicError

if TYPE_CHECKING:
    from vmic.extraction import Extraction

__all__ = ["RangeSums", "stream_sums", "batch_sums", "track_batch", "join_ranges"]


@dataclass
class RangeSums:
    """The sums of one frame range (from :func:`extract_range`).

    Attributes
    ----------
    key : str
        :attr:`Extraction.key` of the extraction they were made with.
    start : int
        First frame of the range, counted from the extraction's clip start.
    bands : PhaseSums
        Band sums: whole-frame totals where flow sums are kept, else per tile.
    flow : ndarray of float32, shape (T, 2, TY, TX) or None
        Per-tile flow statistic ``F`` (:func:`vmic.core.flow.flow_information`), in
        grey level**2 / px.
    align : PhaseSums or None
        ``align``'s whole-frame band sums, where the extraction keeps them.
    motion : ndarray of float64, shape (T, 2) or None
        Each frame's large motion (dx, dy) against the reference (px), where the
        extraction measures it (:class:`vmic.core.tracker.MotionTracker`).
    tile_motion : ndarray of float64, shape (T, GY, GX, 2) or None
        Each tile's large motion against the reference (px; NaN on frames whose tiles are
        not tracked: :func:`vmic.core.regional.tile_tracked`, sparsely: a screening for
        regional motion), where measured (:class:`vmic.core.regional.TileTracker`).
    """

    key: str
    start: int
    bands: PhaseSums
    flow: np.ndarray | None = None
    align: PhaseSums | None = None
    motion: np.ndarray | None = None
    tile_motion: np.ndarray | None = None

    @property
    def n_frames(self) -> int:
        return self.bands.n_frames

    @property
    def stop(self) -> int:
        """One past the range's last frame."""
        return self.start + self.n_frames


def stream_sums(extraction: Extraction, batches, *, first: int = 0,
                n_frames: int | None = None, bar=None, threads: int | None = None,
                watch=None) -> RangeSums:
    """The sums of a stream of batches, ``(index, frames)`` or frames (B, H, W), that hold
    the clip's frames ``first`` on, consecutive.

    Batches are processed by a pool of threads, each running a whole batch (FFTs and
    numba loops, which release the GIL) on its own. What is kept of each batch is small
    (:class:`RangeSums`), and with ``n_frames`` written into arrays of that length as it
    comes, so memory stays flat however long the stream.

    ``watch``, where given, sees each batch's result in order (``watch.seen(part)``); once
    its ``skip_sums`` is true, the batches after are only tracked (:func:`track_batch`),
    and the sums of those frames in the result are not filled in (the caller drops them).
    """
    threads = threads or os.cpu_count() or 1
    if watch is not None and n_frames is None:
        raise ValueError("a watched stream needs n_frames")
    extraction.build()  # once, here, not by the first batches of several threads at a time
    gather = _Gather(n_frames)
    pending: deque = deque()
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="vmic-phase") as pool:
        for item in batches:
            frames = item[1] if isinstance(item, tuple) else item
            index = first + (item[0] if isinstance(item, tuple) else gather.seen)
            gather.seen += frames.shape[0]
            work = (batch_sums if watch is None or not watch.skip_sums else _tracked_only)
            pending.append((pool.submit(work, extraction, frames, index), frames.shape[0]))
            # At most two batches per thread in flight: memory stays bounded.
            while len(pending) >= 2 * threads or (pending and pending[0][0].done()):
                gather.add(*pending.popleft(), bar, watch)
        while pending:
            gather.add(*pending.popleft(), bar, watch)
    return gather.result(extraction.key, first)


def batch_sums(extraction: Extraction, frames: np.ndarray, index: int = 0) -> dict:
    """What an extraction keeps of one batch of frames (B, H, W) that starts at frame
    ``index`` of the clip: ``bands``, ``flow``, ``align``, ``motion`` and ``tile_motion``
    arrays, each with the batch's frames first (see :class:`RangeSums`)."""
    frames = np.asarray(frames)
    pyramid, count = extraction.pyramid, frames.shape[0]
    align_bands, on_bands = extraction.align_bands, None
    if align_bands is not None:
        # align's sums from the same bands, against its own reference, whole frame.
        totals = np.zeros((len(align_bands), 3, count, pyramid.orientations, 1, 1))
        pixels = np.zeros((len(align_bands), 1, 1), dtype=np.int64)

        def on_bands(s, bands):
            if s < len(align_bands):
                pixels[s] = band_sums(bands, align_bands[s], (1, 1), totals[s])

    part = frame_phase_sums(pyramid, extraction.reference_bands, frames, extraction.tiles,
                            extraction.flow_weights, workers=1, on_bands=on_bands)
    out = {"bands": part, "flow": None, "align": None, "motion": None, "tile_motion": None}
    if extraction.tracker is not None:
        out["motion"], out["tile_motion"] = track_batch(extraction, frames, index)
    if extraction.flow:
        # Keep only what the combination needs: whole-frame band totals (for the band
        # signals) and the flow sums reduced to each tile's statistic F, in float32.
        keep = (-2, -1)
        scale, _ = extraction.flow_terms
        out["flow"] = apply_flow_scale(part.flow, scale).astype(np.float32)
        out["bands"] = PhaseSums(part.weighted_phase.sum(axis=keep, keepdims=True),
                                 part.amplitude.sum(axis=keep, keepdims=True),
                                 part.energy.sum(axis=keep, keepdims=True),
                                 part.pixels.sum(axis=keep, keepdims=True))
    if align_bands is not None:
        q = totals.transpose(1, 2, 0, 3, 4, 5)  # (3, B, S, K, 1, 1)
        out["align"] = PhaseSums(np.ascontiguousarray(q[0]), np.ascontiguousarray(q[1]),
                                 np.ascontiguousarray(q[2]), pixels)
    return out


def _tracked_only(extraction: Extraction, frames: np.ndarray, index: int) -> dict:
    # What stream_sums keeps of a batch once its watch skips the sums: the motion alone.
    motion, tile_motion = track_batch(extraction, np.asarray(frames), index)
    return {"bands": None, "flow": None, "align": None, "motion": motion,
            "tile_motion": tile_motion}


def track_batch(extraction: Extraction, frames: np.ndarray, index: int, *,
                dense: bool = False):
    """The large motion of a batch of frames (B, H, W) from frame ``index`` of the clip:
    float64 (B, 2) px, and each tile's, float64 (B, GY, GX, 2) px or None without tiles;
    NaN on frames not tracked (:func:`vmic.core.motion.tracked_frames`,
    :func:`vmic.core.regional.tile_tracked` with ``dense``)."""
    from vmic.core.motion import tracked_frames
    from vmic.core.regional import tile_tracked

    count = frames.shape[0]
    at = index + np.arange(count)
    tracked = tracked_frames(at, extraction.n_frames, extraction.fps)
    motion = np.full((count, 2), np.nan)
    if tracked.any():
        motion[tracked] = extraction.tracker.track(frames[tracked])
    tiles = extraction.tile_tracker
    if tiles is None:
        return motion, None
    tile_motion = np.full((count,) + tiles.grid + (2,), np.nan)
    on = tile_tracked(at, extraction.n_frames, extraction.fps, dense=dense)
    if on.any():
        tile_motion[on] = tiles.track(frames[on], motion[on])
    return motion, tile_motion


class _Gather:
    # Per-batch results in order: written into arrays of n_frames when that is known
    # (no list of parts and final copy), else listed and concatenated at the end.

    def __init__(self, n_frames: int | None):
        self.n_frames = n_frames
        self.parts: list[dict] = []
        self.out: dict | None = None
        self.filled = 0
        self.seen = 0  # frames submitted, for streams of bare batches

    def add(self, future, count: int, bar, watch=None) -> None:
        part = future.result()
        if bar is not None:
            bar.update(count)
        if watch is not None:
            watch.seen(part)
        if self.n_frames is None:
            self.parts.append(part)
            return
        if self.out is None:
            self.out = {key: _preallocate(value, self.n_frames) for key, value in part.items()}
        if self.filled + count > self.n_frames:
            raise ValueError(f"more frames than the {self.n_frames} announced")
        for key, value in part.items():
            _store(self.out[key], value, self.filled)
        self.filled += count

    def result(self, key: str, first: int) -> RangeSums:
        if self.n_frames is None or self.out is None:
            if not self.parts:
                raise VmicError("no frames could be decoded")
            joined = {name: _concatenate([p[name] for p in self.parts])
                      for name in self.parts[0]}
        else:
            joined = {name: _head(value, self.filled) for name, value in self.out.items()}
        return RangeSums(key, first, **joined)


def _preallocate(value, n: int):
    if value is None:
        return None
    if isinstance(value, PhaseSums):
        return PhaseSums(*(np.empty((n,) + a.shape[1:], a.dtype) for a in
                           (value.weighted_phase, value.amplitude, value.energy)),
                         value.pixels, _preallocate(value.flow, n))
    return np.empty((n,) + value.shape[1:], value.dtype)


def _store(out, value, at: int) -> None:
    if value is None:
        return
    if isinstance(value, PhaseSums):
        for name in ("weighted_phase", "amplitude", "energy", "flow"):
            _store(getattr(out, name), getattr(value, name), at)
        return
    out[at : at + value.shape[0]] = value


def _head(value, n: int):
    if value is None:
        return None
    if isinstance(value, PhaseSums):
        return PhaseSums(value.weighted_phase[:n], value.amplitude[:n], value.energy[:n],
                         value.pixels, None if value.flow is None else value.flow[:n])
    return value[:n]


def _concatenate(values: list):
    if values[0] is None:
        return None
    if isinstance(values[0], PhaseSums):
        return concatenate_sums(values)
    return np.concatenate(values)


def join_ranges(extraction: Extraction, parts: list[RangeSums]) -> RangeSums:
    """Join the sums of consecutive ranges into one.

    Raises
    ------
    VmicError
        No parts, parts of another extraction's settings, out of order, with gaps or
        overlaps.
    """
    if isinstance(parts, RangeSums):
        parts = [parts]
    if not isinstance(parts, (list, tuple)) or not parts:
        raise VmicError("parts must be a non-empty list of RangeSums (from extract_range)")
    for i, part in enumerate(parts):
        if not isinstance(part, RangeSums):
            raise VmicError(f"parts[{i}] is a {type(part).__name__}, not RangeSums "
                            "(from extract_range)")
        if part.key != extraction.key:
            raise VmicError(f"parts[{i}] was extracted with other settings or another "
                            "reference than this extraction")
        if i and part.start != parts[i - 1].stop:
            what = ("overlaps" if part.start < parts[i - 1].stop else "leaves a gap after")
            raise VmicError(
                f"parts must be consecutive frame ranges in order: parts[{i}] (frames "
                f"{part.start}..{part.stop}) {what} parts[{i - 1}] (frames "
                f"{parts[i - 1].start}..{parts[i - 1].stop})")
    if len(parts) == 1:
        return parts[0]
    joined = {name: _concatenate([getattr(p, name) for p in parts])
              for name in ("bands", "flow", "align", "motion", "tile_motion")}
    return RangeSums(extraction.key, parts[0].start, **joined)
