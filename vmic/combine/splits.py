"""Split-sample agreement: blind SNR estimates from disjoint parts of the tiles."""

from __future__ import annotations

import numpy as np


def correlation(first: np.ndarray, second: np.ndarray) -> float:
    if not np.std(first) * np.std(second) > 0:
        return 0.0
    rho = float(np.corrcoef(first, second)[0, 1])
    return rho if np.isfinite(rho) else 0.0


def snr_from_correlation(rho: float, parts: int) -> float:
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
    return snr_from_correlation(abs(correlation(first, second)), 2)


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
    rho = float(np.mean([correlation(parts[a], parts[b]) for a, b in pairs]))
    return snr_from_correlation(rho, len(parts))


def tile_quarters(grid: tuple[int, int]):
    """Four disjoint classes of a tile grid and the pairs of classes that share no edge.

    On a 2-D grid the classes are (row parity, column parity); classes (0, 0) and (1, 1),
    and (0, 1) and (1, 0), touch only at corners. A single row or column of tiles is
    split by index modulo 4, pairing classes 0 with 2 and 1 with 3, which never touch.
    The flow sums of edge-sharing tiles carry correlated noise (a pyramid filter spans
    both); pairs that touch at corners only share little of it (``docs/benchmarks.md``).

    Returns
    -------
    classes : list of 4 ndarray of bool, shape (GY * GX,)
    pairs : list of (int, int)
        None instead of both when the grid is too small (under 2 x 2 tiles, or under 4
        tiles in a row).
    """
    return four_classes(grid, lambda n: np.arange(n) % 2, lambda n: np.arange(n) % 4)


def four_classes(grid: tuple[int, int], halve, quarter):
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
    return four_classes(grid, lambda n: np.arange(n) * 2 // n, lambda n: np.arange(n) * 4 // n)
