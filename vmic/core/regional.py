"""Regional motion: parts of the scene that move apart from the whole frame's motion.

An object whose two halves slide opposite ways by pixels, a part that swings on its own, a
foreground that moves against its background: one global track (:mod:`vmic.core.motion`)
cannot hold them still, and every band's phase wraps where they move. Their motion is
measured and removed tile by tile, in the same steps as the global motion's:

1. **Track.** The frame is cut into a coarse grid of tiles (:func:`tile_grid`: tiles of at
   least :data:`TILE_MIN_PX` px, at most :data:`MAX_TILES` a side). Each tile's whole
   pixels come from the phase correlation peak of a window twice its side, centred on it
   and placed at the frame's global displacement, against the same window of the reference
   image; the fraction from a slope fit on the tile itself, re-centred on them
   (:class:`TileTracker`). Estimates whose fit explains too little of the tile are dropped
   (:data:`MIN_COHERENCE`). It runs on some of the frames the global tracker runs on
   (:func:`tile_tracked`: sparsely to screen a clip in the recovery's pass, densely where
   the screening finds regional motion), with the global track of the same frame:
   per-frame state only, so a clip's frame ranges are tracked independently.
2. **Judge and smooth** (:class:`~vmic.core.tiles.TileTracks`). Each tile's jitter (a
   robust deviation of successive estimates) and its outliers (samples far from their
   running median) or missing estimates tell whether it can be trusted; outliers are
   dropped, and the rest smoothed like the global track. Regional motion is *detected*
   where a trusted tile's smoothed track departs from the global one by
   :data:`REGIONAL_THRESHOLD_PX` or more; then trusted tiles follow their own tracks
   (shared by tiles that agree within :data:`GROUP_PX`) and untrusted ones their nearest
   trusted tile's. Without it, the clip is compensated by the global track alone, or not
   at all, exactly as without tiles.
3. **Remove.** Each frame's tapered spectrum is shifted back by each distinct tile track
   (one inverse FFT each, exact for any sub-pixel amount), and the shifted frames are
   blended by a partition of unity of the tiles with
   :data:`~vmic.core.compensation.TRANSITION_PX` px raised-cosine seams
   (:class:`~vmic.core.compensation.RegionalCompensator`), then cropped by a margin that
   covers the largest displacement of any tile. Where tiles move alike the result is the
   global compensation; where a region boundary crosses a tile, that tile's part of the
   other region keeps a residual motion (the grid is coarse by design: a tile needs
   texture to be tracked).

Displacements are (dx, dy) in px of the frame, as in :mod:`vmic.core.motion`.
"""

from __future__ import annotations

import numpy as np
import scipy.fft

from vmic.core.compensation import tile_edges
from vmic.core.motion import EDGE_FIT_S, TAPER_PX, track_step, tracked_frames
from vmic.core.tracker import SlopeFit, area_downsample, raised_cosine_window
from vmic.errors import VmicError

__all__ = ["TileTracker", "tile_grid", "tile_tracked", "TILE_MIN_PX", "MAX_TILES",
           "REGIONAL_THRESHOLD_PX", "JITTER_MAX_PX", "OUTLIER_MAX_FRACTION", "GROUP_PX",
           "MIN_COHERENCE"]

TILE_MIN_PX = 24
"""Smallest tile side (px): its tracking window (twice the side) still holds the texture
of a 10 px regional shift."""

WINDOW_SIDE_PX = 24
"""Side (px) to which the tracker area-downsamples each tile's window, at least."""

MAX_TILES = 6
"""Most tiles along either axis."""

REGIONAL_THRESHOLD_PX = 1.0
"""Smoothed departure (px) of a trusted tile from the global track from which regional
motion is removed (see ``docs/motion.md``)."""

JITTER_MAX_PX = 0.3
"""Largest jitter (px) of a trusted tile's relative track between tracked frames."""

OUTLIER_MAX_FRACTION = 0.05
"""Largest fraction of a trusted tile's tracked frames that are outliers."""

OUTLIER_PX = 1.0
"""Least distance (px) of an outlier from the running median of its tile's track."""

