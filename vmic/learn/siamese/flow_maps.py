"""Flow maps of the learned recovery: each tile's maximum-likelihood displacement (px).

Per tile, the phase changes of all bands are weighted by their motion sensitivity
``Im(conj(r) grad r)`` (:func:`vmic.core.phase.flow_weights`) and by the bands' noise
(:func:`vmic.core.flow.flow_information`) and summed (:func:`frame_flow_maps`), then
projected on the clip's dominant direction of motion (:func:`project_flow`).
:func:`vmic.learn.siamese.maps.clip_maps` makes them for ``MapSpec(inputs="flow")``.
"""

from __future__ import annotations

import numba
import numpy as np
import scipy.signal

from vmic import post
from vmic.core.kernels import fast_atan2
from vmic.core.phase import tile_grid
from vmic.core.pyramid import SteerablePyramid

__all__ = ["frame_flow_maps", "project_flow", "highpass_time_major"]


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
                    dphi = fast_atan2(im, re)
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


def project_flow(displacement: np.ndarray, information: np.ndarray,
                 fps: float) -> tuple[np.ndarray, np.ndarray]:
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
    fps : float
        Capture rate (frames/s).

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
        rigid = highpass_time_major(rigid, fps, post.default_highpass_hz(fps))
    _, vectors = np.linalg.eigh(rigid.T @ rigid)
    u = vectors[:, -1]
    info_along = u[0] ** 2 * m[0] + u[1] ** 2 * m[1]
    with np.errstate(invalid="ignore", divide="ignore"):
        along = np.nan_to_num((u[0] * m[0] * displacement[:, 0] + u[1] * m[1] * displacement[:, 1])
                              / info_along)
    return along[:, None].astype(np.float32), info_along[None].astype(np.float32)


def highpass_time_major(x: np.ndarray, sr: float, cutoff_hz: float) -> np.ndarray:
    """:func:`vmic.post.highpass` (3rd-order Butterworth, forward-backward, even padding over
    4 time constants) along axis 0 of a (T, N) array, without transposing to (N, T) first.

    Parameters
    ----------
    x : ndarray of float64, shape (T, N)
    sr : float
        Sample rate (Hz).
    cutoff_hz : float
        Cut-off (Hz).

    Returns
    -------
    ndarray of float64, shape (T, N)
    """
    sos = scipy.signal.butter(3, cutoff_hz / (sr / 2.0), btype="highpass", output="sos")
    n = x.shape[0]
    padlen = min(n - 1, max(3 * (2 * len(sos) + 1), int(np.ceil(4 * sr / cutoff_hz))))
    return scipy.signal.sosfiltfilt(sos, x, axis=0, padtype="even", padlen=max(padlen, 0))
