"""Frames at their stored times: a dropped frame is a missing sample, not a skipped one.

A phone or a camera under load can drop frames. Read one after another as if evenly spaced,
each frame after a drop would be a frame interval early, and the recovered sound would jump
in phase there (a click, and a pitch error over the whole recording where drops are many).
Instead, each frame takes its slot on the uniform grid of its stored times
(:func:`frame_slots`), and the per-frame sums of the missing slots are interpolated linearly
between their neighbours (:func:`place_on_slots`) before the combination, whose filters
assume uniform sampling.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from vmic.core.phase import PhaseSums
from vmic.errors import VmicError

__all__ = ["frame_slots", "place_on_slots", "place_sums", "MAX_MISSING_FRACTION"]

MAX_MISSING_FRACTION = 0.5
"""Largest share of missing slots filled; more is not a dropped frame here and there."""


def frame_slots(times: np.ndarray | None) -> np.ndarray | None:
    """Each frame's slot on the uniform grid of its stored times, or None if they are even.

    Parameters
    ----------
    times : ndarray of float64, shape (T,), or None
        Stored presentation times of consecutive frames (s, on any clock).

    Returns
    -------
    ndarray of int64, shape (T,), or None
        Slot ``round((t - t0) / interval)`` of each frame, with ``interval`` the median
        frame interval, strictly increasing (a late frame that rounds onto its neighbour's
        slot keeps its own side); None where every frame is one slot after the previous,
        or where the times are missing or not finite.

    Raises
    ------
    VmicError
        More than :data:`MAX_MISSING_FRACTION` of the slots would be missing.
    """
    if times is None or len(times) < 3 or not np.isfinite(times).all():
        return None
    times = np.asarray(times, dtype=np.float64)
    interval = float(np.median(np.diff(times)))
    if not interval > 0:
        return None
    slots = _distinct_slots((times - times[0]) / interval)
    if slots[-1] == len(slots) - 1:
        return None
    missing = int(slots[-1] + 1 - len(slots))
    if missing > MAX_MISSING_FRACTION * (slots[-1] + 1):
        raise VmicError(f"the stored frame times leave {missing} of {slots[-1] + 1} frame "
                        "slots empty: too many to fill (is the video's rate variable? see "
                        "--segment)")
    return slots


def _distinct_slots(position: np.ndarray, max_fixes: int = 1000) -> np.ndarray:
    # The nearest slot of each frame; where a late or early frame rounds onto its
    # neighbour's slot, the one rounded towards the other moves back to its free side.
    slots = np.round(position).astype(np.int64)
    for _ in range(max_fixes):
        clash = np.flatnonzero(np.diff(slots) <= 0)
        if not clash.size:
            return slots
        i = clash[0]  # frames i and i + 1
        if position[i] < slots[i] and slots[i] - 1 > (slots[i - 1] if i else -1):
            slots[i] -= 1
        else:
            slots[i + 1] = slots[i] + 1
    # Times this disordered: keep the order, one slot apart at least.
    index = np.arange(len(slots))
    return np.maximum.accumulate(slots - index) + index


def place_on_slots(values: np.ndarray, slots: np.ndarray) -> np.ndarray:
    """Per-frame values placed on their slots, missing slots interpolated linearly.

    Parameters
    ----------
    values : ndarray, shape (T, ...)
        One row per frame.
    slots : ndarray of int64, shape (T,)
        From :func:`frame_slots`, starting at 0.

    Returns
    -------
    ndarray, shape (slots[-1] + 1, ...), of ``values``' dtype
    """
    values = np.asarray(values)
    n = int(slots[-1]) + 1
    out = np.empty((n,) + values.shape[1:], dtype=values.dtype)
    out[slots] = values
    missing = np.setdiff1d(np.arange(n), slots, assume_unique=True)
    if missing.size:
        after = np.searchsorted(slots, missing)  # the first frame past each missing slot
        before = after - 1
        weight = ((missing - slots[before]) / (slots[after] - slots[before]))
        weight = weight.reshape((-1,) + (1,) * (values.ndim - 1))
        out[missing] = (1 - weight) * values[before] + weight * values[after]
    return out


def place_sums(sums, slots: np.ndarray):
    """A :class:`~vmic.ranges.RangeSums` with every per-frame array placed on ``slots``."""

    def place(value):
        if value is None:
            return None
        if isinstance(value, PhaseSums):
            return PhaseSums(place(value.weighted_phase), place(value.amplitude),
                             place(value.energy), value.pixels, place(value.flow))
        return place_on_slots(value, slots)

    if len(slots) != sums.n_frames:
        raise VmicError(f"{len(slots)} frame slots for {sums.n_frames} frames")
    return replace(sums, bands=place(sums.bands), flow=place(sums.flow),
                   align=place(sums.align), motion=place(sums.motion),
                   tile_motion=place(sums.tile_motion))
