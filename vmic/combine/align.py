"""``align``: ``vmSoundFromVideo``'s combination of band signals."""

from __future__ import annotations

import numpy as np


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
    # more (see vmic.core.fft). A power of two holds the full linear correlation.
    nfft = 1 << max(2 * n - 2, 1).bit_length()
    reference_spectrum = np.fft.rfft(reference[::-1], nfft)
    for band in signals.reshape(-1, n):
        # Full linear convolution with the flipped reference (conv(A, flip(B))), by FFT.
        xcorr = np.fft.irfft(np.fft.rfft(band, nfft) * reference_spectrum, nfft)[: 2 * n - 1]
        shift = n - 1 - int(np.argmax(xcorr))
        total += np.roll(band, shift)
    return total
