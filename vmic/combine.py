"""Combination: many band (and tile) motion signals into one audio signal.

Methods
-------
``align``
    ``vmSoundFromVideo``'s: each band signal circularly shifted to the lag of maximum
    cross-correlation with band (scale 0, orientation 0), then summed. Bands whose motion
    has the opposite sign are shifted by half a period rather than flipped, and all bands
    count the same however noisy they are.
``bands`` and ``local``
    A blind rank-1 fit (one-factor analysis): every signal is modelled as
    ``x_i(t) = a_i * s(t) + n_i(t)`` with independent noise of variance ``psi_i``.
    Loadings ``a_i`` (with their signs) and noise variances are estimated from the
    signals' covariance alone, no truth needed, and the signals are combined with the
    weights that maximise SNR under that model, ``w_i = a_i / psi_i``. ``bands`` fits the
    whole-frame band signals; ``local`` fits every tile of every band, so regions that move
    with opposite signs or different amplitudes (membrane modes, two parts of an object)
    add up instead of cancelling, and featureless or noisy tiles get little weight.
"""

from __future__ import annotations

import numpy as np
import scipy.signal

__all__ = ["align_to_reference", "rank1_fit", "rank1_combine", "local_combine", "global_motion",
           "split_half_snr"]


def align_to_reference(band_signals: np.ndarray) -> np.ndarray:
    """Sum band signals after aligning each to band (0, 0) as ``vmAlignAToB`` does.

    Parameters
    ----------
    band_signals : ndarray of float, shape (S, K, T)

    Returns
    -------
    ndarray of float64, shape (T,)
        The aligned sum (before any filtering).

    Notes
    -----
    ``vmAlignAToB(A, B)``: ``c = conv(A, flip(B))``; ``shift = numel(B) - argmax(c)`` (1-based
    argmax); ``A`` is circularly shifted by ``shift``.
    """
    signals = np.asarray(band_signals, dtype=np.float64)
    reference = signals[0, 0]
    n = reference.size
    total = np.zeros(n)
    for band in signals.reshape(-1, n):
        xcorr = scipy.signal.fftconvolve(band, reference[::-1], mode="full")
        shift = n - 1 - int(np.argmax(xcorr))
        total += np.roll(band, shift)
    return total


def _top_eigenpair(matrix: np.ndarray, start: np.ndarray, steps: int = 200, tol: float = 1e-10):
    # Power iteration from a warm start: the fixed-point loop below changes the matrix only
    # a little each time, so a few products replace a full eigendecomposition (O(N^3)).
    vector = start / np.linalg.norm(start)
    lam = float(vector @ matrix @ vector)
    for _ in range(steps):
        product = matrix @ vector
        norm = np.linalg.norm(product)
        if norm == 0:
            break
        new = product / norm
        new_lam = float(new @ matrix @ new)
        converged = abs(new_lam - lam) <= tol * abs(new_lam)
        vector, lam = new, new_lam
        if converged:
            break
    return lam, vector


def rank1_fit(signals: np.ndarray, iterations: int = 100, tol: float = 1e-7):
    """One-factor analysis of signals: loadings and noise variances, without a reference.

    Parameters
    ----------
    signals : ndarray of float, shape (N, T)
        Zero-mean signals (filter drift away first).
    iterations : int
        Maximum fixed-point iterations (principal-axis factoring).
    tol : float
        Stop when the noise variances change by less than this (relative).

    Returns
    -------
    loadings : ndarray of float64, shape (N,)
        ``a_i``; the common factor has unit variance. Sign fixed so that the signal with the
        largest weight has a positive loading.
    noise_var : ndarray of float64, shape (N,)
        ``psi_i``, each at least 1e-6 of the signal's variance.
    """
    x = np.asarray(signals, dtype=np.float64)
    n, t = x.shape
    cov = (x @ x.T) / max(t, 1)
    var = np.clip(np.diag(cov).copy(), 1e-300, None)
    if n == 1:
        return np.sqrt(var), var * 1e-6
    floor = var * 1e-6
    psi = var / 2
    loadings = np.zeros(n)
    vector = np.sqrt(var) / np.linalg.norm(np.sqrt(var))
    for _ in range(iterations):
        d = 1.0 / np.sqrt(psi)
        scaled = cov * d[:, None] * d[None, :]
        lam, vector = _top_eigenpair(scaled, vector)
        loadings = np.sqrt(max(lam - 1.0, 0.0)) * vector / d
        new_psi = np.maximum(var - loadings**2, floor)
        change = np.max(np.abs(new_psi - psi) / var)
        psi = new_psi
        if change < tol:
            break
    weights = loadings / psi
    if loadings[np.argmax(np.abs(weights))] < 0:
        loadings = -loadings
    return loadings, psi


