"""Removing a clip's large motion from its frames (see :mod:`vmic.core.motion`).

:class:`MotionCompensator` tapers, shifts back and crops frames by a smoothed track;
:class:`RegionalCompensator` by each tile's (:mod:`vmic.core.regional`);
:class:`CompensatedClip` is a clip seen through it, which the extraction reads like any clip.
"""

from __future__ import annotations

import numpy as np
import scipy.fft

from vmic.core.motion import TAPER_PX, MotionTrack
from vmic.core.tracker import raised_cosine_window, shift_back_ramp
from vmic.errors import VmicError

__all__ = ["MotionCompensator", "RegionalCompensator", "CompensatedClip", "compensated_clip",
           "tile_edges", "tile_weights", "TRANSITION_PX"]

TRANSITION_PX = 4
"""Width (px) of the raised-cosine seams between the tiles of the compensation."""


class MotionCompensator:
    """Undo a smoothed track on frames: taper, shift back, crop (see the module notes).

    Parameters
    ----------
    frame_shape : (int, int)
        (H, W) of the frames (px).
    shifts : ndarray, shape (T, 2)
        Smoothed displacement of each frame of the clip (px), as :class:`MotionTrack`'s.
    keep : ndarray of bool, shape (T,), optional
        Frames that are followed; the others are replaced by the reference (no motion).
    region : (int, int, int, int), optional
        ``(x, y, w, h)`` (px of the frame): the output is this region of the scene, followed
        as it moves (an ROI that tracks the motion), instead of the frame less a margin.
        Frames that would take it within the taper of the frame's border are not followed.
    """

    def __init__(self, frame_shape: tuple[int, int], shifts: np.ndarray,
                 keep: np.ndarray | None = None,
                 region: tuple[int, int, int, int] | None = None):
        self.frame_shape = tuple(frame_shape)
        self.shifts = np.asarray(shifts, dtype=np.float64)
        self.keep = (np.ones(len(self.shifts), bool) if keep is None
                     else np.asarray(keep, dtype=bool))
        self.region = region
        h, w = self.frame_shape
        if region is not None:
            x, y, rw, rh = (int(v) for v in region)
            edge = TAPER_PX + 3  # the taper and the ringing off its edge, as the margin below
            # The output at (x, y) shows the frame at (x, y) + shift: it must stay in view.
            dx, dy = self.shifts[:, 0], self.shifts[:, 1]
            inside = ((x + dx >= edge) & (x + rw + dx <= w - edge)
                      & (y + dy >= edge) & (y + rh + dy <= h - edge))
            self.keep &= inside
            if not self.keep.any():
                raise VmicError("the tracked region leaves the frame in every frame")
            self.slices = (slice(y, y + rh), slice(x, x + rw))
            self.margin = 0
            self.output_shape = (rh, rw)
            self.window = raised_cosine_window(self.frame_shape, TAPER_PX)
            return
        followed = self.shifts[self.keep] if self.keep.any() else np.zeros((1, 2))
        # The taper, the largest shift, and 3 px more for the sub-pixel shift's ringing off
        # the taper's edge (0.2 % of the range 1 px from it, 0.01 % 3 px from it).
        self.margin = int(TAPER_PX + np.ceil(np.abs(followed).max()) + 3)
        if min(h, w) - 2 * self.margin < 16:
            raise VmicError(
                f"the scene moves by up to {np.abs(followed).max():.1f} px: too much to follow "
                f"in {w}x{h} px frames")
        self.output_shape = (h - 2 * self.margin, w - 2 * self.margin)
        m = self.margin
        self.slices = (slice(m, h - m), slice(m, w - m))
        self.window = raised_cosine_window(self.frame_shape, TAPER_PX)

    def apply(self, frames: np.ndarray, first: int,
              reference: np.ndarray | None = None) -> np.ndarray:
        """Compensated, cropped frames ``first`` to ``first + B - 1`` of the clip.

        Parameters
        ----------
        frames : ndarray, shape (B, H, W)
        first : int
            Index of the first frame in the clip (the shifts' index).
        reference : ndarray, shape (H, W), optional
            Stands in for frames that are not followed (default: the batch's first kept
            frame).

        Returns
        -------
        ndarray of float32, shape (B,) + :attr:`output_shape`
        """
        frames = np.asarray(frames, dtype=np.float32)
        count = frames.shape[0]
        keep = self.keep[first:first + count]
        mean = frames.mean(axis=(1, 2), keepdims=True)
        spectra = scipy.fft.rfft2((frames - mean) * self.window, workers=1)
        out = np.ascontiguousarray(self.moved_back(spectra, first) + mean, dtype=np.float32)
        if not keep.all():
            stand_in = (out[keep][0] if reference is None and keep.any() else
                        self.crop(reference) if reference is not None else out.mean(axis=0))
            out[~keep] = stand_in
        return out

    def moved_back(self, spectra: np.ndarray, first: int) -> np.ndarray:
        """Frames ``first`` on, as tapered spectra (B, H, W//2+1) of their mean-removed
        grey levels (modified), shifted back and cropped: (B,) + :attr:`output_shape`."""
        count = spectra.shape[0]
        shifts = self.shifts[first:first + count]
        # In place: the spectra are the caller's temporary, in their own precision.
        spectra *= shift_back_ramp(self.frame_shape, shifts)
        moved = scipy.fft.irfft2(spectra, s=self.frame_shape, workers=1)
        return moved[(slice(None),) + self.slices]

    def crop(self, image: np.ndarray) -> np.ndarray:
        """The compensated frame's region of an image already still (e.g. a reference)."""
        return np.ascontiguousarray(np.asarray(image)[self.slices], dtype=np.float32)


