"""Blind rank-1 fits (one-factor analysis) and the maximum-SNR combination they give."""

from __future__ import annotations

import numpy as np


def covariance(x: np.ndarray, block: int = 4096) -> np.ndarray:
    # x @ x.T / T accumulated in float64 over blocks of samples, so a float32 input is
    # neither copied whole nor summed in float32.
    n, t = x.shape
    cov = np.zeros((n, n))
    for start in range(0, t, block):
        part = np.asarray(x[:, start : start + block], dtype=np.float64)
        cov += part @ part.T
    return cov / max(t, 1)


DIRECT_EIGEN_MAX = 16  # signals up to which rank1_fit decomposes its matrix directly


def top_eigenpair(matrix: np.ndarray, start: np.ndarray, steps: int = 200, tol: float = 1e-10):
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
    x = np.asarray(signals)
    n, t = x.shape
    cov = covariance(x)
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
        if n <= DIRECT_EIGEN_MAX:
            # Small: a full decomposition is cheaper than power iteration, which crawls
            # when the top two eigenvalues are close (noise-dominated signals).
            values, vectors = np.linalg.eigh(scaled)
            lam, top = float(values[-1]), vectors[:, -1]
            vector = top if top @ vector >= 0 else -top
        else:
            lam, vector = top_eigenpair(scaled, vector)
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
    x = np.asarray(signals)  # float32 stays float32: no full-size float64 copy
    loadings, psi = rank1_fit(x if fit_signals is None else fit_signals)
    weights = loadings / psi
    norm = float(weights @ loadings)
    if norm > 0:
        weights = weights / norm
    return (weights @ x).astype(np.float64), weights
