"""Inputs of the learned recovery: pyramid phase maps at a fixed small resolution.

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
    (:func:`project_flow`). The tile's "energy" is its Fisher information ``M_u`` along the
    direction (px**-2 per unit noise).
``"phase"``
    one map per band: the A**2-weighted mean phase change ``sum(dphi A**2) / sum(A**2)``
    (rad), with the tile energy ``E = mean(A**2)``.

Any clip size gives maps of shape (C, gy, gx) with ``gy, gx <= grid``. The network
(:mod:`vmic.learn.siamese.model`) sees

- ``phase``: the maps multiplied by a per-tile sign ``+-1`` (see :func:`tile_signs`) so that
  all tiles move the same way as the clip's dominant motion,
- ``features`` of the current frame: ``[log E - m, log1p(|map| / PHASE_UNIT)]`` (2C channels),
- ``features`` of the reference frame: ``[log E_ref - m, 0]``,

where ``m`` is the mean log energy of the reference over all bands and tiles (so intensity
units and contrast drop out). Features are even in the maps, so a model whose output is a
weighted sum of ``phase`` is odd in the motion (zero motion gives zero output).

Training clips come from :mod:`vmic.synth` (:func:`draw_config`); the train, validation and
test splits use disjoint seed ranges (:data:`SPLIT_SEEDS`), and every random choice of a clip
(source signal, texture, scene, noise) is drawn from its seed, so no two splits share a source
signal or a texture.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numba
import numpy as np
import scipy.signal

from vmic import post
from vmic.core.kernels import fast_atan2 as _fast_atan2
from vmic.core.phase import flow_weights, reference_bands, tile_grid
from vmic.core.pyramid import SteerablePyramid, max_scales
from vmic.errors import VmicError
from vmic.extraction import check_reference

__all__ = [
    "MapSpec",
    "ClipMaps",
    "SPLIT_SEEDS",
    "PHASE_UNIT",
    "tiles_for",
    "frame_maps",
    "clip_maps",
    "tile_signs",
    "model_inputs",
    "draw_config",
    "synth_clip_maps",
]

PHASE_UNIT = 1e-3
"""Unit of the ``log1p(|map| / PHASE_UNIT)`` feature (rad for phase maps, px for flow)."""

SPLIT_SEEDS = {"train": 100_000, "val": 200_000, "test": 300_000}
"""First seed of each split; split ``name`` uses seeds ``SPLIT_SEEDS[name] + i``."""

INPUT_KINDS = ("phase", "flow")

_ENERGY_FLOOR = 1e-8  # relative to the reference's largest tile energy


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
        (:func:`project_flow`), from the motion-sensitivity-weighted phase sums of all bands
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
    rate : float
        Capture rate (Hz).
    """

    phase: np.ndarray
    energy: np.ndarray
    energy_ref: np.ndarray
    rate: float

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
                    wp_row[j] = _fast_atan2(im, re) * a2
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


@numba.njit(cache=True, fastmath=True, nogil=True)
def _tile_flow(bands, reference, weights, scale, tile_rows, tile_cols,
               flow):  # pragma: no cover - numba
    # Per tile: sum over pixels of dphi * Im(conj(r) dr/dx) * scale[0] (and y), added into
    # flow[b, c, ty, tx] for every band of the scale, so the bands' sums add up in one map.
    n_batch, n_orient, h, w = bands.shape
    fx_row = np.empty(w, dtype=np.float32)
    fy_row = np.empty(w, dtype=np.float32)
    for b in range(n_batch):
        for k in range(n_orient):
            sx = scale[k, 0]
            sy = scale[k, 1]
            for i in range(h):
                ty = tile_rows[i]
                for j in range(w):
                    c = bands[b, k, i, j]
                    r = reference[k, i, j]
                    re = c.real * r.real + c.imag * r.imag
                    im = c.imag * r.real - c.real * r.imag
                    dphi = _fast_atan2(im, re)
                    fx_row[j] = dphi * weights[k, 0, i, j]
                    fy_row[j] = dphi * weights[k, 1, i, j]
                for j in range(w):
                    tx = tile_cols[j]
                    flow[b, 0, ty, tx] += sx * fx_row[j]
                    flow[b, 1, ty, tx] += sy * fy_row[j]