def rank1_combine(signals: np.ndarray, fit_signals: np.ndarray | None = None):
    """Combine signals with maximum-SNR weights from :func:`rank1_fit`.

    Parameters
    ----------
    signals : ndarray of float, shape (N, T)
        Signals to combine.
    fit_signals : ndarray of float, shape (N, T'), optional
        Signals to estimate the model from (default: ``signals``), e.g. a filtered copy.

    Returns
    -------
    combined : ndarray of float64, shape (T,)
        Estimate of the common factor ``s`` (unit variance in ``fit_signals``' terms).
    weights : ndarray of float64, shape (N,)
        ``w_i = a_i / psi_i`` normalised so that ``sum(w * a) = 1``; signed.
    """
    x = np.asarray(signals, dtype=np.float64)
    loadings, psi = rank1_fit(x if fit_signals is None else fit_signals)
    weights = loadings / psi
    norm = float(weights @ loadings)
    if norm > 0:
        weights = weights / norm
    return weights @ x, weights


def split_half_snr(first: np.ndarray, second: np.ndarray) -> float:
    """Blind SNR of a combination from two estimates made on disjoint halves of the data.

    If ``first = s + n1`` and ``second = g * s + n2`` with independent noises of equal
    power, their squared correlation is ``rho**2 = (S/(S+N))**2``; the combination of both
    halves then has SNR ``2 * rho / (1 - rho)`` (linear). Returns it in dB (-inf for
    rho <= 0).
    """
    rho = abs(float(np.corrcoef(first, second)[0, 1])) if np.std(first) * np.std(second) > 0 \
        else 0.0
    if not np.isfinite(rho) or rho <= 0:
        return -np.inf
    rho = min(rho, 1 - 1e-12)
    return float(10 * np.log10(2 * rho / (1 - rho)))


def global_motion(flow: np.ndarray, information: np.ndarray) -> np.ndarray:
    """Maximum-likelihood rigid motion from per-tile flow sums.

    Parameters
    ----------
    flow : ndarray of float, shape (N, 2, T)
        Per-tile noise-weighted flow sums ``F`` (see :func:`vmic.recover.tile_flow`), with
        ``E[F] = -M d``.
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


def local_combine(flow: np.ndarray, information: np.ndarray):
    """Combine per-tile flow signals: rigid maximum likelihood or blind rank-1 fit.

    Two candidates are formed: the rigid-motion estimate (:func:`global_motion`, optimal
    when the whole scene moves together, and robust at low SNR) and the rank-1 fit of all
    tile signals (:func:`rank1_combine`, which follows regions moving by different amounts
    or with opposite signs). Each is also formed from two disjoint halves of the tiles (a
    checkerboard), and the candidate whose halves agree best (:func:`split_half_snr`) is
    returned.

    Parameters
    ----------
    flow : ndarray of float, shape (N, 2, T)
        High-passed per-tile flow sums.
    information : ndarray of float, shape (N, 2, 2)
        Per-tile Fisher information.

    Returns
    -------
    combined : ndarray of float64, shape (T,)
    weights : ndarray of float64, shape (N, 2)
        Signed weight of each tile's x and y flow signal.
    info : dict
        ``method`` ("rigid" or "rank1") and the split-half SNR estimates (dB).
    """
    n_tiles, _, n_samples = flow.shape
    signals = flow.reshape(n_tiles * 2, n_samples)
    halves = [np.arange(n_tiles) % 2 == 0, np.arange(n_tiles) % 2 == 1]
    if n_tiles < 2:
        halves = None

    def rigid(mask):
        motion = global_motion(flow[mask], information[mask])
        return motion

    # Rigid candidate: project on the direction found from all tiles.
    motion = rigid(np.ones(n_tiles, bool))
    centred = motion - motion.mean(axis=-1, keepdims=True)
    _, vectors = np.linalg.eigh(centred @ centred.T)
    direction = vectors[:, -1]
    rigid_signal = direction @ motion
    fa_signal, fa_weights = rank1_combine(signals)
    info = {"method": "rank1", "rigid_snr_db": None, "rank1_snr_db": None}
    if halves is not None:
        rigid_halves = [direction @ rigid(mask) for mask in halves]
        fa_halves = [rank1_combine(flow[mask].reshape(-1, n_samples))[0] for mask in halves]
        rigid_snr = split_half_snr(*rigid_halves)
        fa_snr = split_half_snr(*fa_halves)
        info.update(rigid_snr_db=rigid_snr, rank1_snr_db=fa_snr)
        if rigid_snr >= fa_snr:
            info["method"] = "rigid"
            total = information.sum(axis=0)
            ridge = 1e-9 * np.trace(total) * np.eye(2)
            # rigid_signal = -direction . (sum M)^-1 sum_i F_i: the same weight on every tile.
            per_component = -np.linalg.solve(total + ridge, np.eye(2)).T @ direction
            weights = np.tile(per_component, (n_tiles, 1))
            if np.corrcoef(rigid_signal, fa_signal)[0, 1] < 0:
                rigid_signal, weights = -rigid_signal, -weights
            return rigid_signal, weights, info
    return fa_signal, fa_weights.reshape(n_tiles, 2), info
