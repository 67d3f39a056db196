"""Phase signals: local phase change of each band against a reference frame.

For a band with complex coefficients ``c`` (current frame) and ``r`` (reference frame),
the phase change is ``dphi = angle(c * conj(r))``, wrapped to (-pi, pi], and the
amplitude is ``A = |c|``. Sub-pixel motion ``d`` along the band's orientation shifts the
phase by about ``-omega * d`` (``omega`` the band's centre frequency in rad/px), so
amplitude-weighted averages of ``dphi`` are motion signals.

Everything here reduces a batch of bands to per-tile sums, in one compiled pass over the
pixels (:mod:`vmic.core.kernels`): the frame is cut into a
grid of tiles (one tile = the whole frame), and for each frame, band and tile we keep

- ``weighted_phase`` = sum(dphi * A**2)  [rad]
- ``amplitude``      = sum(A)
- ``energy``         = sum(A**2)

from which :func:`original_band_signals` (``vmSoundFromVideo``'s
``mean(dphi * A**2) / sum(A)``) and :func:`local_phase` (the A**2-weighted mean phase of a
tile) follow. The sums for any range of frames depend only on the reference frame's
bands, so a clip can be split across processes and the sums concatenated.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from vmic.core import fft as _fft
from vmic.core import kernels
from vmic.core.pyramid import SteerablePyramid

__all__ = [
    "PhaseSums",
    "reference_bands",
    "flow_weights",
    "phase_sums",
    "frame_phase_sums",
    "band_sums",
    "concatenate_sums",
    "original_band_signals",
    "local_phase",
    "tile_grid",
]


def _real_view(bands: np.ndarray) -> np.ndarray:
    # (..., w) complex -> (..., 2 w) real, interleaved; no copy when already contiguous.
    return np.ascontiguousarray(bands).view(bands.real.dtype)


def tile_grid(band_shape: tuple[int, int],
              tiles: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Tile index of each row and column of a band.

    Parameters
    ----------
    band_shape : (int, int)
        Band height and width (px).
    tiles : (int, int)
        Number of tiles down and across. Tiles cover the same fraction of the frame at
        every scale, so tile (i, j) of every band looks at the same patch of the scene.

    Returns
    -------
    tile_rows : ndarray of int64, shape (h,)
    tile_cols : ndarray of int64, shape (w,)
    """
    h, w = band_shape
    ty, tx = tiles
    return (np.arange(h, dtype=np.int64) * ty // h, np.arange(w, dtype=np.int64) * tx // w)


@dataclass
class PhaseSums:
    """Per-frame, per-band, per-tile phase and amplitude sums.

    Attributes
    ----------
    weighted_phase : ndarray of float64, shape (T, S, K, TY, TX)
        sum(dphi * A**2) over each tile's pixels (rad).
    amplitude : ndarray of float64, shape (T, S, K, TY, TX)
        sum(A) over each tile.
    energy : ndarray of float64, shape (T, S, K, TY, TX)
        sum(A**2) over each tile.
    pixels : ndarray of int64, shape (S, TY, TX)
        Number of band pixels in each tile.
    flow : ndarray of float, shape (T, S, K, 2, TY', TX') or None
        Motion-sensitivity-weighted phase sums, sum(dphi * Im(conj(r) * dr/dx)) and the same
        with d/dy (see :func:`flow_weights`); present when flow weights were given.
    """

    weighted_phase: np.ndarray
    amplitude: np.ndarray
    energy: np.ndarray
    pixels: np.ndarray
    flow: np.ndarray | None = None

    @property
    def n_frames(self) -> int:
        return self.weighted_phase.shape[0]


def reference_bands(pyramid: SteerablePyramid, frame: np.ndarray) -> list[np.ndarray]:
    """The reference frame's complex bands, one array (K, h, w) per scale."""
    spectra = pyramid.spectra(frame)
    return [pyramid.scale_bands(spectra, s)[0] for s in range(pyramid.scales)]


def flow_weights(pyramid: SteerablePyramid, frame: np.ndarray) -> list[np.ndarray]:
    """Per-pixel motion sensitivity of the reference frame's bands.

    A displacement ``d`` (px) changes a band's phase by ``-grad(phi) . d``, where
    ``grad(phi)`` is the local spatial frequency. Weighting each pixel's phase change by
    ``A**2 * grad(phi) = Im(conj(r) * grad(r))`` (``r`` the reference band) gives the
    least-squares (and, for white noise, maximum-likelihood) motion estimate of the tile,
    which weights pixels by how much they actually move in phase, not only by amplitude.

    Parameters
    ----------
    pyramid : SteerablePyramid
    frame : ndarray, shape (H, W)
        Reference frame.

    Returns
    -------
    list of ndarray of float32, shape (K, 2, h, w) per scale
        ``[..., 0, :, :]``: ``Im(conj(r) dr/dx)``; ``[..., 1, :, :]``: ``Im(conj(r) dr/dy)``,
        with derivatives per band pixel (rad per band pixel x amplitude**2).
    """
    spectra = pyramid.spectra(frame)
    weights = []
    for s in range(pyramid.scales):
        spectrum = pyramid.band_spectra(spectra, s)[0]  # (K, h, w), natural order
        h, w = spectrum.shape[-2:]
        ramp_x = (2j * np.pi * np.fft.fftfreq(w))[None, None, :]
        ramp_y = (2j * np.pi * np.fft.fftfreq(h))[None, :, None]
        # The gathered spectrum carries the 1 / (h w) of the inverse transforms.
        band = _fft.ifft2(spectrum, pyramid.fft, normalize=False)
        dx = _fft.ifft2(spectrum * ramp_x, pyramid.fft, overwrite=True, normalize=False)
        dy = _fft.ifft2(spectrum * ramp_y, pyramid.fft, overwrite=True, normalize=False)
        out = np.empty((spectrum.shape[0], 2, h, w), dtype=np.float32)
        out[:, 0] = (np.conj(band) * dx).imag
        out[:, 1] = (np.conj(band) * dy).imag
        weights.append(out)
    return weights


def frame_phase_sums(pyramid: SteerablePyramid, reference: list[np.ndarray], frames: np.ndarray,
                     tiles: tuple[int, int] = (1, 1),
                     flow: list[np.ndarray] | None = None, workers: int = -1, *,
                     on_bands=None) -> PhaseSums:
    """Phase sums of a batch of frames against reference bands.

    Parameters
    ----------
    pyramid : SteerablePyramid
    reference : list of ndarray of complex, shape (K, h, w) each
        From :func:`reference_bands`.
    frames : ndarray, shape (B, H, W)
    tiles : (int, int), default (1, 1)
        Tile grid (down, across); (1, 1) sums over the whole frame.
    flow : list of ndarray, optional
        From :func:`flow_weights`; adds the ``flow`` sums.
    workers : int, default -1
        Threads of the FFTs (the pixel loops run in the calling thread, without the GIL).
    on_bands : callable, optional
        Called as ``on_bands(scale, bands)`` with each scale's bands (complex, (B, K, h, w))
        once reduced, so that a caller can reduce them against another reference too
        (:func:`band_sums`) without computing them again.

    Returns
    -------
    PhaseSums with T = B.
    """
    frames = np.asarray(frames)
    if frames.ndim == 2:
        frames = frames[None]
    n = frames.shape[0]
    # The kernels' float64 totals, one contiguous block per scale: weighted phase,
    # amplitude, energy, and the x and y flow sums when asked.
    per_scale = np.zeros((pyramid.scales, 3 if flow is None else 5, n,
                          pyramid.orientations) + tuple(tiles))
    pixels = np.zeros((pyramid.scales,) + tuple(tiles), dtype=np.int64)
    spectra = pyramid.spectra(frames, workers=workers)
    for s in range(pyramid.scales):
        bands = pyramid.scale_bands(spectra, s, workers=workers)
        pixels[s] = band_sums(bands, reference[s], tiles, per_scale[s],
                              None if flow is None else flow[s])
        if on_bands is not None:
            on_bands(s, bands)
    totals = per_scale.transpose(1, 2, 0, 3, 4, 5)  # (Q, B, S, K, TY, TX)
    flow_sums = None
    if flow is not None:  # (B, S, K, 2, TY, TX)
        flow_sums = np.ascontiguousarray(np.moveaxis(totals[3:], 0, 3))
    return PhaseSums(np.ascontiguousarray(totals[0]), np.ascontiguousarray(totals[1]),
                     np.ascontiguousarray(totals[2]), pixels, flow_sums)


def band_sums(bands: np.ndarray, reference: np.ndarray, tiles: tuple[int, int],
              out: np.ndarray, flow: np.ndarray | None = None) -> np.ndarray:
    """Add one scale's per-tile sums of a batch of bands into ``out``.

    Parameters
    ----------
    bands : ndarray of complex, shape (B, K, h, w)
    reference : ndarray of complex, shape (K, h, w)
        The reference frame's bands of the same scale.
    tiles : (int, int)
    out : ndarray of float64, shape (Q, B, K, TY, TX)
        Totals, added to: weighted phase, amplitude, energy (Q = 3), and with ``flow`` the
        x and y flow sums (Q = 5).
    flow : ndarray of float32, shape (K, 2, h, w), optional
        This scale's :func:`flow_weights`.

    Returns
    -------
    ndarray of int64, shape (TY, TX)
        Band pixels in each tile.
    """
    rows, cols = tile_grid(bands.shape[-2:], tiles)
    col_edges = np.searchsorted(cols, np.arange(tiles[1] + 1)).astype(np.int64)
    band_view, reference_view = _real_view(bands), _real_view(reference)
    # Per-column partial sums of the kernel, one row per accumulated quantity.
    columns = np.zeros((out.shape[0], bands.shape[-1]), dtype=band_view.dtype)
    if flow is None:
        status = kernels.reduce_phase(band_view, reference_view, rows, col_edges, out, columns)
    else:
        status = kernels.reduce_phase_flow(band_view, reference_view, rows, col_edges, flow,
                                           out, columns)
    if status:  # tile tables that do not fit the band (a bug, not input)
        raise ValueError("tile rows outside the totals, or column edges that do not rise")
    # Tiles are products of row and column ranges: count each and multiply.
    return np.outer(np.bincount(rows, minlength=tiles[0]), np.bincount(cols, minlength=tiles[1]))


def concatenate_sums(parts: list[PhaseSums]) -> PhaseSums:
    """Join the sums of consecutive frame ranges (e.g. from several processes)."""
    if not parts:
        raise ValueError("no phase sums to concatenate")
    flow = None if parts[0].flow is None else np.concatenate([p.flow for p in parts])
    return PhaseSums(
        np.concatenate([p.weighted_phase for p in parts]),
        np.concatenate([p.amplitude for p in parts]),
        np.concatenate([p.energy for p in parts]),
        parts[0].pixels,
        flow,
    )


def phase_sums(pyramid: SteerablePyramid, reference: list[np.ndarray], batches: Iterable,
               tiles: tuple[int, int] = (1, 1), bar: Any = None,
               flow: list[np.ndarray] | None = None,
               threads: int | None = None, n_frames: int | None = None) -> PhaseSums:
    """Phase sums over an iterable of frame batches (streamed; memory stays per batch).

    Batches are processed by a pool of threads, each running a whole batch (FFTs and
    numba loops, which release the GIL) on its own: no barrier between threads per
    operation, which keeps all cores busy even on a loaded machine.

    Parameters
    ----------
    batches : iterable of ndarray (B, H, W) or of (first_index, ndarray)
    tiles : (int, int), default (1, 1)
    bar : tqdm-like, optional
        Updated by the number of frames of each batch.
    flow : list of ndarray, optional
        From :func:`flow_weights`.
    threads : int, optional
        Worker threads (default: the number of cores).
    n_frames : int, optional
        Frames the batches will hold at most: results are then written into arrays of
        that length as they come (no list of parts and final copy, so the peak memory is
        the result's size, not twice it).
    """
    import os
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    threads = threads or os.cpu_count() or 1

    def work(frames):
        return frame_phase_sums(pyramid, reference, frames, tiles, flow, workers=1)

    parts = _Collector(n_frames)
    pending: deque = deque()
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="vmic-phase") as pool:
        for item in batches:
            frames = item[1] if isinstance(item, tuple) else item
            pending.append((pool.submit(work, frames), frames.shape[0]))
            # At most two batches per thread in flight: memory stays bounded.
            while len(pending) >= 2 * threads:
                future, n = pending.popleft()
                parts.add(future.result())
                if bar is not None:
                    bar.update(n)
        while pending:
            future, n = pending.popleft()
            parts.add(future.result())
            if bar is not None:
                bar.update(n)
    return parts.result()