def frame_flow_maps(pyramid: SteerablePyramid, reference: list[np.ndarray],
                    weights: list[np.ndarray], scale: np.ndarray, information: np.ndarray,
                    frames: np.ndarray, tiles: tuple[int, int]) -> np.ndarray:
    """Per-tile maximum-likelihood displacement components of a batch of frames.

    Parameters
    ----------
    pyramid : SteerablePyramid
    reference : list of ndarray of complex, shape (K, h, w) each
    weights : list of ndarray of float32, shape (K, 2, h, w)
        :func:`vmic.core.phase.flow_weights` of the reference frame.
    scale : ndarray of float64, shape (S, K, 2)
        Noise weight of each band's x and y sums (:func:`vmic.core.flow.flow_information`).
    information : ndarray of float64, shape (2, gy, gx)
        Diagonal of each tile's Fisher information ``M`` (px**-2 per unit noise).
    frames : ndarray, shape (B, H, W)
    tiles : (int, int)

    Returns
    -------
    ndarray of float32, shape (B, 2, gy, gx)
        ``-F_c / M_cc`` (px): the tile's displacement along x (c=0) and y (c=1) when the
        other component is still; 0 where a tile has no information.
    """
    frames = np.asarray(frames)
    if frames.ndim == 2:
        frames = frames[None]
    flow = np.zeros((frames.shape[0], 2) + tuple(tiles))
    spectra = pyramid.spectra(frames)
    for s in range(pyramid.scales):
        bands = pyramid.scale_bands(spectra, s)
        rows, cols = tile_grid(pyramid.band_shapes[s], tiles)
        _tile_flow(bands, np.ascontiguousarray(reference[s]), weights[s], scale[s], rows, cols,
                   flow)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.nan_to_num(-flow / information[None]).astype(np.float32)


def clip_maps(clip, spec: MapSpec, *, reference_frame: int = 0, batch_size: int = 64,
              bar=None, workers: int = 2) -> ClipMaps:
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
    rate = float(clip.capture_fps)
    if spec.inputs == "flow":
        phase, energy_ref = project_flow(phase, energy_ref, rate)
        return ClipMaps(phase, np.broadcast_to(energy_ref, phase.shape), energy_ref, rate)
    return ClipMaps(phase, np.concatenate(energies), energy_ref, rate)


