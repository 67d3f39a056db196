"""Large motion of the whole scene: a track per frame, its smoothing, and its removal.

A camera that drifts, pans or shakes moves the scene by pixels while the sound moves it by a
hundredth of one. Every band's phase is taken against one reference image, so once the scene
has moved by a fraction of a band's wavelength the phase wraps and the weights belong to
other texture. The large motion is therefore measured and undone before the pyramid:

1. **Track.** Each frame's global displacement against the reference image, by phase
   correlation on an area-downsampled, tapered copy (:class:`MotionTracker`): the peak of
   the normalised cross-power spectrum gives whole pixels, then a weighted least-squares fit
   of the cross-power phase's slope over the low frequencies gives the fraction; where the
   frame has moved, the fit is repeated on the part of the frame that overlaps the reference
   (texture entering and leaving the view biases a whole-frame estimate). The estimate is
   then refined at full resolution on the frame shifted back as step 3 shifts it
   (:meth:`MotionTracker.refine`): the coarse one's error depends on the scene's place on
   the pixel grid and would wobble in the audio band as the scene moves. Each frame needs
   only itself and the reference: a clip's frame ranges are tracked independently.
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
import scipy.fft
import scipy.signal

from vmic.errors import VmicError

__all__ = ["MotionTracker", "SlopeFit", "area_downsample", "shift_back", "shift_back_ramp",
           "smooth_track",
           "MotionTrack", "track_step", "tracked_frames", "lost_ranges", "raised_cosine_window",
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

REFINE_STEPS = 1
"""Gauss-Newton steps that refine a tracked displacement at full resolution
(:meth:`MotionTracker.refine`; one brings the error to under 0.001 px on 8-bit texture)."""

REFINE_FROM_PX = 0.02
"""Displacement (px) from which a tracked frame's estimate is refined. The coarse estimate's
error grows with the displacement (about 3 % of it under 0.5 px), so a still frame needs no
refinement, and a still clip whose sound moves it by less pays nothing for it."""

TRACK_RATE_HZ = 200.0
"""Rate (Hz) at which frames are tracked, at least: every ``fps // 200``-th frame."""

TRACK_SIDE_PX = 48
"""Side (px) to which the tracker area-downsamples frames, at least."""

_LOW_CYCLES_PER_PX = 0.25  # frequencies of the downsampled frame the slope fit uses


def raised_cosine_window(shape: tuple[int, int], border: int) -> np.ndarray:
    """A window of ones with a raised-cosine border ``border`` px wide, float32 (H, W)."""

    def axis(n: int) -> np.ndarray:
        out = np.ones(n)
        width = min(border, n // 2)
        if width > 0:
            ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(width) + 0.5) / width)
            out[:width] = ramp
            out[n - width:] = ramp[::-1]
        return out

    return (axis(shape[0])[:, None] * axis(shape[1])[None, :]).astype(np.float32)


