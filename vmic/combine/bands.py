"""``bands``: a blind rank-1 fit of one signal per band and tile."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from vmic import post
from vmic.combine.fits import rank1_combine
from vmic.combine.registry import (
    Combined,
    CombineMethod,
    default_tiles,
    highpass_rows,
    register_method,
)
from vmic.core.phase import local_phase, original_band_signals
from vmic.errors import VmicError

if TYPE_CHECKING:
    from vmic.extraction import Extraction
    from vmic.ranges import RangeSums

BANDS_GRID = (4, 4)  # tiles of the bands method: few signals per band, each still well lit


class BandsMethod(CombineMethod):
    """``bands``: one signal per band and tile (at most :data:`BANDS_GRID`), rank-1 fit."""

    def tiles(self, band_shapes: list[tuple[int, int]]) -> tuple[int, int]:
        return tuple(min(g, t) for g, t in zip(BANDS_GRID, default_tiles(band_shapes),
                                                 strict=True))

    def combine(self, extraction: Extraction, sums: RangeSums, *,
                highpass_hz: float | None = None, units: str = "scaled") -> Combined:
        sr = extraction.fps
        cutoff = post.audible_highpass_hz(sr) if highpass_hz is None else highpass_hz
        # One signal per band and tile: regions moving with opposite signs get loadings
        # of opposite signs instead of cancelling inside a whole-frame band signal.
        per_tile = local_phase(sums.bands)  # (S, K, TY, TX, T)
        signals = per_tile.reshape(-1, per_tile.shape[-1])
        live = np.flatnonzero(signals.std(axis=-1) > 0)
        if live.size == 0:
            raise VmicError("no band holds any motion signal (all band signals are flat)")
        filtered = highpass_rows(signals[live], sr, cutoff)
        combined, fitted = rank1_combine(filtered)
        weights = np.zeros(signals.shape[0])
        weights[live] = fitted
        return Combined(audio=post.scale_peak(combined), method="bands",
                        band_signals=original_band_signals(sums.bands),
                        weights=weights.reshape(per_tile.shape[:-1]),
                        weights_unit="1/rad: weight of each band and tile's high-passed "
                                     "mean phase change (rad), before peak scaling")


BANDS = register_method(BandsMethod("bands"))
