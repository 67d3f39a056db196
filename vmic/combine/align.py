"""``align``: ``vmSoundFromVideo``'s combination of band signals."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import scipy.signal

from vmic import post
from vmic.combine.registry import Combined, CombineMethod, register_method
from vmic.core.phase import PhaseSums, original_band_signals

if TYPE_CHECKING:
    from vmic.extraction import Extraction
    from vmic.ranges import RangeSums


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
        # conv(A, flip(B)) is the full cross-correlation of A with B.
        xcorr = scipy.signal.correlate(band, reference, mode="full", method="fft")
        shift = n - 1 - int(np.argmax(xcorr))
        total += np.roll(band, shift)
    return total


class AlignMethod(CombineMethod):
    """``align``: ``vmSoundFromVideo`` (one scale and one reference frame by default)."""

    def combine(self, extraction: Extraction, sums: RangeSums, *,
                highpass_hz: float | None = None, units: str = "scaled") -> Combined:
        # The original's fixed causal filter and [-1, 1] span: `highpass_hz` does not apply.
        return align_combine(sums.bands)


def align_combine(band_sums: PhaseSums) -> Combined:
    """``align``'s audio from whole-frame band sums (no px calibration: ``gain_px`` None)."""
    band_signals = original_band_signals(band_sums)
    raw = align_to_reference(band_signals)
    audio = post.scale_original(post.original_highpass(raw))
    return Combined(audio=audio, method="align", band_signals=band_signals)


ALIGN = register_method(AlignMethod("align", default_scales=1, reference_average=1))