GROUP_PX = REGIONAL_THRESHOLD_PX
"""Tiles whose smoothed relative tracks agree within it (px, at every frame) follow one
track, their mean: tiles are told apart from each other by the margin that tells them apart
from the global track (fewer shifts to apply; the mean of a region's tiles also averages
their noise and the bias of the neighbouring regions in their windows)."""

MIN_COHERENCE = 0.5
"""Least coherence of a tile's fit (the weighted mean of the unit phasors of its cross-power
spectrum's residual phase: about 1 on a match, under 0.3 on a window locked on a
neighbouring region's texture) for the frame's estimate to be kept."""


def tile_tracked(at: np.ndarray, n_frames: int, fps: float, *, dense: bool = True
                 ) -> np.ndarray:
    """Which of the frames ``at`` (indices in a clip of ``n_frames``) have their tiles
    tracked: bool. Some of :func:`~vmic.core.motion.tracked_frames`'s, the same however the
    clip is split into ranges: ``dense``, every other :func:`~vmic.core.motion.track_step`
    and every half step near the ends (where the global tracker takes every quarter step);
    else, to screen a clip for regional motion in the recovery's first pass, every fourth
    step. And the last frame. The tiles' motion is judged on
    its slow part alone, and the tiles cost more to track than the whole frame."""
    at = np.asarray(at)
    step = track_step(fps)
    edge = int(np.ceil(2 * EDGE_FIT_S * fps))
    near_end = (at < edge) | (at >= n_frames - edge)
    every, near = (2 * step, max(1, step // 2)) if dense else (4 * step, 4 * step)
    return (tracked_frames(at, n_frames, fps)
            & ((at % every == 0) | (near_end & (at % near == 0)) | (at == n_frames - 1)))


def tile_grid(frame_shape: tuple[int, int]) -> tuple[int, int] | None:
    """Tiles (down, across) of the regional tracking, or None for frames too small to hold
    two tiles of :data:`TILE_MIN_PX` px."""
    grid = tuple(int(np.clip(side // TILE_MIN_PX, 1, MAX_TILES)) for side in frame_shape)
    return grid if grid[0] * grid[1] >= 2 else None


class _Windows:
    # One window per tile on frames area-downsampled by `factor`: the reference's windows,
    # their tapered spectra, and the windows of frames at offsets from them.

    def __init__(self, reference: np.ndarray, boxes: np.ndarray, factor: int):
        self.factor = factor
        small = area_downsample(reference[None], factor)[0]
        self.small_shape = small.shape
        # boxes (N, 4): y0, y1, x0, x1 in px; the windows' common shape, inside the frame.
        self.shape = (min(small.shape[0], int(np.max(boxes[:, 1] - boxes[:, 0])) // factor),
                      min(small.shape[1], int(np.max(boxes[:, 3] - boxes[:, 2])) // factor))
        h, w = self.shape
        cy = (boxes[:, 0] + boxes[:, 1]) / 2 / factor
        cx = (boxes[:, 2] + boxes[:, 3]) / 2 / factor
        self.origins = np.stack([np.clip(np.round(cy - h / 2), 0, small.shape[0] - h),
                                 np.clip(np.round(cx - w / 2), 0, small.shape[1] - w)],
                                axis=1).astype(int)
        self.window = raised_cosine_window(self.shape, TAPER_PX)
        self.reference = small
        self.windows = self.gather(small[None], np.zeros((1, len(boxes), 2), int))[0]
        self.spectra = self.tapered(self.windows)
        whole = np.array([[0, self.shape[0], 0, self.shape[1]]])
        self.masked = _masked_spectra(self.windows, _tapers(self.shape, whole))
        self.fit = SlopeFit(self.shape)

    def gather(self, small: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        # Windows (B, N, h, w) of frames (B, hs, ws) at origins + offsets (B, N, 2) (dx, dy).
        h, w = self.shape
        out = np.empty(offsets.shape[:2] + self.shape, dtype=np.float32)
        for b in range(offsets.shape[0]):
            for n, (y0, x0) in enumerate(self.origins):
                y, x = y0 + offsets[b, n, 1], x0 + offsets[b, n, 0]
                out[b, n] = small[b, y:y + h, x:x + w]
        return out

    def tapered(self, windows: np.ndarray) -> np.ndarray:
        centred = windows - windows.mean(axis=(-2, -1), keepdims=True)
        return scipy.fft.fft2(centred * self.window, workers=1)

    def clamp(self, offsets: np.ndarray) -> np.ndarray:
        # Offsets (B, N, 2) that keep each window inside the frame.
        h, w = self.shape
        hs, ws = self.small_shape
        return np.clip(offsets, -self.origins[:, ::-1],
                       np.array([ws - w, hs - h]) - self.origins[:, ::-1])

    def refine(self, small: np.ndarray, found: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Shifts (B, N, 2) of frames (B, hs, ws), refined from ``found`` (B, N, 2), all in
        downsampled px, and their fits' coherence (B, N) (:data:`MIN_COHERENCE`): the slope
        fit on the windows re-centred on the whole pixels found.

        Each window is tapered; the frame's taper follows the content, moved by the shift
        found so far (a fixed taper biases the fit towards whole pixels: an error that
        would jump each time the motion crosses one). A window that would leave the frame
        stays at its border, and both tapers then cover only the part of the reference's
        window whose content is in view.
        """
        count, n_tiles = found.shape[:2]
        wanted = np.round(found).astype(int)
        at = self.clamp(wanted)
        rest = (wanted - at).reshape(-1, 2)
        cur = self.gather(small, at).reshape((-1,) + self.shape)
        ref = np.tile(self.windows, (count, 1, 1))
        h, w = self.shape
        # The reference window's rows and columns whose content stays in the frame's window.
        box = np.stack([np.maximum(0, -rest[:, 1]), np.minimum(h, h - rest[:, 1]),
                        np.maximum(0, -rest[:, 0]), np.minimum(w, w - rest[:, 0])], axis=1)
        # (the whole window's, computed once, unless the window is held at the border)
        ref_spectra = np.tile(self.masked, (count, 1, 1))
        edge = np.flatnonzero(rest.any(axis=1))
        if edge.size:
            ref_spectra[edge] = _masked_spectra(ref[edge], _tapers(self.shape, box[edge]))
        shifts = (found - at).reshape(-1, 2).astype(np.float64)
        for _ in range(2):
            moved = box + np.repeat(shifts[:, ::-1], 2, axis=1)
            cross = _masked_spectra(cur, _tapers(self.shape, moved)) * np.conj(ref_spectra)
            shifts = self.fit.fit(cross, shifts, iterations=1)
        # How well the shift explains the cross-power phase: 1 for a perfect match, about 0
        # for a window locked on other texture (a neighbouring region's).
        spectra = cross.reshape(len(cross), -1)[:, self.fit.low]
        residual = spectra * np.exp(-1j * (shifts @ self.fit.design.T))
        coherence = (np.abs(residual.sum(axis=1))
                     / np.maximum(np.abs(spectra).sum(axis=1), 1e-30))
        return (at + shifts.reshape(count, n_tiles, 2), coherence.reshape(count, n_tiles))


def _tapers(shape: tuple[int, int], box: np.ndarray) -> np.ndarray:
    # Raised-cosine windows (M, h, w), TAPER_PX wide at the borders of boxes (M, 4): top,
    # bottom, left, right in px (fractions allowed), zero outside; raised_cosine_window's
    # values for the box (0, h, 0, w).
    def axis(n: int, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        x = np.arange(n) + 0.5
        rise = np.clip((x[None] - lo[:, None]) / TAPER_PX, 0.0, 1.0)
        fall = np.clip((hi[:, None] - x[None]) / TAPER_PX, 0.0, 1.0)
        return (0.5 - 0.5 * np.cos(np.pi * rise)) * (0.5 - 0.5 * np.cos(np.pi * fall))

    rows = axis(shape[0], box[:, 0], box[:, 1])
    cols = axis(shape[1], box[:, 2], box[:, 3])
    return (rows[:, :, None] * cols[:, None, :]).astype(np.float32)


def _masked_spectra(windows: np.ndarray, masks: np.ndarray) -> np.ndarray:
    weight = masks.sum(axis=(-2, -1), keepdims=True)
    mean = (windows * masks).sum(axis=(-2, -1), keepdims=True) / np.maximum(weight, 1e-9)
    return scipy.fft.fft2((windows - mean) * masks, workers=1)


class TileTracker:
    """Displacement (px) of each tile of a grid against a reference image, frame by frame.

    Two windows per tile: a *search* window twice the tile's side, centred on it, whose
    phase correlation peak gives the whole pixels; then a *fit* window, the tile and its
    taper, re-centred on them, whose cross-power phase gives the fraction (the search
    window holds neighbouring regions, which would bias a fit on it). Both are
    area-downsampled to about :data:`WINDOW_SIDE_PX` px.

    Parameters
    ----------
    reference : ndarray, shape (H, W)
        The reference image (grey levels).
    grid : (int, int), optional
        Tiles (down, across); default :func:`tile_grid`.
    """

    def __init__(self, reference: np.ndarray, grid: tuple[int, int] | None = None):
        reference = np.asarray(reference, dtype=np.float32)
        height, width = reference.shape
        grid = tile_grid(reference.shape) if grid is None else tuple(grid)
        if grid is None:
            raise VmicError(f"a {width}x{height} px frame is too small for regional tracking")
        self.grid = grid
        ey, ex = tile_edges(height, grid[0]), tile_edges(width, grid[1])
        tiles = np.array([(ey[i], ey[i + 1], ex[j], ex[j + 1])
                          for i in range(grid[0]) for j in range(grid[1])])
        side = np.stack([tiles[:, 1] - tiles[:, 0], tiles[:, 3] - tiles[:, 2]], axis=1)
        half = np.repeat(side // 2, 2, axis=1) * np.array([-1, 1, -1, 1])
        search = tiles + half
        fit = tiles + TAPER_PX * np.array([-1, 1, -1, 1])  # the taper lies outside the tile
        self.search = _Windows(reference, search, max(1, int(side.min()) // WINDOW_SIDE_PX))
        fit_side = int((fit[:, 1] - fit[:, 0]).min())
        self.fit = _Windows(reference, fit, max(1, fit_side // (WINDOW_SIDE_PX + 2 * TAPER_PX)))

    def track(self, frames: np.ndarray, shifts: np.ndarray) -> np.ndarray:
        """Displacement of each tile of each frame against the reference.

        Parameters
        ----------
        frames : ndarray, shape (B, H, W)
        shifts : ndarray, shape (B, 2)
            The frames' global displacement (px; :class:`~vmic.core.tracker.MotionTracker`),
            where the search starts.

        Returns
        -------
        ndarray of float64, shape (B, GY, GX, 2)
            (dx, dy) in px of the frame: the tile shows the reference's tile moved by them;
            NaN where the fit explains too little of the tile (:data:`MIN_COHERENCE`).
        """
        frames = np.asarray(frames)
        if frames.ndim == 2:
            frames = frames[None]
        count, n_tiles = len(frames), len(self.search.origins)
        coarse = self.search
        small = area_downsample(frames, coarse.factor)
        base = np.round(np.asarray(shifts, dtype=np.float64) / coarse.factor).astype(int)
        first = coarse.clamp(np.broadcast_to(base[:, None, :], (count, n_tiles, 2)))
        cross = coarse.tapered(coarse.gather(small, first)) * np.conj(coarse.spectra)
        cross = cross.reshape((-1,) + coarse.shape)
        # Whole pixels: the peak of each phase correlation surface.
        surface = scipy.fft.ifft2(cross / (np.abs(cross) + 1e-30), workers=1).real
        h, w = coarse.shape
        iy, ix = np.divmod(surface.reshape(len(cross), -1).argmax(axis=1), w)
        peak = np.stack([np.where(ix < w // 2, ix, ix - w), np.where(iy < h // 2, iy, iy - h)],
                        axis=1)
        found = (first + peak.reshape(count, n_tiles, 2)) * coarse.factor  # px
        fine = self.fit
        if fine.factor != coarse.factor:
            small = area_downsample(frames, fine.factor)
        out, coherence = fine.refine(small, found / fine.factor)
        out = out * fine.factor
        out[coherence < MIN_COHERENCE] = np.nan
        return out.reshape(count, *self.grid, 2)