def tile_edges(size: int, count: int) -> np.ndarray:
    """Edges (count + 1,) in px of ``count`` near-equal tiles over ``size`` px: int."""
    return np.round(np.linspace(0, size, count + 1)).astype(int)


def tile_weights(size: int, edges: np.ndarray, transition_px: float = TRANSITION_PX):
    """Weights (count, size) of the tiles between ``edges`` (count + 1,) px along one axis:
    ones inside each tile, raised-cosine seams ``transition_px`` wide centred on the inner
    edges; they add up to one at every px (a partition of unity)."""
    x = np.arange(size) + 0.5
    # past[k]: how far x is past edge k (0 before its seam, 1 after), past[0] = 1, past[-1] = 0.
    past = [np.ones(size)]
    for edge in edges[1:-1]:
        lin = np.clip((x - edge) / max(transition_px, 1e-9) + 0.5, 0.0, 1.0)
        past.append(0.5 - 0.5 * np.cos(np.pi * lin))
    past.append(np.zeros(size))
    return np.stack([past[k] - past[k + 1] for k in range(len(edges) - 1)])


class RegionalCompensator(MotionCompensator):
    """Undo each tile's smoothed motion on frames: taper, shift back per tile, blend, crop.

    Parameters
    ----------
    frame_shape : (int, int)
        (H, W) of the frames (px).
    shifts : ndarray, shape (T, 2)
        The global smoothed displacement of each frame (px): tiles whose field equals it
        share one shift.
    field : ndarray, shape (T, GY, GX, 2)
        Each tile's smoothed displacement (px; :attr:`vmic.core.tiles.TileTracks.field`).
    keep : ndarray of bool, shape (T,), optional
        Frames that are followed, as :class:`~vmic.core.compensation.MotionCompensator`.
    transition_px : float, default :data:`TRANSITION_PX`
        Width of the seams between tiles (px).
    """

    def __init__(self, frame_shape: tuple[int, int], shifts: np.ndarray, field: np.ndarray,
                 keep: np.ndarray | None = None, *, transition_px: float = TRANSITION_PX):
        super().__init__(frame_shape, shifts, keep)
        self.field = np.asarray(field, dtype=np.float64)
        n, gy, gx, _ = self.field.shape
        if n != len(self.shifts) or not np.isfinite(self.field).all():
            raise VmicError(f"the tile field must hold a finite (dx, dy) per frame and tile, "
                            f"shape ({len(self.shifts)}, GY, GX, 2), got {self.field.shape}")
        h, w = self.frame_shape
        followed = self.field[self.keep] if self.keep.any() else np.zeros((1, 1, 1, 2))
        reach = max(float(np.abs(followed).max()), self.margin - TAPER_PX - 3)
        self.margin = int(TAPER_PX + np.ceil(reach) + 3)
        if min(h, w) - 2 * self.margin < 16:
            raise VmicError(f"parts of the scene move by up to {reach:.1f} px: too much to "
                            f"follow in {w}x{h} px frames")
        m = self.margin
        self.output_shape = (h - 2 * m, w - 2 * m)
        self.slices = (slice(m, h - m), slice(m, w - m))
        wy = tile_weights(h, tile_edges(h, gy), transition_px)[:, self.slices[0]]
        wx = tile_weights(w, tile_edges(w, gx), transition_px)[:, self.slices[1]]
        # One group per distinct track: the tiles that follow the global one, then each
        # track that tiles share (TileTracks.field gives the tiles of a region one track).
        self.groups: list[tuple[tuple[int, int] | None, np.ndarray]] = []
        seen: dict[bytes, int] = {self.shifts.tobytes(): 0}
        weights = [np.zeros(self.output_shape)]
        tiles: list[tuple[int, int] | None] = [None]
        for i in range(gy):
            for j in range(gx):
                key = np.ascontiguousarray(self.field[:, i, j]).tobytes()
                if key not in seen:
                    seen[key] = len(weights)
                    weights.append(np.zeros(self.output_shape))
                    tiles.append((i, j))
                weights[seen[key]] += wy[i][:, None] * wx[j][None, :]
        self.groups = [(tile, weight) for tile, weight in zip(tiles, weights, strict=True)
                       if weight.any()]

    def moved_back(self, spectra: np.ndarray, first: int) -> np.ndarray:
        """The frames of spectra (B, H, W//2+1) moved back tile by tile, blended and cropped:
        float64 (B,) + :attr:`output_shape`."""
        count = spectra.shape[0]
        h, w = self.frame_shape
        out = np.zeros((count,) + self.output_shape)
        for tile, weight in self.groups:
            shifts = (self.shifts[first:first + count] if tile is None
                      else self.field[first:first + count, tile[0], tile[1]])
            moved = scipy.fft.irfft2(spectra * shift_back_ramp((h, w), shifts), s=(h, w),
                                     workers=1)
            out += weight * moved[(slice(None),) + self.slices]
        return out


