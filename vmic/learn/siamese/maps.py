"""Maps of the learned recovery: pyramid phase changes pooled to a fixed small resolution.

Each frame is compared with the reference frame band by band (scale ``s``, orientation ``k``
of a complex steerable pyramid) and pooled over a ``grid`` x ``grid`` tile grid (tiles cover
the same patch of the scene at every scale, :func:`vmic.core.phase.tile_grid`). Two kinds of
inputs (:class:`MapSpec` ``inputs``):

``"flow"`` (the shipped model)
    one map: each tile's maximum-likelihood displacement (px) along the clip's dominant
    direction of motion. Per tile, the phase changes of all bands are weighted by their
    motion sensitivity ``Im(conj(r) grad r)`` (:func:`vmic.core.phase.flow_weights`) and by the
    bands' noise (:func:`vmic.core.flow.flow_information`), giving the statistic ``F`` with
    ``E[F] = -M d``; ``d_c = -F_c / M_cc`` is projected on the direction
    (:func:`vmic.learn.siamese.flow_maps.project_flow`). The tile's "energy" is its Fisher
    information ``M_u`` along the direction (px**-2 per unit noise).
``"phase"``
    one map per band: the A**2-weighted mean phase change ``sum(dphi A**2) / sum(A**2)``
    (rad), with the tile energy ``E = mean(A**2)``.

Any clip size gives maps of shape (C, gy, gx) with ``gy, gx <= grid``. The network's inputs
are made from them by :mod:`vmic.learn.siamese.inputs`; the training clips come from
:mod:`vmic.learn.siamese.data`.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numba
import numpy as np

from vmic.core.kernels import fast_atan2
from vmic.core.phase import flow_weights, reference_bands, tile_grid
from vmic.core.pyramid import SteerablePyramid, max_scales
from vmic.errors import VmicError
from vmic.extraction import check_reference
from vmic.learn.siamese.flow_maps import frame_flow_maps, project_flow

if TYPE_CHECKING:  # annotations only
    from tqdm import tqdm

    from vmic.io.clip import Clip

__all__ = [
    "MapSpec",
    "ClipMaps",
    "INPUT_KINDS",
    "tiles_for",
    "frame_maps",
    "clip_maps",
]

INPUT_KINDS = ("phase", "flow")


@dataclass(frozen=True)
class MapSpec:
    """Pyramid and map resolution of the learned model's inputs.

    Attributes
    ----------
    scales : int
        Pyramid scales (default 2).
    orientations : int
        Pyramid orientations (default 2).
    grid : int
        Largest tile grid side; maps are (min(grid, h_c), min(grid, w_c)) where (h_c, w_c) is
        the coarsest band's shape.
    inputs : {"phase", "flow"}
        ``"phase"``: one map per band, the A**2-weighted mean phase change (rad), with the
        tile energy ``mean(A**2)``. ``"flow"``: one map, each tile's maximum-likelihood
        displacement (px) along the clip's dominant direction of motion
        (:func:`vmic.learn.siamese.flow_maps.project_flow`), from the
        motion-sensitivity-weighted phase sums of all bands
        (:func:`vmic.core.phase.flow_weights`, noise-weighted and summed as
        :func:`vmic.core.flow.flow_information`), with the tile's Fisher information along
        that direction in place of the energy.
    """

    scales: int = 2
    orientations: int = 2
    grid: int = 16
    inputs: str = "phase"

    def __post_init__(self):
        if self.inputs not in INPUT_KINDS:
            raise VmicError(f"unknown model inputs {self.inputs!r}; choose from "
                            f"{', '.join(INPUT_KINDS)}")

    @property
    def channels(self) -> int:
        return 1 if self.inputs == "flow" else self.scales * self.orientations

    def to_dict(self) -> dict:
        return {"scales": self.scales, "orientations": self.orientations, "grid": self.grid,
                "inputs": self.inputs}


@dataclass
class ClipMaps:
    """Phase and energy maps of a whole clip.

    Attributes
    ----------
    phase : ndarray of float32, shape (T, C, gy, gx)
        A**2-weighted mean phase change of each band and tile against the reference (rad).
    energy : ndarray of float32, shape (T, C, gy, gx)
        Mean A**2 of each band and tile.
    energy_ref : ndarray of float32, shape (C, gy, gx)
        Mean A**2 of the reference frame's bands.
    fps : float
        Capture rate (frames/s).
    """

    phase: np.ndarray
    energy: np.ndarray
    energy_ref: np.ndarray
    fps: float

    @property
    def n_frames(self) -> int:
        return self.phase.shape[0]


def tiles_for(pyramid: SteerablePyramid, grid: int) -> tuple[int, int]:
    """Tile grid (gy, gx): ``grid`` per side, at most the coarsest band's size."""
    hc, wc = pyramid.band_shapes[-1]
    return min(grid, hc), min(grid, wc)


