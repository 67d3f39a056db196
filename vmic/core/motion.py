"""Large motion of the whole scene: a track per frame, its smoothing, and its removal.

A camera that drifts, pans or shakes moves the scene by pixels while the sound moves it by a
hundredth of one. Every band's phase is taken against one reference image, so once the scene
has moved by a fraction of a band's wavelength the phase wraps and the weights belong to
other texture. The large motion is therefore measured and undone before the pyramid:

1. **Track.** Each frame's global displacement against the reference image, by phase
   correlation on an area-downsampled, tapered copy (:class:`vmic.core.tracker.MotionTracker`):
   the peak of the normalised cross-power spectrum gives whole pixels, then a weighted
   least-squares fit of the cross-power phase's slope over the low frequencies gives the
   fraction; where the frame has moved, the fit is repeated on the part of the frame that
   overlaps the reference (texture entering and leaving the view biases a whole-frame
   estimate). The estimate is then refined at full resolution on the frame shifted back as
   step 3 shifts it (:meth:`~vmic.core.tracker.MotionTracker.refine`): the coarse one's
   error depends on the scene's place on the pixel grid and would wobble in the audio band
   as the scene moves. Each frame needs only itself and the reference: a clip's frame
   ranges are tracked independently.
2. **Smooth.** The per-frame track holds the sound's motion and the estimate's noise too;
   a zero-phase low-pass at :data:`TRACK_CUTOFF_HZ` keeps the large motion only
   (:func:`smooth_track`). The track is extended at both ends by the cubic that fits
   its first and last :data:`EDGE_FIT_S` seconds, so the filter settles on the track's own
   trend instead of a mirror image (a kink the high-pass of the audio would turn into a
   click).
3. **Remove.** Each frame is tapered at its border, shifted back by its smoothed
   displacement as a phase ramp on its spectrum (exact for any sub-pixel amount) and
   cropped by a margin that covers the taper and the largest displacement
   (:class:`vmic.core.compensation.MotionCompensator`). The scene then stands still in the
   cropped frame up to the residual of the smoothed track, which is slow and is removed with
   the rest of the low frequencies by the recovery's high-pass. The sound's motion is
   untouched: the track holds none of it.

Displacements are (dx, dy) in px of the frame, positive to the right and down: a frame
shows the reference's content moved by ``d``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.signal

__all__ = ["smooth_track", "MotionTrack", "track_step", "tracked_frames", "lost_ranges",
           "TRACK_CUTOFF_HZ", "TRACK_ORDER", "MOTION_THRESHOLD_PX", "MAX_SHIFT_FRACTION",
           "TAPER_PX"]

TRACK_CUTOFF_HZ = 15.0
"""Cut-off (Hz) of the smoothing of the track: under the audio band (20 Hz and up)."""

TRACK_ORDER = 4
"""Order of the Butterworth low-pass that smooths the track."""

MIN_TRACK_S = 0.1
"""Shortest clip (s) whose motion is compensated (shorter, slow motion and sound blur)."""

EDGE_FIT_S = 0.05
"""Length (s) of the track's ends fitted by a cubic to extend it before smoothing."""

MOTION_THRESHOLD_PX = 0.2
"""Smoothed displacement (px) from which the clip's motion is removed (below, the still
clip's recovery is kept as it is: compensation would only crop its border)."""

MAX_SHIFT_FRACTION = 0.25
"""Largest displacement followed, as a fraction of the frame's shorter side: beyond it the
reference has largely left the view."""

TAPER_PX = 4
"""Width (px) of the raised-cosine border of the frames the tracker and the compensation
transform (a sharp border would ring when shifted by a fraction of a pixel)."""

TRACK_RATE_HZ = 200.0
"""Rate (Hz) at which frames are tracked, at least: every ``fps // 200``-th frame."""



def smooth_track(track: np.ndarray, fps: float, *, cutoff_hz: float | None = None,
                 order: int | None = None) -> np.ndarray:
    """The large motion of per-frame tracks: a zero-phase low-pass along time.

    Parameters
    ----------
    track : ndarray, shape (T, K)
        Per-frame displacements (px), one track per column: (dx, dy) of the frame, or the
        tiles' (:mod:`vmic.core.tiles`). NaN where a frame is not tracked: each column's gaps
        are interpolated linearly first (a column without a value gives zeros).
    fps : float
        Capture rate (frames/s).
    cutoff_hz : float, default :data:`TRACK_CUTOFF_HZ`
        Cut-off of the Butterworth low-pass, run forward and backward (Hz).
    order : int, default :data:`TRACK_ORDER`
        Its order.

    Returns
    -------
    ndarray of float64, shape (T, K)
    """
    cutoff_hz = TRACK_CUTOFF_HZ if cutoff_hz is None else cutoff_hz
    order = TRACK_ORDER if order is None else order
    track = _fill_gaps(np.asarray(track, dtype=np.float64))
    n = track.shape[0]
    if n < 8 or not 0 < cutoff_hz < fps / 2:
        return track
    sos = scipy.signal.butter(order, cutoff_hz, fs=fps, output="sos")
    pad = int(np.ceil(3 * fps / cutoff_hz))
    n_fit = min(n, max(4, int(EDGE_FIT_S * fps)))
    t = np.arange(n, dtype=np.float64)
    left = _cubic_at(t[:n_fit], track[:n_fit], np.arange(-pad, 0.0))
    right = _cubic_at(t[-n_fit:], track[-n_fit:], np.arange(n, n + pad, 1.0))
    extended = np.concatenate([left, track, right])
    return scipy.signal.sosfiltfilt(sos, extended, axis=0, padlen=0)[pad:pad + n]


