"""Measuring a frame's displacement against a reference image, and undoing it.

Step 1 of :mod:`vmic.core.motion` (the track) and the image operations step 3 (the removal,
:mod:`vmic.core.compensation`) shares with it: the taper, the Fourier shift, the area
downsampling.
"""

from __future__ import annotations

import numpy as np
import scipy.fft

from vmic.core.motion import TAPER_PX
from vmic.errors import VmicError

__all__ = ["MotionTracker", "SlopeFit", "area_downsample", "raised_cosine_window",
           "shift_back", "shift_back_ramp", "REFINE_STEPS", "REFINE_FROM_PX", "TRACK_SIDE_PX"]

REFINE_STEPS = 1
"""Gauss-Newton steps that refine a tracked displacement at full resolution
(:meth:`MotionTracker.refine`; one brings the error to under 0.001 px on 8-bit texture)."""

REFINE_FROM_PX = 0.02
"""Displacement (px) from which a tracked frame's estimate is refined. The coarse estimate's
error grows with the displacement (about 3 % of it under 0.5 px), so a still frame needs no
refinement, and a still clip whose sound moves it by less pays nothing for it."""

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
