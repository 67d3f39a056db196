"""Judging the tracks of a grid of tiles against the global track (:mod:`vmic.core.regional`).

:class:`TileTracks` tells which tiles can be trusted, smooths their tracks, detects regional
motion (a trusted tile apart from the global track by
:data:`~vmic.core.regional.REGIONAL_THRESHOLD_PX`) and makes the field of displacements that
:class:`~vmic.core.compensation.RegionalCompensator` removes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.signal

from vmic.core.motion import MIN_TRACK_S, smooth_track
from vmic.core.regional import (
    GROUP_PX,
    JITTER_MAX_PX,
    OUTLIER_MAX_FRACTION,
    OUTLIER_PX,
    REGIONAL_THRESHOLD_PX,
)

__all__ = ["TileTracks"]


@dataclass
class TileTracks:
    """The tracks of a grid of tiles, judged against the global track (module notes).

    Attributes
    ----------
    raw : ndarray of float64, shape (T, GY, GX, 2)
        Each tile's displacement per frame (px; NaN where not tracked).
    relative : ndarray of float64, shape (T, GY, GX, 2)
        Each tile's smoothed displacement (outliers dropped) less the global one (px).
    jitter_px : ndarray of float64, shape (GY, GX)
        Robust deviation of each tile's track between tracked frames (px).
    outliers : ndarray of float64, shape (GY, GX)
        Fraction of each tile's tracked frames dropped as outliers or missing.
    trusted : ndarray of bool, shape (GY, GX)
        Tiles whose track is trusted (:data:`~vmic.core.regional.JITTER_MAX_PX`,
        :data:`~vmic.core.regional.OUTLIER_MAX_FRACTION`).
    moving : ndarray of bool, shape (GY, GX)
        Trusted tiles that depart from the global track by
        :data:`~vmic.core.regional.REGIONAL_THRESHOLD_PX`.
    field : ndarray of float64, shape (T, GY, GX, 2)
        The large motion of each tile (px): the global smoothed track plus, for trusted
        tiles, their own relative track, shared by tiles that agree within
        :data:`~vmic.core.regional.GROUP_PX`; untrusted tiles follow the nearest trusted
        one where the trusted tiles part (else the global track). What
        :class:`~vmic.core.compensation.RegionalCompensator` removes.
    fps : float
        Capture rate (frames/s).
    """

    raw: np.ndarray
    relative: np.ndarray
    jitter_px: np.ndarray
    outliers: np.ndarray
    trusted: np.ndarray
    moving: np.ndarray
    field: np.ndarray
    fps: float

    @property
    def detected(self) -> bool:
        """Whether regional motion is found: a trusted tile moves apart, on a clip of at
        least :data:`~vmic.core.motion.MIN_TRACK_S`."""
        return bool(self.moving.any()) and len(self.field) >= MIN_TRACK_S * self.fps

    @property
    def grid(self) -> tuple[int, int]:
        return self.raw.shape[1:3]

    @classmethod
    def from_raw(cls, raw: np.ndarray, global_raw: np.ndarray, global_smooth: np.ndarray,
                 fps: float, *, screening: bool = False) -> TileTracks:
        """Judge and smooth the tile tracks ``raw`` (T, GY, GX, 2) px against the global
        track ``global_raw`` (T, 2) px (NaN where not tracked) and its smoothing (T, 2).
        ``screening``: tracks sampled sparsely (:func:`~vmic.core.regional.tile_tracked`),
        whose jitter is mostly the motion between samples: a tile is trusted on its outliers
        alone (its estimates are already those whose fit explains the tile:
        :data:`~vmic.core.regional.MIN_COHERENCE`)."""
        raw = np.asarray(raw, dtype=np.float64)
        global_raw = np.asarray(global_raw, dtype=np.float64)
        n, gy, gx, _ = raw.shape
        # The frames whose tiles were tracked; a tile's estimate may be missing on some.
        known = np.isfinite(global_raw).all(axis=1) & np.isfinite(raw).all(axis=3).any(axis=(1, 2))
        jitter = np.full((gy, gx), np.inf)
        outliers = np.ones((gy, gx))
        global_smooth = np.asarray(global_smooth, dtype=np.float64)
        tracks = np.full_like(raw, np.nan)
        for i in range(gy):
            for j in range(gx):
                # Judged on its own track: the global one may jump where regions part.
                valid = np.flatnonzero(known & np.isfinite(raw[:, i, j]).all(axis=1))
                own = raw[valid, i, j]
                if len(own) >= 8:
                    jitter[i, j], bad = _judge(own)
                    # Missing estimates count as outliers.
                    outliers[i, j] = 1 - (len(own) - bad.sum()) / known.sum()
                    tracks[valid[~bad], i, j] = own[~bad]
        smooth = smooth_track(tracks.reshape(n, -1), fps).reshape(raw.shape)
        relative = smooth - global_smooth[:, None, None, :]
        trusted = (outliers <= OUTLIER_MAX_FRACTION) & (screening | (jitter <= JITTER_MAX_PX))
        apart = np.abs(relative).max(axis=(0, 3)) if n else np.zeros((gy, gx))
        moving = trusted & (apart >= REGIONAL_THRESHOLD_PX)
        field = global_smooth[:, None, None, :] + _grouped(relative, trusted, apart)
        return cls(raw, relative, jitter, outliers, trusted, moving, field, float(fps))


def _grouped(relative: np.ndarray, trusted: np.ndarray, apart: np.ndarray) -> np.ndarray:
    # The relative tracks (T, GY, GX, 2) px that the tiles follow: trusted tiles whose tracks
    # agree within GROUP_PX (greedily, the farthest-moving first) share their mean track, and
    # a group that agrees with the global track follows it (zero).
    # Fewer distinct tracks, fewer shifts for the compensation; the mean of a region's tiles
    # is also the better estimate of its motion.
    out = np.zeros_like(relative)
    groups: list[list[tuple[int, int]]] = []
    for flat in np.argsort(-np.where(trusted, apart, -1.0), axis=None):
        tile = tuple(int(v) for v in np.unravel_index(flat, trusted.shape))
        if not trusted[tile]:
            break
        for members in groups:
            if np.abs(relative[:, tile[0], tile[1]]
                      - relative[:, members[0][0], members[0][1]]).max() <= GROUP_PX:
                members.append(tile)
                break
        else:
            groups.append([tile])
    for members in groups:
        rows, cols = np.array(members).T
        mean = relative[:, rows, cols].mean(axis=1)
        if np.abs(mean).max() > GROUP_PX:
            out[:, rows, cols] = mean[:, None, :]
    # An untrusted tile (little texture, or a window torn between regions) follows its
    # nearest trusted tile: where regions part, the global track may jump between them.
    near = np.argwhere(trusted)
    if len(near) and len(groups) > 1:
        for i, j in np.argwhere(~trusted):
            k, m = near[np.argmin(np.hypot(near[:, 0] - i, near[:, 1] - j))]
            out[:, i, j] = out[:, k, m]
    return out


def _judge(rel: np.ndarray) -> tuple[float, np.ndarray]:
    # A tile's track on its tracked frames (n, 2): its jitter (px; the robust
    # deviation of successive samples, which the slow motion hardly changes) and its
    # outliers (far from the running median of 5 samples).
    step = np.abs(np.diff(rel, axis=0))
    jitter = float((1.4826 * np.median(step, axis=0) / np.sqrt(2)).max())
    # (the ends padded with their own values: medfilt's zeros would make outliers of the
    # first and last samples of any track that is away from 0 there)
    padded = np.pad(rel, ((2, 2), (0, 0)), mode="edge")
    median = np.stack([scipy.signal.medfilt(padded[:, a], 5)[2:-2] for a in range(2)], axis=1)
    bad = (np.abs(rel - median) > max(OUTLIER_PX, 6 * jitter)).any(axis=1)
    return jitter, bad