def _cubic_at(t: np.ndarray, values: np.ndarray, at: np.ndarray) -> np.ndarray:
    # The cubic fitted to each column of values (N, K) at times t, evaluated at `at` (Horner,
    # as np.polyval, with no matrix product); times counted from the fit's first, so that the
    # fit stays well conditioned far into a long clip.
    coefficients = np.polyfit(t - t[0], values, 3)
    out = np.zeros((len(at), values.shape[1]))
    for c in coefficients:
        out = out * (at - t[0])[:, None] + c
    return out


def _fill_gaps(track: np.ndarray) -> np.ndarray:
    # Frames not tracked (NaN: see track_step) take the linear interpolation of the others,
    # column by column; a column with no value is zero.
    known = np.isfinite(track)
    if known.all():
        return track
    t = np.arange(len(track))
    out = np.zeros_like(track)
    for column in range(track.shape[1]):
        ok = known[:, column]
        if ok.any():
            out[:, column] = np.interp(t, t[ok], track[ok, column])
    return out


def track_step(fps: float) -> int:
    """Frames between two tracked frames: the track is sampled at :data:`TRACK_RATE_HZ` or
    more (the large motion lies under 20 Hz), which keeps tracking cheap at high rates."""
    return max(1, int(fps // TRACK_RATE_HZ))


def tracked_frames(at: np.ndarray, n_frames: int, fps: float) -> np.ndarray:
    """Which of the frames ``at`` (indices in a clip of ``n_frames``) are tracked: bool.

    Every :func:`track_step`-th frame; in the clip's first and last ``2 EDGE_FIT_S``
    seconds, where :func:`smooth_track` fits the track's ends, every quarter of that step
    (a fit on a few noisy samples would extend the track with a wrong slope, which the
    smoothing and then the audio's high-pass turn into a transient); and the last frame.
    The same frames however the clip is split into ranges.
    """
    at = np.asarray(at)
    step = track_step(fps)
    edge = int(np.ceil(2 * EDGE_FIT_S * fps))
    near_end = (at < edge) | (at >= n_frames - edge)
    return ((at % step == 0) | (near_end & (at % max(1, step // 4) == 0))
            | (at == n_frames - 1))


@dataclass
class MotionTrack:
    """The large motion found in a clip and what is done about it.

    Attributes
    ----------
    raw : ndarray of float64, shape (T, 2)
        Per-frame displacement (dx, dy) against the reference image (px).
    smooth : ndarray of float64, shape (T, 2)
        Its large motion (:func:`smooth_track`), relative to the reference frames (px).
    fps : float
        Capture rate (frames/s).
    tiles : vmic.core.tiles.TileTracks or None
        The tracks of a grid of tiles, where measured: parts of the scene that move apart
        (:mod:`vmic.core.regional`).
    """

    raw: np.ndarray
    smooth: np.ndarray
    fps: float
    tiles: object | None = None

    @classmethod
    def from_raw(cls, raw: np.ndarray, fps: float) -> MotionTrack:
        return cls(np.asarray(raw, dtype=np.float64), smooth_track(raw, fps), float(fps))

    @property
    def peak_px(self) -> float:
        """Largest smoothed displacement, on either axis (px)."""
        return float(np.abs(self.smooth).max()) if self.smooth.size else 0.0

    def moving(self, threshold_px: float = MOTION_THRESHOLD_PX) -> bool:
        """Whether the large motion reaches ``threshold_px`` and calls for compensation
        (never on clips shorter than :data:`MIN_TRACK_S`, too short to tell slow motion
        from the sound's)."""
        long_enough = len(self.smooth) >= MIN_TRACK_S * self.fps
        return long_enough and self.peak_px >= threshold_px

    @property
    def regional(self) -> bool:
        """Whether parts of the scene move apart from the whole frame's motion (tiles whose
        own motion is removed: :attr:`vmic.core.tiles.TileTracks.detected`)."""
        return self.tiles is not None and bool(self.tiles.detected)

    def compensated(self) -> bool:
        """Whether the clip is read with its motion removed: :meth:`moving` or
        :attr:`regional`."""
        return self.moving() or self.regional

    def lost(self, frame_shape: tuple[int, int],
             fraction: float = MAX_SHIFT_FRACTION) -> np.ndarray:
        """Frames whose displacement exceeds ``fraction`` of the shorter side: bool (T,)."""
        limit = fraction * min(frame_shape)
        return np.abs(self.smooth).max(axis=1) > limit


def lost_ranges(mask: np.ndarray) -> str:
    """``"12-40, 50"``: the runs of True in a bool mask, as frame ranges."""
    idx = np.flatnonzero(mask)
    if idx.size == 0:
        return ""
    breaks = np.flatnonzero(np.diff(idx) > 1)
    starts = np.concatenate([[idx[0]], idx[breaks + 1]])
    stops = np.concatenate([idx[breaks], [idx[-1]]])
    return ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in zip(starts, stops, strict=True))
