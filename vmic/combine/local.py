"""``local``: per-tile motion statistics, combined by the candidate whose parts agree."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from vmic import post
from vmic.combine.candidates import candidate_projections, local_grids, project_candidate
from vmic.combine.fits import rank1_combine
from vmic.combine.motion import coarsen, global_motion, motion_direction, sum_by_block
from vmic.combine.registry import (
    Combined,
    CombineMethod,
    default_tiles,
    highpass_rows,
    register_method,
)
from vmic.combine.spectral import apply_spectral_gain, common_spectrum_gain
from vmic.combine.splits import (
    correlation,
    quadrant_split,
    snr_from_correlation,
    split_sample_snr,
    tile_quarters,
)
from vmic.core.phase import original_band_signals

if TYPE_CHECKING:
    from vmic.extraction import Extraction
    from vmic.ranges import RangeSums

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

    Its calibration on still scenes and white noise is in ``docs/benchmarks.md`` (design
    measurements) and in the tests.

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
        for name, candidate in candidate_projections(fit, information, tiles).items():
            parts = [project_candidate(candidate, held_out, information, c) for c in classes]
            totals[name] = totals.get(name, 0.0) + sum(correlation(parts[a], parts[b])
                                                       for a, b in pairs)
        variance += len(pairs) / (last - first)
        terms += len(pairs)
    z = {name: total / np.sqrt(variance) for name, total in totals.items()}
    snr_db = {name: snr_from_correlation(total / terms, 4) for name, total in totals.items()}
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
      is about N(0, 1) without a signal.

    ``info["detected"]`` says whether a common signal was found at all: the halves agreed
    clearly, or the largest z reached :data:`DETECTION_Z`. ``auto`` (the default of
    :func:`vmic.recovery.recover`) gives ``align``'s output when it was not.

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

    for grid in local_grids(tiles):
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
    if name != f"rank1 {tiles[0]}x{tiles[1]}" and correlation(combined, reference) < 0:
        combined, weights = -combined, -weights  # same sign convention for every choice
    info.update(method=name, split_snr_db=judged)
    return combined, weights, info


class LocalMethod(CombineMethod):
    """``local``: per-tile flow statistics combined by :func:`local_combine`."""

    def tiles(self, band_shapes: list[tuple[int, int]]) -> tuple[int, int]:
        return default_tiles(band_shapes)

    def combine(self, extraction: Extraction, sums: RangeSums, *,
                highpass_hz: float | None = None, units: str = "scaled") -> Combined:
        sr, tiles = extraction.fps, extraction.tiles
        cutoff = post.audible_highpass_hz(sr) if highpass_hz is None else highpass_hz
        _, information = extraction.flow_terms
        n_frames = sums.flow.shape[0]
        # (T, 2, TY, TX) -> (TY * TX, 2, T): tile-major signals.
        tile_signals = np.moveaxis(sums.flow.reshape(n_frames, 2, -1), 0, -1).transpose(1, 0, 2)
        n_tiles = tile_signals.shape[0]
        filtered = highpass_rows(tile_signals.reshape(n_tiles * 2, -1), sr, cutoff)
        combined, weights, details = local_combine(filtered.reshape(n_tiles, 2, -1),
                                                   information, tiles)
        # E[F] = -M d for a tile moving by d (px), so the combination's mean is g . d with
        # g = -sum M w: it reads the motion along g in px once divided by |g|.
        sensitivity = float(np.linalg.norm(-np.einsum("nij,nj->i", information, weights)))
        peak = float(np.abs(combined).max()) if combined.size else 0.0
        gain = peak / sensitivity if peak > 0 and sensitivity > 0 else None
        info = {"candidate": details.pop("method"), **details}
        return Combined(audio=post.scale_peak(combined), method="local",
                        band_signals=original_band_signals(sums.bands),
                        weights=weights.T.reshape((2,) + tuple(tiles)), gain_px=gain,
                        weights_unit="per tile x and y flow statistic F (grey level**2 / "
                                     "px), arbitrary overall scale: sum(weights * F) / "
                                     "|sum(M weights)| is motion in px",
                        details=info)


LOCAL = register_method(LocalMethod("local", flow=True, px_output=True))