class _Collector:
    # Gathers per-batch PhaseSums in order: into preallocated arrays when the total
    # number of frames is known, else in a list concatenated at the end.

    def __init__(self, n_frames: int | None):
        self.n_frames = n_frames
        self.parts: list[PhaseSums] = []
        self.out: PhaseSums | None = None
        self.filled = 0

    def add(self, part: PhaseSums) -> None:
        if self.n_frames is None:
            self.parts.append(part)
            return
        if self.out is None:
            def empty(a):
                return None if a is None else np.empty((self.n_frames,) + a.shape[1:], a.dtype)

            self.out = PhaseSums(empty(part.weighted_phase), empty(part.amplitude),
                                 empty(part.energy), part.pixels, empty(part.flow))
        n = part.n_frames
        if self.filled + n > self.n_frames:
            raise ValueError(f"more frames than the {self.n_frames} announced")
        stop = self.filled + n
        self.out.weighted_phase[self.filled : stop] = part.weighted_phase
        self.out.amplitude[self.filled : stop] = part.amplitude
        self.out.energy[self.filled : stop] = part.energy
        if part.flow is not None:
            self.out.flow[self.filled : stop] = part.flow
        self.filled = stop

    def result(self) -> PhaseSums:
        if self.n_frames is None or self.out is None:
            return concatenate_sums(self.parts)
        out, n = self.out, self.filled
        return PhaseSums(out.weighted_phase[:n], out.amplitude[:n], out.energy[:n],
                         out.pixels, None if out.flow is None else out.flow[:n])


def original_band_signals(sums: PhaseSums) -> np.ndarray:
    """``vmSoundFromVideo``'s per-band signal: mean(dphi * A**2) / sum(A) over the frame.

    Parameters
    ----------
    sums : PhaseSums

    Returns
    -------
    ndarray of float64, shape (S, K, T)
    """
    wp = sums.weighted_phase.sum(axis=(-2, -1))  # (T, S, K)
    amp = sums.amplitude.sum(axis=(-2, -1))
    n = sums.pixels.sum(axis=(-2, -1)).astype(np.float64)  # (S,)
    with np.errstate(invalid="ignore", divide="ignore"):
        signal = wp / (n[None, :, None] * amp)
    return np.nan_to_num(signal).transpose(1, 2, 0)


def local_phase(sums: PhaseSums) -> np.ndarray:
    """A**2-weighted mean phase change of each band and tile.

    Returns
    -------
    ndarray of float64, shape (S, K, TY, TX, T)
        Radians; 0 where a tile has no energy.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        phase = sums.weighted_phase / sums.energy
    return np.moveaxis(np.nan_to_num(phase), 0, -1)
