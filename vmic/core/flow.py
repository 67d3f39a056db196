"""Flow sums' noise weights: each tile's motion statistic and its Fisher information."""

from __future__ import annotations

import numpy as np

from vmic.core.phase import tile_grid
from vmic.core.pyramid import SteerablePyramid

__all__ = ["flow_information", "apply_flow_scale"]


def flow_information(pyramid: SteerablePyramid, reference: list[np.ndarray],
                     weights: list[np.ndarray], tiles: tuple[int, int]):
    """Band noise weights and per-tile Fisher information for the flow sums.

    For white pixel noise of variance sigma**2, band ``b`` has coefficient noise variance
    ``sigma**2 * v_b`` with ``v_b = H W sum|H_b|**2 / (h w)**2`` (its filter's energy),
    so a pixel's phase change has variance ``sigma**2 v_b / (2 A**2)``. The flow sums
    ``f_b = sum A**2 grad(phi) dphi`` then have mean ``-N_b d`` and covariance
    ``sigma**2 v_b N_b / 2`` with ``N_b = sum A**2 grad(phi) grad(phi)^T``. Summing
    ``f_b / v_b`` (gradients in frame px) over bands gives each tile's sufficient statistic
    ``F`` for its displacement ``d``, with information ``M = sum N_b / v_b``.

    Parameters
    ----------
    pyramid : SteerablePyramid
    reference : list of ndarray of complex, shape (K, h, w)
        Reference bands per scale.
    weights : list of ndarray of float32, shape (K, 2, h, w)
        From :func:`vmic.core.phase.flow_weights`.
    tiles : (int, int)

    Returns
    -------
    scale : ndarray of float64, shape (S, K, 2)
        Factor of each band's x and y flow sums in ``F`` (:func:`apply_flow_scale`).
    information : ndarray of float64, shape (TY * TX, 2, 2)
        ``M`` per tile (grey level**2 / px**2; px**-2 per unit pixel-noise variance).
    """
    height, width = pyramid.shape
    ty, tx = tiles
    scale = np.zeros((pyramid.scales, pyramid.orientations, 2))
    information = np.zeros((ty, tx, 2, 2))
    for s, (h, w) in enumerate(pyramid.band_shapes):
        to_full = np.array([w / width, h / height])  # d(level px)/d(frame px) per axis
        rows, cols = tile_grid((h, w), tiles)
        for k in range(pyramid.orientations):
            filt = pyramid.band_filters(s)[k]
            noise = height * width * float(np.sum(np.abs(filt) ** 2)) / float(h * w) ** 2
            if noise <= 0:
                continue
            scale[s, k] = to_full / noise
            power = np.abs(reference[s][k]).astype(np.float64) ** 2
            usable = power > 1e-12 * max(power.max(), 1e-300)
            wk = weights[s][k].astype(np.float64) * to_full[:, None, None]  # (2, h, w)
            inv_power = np.where(usable, 1.0 / np.where(usable, power, 1.0), 0.0)
            outer = wk[:, None] * wk[None, :] * inv_power  # (2, 2, h, w)
            # Per-tile sums of each of the 4 entries (bincount: np.add.at loops per pixel).
            tile = (rows[:, None] * tx + cols[None, :]).ravel()
            per_tile = np.stack([np.bincount(tile, weights=entry.ravel(), minlength=ty * tx)
                                 for entry in outer.reshape(4, h, w)], axis=-1)
            information += per_tile.reshape(ty, tx, 2, 2) / noise
    return scale, information.reshape(ty * tx, 2, 2)


def apply_flow_scale(flow: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Per-tile statistic ``F`` from flow sums (T, S, K, 2, TY, TX) -> (T, 2, TY, TX)."""
    return np.einsum("tskcyx,skc->tcyx", flow, scale)
