"""The ``local`` method's candidate estimates, as projections of tile motion."""

from __future__ import annotations

import numpy as np

from vmic.combine.fits import rank1_fit
from vmic.combine.motion import coarsen, global_motion, motion_direction


def local_grids(tiles: tuple[int, int]) -> list[tuple[int, int]]:
    # The grids local_combine fits rank-1 models on: the tiles, then 4 x 4 and 2 x 2.
    return [tiles] + [g for g in ((4, 4), (2, 2))
                      if g[0] <= tiles[0] and g[1] <= tiles[1] and g != tiles]


def candidate_projections(fit_flow: np.ndarray, information: np.ndarray,
                           tiles: tuple[int, int]) -> dict:
    # local_combine's candidates fitted on `fit_flow`, as projections any tile flow can be
    # put through: ("rigid", direction) or ("tiles", signed weight per tile, shape (N, 2)).
    n_samples = fit_flow.shape[-1]
    n_tiles = fit_flow.shape[0]
    total = information.sum(axis=0)
    out = {"rigid": ("rigid", motion_direction(global_motion(fit_flow, information), total))}
    for grid in local_grids(tiles):
        if grid == tiles:
            coarse, block = fit_flow, np.arange(n_tiles)
        else:
            coarse, _, block = coarsen(fit_flow, information, tiles, grid)
        loadings, psi = rank1_fit(coarse.reshape(-1, n_samples))
        out[f"rank1 {grid[0]}x{grid[1]}"] = ("tiles", (loadings / psi).reshape(-1, 2)[block])
    return out


def project_candidate(candidate: tuple, flow: np.ndarray, information: np.ndarray,
             part: np.ndarray) -> np.ndarray:
    # One candidate's estimate from the tiles in `part` (float64, shape (T,)).
    kind, value = candidate
    if kind == "rigid":
        return value @ global_motion(flow[part], information[part])
    return np.tensordot(value[part], flow[part], axes=([0, 1], [0, 1])).astype(np.float64)
