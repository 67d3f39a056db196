"""Tile motion statistics: the rigid estimate, its direction, coarser grids."""

from __future__ import annotations

import numpy as np


def global_motion(flow: np.ndarray, information: np.ndarray) -> np.ndarray:
    """Maximum-likelihood rigid motion from per-tile flow sums.

    Parameters
    ----------
    flow : ndarray of float, shape (N, 2, T)
        Per-tile noise-weighted flow sums ``F`` (see
        :func:`vmic.core.flow.flow_information`), with ``E[F] = -M d``.
    information : ndarray of float, shape (N, 2, 2)
        Per-tile Fisher information ``M`` (px**-2 per unit noise).

    Returns
    -------
    ndarray of float64, shape (2, T)
        Displacement ``(dx, dy)`` of the whole scene (px), ``-(sum M)^-1 sum F``.
    """
    total = information.sum(axis=0)
    ridge = 1e-9 * np.trace(total) * np.eye(2)
    return -np.linalg.solve(total + ridge, flow.sum(axis=0))


def motion_direction(motion: np.ndarray, information: np.ndarray) -> np.ndarray:
    """Direction of largest motion SNR: the projection a rigid estimate is read along.

    The rigid estimate's noise has covariance ``sigma**2 * information**-1``, which is not
    isotropic when the scene's texture favours one axis; the top eigenvector of the motion
    covariance alone then follows the noisier axis at low SNR. The generalised eigenvector
    of ``(C, information**-1)`` maximises ``v' C v / v' information**-1 v`` instead.

    Parameters
    ----------
    motion : ndarray of float, shape (2, T)
        Rigid displacement ``(dx, dy)`` (px), see :func:`global_motion`.
    information : ndarray of float, shape (2, 2)
        Its total Fisher information ``sum M`` (px**-2 per unit noise).

    Returns
    -------
    ndarray of float64, shape (2,)
        Unit vector ``v``; ``v @ motion`` is the projected signal (sign arbitrary).
    """
    centred = motion - motion.mean(axis=-1, keepdims=True)
    covariance = centred @ centred.T
    values, vectors = np.linalg.eigh(information)
    root = (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T  # information**0.5
    _, top = np.linalg.eigh(root @ covariance @ root)
    direction = root @ top[:, -1]
    norm = np.linalg.norm(direction)
    if not norm > 0:  # no information at all: fall back to the plain principal axis
        return np.linalg.eigh(covariance)[1][:, -1]
    return direction / norm


def coarsen(flow: np.ndarray, information: np.ndarray, tiles: tuple[int, int],
            grid: tuple[int, int]):
    """Merge tiles into a coarser grid by adding their statistics (they are additive).

    Parameters
    ----------
    flow : ndarray, shape (TY * TX, 2, T)
    information : ndarray, shape (TY * TX, 2, 2)
    tiles : (int, int)
        The fine grid (TY, TX).
    grid : (int, int)
        The coarse grid (GY, GX), each at most the fine one.

    Returns
    -------
    flow : ndarray, shape (GY * GX, 2, T)
    information : ndarray, shape (GY * GX, 2, 2)
    block : ndarray of int64, shape (TY * TX,)
        Coarse tile of each fine tile.
    """
    ty, tx = tiles
    gy, gx = grid
    rows = np.arange(ty) * gy // ty
    cols = np.arange(tx) * gx // tx
    block = (rows[:, None] * gx + cols[None, :]).ravel()
    coarse_flow = sum_by_block(flow, block, gy * gx)
    coarse_info = sum_by_block(np.asarray(information, dtype=np.float64), block, gy * gx)
    return coarse_flow, coarse_info, block


def sum_by_block(values: np.ndarray, block: np.ndarray, n_blocks: int) -> np.ndarray:
    """Sum rows of ``values`` into ``n_blocks`` groups: ``out[block[i]] += values[i]``.

    Parameters
    ----------
    values : ndarray, shape (N, ...)
    block : ndarray of int, shape (N,)
        Group of each row, 0 to ``n_blocks - 1``.
    n_blocks : int

    Returns
    -------
    ndarray of values' dtype, shape (n_blocks, ...)
        Groups no row belongs to are zero.
    """
    # A product with the 0/1 membership matrix: one BLAS call, where np.add.at loops per
    # element (on 144 tiles x 2 x 1100 samples, 2.4 ms each call, a quarter of the fit).
    values = np.asarray(values)
    members = np.zeros((n_blocks, values.shape[0]), dtype=values.dtype)
    members[block, np.arange(values.shape[0])] = 1
    flat = values.reshape(values.shape[0], -1)
    return (members @ flat).reshape((n_blocks,) + values.shape[1:])