def project_flow(displacement: np.ndarray, information: np.ndarray,
                 rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Tile displacements along the clip's dominant direction of motion.

    The direction ``u`` is the principal axis of the high-passed (0.05 of Nyquist) rigid
    estimate ``D_c(t) = sum M_cc d_c / sum M_cc``; each tile's displacement along it is the
    maximum-likelihood ``a = (u_x M_xx d_x + u_y M_yy d_y) / (u_x**2 M_xx + u_y**2 M_yy)``
    with information ``u_x**2 M_xx + u_y**2 M_yy`` (off-diagonal information neglected). A
    tile whose motion is opposite (a membrane's other half) keeps its sign here; the tile
    signs (:func:`tile_signs`) flip it later.

    Parameters
    ----------
    displacement : ndarray of float32, shape (T, 2, gy, gx)
        ``-F_c / M_cc`` per tile (px), from :func:`frame_flow_maps`.
    information : ndarray of float32, shape (2, gy, gx)
        ``M_xx`` and ``M_yy`` per tile.
    rate : float
        Capture rate (Hz).

    Returns
    -------
    along : ndarray of float32, shape (T, 1, gy, gx)
        Displacement along ``u`` (px).
    information_along : ndarray of float32, shape (1, gy, gx)
    """
    m = information.astype(np.float64)
    totals = np.maximum(m.sum(axis=(1, 2)), 1e-300)
    rigid = np.einsum("tcyx,cyx->tc", displacement.astype(np.float64), m) / totals  # (T, 2)
    rigid = rigid - rigid.mean(axis=0)
    if rigid.shape[0] > 12:
        rigid = _highpass_time_major(rigid, rate, post.default_highpass_hz(rate))
    _, vectors = np.linalg.eigh(rigid.T @ rigid)
    u = vectors[:, -1]
    info_along = u[0] ** 2 * m[0] + u[1] ** 2 * m[1]
    with np.errstate(invalid="ignore", divide="ignore"):
        along = np.nan_to_num((u[0] * m[0] * displacement[:, 0] + u[1] * m[1] * displacement[:, 1])
                              / info_along)
    return along[:, None].astype(np.float32), info_along[None].astype(np.float32)


def tile_signs(phase: np.ndarray, energy_ref: np.ndarray, rate: float,
               iterations: int = 4) -> np.ndarray:
    """Sign (+-1) of each tile's motion relative to the clip's dominant motion.

    Orientation bands see a motion with signs that depend on its direction, and a vibrating
    surface moves parts of itself in opposite directions; the signs put every tile on the
    same footing. They come from a few rounds of a sign-constrained power iteration on the
    high-passed tile signals: start from the highest-energy tile's signal ``r``; each tile's
    sign is that of its correlation with ``r``; ``r`` becomes the energy-weighted sum of the
    signed tile signals.

    Parameters
    ----------
    phase : ndarray of float32, shape (T, C, gy, gx)
        Phase-change maps (rad).
    energy_ref : ndarray of float32, shape (C, gy, gx)
        Reference energy maps (the weights).
    rate : float
        Capture rate (Hz); signals are high-passed at 0.05 of Nyquist first.
    iterations : int
        Rounds of the iteration.

    Returns
    -------
    ndarray of float32, shape (C, gy, gx)
        +1 or -1 per tile.
    """
    t = phase.shape[0]
    x = phase.reshape(t, -1).astype(np.float64)  # (T, cells), filtered along time
    x = x - x.mean(axis=0)
    if t > 12:
        x = _highpass_time_major(x, rate, post.default_highpass_hz(rate))
    x = x.T
    w = energy_ref.reshape(-1).astype(np.float64)
    r = x[int(np.argmax(w))]
    signs = np.ones(x.shape[0])
    for _ in range(iterations):
        corr = x @ r
        signs = np.where(corr < 0, -1.0, 1.0)
        r = (w * signs) @ x
        if not np.any(r):
            break
    return signs.reshape(energy_ref.shape).astype(np.float32)


def _highpass_time_major(x: np.ndarray, rate: float, cutoff_hz: float) -> np.ndarray:
    # post.highpass (3rd-order Butterworth, forward-backward, even padding over 4 time
    # constants) along axis 0 of a (T, N) array, without transposing to (N, T) first.
    sos = scipy.signal.butter(3, cutoff_hz / (rate / 2.0), btype="highpass", output="sos")
    n = x.shape[0]
    padlen = min(n - 1, max(3 * (2 * len(sos) + 1), int(np.ceil(4 * rate / cutoff_hz))))
    return scipy.signal.sosfiltfilt(sos, x, axis=0, padtype="even", padlen=max(padlen, 0))


def model_inputs(maps: ClipMaps, signs: np.ndarray | None = None):
    """Network inputs of a clip.

    Parameters
    ----------
    maps : ClipMaps
    signs : ndarray of float32, shape (C, gy, gx), optional
        Tile signs (default: :func:`tile_signs` of the clip).

    Returns
    -------
    phase : ndarray of float32, shape (T, C, gy, gx)
        Signed phase-change maps (rad).
    features : ndarray of float32, shape (T, 2C, gy, gx)
        Current frames' features ``[log E - m, log1p(|dphi| / PHASE_UNIT)]``.
    features_ref : ndarray of float32, shape (2C, gy, gx)
        Reference features ``[log E_ref - m, 0]``.
    weights : ndarray of float32, shape (C, gy, gx)
        Reference energy relative to its mean over bands and tiles (the prior weight of a
        tile, as the A**2 weighting of the classical path).
    """
    if signs is None:
        signs = tile_signs(maps.phase, maps.energy_ref, maps.rate)
    floor = _ENERGY_FLOOR * max(float(maps.energy_ref.max()), 1e-30)
    log_ref = np.log(maps.energy_ref + floor)
    m = float(log_ref.mean())
    log_cur = np.log(maps.energy + floor) - m
    mag = np.log1p(np.abs(maps.phase) / PHASE_UNIT)
    features = np.concatenate([log_cur, mag], axis=1).astype(np.float32)
    features_ref = np.concatenate([log_ref - m, np.zeros_like(log_ref)]).astype(np.float32)
    weights = (maps.energy_ref / max(float(maps.energy_ref.mean()), 1e-30)).astype(np.float32)
    return (maps.phase * signs).astype(np.float32), features, features_ref, weights


def draw_config(split: str, index: int, *, duration_s: float = 0.5, size: int = 96,
                fps: float = 2200.0):
    """A random synthetic clip configuration of a split.

    Parameters
    ----------
    split : {"train", "val", "test"}
    index : int
        Clip index within the split; the seed is ``SPLIT_SEEDS[split] + index`` and every
        choice below is drawn from it.
    duration_s : float
        Clip length (s).
    size : int
        Frame side (px).
    fps : float
        Capture rate (Hz).

    Returns
    -------
    vmic.synth.SynthConfig
        Source (tones at random frequencies, chirp, speech-like, white or pink noise), motion
        (global 60 %, membrane mode (1,1) 25 %, two regions 15 %), amplitude 0.005-0.1 px
        (log-uniform), direction 0-180 deg, texture (noise or print), object (disk, rect or
        full frame), read noise 0-60 e- of a 10 000 e- well, shot noise on half of the clips,
        8 or 16 bit.
    """
    from vmic.synth import SynthConfig

    if split not in SPLIT_SEEDS:
        raise VmicError(f"unknown split {split!r}; choose from {', '.join(SPLIT_SEEDS)}")
    seed = SPLIT_SEEDS[split] + int(index)
    rng = np.random.default_rng(seed)
    source = str(rng.choice(["tones", "chirp", "speech", "white", "pink"]))
    n_tones = int(rng.integers(1, 4))
    tones_hz = tuple(float(f) for f in np.exp(rng.uniform(np.log(80), np.log(0.4 * fps),
                                                          n_tones)))
    chirp_hz = (float(rng.uniform(50, 300)), float(rng.uniform(0.2, 0.45) * fps))
    motion = str(rng.choice(["global", "membrane", "two_regions"], p=[0.6, 0.25, 0.15]))
    amplitude = float(np.exp(rng.uniform(np.log(0.005), np.log(0.1))))
    noise = float(rng.choice([0.0, rng.uniform(5, 60)], p=[0.25, 0.75]))
    return SynthConfig(
        fps=fps, duration_s=duration_s, height=size, width=size, source=source,
        tones_hz=tones_hz, chirp_hz=chirp_hz, motion=motion, amplitude_px=amplitude,
        direction_deg=float(rng.uniform(0, 180)),
        texture=str(rng.choice(["noise", "print"])),
        object="full" if motion == "global" and rng.random() < 0.3 else str(
            rng.choice(["disk", "rect"])),
        object_size=float(rng.uniform(0.5, 0.9)),
        contrast=float(rng.uniform(0.15, 0.4)),
        background_contrast=float(rng.uniform(0.05, 0.15)),
        bits=int(rng.choice([8, 16])), read_noise_e=noise, shot_noise=bool(rng.random() < 0.5),
        seed=seed,
    )


def synth_clip_maps(cfg, spec: MapSpec):
    """Render a synthetic clip in memory and return its maps and truth.

    Returns
    -------
    maps : ClipMaps
    truth : ndarray of float64, shape (T,)
        Displacement of the clip's reference point (px).
    """
    from vmic.io.clip import open_clip
    from vmic.synth import synthesize

    synth = synthesize(cfg)
    with open_clip(synth.frames, fps=cfg.fps) as clip:
        maps = clip_maps(clip, spec)
    return maps, synth.truth