def shift_back(frames: np.ndarray, shifts: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Frames with their displacement undone: tapered by ``window``, shifted by ``-shifts``.

    Parameters
    ----------
    frames : ndarray, shape (B, H, W)
    shifts : ndarray, shape (B, 2)
        (dx, dy) of each frame (px): a frame shows the scene moved by them.
    window : ndarray, shape (H, W)
        The taper (:func:`raised_cosine_window`); a sharp border would ring when shifted.

    Returns
    -------
    ndarray of float64, shape (B, H, W)
        The frames' means are kept. Exact for any sub-pixel shift of a band-limited image
        within the taper (a phase ramp on the spectrum).
    """
    h, w = frames.shape[1:]
    mean = frames.mean(axis=(1, 2), keepdims=True)
    spectra = scipy.fft.rfft2((frames - mean) * window, workers=1)
    spectra *= shift_back_ramp((h, w), shifts)
    return scipy.fft.irfft2(spectra, s=(h, w), workers=1) + mean


def shift_back_ramp(shape: tuple[int, int], shifts: np.ndarray) -> np.ndarray:
    """The phase ramps that shift frames of ``shape`` (H, W) back by ``shifts`` (B, 2) px:
    complex128 (B, H, W // 2 + 1), for their ``rfft2`` spectra."""
    h, w = shape
    fy = np.fft.fftfreq(h)[None, :, None]
    fx = np.fft.rfftfreq(w)[None, None, :]
    # A frame shows the scene moved by d: shift it by -d (multiply by exp(+2 pi i f.d)),
    # the ramp as the product of its two axes' (a 2-D exp per frame costs more than the FFT).
    return (np.exp(2j * np.pi * fy * shifts[:, 1, None, None])
            * np.exp(2j * np.pi * fx * shifts[:, 0, None, None]))


def area_downsample(frames: np.ndarray, factor: int) -> np.ndarray:
    """Frames (B, H, W) averaged over ``factor`` x ``factor`` blocks: float32 (B, H // factor,
    W // factor) (the last rows and columns that make no whole block are dropped)."""
    if factor == 1:
        return np.asarray(frames, dtype=np.float32)
    b, h, w = frames.shape
    h, w = h // factor * factor, w // factor * factor
    cut = frames[:, :h, :w].reshape(b, h // factor, factor, w // factor, factor)
    return cut.mean(axis=(2, 4), dtype=np.float32)


class SlopeFit:
    """Weighted least-squares fit of a shift to the phase of cross-power spectra of frames
    of ``shape`` (h, w) px, over their frequencies under 0.25 cycles/px."""

    def __init__(self, shape: tuple[int, int]):
        h, w = shape
        self.fy = np.fft.fftfreq(h)[:, None]
        self.fx = np.fft.fftfreq(w)[None, :]
        low = (np.abs(self.fy) < _LOW_CYCLES_PER_PX) & (np.abs(self.fx) < _LOW_CYCLES_PER_PX)
        self.low = low.ravel()
        # Phase of a shift d: -2 pi (fx dx + fy dy); the design's columns and their products
        # over the low frequencies only.
        gx = np.broadcast_to(-2 * np.pi * self.fx, (h, w)).ravel()[self.low]
        gy = np.broadcast_to(-2 * np.pi * self.fy, (h, w)).ravel()[self.low]
        self.design = np.stack([gx, gy], axis=1)  # (N, 2)
        self.products = np.stack([gx * gx, gx * gy, gy * gy], axis=1)  # (N, 3)

    def fit(self, cross: np.ndarray, start: np.ndarray, iterations: int = 2) -> np.ndarray:
        """Shifts (B, 2) of cross-power spectra (B, h, w), refined from ``start`` (B, 2)."""
        shifts = np.array(start, dtype=np.float64)
        spectra = cross.reshape(len(cross), -1)[:, self.low]  # (B, N)
        weight = np.abs(spectra)
        xx, xy, yy = (weight @ self.products).T
        det = xx * yy - xy * xy
        det = np.where(det > 0, det, np.inf)
        for _ in range(iterations):
            ramp = np.exp(-1j * (shifts @ self.design.T))  # undoes the current estimate
            residual = np.angle(spectra * ramp)
            bx, by = ((weight * residual) @ self.design).T
            shifts[:, 0] += (yy * bx - xy * by) / det
            shifts[:, 1] += (xx * by - xy * bx) / det
        return shifts


class MotionTracker:
    """Global displacement of frames against a reference image (px), frame by frame.

    Parameters
    ----------
    reference : ndarray, shape (H, W)
        The reference image (grey levels).

    Notes
    -----
    Frames are area-downsampled by :attr:`factor` (the shorter side to at least
    :data:`TRACK_SIDE_PX` px) and tapered; estimates are then in downsampled px, scaled back.
    """

    def __init__(self, reference: np.ndarray):
        reference = np.asarray(reference, dtype=np.float32)
        if reference.ndim != 2:
            raise VmicError(f"reference must be one frame (H, W), got shape {reference.shape}")
        self.frame_shape = reference.shape
        self.factor = max(1, min(reference.shape) // TRACK_SIDE_PX)
        small = area_downsample(reference[None], self.factor)[0]
        self.shape = small.shape
        self.window = raised_cosine_window(self.shape, TAPER_PX)
        self.reference = small
        self.reference_spectrum = scipy.fft.fft2((small - small.mean()) * self.window,
                                                 workers=1)
        self.fit = SlopeFit(self.shape)
        # The full-resolution reference and its gradient (spectral: exact for the
        # band-limited image, where central differences would shrink fine texture's).
        h, w = self.frame_shape
        self.full_window = raised_cosine_window(self.frame_shape, TAPER_PX)
        self.full_reference = reference.astype(np.float64)
        self.normals: dict[int, np.ndarray] = {}  # of the refinement, by margin
        tapered = scipy.fft.rfft2((self.full_reference - self.full_reference.mean())
                                  * self.full_window, workers=1)
        self.gradient = np.stack([
            scipy.fft.irfft2(tapered * (2j * np.pi * np.fft.rfftfreq(w)[None, :]), s=(h, w),
                             workers=1),
            scipy.fft.irfft2(tapered * (2j * np.pi * np.fft.fftfreq(h)[:, None]), s=(h, w),
                             workers=1)])

    def track(self, frames: np.ndarray) -> np.ndarray:
        """Displacement of each frame against the reference.

        Parameters
        ----------
        frames : ndarray, shape (B, H, W)

        Returns
        -------
        ndarray of float64, shape (B, 2)
            (dx, dy) in px of the frame: the frame shows the reference moved by them.
        """
        frames = np.asarray(frames)
        if frames.ndim == 2:
            frames = frames[None]
        # Frame by frame: a batched FFT's rounding depends on the batch, and a frame must
        # give the same bits however the clip's frames are batched or split into ranges.
        return np.concatenate([self._track(frames[i:i + 1]) for i in range(len(frames))]
                              ).reshape(-1, 2)

    def _track(self, frames: np.ndarray) -> np.ndarray:
        small = area_downsample(frames, self.factor)
        centred = small - small.mean(axis=(1, 2), keepdims=True)
        spectra = scipy.fft.fft2(centred * self.window, workers=1)
        cross = spectra * np.conj(self.reference_spectrum)
        # Whole pixels: the peak of the phase correlation surface.
        surface = scipy.fft.ifft2(cross / (np.abs(cross) + 1e-30), workers=1).real
        h, w = self.shape
        peak = surface.reshape(len(frames), -1).argmax(axis=1)
        iy, ix = np.divmod(peak, w)
        start = np.stack([np.where(ix < w // 2, ix, ix - w),
                          np.where(iy < h // 2, iy, iy - h)], axis=1).astype(np.float64)
        shifts = self.fit.fit(cross, start)
        moved = np.flatnonzero(np.abs(shifts).max(axis=1) >= 0.5)
        for i in moved:  # on the part of the frame that overlaps the reference
            shifts[i] = self._overlap_fit(small[i], shifts[i])
        shifts *= self.factor
        for i in np.flatnonzero(np.abs(shifts).max(axis=1) >= REFINE_FROM_PX):
            shifts[i] = self.refine(frames[i], shifts[i])
        return shifts

    def refine(self, frame: np.ndarray, shift: np.ndarray) -> np.ndarray:
        """A displacement refined on the full-resolution frame, as the compensation sees it.

        The coarse estimate is biased by a fraction of a pixel that depends on where the
        scene sits on the pixel grid (the downsampling aliases, the taper cuts texture that
        moves): as the scene moves, that bias becomes a wobble in the audio band. Here the
        frame is shifted back by the estimate exactly as
        :class:`~vmic.core.compensation.MotionCompensator` shifts it, and the displacement
        left against the reference (plus a brightness offset) is solved by least squares
        on the image gradient over the region that stays in view, :data:`REFINE_STEPS`
        times (Gauss-Newton).

        Parameters
        ----------
        frame : ndarray, shape (H, W)
        shift : ndarray, shape (2,)
            The coarse (dx, dy) in px.

        Returns
        -------
        ndarray of float64, shape (2,)
            The refined (dx, dy); the last estimate where too little of the frame stays in
            view, or too little texture, to refine on.
        """
        h, w = self.frame_shape
        shift = np.array(shift, dtype=np.float64)
        frame = np.asarray(frame, dtype=np.float32)[None]
        for _ in range(REFINE_STEPS):
            margin = TAPER_PX + int(np.ceil(np.abs(shift).max())) + 3
            if min(h, w) - 2 * margin < 16 or not np.isfinite(shift).all():
                return shift
            inner = (slice(margin, h - margin), slice(margin, w - margin))
            still = shift_back(frame, shift[None], self.full_window)[0][inner]
            # still = reference(x + shift - d): the difference is gradient . (shift - d).
            error = still - self.full_reference[inner]
            columns = (self.gradient[0][inner], self.gradient[1][inner], np.ones_like(error))
            # The normal equations by numpy's own sums, not BLAS: the same frame gives the
            # same bits in any thread (a frame range tracked apart equals one pass). Their
            # matrix depends on the margin only.
            normal = self.normals.get(margin)
            if normal is None:
                normal = np.array([[np.sum(a * b) for b in columns] for a in columns])
                self.normals[margin] = normal
            try:
                step = np.linalg.solve(normal, [np.sum(a * error) for a in columns])[:2]
            except np.linalg.LinAlgError:
                return shift  # featureless: nothing to refine on
            if not np.isfinite(step).all() or np.abs(step).max() > 1:
                # A refinement only corrects a fraction of a pixel; more means texture in
                # one direction only (stripes), where the coarse estimate is the better one.
                return shift
            shift -= step
        return shift

    def _overlap_fit(self, frame: np.ndarray, shift: np.ndarray) -> np.ndarray:
        h, w = self.shape
        ix, iy = np.round(shift).astype(int)
        if abs(ix) >= w // 2 - TAPER_PX or abs(iy) >= h // 2 - TAPER_PX:
            return shift  # too little overlap to refine on
        # The reference's rows/columns that stay in view, and where they now are.
        ref = self.reference[max(0, -iy): h - max(0, iy), max(0, -ix): w - max(0, ix)]
        cur = frame[max(0, iy): h - max(0, -iy), max(0, ix): w - max(0, -ix)]
        window = raised_cosine_window(ref.shape, TAPER_PX)
        fit = SlopeFit(ref.shape)
        cross = (scipy.fft.fft2((cur - cur.mean()) * window, workers=1)
                 * np.conj(scipy.fft.fft2((ref - ref.mean()) * window, workers=1)))
        return np.array([ix, iy]) + fit.fit(cross[None], np.zeros((1, 2)))[0]


def smooth_track(track: np.ndarray, fps: float, *, cutoff_hz: float | None = None,
                 order: int | None = None) -> np.ndarray:
    """The large motion of a per-frame track: a zero-phase low-pass along time.

    Parameters
    ----------
    track : ndarray, shape (T, 2)
        Per-frame displacements (px).
    fps : float
        Capture rate (frames/s).
    cutoff_hz : float, default :data:`TRACK_CUTOFF_HZ`
        Cut-off of the Butterworth low-pass, run forward and backward (Hz).
    order : int, default :data:`TRACK_ORDER`
        Its order.

    Returns
    -------
    ndarray of float64, shape (T, 2)
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
    out = np.empty_like(track)
    for axis in range(track.shape[1]):
        x = track[:, axis]
        left = np.polyval(np.polyfit(t[:n_fit], x[:n_fit], 3), np.arange(-pad, 0.0))
        right = np.polyval(np.polyfit(t[-n_fit:], x[-n_fit:], 3), np.arange(n, n + pad, 1.0))
        extended = np.concatenate([left, x, right])
        out[:, axis] = scipy.signal.sosfiltfilt(sos, extended, padlen=0)[pad:pad + n]
    return out


def _fill_gaps(track: np.ndarray) -> np.ndarray:
    # Frames not tracked (NaN: see track_step) take the linear interpolation of the others.
    known = np.isfinite(track).all(axis=1)
    if known.all() or not known.any():
        return np.nan_to_num(track)
    t = np.arange(len(track))
    return np.stack([np.interp(t, t[known], track[known, a]) for a in range(2)], axis=1)


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
