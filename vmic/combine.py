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
    ``local`` fits on tile signals weighted by the spectrum they share above their white
    noise (:func:`common_spectrum_gain`) and chooses between a rigid estimate and fits on
    several grids by how well disjoint parts of the tiles agree (:func:`local_combine`);
    where none agree clearly, by a cross-fitted split test (:func:`crossfit_split_test`),
    which also says whether any common signal was detected. ``auto``
    (:func:`vmic.recover.recover`, the default) is ``local`` where it was, and ``align``'s
    own output where it was not.
"""

from __future__ import annotations

import numpy as np

__all__ = ["align_to_reference", "rank1_fit", "rank1_combine", "local_combine", "global_motion",
           "split_half_snr", "split_sample_snr", "tile_quarters", "coarsen",
           "sum_by_block", "motion_direction", "common_spectrum_gain", "apply_spectral_gain",
           "quadrant_split", "crossfit_split_test", "DETECTION_Z"]


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
    # numpy.fft, not scipy.fft: this runs once per band, and importing scipy.fft would cost
    # more (see vmic.fft). A power of two holds the full linear correlation.
    nfft = 1 << max(2 * n - 2, 1).bit_length()
    reference_spectrum = np.fft.rfft(reference[::-1], nfft)
    for band in signals.reshape(-1, n):
        # Full linear convolution with the flipped reference (conv(A, flip(B))), by FFT.
        xcorr = np.fft.irfft(np.fft.rfft(band, nfft) * reference_spectrum, nfft)[: 2 * n - 1]
        shift = n - 1 - int(np.argmax(xcorr))
        total += np.roll(band, shift)
    return total


def _covariance(x: np.ndarray, block: int = 4096) -> np.ndarray:
    # x @ x.T / T accumulated in float64 over blocks of samples, so a float32 input is
    # neither copied whole nor summed in float32.
    n, t = x.shape
    cov = np.zeros((n, n))
    for start in range(0, t, block):
        part = np.asarray(x[:, start : start + block], dtype=np.float64)
        cov += part @ part.T
    return cov / max(t, 1)


DIRECT_EIGEN_MAX = 16  # signals up to which rank1_fit decomposes its matrix directly


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
    x = np.asarray(signals)
    n, t = x.shape
    cov = _covariance(x)
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
    x = np.asarray(signals)  # float32 stays float32: no full-size float64 copy
    loadings, psi = rank1_fit(x if fit_signals is None else fit_signals)
    weights = loadings / psi
    norm = float(weights @ loadings)
    if norm > 0:
        weights = weights / norm
    return (weights @ x).astype(np.float64), weights


def _correlation(first: np.ndarray, second: np.ndarray) -> float:
    if not np.std(first) * np.std(second) > 0:
        return 0.0
    rho = float(np.corrcoef(first, second)[0, 1])
    return rho if np.isfinite(rho) else 0.0


def _snr_from_correlation(rho: float, parts: int) -> float:
    # Each part is g * s + n with SNR rho / (1 - rho); `parts` of them add up to `parts` x.
    if rho <= 0:
        return -np.inf
    rho = min(rho, 1 - 1e-12)
    return float(10 * np.log10(parts * rho / (1 - rho)))


def split_half_snr(first: np.ndarray, second: np.ndarray) -> float:
    """Blind SNR of a combination from two estimates made on disjoint halves of the data.

    If ``first = s + n1`` and ``second = g * s + n2`` with independent noises of equal
    power, their squared correlation is ``rho**2 = (S/(S+N))**2``; the combination of both
    halves then has SNR ``2 * rho / (1 - rho)`` (linear). Returns it in dB (-inf for
    rho <= 0). The noises must be independent: halves whose pixels are neighbours share
    the noise of the pyramid filters' overlap, and the estimate is then too high.
    """
    return _snr_from_correlation(abs(_correlation(first, second)), 2)


def split_sample_snr(parts: list[np.ndarray], pairs: list[tuple[int, int]]) -> float:
    """Blind SNR of a combination from estimates made on disjoint parts of the data.

    Like :func:`split_half_snr`, from the mean correlation ``rho`` of the given pairs of
    parts; ``P`` parts together have SNR ``P * rho / (1 - rho)`` (-inf for rho <= 0).
    The correlation is signed: the parts' estimates must come with a common sign
    convention, so that parts that contradict each other (a rigid estimate that follows
    one region in one part and the opposite region in another) count as disagreeing.
    Pairs of parts that share no edge (see :func:`tile_quarters`) keep the shared filter
    noise of neighbouring tiles out of the estimate.
    """
    rho = float(np.mean([_correlation(parts[a], parts[b]) for a, b in pairs]))
    return _snr_from_correlation(rho, len(parts))


def tile_quarters(grid: tuple[int, int]):
    """Four disjoint classes of a tile grid and the pairs of classes that share no edge.

    On a 2-D grid the classes are (row parity, column parity); classes (0, 0) and (1, 1),
    and (0, 1) and (1, 0), touch only at corners. A single row or column of tiles is
    split by index modulo 4, pairing classes 0 with 2 and 1 with 3, which never touch.
    The flow sums of edge-sharing tiles carry correlated noise (a pyramid filter spans
    both), measured at a correlation of 0.14-0.30 between the two colours of a
    checkerboard on static, noisy 64 x 64 frames, against 0.00-0.05 for these pairs.

    Returns
    -------
    classes : list of 4 ndarray of bool, shape (GY * GX,)
    pairs : list of (int, int)
        None instead of both when the grid is too small (under 2 x 2 tiles, or under 4
        tiles in a row).
    """
    return _four_classes(grid, lambda n: np.arange(n) % 2, lambda n: np.arange(n) % 4)


def _four_classes(grid: tuple[int, int], halve, quarter):
    # Four classes of a tile grid: on 2-D grids, (halve(row), halve(column)) with pairs
    # (0, 3) and (1, 2); on a single row or column, quarter(index) with pairs (0, 2) and
    # (1, 3). `halve(n)` labels n indices 0/1, `quarter(n)` labels them 0-3.
    gy, gx = grid
    if gy >= 2 and gx >= 2:
        label = (2 * halve(gy)[:, None] + halve(gx)[None, :]).ravel()
        return [label == k for k in range(4)], [(0, 3), (1, 2)]
    n = gy * gx
    if n >= 4:
        label = quarter(n)
        return [label == k for k in range(4)], [(0, 2), (1, 3)]
    return None, None


def quadrant_split(grid: tuple[int, int]):
    """Four spatial quadrants of a tile grid and the pairs that meet at a corner at most.

    Diagonal quadrants (top-left and bottom-right, top-right and bottom-left) meet at one
    corner only, so the filter noise their flow sums share is a small part of their
    noise: on still, noisy 64 x 64 scenes a cross-fitted test on these pairs
    (:func:`crossfit_split_test`) read a mean z of 0.0-0.4, where the corner-sharing
    parity classes of :func:`tile_quarters` read 0.5-1.8. A single row or column of tiles
    is cut into four runs, pairing runs 0 with 2 and 1 with 3.

    Returns
    -------
    classes, pairs
        As :func:`tile_quarters` returns them (None for grids under 2 x 2 tiles or under
        4 tiles in a row).
    """
    return _four_classes(grid, lambda n: np.arange(n) * 2 // n, lambda n: np.arange(n) * 4 // n)


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


_BLOCK_SAMPLES = 1 << 22  # samples per block of the spectral functions' temporaries


def _welch_segment(n_samples: int) -> int:
    # About 4 sqrt(T) samples, a power of two: 128 on a 0.5 s clip at 2200 fps (16 half-
    # overlapping segments), 1024 on 20 s; at most a quarter of the signal.
    target = 2 ** int(round(np.log2(4 * np.sqrt(max(n_samples, 1)))))
    return int(max(8, min(target, n_samples // 4)))


def common_spectrum_gain(signals: np.ndarray, segment: int | None = None,
                         rows_per_block: int = 16) -> np.ndarray:
    """Wiener-like gain per frequency from the spectrum the signals hold above white noise.

    Every signal's Welch power spectrum (Hann segments, half overlap) is divided by its
    median over frequency (the white-noise floor, when the signal fills under half of the
    band), the ratios are averaged over signals, and ``max(P - 1, 0) / P`` is the gain:
    near 1 where some signal stands far above the floor, 0 where the spectrum is at or
    under it. No truth is used. On white noise alone the gain is small and falls on random
    frequencies (a mean of 0.03 over 64 signals of 1100 samples).

    Parameters
    ----------
    signals : ndarray of float, shape (K, T)
        Signals that share one source (e.g. every tile's flow signals).
    segment : int, optional
        Welch segment length (samples); default about ``4 sqrt(T)``, a power of two.
    rows_per_block : int
        Signals transformed at a time (bounds the temporaries' memory).

    Returns
    -------
    ndarray of float64, shape (T // 2 + 1,)
        Gain in [0, 1] on the frequencies of ``numpy.fft.rfft`` of length T; all ones when
        T < 32 (too short for a spectrum).
    """
    x = np.atleast_2d(np.asarray(signals))
    n_signals, n_samples = x.shape
    segment = _welch_segment(n_samples) if segment is None else int(segment)
    if n_samples < 32 or segment < 8 or segment > n_samples or n_signals == 0:
        return np.ones(n_samples // 2 + 1)
    starts = np.arange(0, n_samples - segment + 1, segment // 2)
    window = np.hanning(segment + 2)[1:-1]
    ratio = np.zeros(segment // 2 + 1)
    # Long clips: fewer signals at a time, so a block's segments stay near 4 M samples.
    rows_per_block = max(1, min(rows_per_block, _BLOCK_SAMPLES // (starts.size * segment)))
    for i in range(0, n_signals, rows_per_block):
        block = np.asarray(x[i : i + rows_per_block], dtype=np.float64)
        frames = block[:, starts[:, None] + np.arange(segment)]  # (rows, segments, segment)
        frames -= frames.mean(axis=-1, keepdims=True)
        power = (np.abs(np.fft.rfft(frames * window, axis=-1)) ** 2).mean(axis=1)
        floor = np.median(power, axis=-1, keepdims=True)
        ratio += (power / np.where(floor > 0, floor, 1.0)).sum(axis=0)
    ratio /= n_signals
    gain = np.clip(ratio - 1.0, 0.0, None) / np.maximum(ratio, 1e-12)
    return np.interp(np.fft.rfftfreq(n_samples), np.fft.rfftfreq(segment), gain)


def apply_spectral_gain(signals: np.ndarray, gain: np.ndarray,
                        rows_per_block: int = 16) -> np.ndarray:
    """Filter signals by a real, zero-phase gain per frequency (along the last axis).

    The filter is circular (one FFT of the whole signal); with a smooth gain such as
    :func:`common_spectrum_gain`'s its response is short, so only the first and last few
    samples mix.

    Parameters
    ----------
    signals : ndarray of float, shape (..., T)
    gain : ndarray of float, shape (T // 2 + 1,)
        From :func:`common_spectrum_gain`.
    rows_per_block : int
        Signals transformed at a time (bounds the temporaries' memory).

    Returns
    -------
    ndarray of float32, shape (..., T)
        float32 like the flow signals it is made for, to keep a clip's copy small.
    """
    x = np.asarray(signals)
    n_samples = x.shape[-1]
    rows = x.reshape(-1, n_samples)
    out = np.empty(rows.shape, dtype=np.float32)
    rows_per_block = max(1, min(rows_per_block, _BLOCK_SAMPLES // max(n_samples, 1)))
    for i in range(0, rows.shape[0], rows_per_block):
        block = np.asarray(rows[i : i + rows_per_block], dtype=np.float64)
        out[i : i + rows_per_block] = np.fft.irfft(np.fft.rfft(block, axis=-1) * gain,
                                                   n_samples, axis=-1)
    return out.reshape(x.shape)


def _local_grids(tiles: tuple[int, int]) -> list[tuple[int, int]]:
    # The grids local_combine fits rank-1 models on: the tiles, then 4 x 4 and 2 x 2.
    return [tiles] + [g for g in ((4, 4), (2, 2))
                      if g[0] <= tiles[0] and g[1] <= tiles[1] and g != tiles]


def _candidate_projections(fit_flow: np.ndarray, information: np.ndarray,
                           tiles: tuple[int, int]) -> dict:
    # local_combine's candidates fitted on `fit_flow`, as projections any tile flow can be
    # put through: ("rigid", direction) or ("tiles", signed weight per tile, shape (N, 2)).
    n_samples = fit_flow.shape[-1]
    n_tiles = fit_flow.shape[0]
    total = information.sum(axis=0)
    out = {"rigid": ("rigid", motion_direction(global_motion(fit_flow, information), total))}
    for grid in _local_grids(tiles):
        if grid == tiles:
            coarse, block = fit_flow, np.arange(n_tiles)
        else:
            coarse, _, block = coarsen(fit_flow, information, tiles, grid)
        loadings, psi = rank1_fit(coarse.reshape(-1, n_samples))
        out[f"rank1 {grid[0]}x{grid[1]}"] = ("tiles", (loadings / psi).reshape(-1, 2)[block])
    return out


def _project(candidate: tuple, flow: np.ndarray, information: np.ndarray,
             part: np.ndarray) -> np.ndarray:
    # One candidate's estimate from the tiles in `part` (float64, shape (T,)).
    kind, value = candidate
    if kind == "rigid":
        return value @ global_motion(flow[part], information[part])
    return np.tensordot(value[part], flow[part], axes=([0, 1], [0, 1])).astype(np.float64)


# Detection threshold of crossfit_split_test's z (one-sided; see local_combine).
DETECTION_Z = 2.5


def crossfit_split_test(flow: np.ndarray, information: np.ndarray, tiles: tuple[int, int],
                        gain: np.ndarray | None = None, folds: int = 4):
    """Test for a common motion signal: cross-fitted agreement of non-touching quadrants.

    Each of ``folds`` stretches of time is held out in turn. The candidates of
    :func:`local_combine` (rigid direction, rank-1 loadings) are fitted on the rest of the
    clip (filtered by ``gain``), then applied to the held-out stretch of each quadrant of
    the tiles (:func:`quadrant_split`), and the two diagonal pairs of quadrants are
    correlated. Fitting on other samples than those judged keeps the fit's adaptation to
    the noise out of the agreement, and diagonal quadrants share little filter noise, so
    with no signal each correlation has mean about 0 and variance ``1 / n`` (``n``
    samples, the flow noise being white in time). ``z`` sums the correlations over pairs
    and folds in units of their standard deviation: about N(0, 1) without a signal.

    Measured: on 140 still, noisy rendered clips (no motion; 60 of 64 x 64 px, 40 of
    96 x 96, 40 of 128 x 128; shot and heavy camera noise) the largest z of the candidates
    exceeded 2.0 on 14, reached 2.5 on 7 and exceeded 3.0 on 2. On 200 draws of white
    noise (16 tiles, 1100 samples) each candidate's z had a mean of -0.1 to 0.1 and a
    standard deviation of 0.9 to 1.1, and the largest reached 2.5 on 3 in 100.

    Parameters
    ----------
    flow : ndarray of float, shape (N, 2, T)
        High-passed per-tile flow sums, tile-major over ``tiles``.
    information : ndarray of float, shape (N, 2, 2)
        Per-tile Fisher information.
    tiles : (int, int)
        The tile grid (TY, TX), TY * TX = N.
    gain : ndarray of float, shape (T // 2 + 1,), optional
        Spectral weighting of the fits (:func:`common_spectrum_gain`); None fits on the
        flow itself.
    folds : int, default 4
        Held-out stretches of time.

    Returns
    -------
    z : dict of str to float
        Per candidate ("rigid", "rank1 GYxGX"), the test statistic (one-sided: a common
        signal makes it large and positive).
    snr_db : dict of str to float
        Per candidate, the blind SNR (dB) of the four quadrants together implied by their
        mean correlation ``rho``: ``4 rho / (1 - rho)`` (-inf for rho <= 0).

    None when the grid is too small for quadrants or the clip shorter than 8 samples a
    fold.
    """
    classes, pairs = quadrant_split(tiles)
    n_samples = flow.shape[-1]
    if classes is None or n_samples < 8 * folds:
        return None
    edges = np.linspace(0, n_samples, folds + 1).astype(int)
    totals: dict[str, float] = {}
    variance = 0.0
    terms = 0
    for first, last in zip(edges[:-1], edges[1:], strict=True):
        fit = np.concatenate([flow[..., :first], flow[..., last:]], axis=-1)
        if gain is not None:
            length = fit.shape[-1]
            fit = apply_spectral_gain(fit, np.interp(np.fft.rfftfreq(length),
                                                     np.fft.rfftfreq(n_samples), gain))
        held_out = flow[..., first:last]
        for name, candidate in _candidate_projections(fit, information, tiles).items():
            parts = [_project(candidate, held_out, information, c) for c in classes]
            totals[name] = totals.get(name, 0.0) + sum(_correlation(parts[a], parts[b])
                                                       for a, b in pairs)
        variance += len(pairs) / (last - first)
        terms += len(pairs)
    z = {name: total / np.sqrt(variance) for name, total in totals.items()}
    snr_db = {name: _snr_from_correlation(total / terms, 4) for name, total in totals.items()}
    return z, snr_db


# Above this split-half SNR (dB) the halves' shared filter noise is a small part of their
# agreement (see local_combine). On 3 seeds of the fidelity grid (162 clips), a threshold of
# 10 dB or 6 dB gave the same results, better than always halves or always quarters (with
# the judge of faint signals of that time, corner-sharing tile classes).
CLEAR_SIGNAL_DB = 10.0


def local_combine(flow: np.ndarray, information: np.ndarray,
                  tiles: tuple[int, int] | None = None, spectral_weighting: bool = True):
    """Combine per-tile flow signals: rigid maximum likelihood or blind rank-1 fits.

    Candidates are the rigid-motion estimate (:func:`global_motion`, optimal when the whole
    scene moves together, and robust at low SNR) and rank-1 fits (:func:`rank1_combine`)
    of the tiles' x and y signals at the full tile grid and at coarser grids (4 x 4, 2 x 2;
    merged tiles add their statistics, so a fit still works where single tiles are too
    noisy). Rank-1 fits follow regions that move by different amounts or with opposite
    signs. The candidate whose estimates on disjoint parts of the tiles agree best wins:

    - Each candidate is formed on two halves of the tiles (each the union of two
      :func:`tile_quarters` classes that share no edge; on a coarse grid, a half merges its
      own fine tiles within each coarse tile) and judged by their agreement
      (:func:`split_half_snr`) when some candidate's halves agree at
      :data:`CLEAR_SIGNAL_DB` or more. The halves share the filter noise of neighbouring
      tiles (on noise alone they agree at -1 to -5 dB), which matters only near the noise.
    - Below, :func:`crossfit_split_test` judges: candidates fitted on three quarters of
      the clip's time, applied to the fourth, on diagonal quadrants of the tiles. Its z
      is about N(0, 1) without a signal. On the 143 low-SNR clips of three full fidelity
      grids, choosing by it instead of by corner-sharing classes fitted on the samples they
      are judged on raised the mean SNR from -12.46 to -11.88 dB (a one-off measurement
      on the clips' captured tile signals).

    ``info["detected"]`` says whether a common signal was found at all: the halves agreed
    clearly, or the largest z reached :data:`DETECTION_Z`. ``--combine auto`` (the
    default of :func:`vmic.recover.recover`) gives ``align``'s output when it was not.

    With ``spectral_weighting`` (the default), the rigid direction and the rank-1 loadings
    are fitted on the tile signals filtered by their :func:`common_spectrum_gain`, so that
    the frequencies where the sound stands above the white noise of the flow sums count
    and the rest do not; sound is rarely white (tones, speech, pink noise all are not).
    Outputs, and the agreements between parts that choose among them, are made of the
    unfiltered signals, so the audio keeps its whole band and the choice is not judged on
    the few frequencies the gain keeps.

    Parameters
    ----------
    flow : ndarray of float, shape (N, 2, T)
        High-passed per-tile flow statistics ``F``, tile-major over the grid ``tiles``.
    information : ndarray of float, shape (N, 2, 2)
        Per-tile Fisher information ``M``.
    tiles : (int, int), optional
        The grid (TY, TX) with TY * TX = N (default: one row of N tiles).
    spectral_weighting : bool, default True
        Fit on spectrally weighted signals (above).

    Returns
    -------
    combined : ndarray of float64, shape (T,)
    weights : ndarray of float64, shape (N, 2)
        Signed weight of each tile's x and y flow signal.
    info : dict
        ``method`` ("rigid" or "rank1 GYxGX"); ``judged_on`` ("halves", "cross-fit" or
        "none" when the grid is too small to split); each candidate's blind SNR estimate
        (dB) on those, ``split_snr_db``, and on the halves, ``half_snr_db``; with the
        cross-fit, each candidate's ``detection_z``; ``detected`` (bool, or None when the
        grid is too small to test); with spectral weighting, ``spectral_gain_mean`` (the
        mean gain over frequency, 0 to 1).
    """
    n_tiles, _, n_samples = flow.shape
    tiles = (1, n_tiles) if tiles is None else tuple(tiles)
    if tiles[0] * tiles[1] != n_tiles:
        raise ValueError(f"tile grid {tiles} does not hold {n_tiles} tiles")
    if not spectral_weighting or n_samples < 32:
        return _local_choice(flow, information, tiles)
    gain = common_spectrum_gain(flow.reshape(-1, n_samples))
    if not np.any(gain > 0):
        return _local_choice(flow, information, tiles)
    combined, weights, info = _local_choice(flow, information, tiles,
                                            fit_flow=apply_spectral_gain(flow, gain),
                                            gain=gain)
    info["spectral_gain_mean"] = float(gain.mean())
    return combined, weights, info


def _local_choice(flow: np.ndarray, information: np.ndarray, tiles: tuple[int, int],
                  fit_flow: np.ndarray | None = None, gain: np.ndarray | None = None):
    # The candidates and the split-sample choice of local_combine. Directions and loadings
    # are fitted on `fit_flow` (default `flow`, else `flow` filtered by `gain`); every
    # output, and so every agreement between parts, is made of `flow` itself.
    n_tiles, _, n_samples = flow.shape
    fit_flow = flow if fit_flow is None else fit_flow
    classes, pairs = tile_quarters(tiles)
    halves = None if classes is None else [classes[a] | classes[b] for a, b in pairs]

    def agreement(estimate_on, parts, compared) -> float:
        # Blind SNR of a candidate from its estimates on `parts` of the tiles.
        if classes is None:
            return -np.inf
        return split_sample_snr([estimate_on(part) for part in parts], compared)

    # Rigid candidate, projected on the direction of largest motion SNR.
    motion = global_motion(flow, information)
    candidates = {}
    total = information.sum(axis=0)
    direction = motion_direction(global_motion(fit_flow, information), total)
    ridge = 1e-9 * np.trace(total) * np.eye(2)
    rigid_weight = -np.linalg.solve(total + ridge, np.eye(2)).T @ direction
    estimators = {"rigid": lambda c: direction @ global_motion(flow[c], information[c])}
    candidates["rigid"] = (direction @ motion, np.tile(rigid_weight, (n_tiles, 1)))

    for grid in _local_grids(tiles):
        if grid == tiles:
            coarse_flow, coarse_fit, block = flow, fit_flow, np.arange(n_tiles)
        else:
            coarse_flow, _, block = coarsen(flow, information, tiles, grid)
            coarse_fit = (coarse_flow if fit_flow is flow
                          else coarsen(fit_flow, information, tiles, grid)[0])
        combined, weights = rank1_combine(coarse_flow.reshape(-1, n_samples),
                                          coarse_fit.reshape(-1, n_samples))
        n_blocks = grid[0] * grid[1]
        full = weights.reshape(n_blocks, 2)

        def fit_on(part, block=block, n_blocks=n_blocks, full=full):
            # A half keeps every coarse tile it reaches, built from its own fine tiles, so
            # the fit on it has the structure of the fit on all (at half the SNR).
            # Its sign is arbitrary: it is taken to agree with the full fit's weights there.
            merged = sum_by_block(flow[part], block[part], n_blocks)
            merged_fit = (merged if fit_flow is flow
                          else sum_by_block(fit_flow[part], block[part], n_blocks))
            present = np.bincount(block[part], minlength=n_blocks) > 0
            part_signal, part_weights = rank1_combine(merged[present].reshape(-1, n_samples),
                                                      merged_fit[present].reshape(-1, n_samples))
            if part_weights @ full[present].ravel() < 0:
                part_signal = -part_signal
            return part_signal

        estimators[f"rank1 {grid[0]}x{grid[1]}"] = fit_on
        candidates[f"rank1 {grid[0]}x{grid[1]}"] = (combined, weights.reshape(-1, 2)[block])
    # Halves judge fits made on all the clip's samples, with half the tiles each; but their
    # tiles are neighbours and share filter noise, which they read as agreement. That
    # matters only near the noise: a clear signal is judged on halves, a faint one by the
    # cross-fitted quadrants.
    half_snr = {key: agreement(estimate, halves, [(0, 1)])
                for key, estimate in estimators.items()}
    info: dict = {"half_snr_db": half_snr}
    score = judged = half_snr
    if max(half_snr.values()) >= CLEAR_SIGNAL_DB:
        info.update(judged_on="halves", detected=True)
    else:
        # The cross-fit only when needed: its fits are the most expensive part of the choice.
        test = crossfit_split_test(flow, information, tiles, gain)
        if test is None:  # too few tiles or samples to split
            info.update(judged_on="none", detected=None)
        else:
            score, judged = test
            info.update(judged_on="cross-fit", detection_z=score,
                        detected=bool(max(score.values()) >= DETECTION_Z))
    name = max(score, key=score.get)
    combined, weights = candidates[name]
    reference = candidates[f"rank1 {tiles[0]}x{tiles[1]}"][0]
    if name != f"rank1 {tiles[0]}x{tiles[1]}" and _correlation(combined, reference) < 0:
        combined, weights = -combined, -weights  # same sign convention for every choice
    info.update(method=name, split_snr_db=judged)
    return combined, weights, info