@numba.njit(cache=True, fastmath=True, nogil=True)
def _tile_phase_energy(bands, reference, tile_rows, tile_cols, weighted_phase,
                       energy):  # pragma: no cover - numba
    # Per tile: sum(dphi * A**2) and sum(A**2). A row's values are computed first (the
    # loop over all its pixels vectorises), then added to their tiles; single-threaded, as
    # the pyramid's FFTs already use the cores and small tiles leave too little per job.
    n_batch, n_orient, h, w = bands.shape
    wp_row = np.empty(w, dtype=np.float32)
    en_row = np.empty(w, dtype=np.float32)
    for b in range(n_batch):
        for k in range(n_orient):
            for i in range(h):
                ty = tile_rows[i]
                for j in range(w):
                    c = bands[b, k, i, j]
                    r = reference[k, i, j]
                    re = c.real * r.real + c.imag * r.imag
                    im = c.imag * r.real - c.real * r.imag
                    a2 = c.real * c.real + c.imag * c.imag
                    wp_row[j] = fast_atan2(im, re) * a2
                    en_row[j] = a2
                for j in range(w):
                    tx = tile_cols[j]
                    weighted_phase[b, k, ty, tx] += wp_row[j]
                    energy[b, k, ty, tx] += en_row[j]


def frame_maps(pyramid: SteerablePyramid, reference: list[np.ndarray], frames: np.ndarray,
               tiles: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Phase-change and energy maps of a batch of frames.

    The per-tile sums are those of :func:`vmic.core.phase.frame_phase_sums` (``weighted_phase``
    and ``energy``), computed by a kernel that skips the amplitude sums and adds a whole
    row of pixels at a time.

    Parameters
    ----------
    pyramid : SteerablePyramid
    reference : list of ndarray of complex, shape (K, h, w) each
        The reference frame's bands (:func:`vmic.core.phase.reference_bands`).
    frames : ndarray, shape (B, H, W)
        Grey frames.
    tiles : (int, int)
        Tile grid (gy, gx).

    Returns
    -------
    phase : ndarray of float32, shape (B, S*K, gy, gx)
        A**2-weighted mean phase change per tile (rad); 0 where a tile has no energy.
    energy : ndarray of float32, shape (B, S*K, gy, gx)
        Mean A**2 per tile.
    """
    frames = np.asarray(frames)
    if frames.ndim == 2:
        frames = frames[None]
    n = frames.shape[0]
    shape = (n, pyramid.scales, pyramid.orientations) + tuple(tiles)
    weighted_phase = np.zeros(shape)
    energy = np.zeros(shape)
    pixels = np.zeros((pyramid.scales,) + tuple(tiles))
    spectra = pyramid.spectra(frames)
    for s in range(pyramid.scales):
        bands = pyramid.scale_bands(spectra, s)
        rows, cols = tile_grid(pyramid.band_shapes[s], tiles)
        _tile_phase_energy(bands, np.ascontiguousarray(reference[s]), rows, cols,
                           weighted_phase[:, s], energy[:, s])
        pixels[s] = np.outer(np.bincount(rows, minlength=tiles[0]),
                             np.bincount(cols, minlength=tiles[1]))
    out_shape = (n, pyramid.scales * pyramid.orientations) + tuple(tiles)
    with np.errstate(invalid="ignore", divide="ignore"):
        phase = np.nan_to_num(weighted_phase / energy)
    energy = energy / pixels[None, :, None]
    return (phase.reshape(out_shape).astype(np.float32),
            energy.reshape(out_shape).astype(np.float32))


def clip_maps(clip: Clip, spec: MapSpec, *, reference_frame: int = 0, batch_size: int = 64,
              bar: tqdm | None = None, workers: int = 2) -> ClipMaps:
    """Maps of every frame of an opened clip (streamed in batches).

    Parameters
    ----------
    clip : vmic.io.clip.Clip
    spec : MapSpec
    reference_frame : int
        Reference frame, counted from the clip's start.
    batch_size : int
        Frames per batch.
    bar : tqdm-like, optional
        Updated with the number of frames done.
    workers : int
        Batches in flight at once, each in its own thread (the FFTs and the tile kernel
        release the GIL, so consecutive batches overlap); at most ``workers + 1`` batches
        are held in memory.

    Returns
    -------
    ClipMaps
    """
    if clip.n_frames < 2:
        raise VmicError(f"need at least 2 frames to measure motion, the clip has {clip.n_frames}")
    limit = max_scales(clip.frame_shape)
    if limit < spec.scales:
        h, w = clip.frame_shape
        raise VmicError(f"frames of {w}x{h} px are too small for the learned model's "
                        f"{spec.scales}-scale pyramid (need at least {2 ** (spec.scales + 2)} px "
                        "on each side)")
    pyramid = SteerablePyramid(clip.frame_shape, spec.scales, spec.orientations)
    ref_frame = clip.read_frame(reference_frame)
    reference = reference_bands(pyramid, ref_frame)
    check_reference(reference)
    tiles = tiles_for(pyramid, spec.grid)
    if spec.inputs == "flow":
        from vmic.core.flow import flow_information

        weights = flow_weights(pyramid, ref_frame)
        scale, information = flow_information(pyramid, reference, weights, tiles)
        information = np.diagonal(information, axis1=1, axis2=2).T.reshape((2,) + tiles)
        energy_ref = information.astype(np.float32)

        def work(frames):
            p = frame_flow_maps(pyramid, reference, weights, scale, information, frames, tiles)
            return p, np.broadcast_to(energy_ref, p.shape)
    else:
        _, energy_ref = frame_maps(pyramid, reference, ref_frame[None], tiles)
        energy_ref = energy_ref[0]

        def work(frames):
            return frame_maps(pyramid, reference, frames, tiles)
    phases, energies = [], []

    def collect(job):
        p, e = job.result()
        phases.append(p)
        energies.append(e)
        if bar is not None:
            bar.update(p.shape[0])

    pending: deque = deque()
    with ThreadPoolExecutor(max(1, int(workers))) as pool:
        for _, frames in clip.iter_batches(batch_size):
            pending.append(pool.submit(work, frames))
            if len(pending) > max(1, int(workers)):
                collect(pending.popleft())
        while pending:
            collect(pending.popleft())
    phase = np.concatenate(phases)
    if phase.shape[0] < 2:
        raise VmicError(f"only {phase.shape[0]} frame could be decoded; need at least 2")
    fps = float(clip.capture_fps)
    if spec.inputs == "flow":
        phase, energy_ref = project_flow(phase, energy_ref, fps)
        return ClipMaps(phase, np.broadcast_to(energy_ref, phase.shape), energy_ref, fps)
    return ClipMaps(phase, np.concatenate(energies), energy_ref, fps)
