"""The learned model's inputs, from a clip's maps (:mod:`vmic.learn.siamese.maps`).

The network (:mod:`vmic.learn.siamese.model`) sees

- ``phase``: the maps multiplied by a per-tile sign ``+-1`` (:func:`tile_signs`) so that all
  tiles move the same way as the clip's dominant motion,
- ``features`` of the current frame: ``[log E - m, log1p(|map| / PHASE_UNIT)]`` (2C channels),
- ``features`` of the reference frame: ``[log E_ref - m, 0]``,

where ``m`` is the mean log energy of the reference over all bands and tiles (so intensity
units and contrast drop out). Features are even in the maps, so a model whose output is a
weighted sum of ``phase`` is odd in the motion (zero motion gives zero output).
"""

from __future__ import annotations

import numpy as np

from vmic import post
from vmic.learn.siamese.flow_maps import highpass_time_major
from vmic.learn.siamese.maps import ClipMaps

__all__ = ["PHASE_UNIT", "tile_signs", "model_inputs"]

PHASE_UNIT = 1e-3
"""Unit of the ``log1p(|map| / PHASE_UNIT)`` feature (rad for phase maps, px for flow)."""

_ENERGY_FLOOR = 1e-8  # relative to the reference's largest tile energy


def tile_signs(phase: np.ndarray, energy_ref: np.ndarray, fps: float, *,
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
    fps : float
        Capture rate (frames/s); signals are high-passed at 0.05 of Nyquist first.
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
        x = highpass_time_major(x, fps, post.default_highpass_hz(fps))
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


def model_inputs(maps: ClipMaps, signs: np.ndarray | None = None,
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
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
        signs = tile_signs(maps.phase, maps.energy_ref, maps.fps)
    floor = _ENERGY_FLOOR * max(float(maps.energy_ref.max()), 1e-30)
    log_ref = np.log(maps.energy_ref + floor)
    m = float(log_ref.mean())
    log_cur = np.log(maps.energy + floor) - m
    mag = np.log1p(np.abs(maps.phase) / PHASE_UNIT)
    features = np.concatenate([log_cur, mag], axis=1).astype(np.float32)
    features_ref = np.concatenate([log_ref - m, np.zeros_like(log_ref)]).astype(np.float32)
    weights = (maps.energy_ref / max(float(maps.energy_ref.mean()), 1e-30)).astype(np.float32)
    return (maps.phase * signs).astype(np.float32), features, features_ref, weights