class CompensatedClip:
    """A clip seen through a :class:`MotionCompensator`: its frames with the large motion
    removed and cropped by the compensator's margin.

    It has what the extraction reads of a :class:`~vmic.io.clip.Clip` (``frame_shape``,
    ``n_frames``, ``capture_fps``, ``fps_source``, ``start``, ``roi``, ``downsample``,
    :meth:`iter_batches`, :meth:`mean_frame`, :meth:`read_frame`, ``len()`` and slicing), so
    :func:`vmic.recovery.recover` and the frame-range functions run on it unchanged.

    Parameters
    ----------
    clip : Clip
        The clip, or a range of it (``clip[a:b]``).
    compensator : MotionCompensator
        Built on the whole clip's track.
    offset : int
        Index in the compensator's track of ``clip``'s first frame.
    """

    def __init__(self, clip, compensator: MotionCompensator, offset: int = 0):
        self.clip = clip
        self.compensator = compensator
        self.offset = int(offset)
        self.frame_shape = compensator.output_shape
        self.n_frames = clip.n_frames
        self.capture_fps = clip.capture_fps
        self.fps_source = clip.fps_source
        self.start = clip.start
        self.roi = getattr(clip, "roi", None)
        self.downsample = getattr(clip, "downsample", 1)

    def __len__(self) -> int:
        return self.n_frames

    def __getitem__(self, key: slice) -> CompensatedClip:
        part = self.clip[key]
        return CompensatedClip(part, self.compensator, self.offset + part.start - self.start)

    def iter_batches(self, batch_size: int = 32, *, first: int = 0, count: int | None = None):
        """``(index, frames)`` batches, compensated (see :meth:`Clip.iter_batches
        <vmic.io.clip.Clip.iter_batches>`)."""
        return _CompensatedBatches(self.clip.iter_batches(batch_size, first=first,
                                                          count=count),
                                   self.compensator, self.offset)

    def mean_frame(self, first: int = 0, count: int = 1) -> np.ndarray:
        from vmic.io.convert import mean_of_batches

        return mean_of_batches(self.iter_batches(64, first=first, count=count), first)

    def read_frame(self, index: int) -> np.ndarray:
        return self.mean_frame(index, 1)

    def timestamps(self, first: int = 0, count: int | None = None) -> np.ndarray | None:
        """The clip's stored frame times (s), as :meth:`vmic.io.clip.Clip.timestamps`."""
        times = getattr(self.clip, "timestamps", None)
        return None if times is None else times(first, count)

    def close(self) -> None:
        self.clip.close()


class _CompensatedBatches:
    # Iterator of (index, frames) with the frames compensated; closes the source's reader.

    def __init__(self, batches, compensator: MotionCompensator, offset: int):
        self.batches = batches
        self.compensator = compensator
        self.offset = offset

    def __iter__(self):
        return self

    def __next__(self):
        index, frames = next(self.batches)
        return index, self.compensator.apply(frames, self.offset + index)

    def close(self) -> None:
        close = getattr(self.batches, "close", None)
        if close is not None:
            close()


def compensated_clip(clip, motion) -> CompensatedClip:
    """``clip`` with ``motion`` removed: a :class:`MotionTrack` (its smoothed track, or its
    tiles' where they move apart: :mod:`vmic.core.regional`; frames beyond
    :data:`MAX_SHIFT_FRACTION` are not followed) or displacements (T, 2) in px."""
    if isinstance(motion, MotionTrack):
        shifts, keep = motion.smooth, ~motion.lost(clip.frame_shape)
        if motion.regional:
            return CompensatedClip(clip, RegionalCompensator(clip.frame_shape, shifts,
                                                             motion.tiles.field, keep))
    else:
        shifts = np.asarray(motion, dtype=np.float64)
        keep = None
    if shifts.shape != (clip.n_frames, 2) or not np.isfinite(shifts).all():
        raise VmicError(f"motion must hold a finite (dx, dy) per frame of the clip, shape "
                        f"({clip.n_frames}, 2), got {shifts.shape}")
    return CompensatedClip(clip, MotionCompensator(clip.frame_shape, shifts, keep))
